"""How fast the index store is at volume: upsert N records into one scope (one call, batched
inside), then the first page (50, newest first) without a filter and with a few filters, the
median of repeated reads.

    python -m tests.index.measure sqlite:////tmp/measure/index.db [postgresql://...] [--rows N]

Each URL should name an empty database (the tenant is fresh each run, so reruns also work)."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path

from index.state import ScopeKey
from index.store import IndexStore
from providers.query import SessionQuery
from providers.records import (
    Channel,
    Provider,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    Speaker,
    Tag,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
)
from tests.index.factory import T0

VOCABULARY = [f"w{n}" for n in range(3000)] + ["refund", "billing", "delivery", "can't"]
STATUSES = [SessionStatus.COMPLETED] * 80 + [SessionStatus.FAILED] * 18 + [SessionStatus.ACTIVE] * 2


def synthetic(count: int, seed: int = 7) -> list[SessionRecord]:
    """Records shaped like a voice vendor's: ten turns of a dozen words, a tool call, tags."""
    rng = random.Random(seed)
    found = []
    for n in range(count):
        turns = tuple(
            TranscriptTurn(
                Speaker.AGENT if t % 2 else Speaker.USER,
                " ".join(rng.choices(VOCABULARY, k=12)),
                "assistant" if t % 2 else "user",
                t * 4000,
            )
            for t in range(10)
        )
        call = ToolCall("lookup", {"order": n}, {"ok": True}, ToolCallStatus.SUCCESS)
        status = rng.choice(STATUSES)
        found.append(
            SessionRecord(
                Provider.STATESET,
                f"vs_{n:08d}",
                status,
                status.value,
                T0 - timedelta(seconds=rng.randrange(90 * 86400)),
                agent_id=f"agent-{rng.randrange(10)}",
                duration_ms=rng.randrange(600_000),
                channel=Channel.VOICE,
                caller=f"+1 555 {rng.randrange(10**7):07d}",
                callee="+1 800 555 0100",
                summary="A call about " + rng.choice(VOCABULARY),
                tags=tuple(Tag(rng.choice(["billing", "vip", "refund", "spam"])) for _ in range(2)),
                details=SessionDetails(transcript=turns, tool_calls=(call,)),
            )
        )
    return found


QUERIES = {
    "no filter": {},
    "status failed": {"statuses": frozenset({SessionStatus.FAILED})},
    "status active": {"statuses": frozenset({SessionStatus.ACTIVE})},
    "tag vip": {"tags": ("vip",)},
    "text 'refund billing'": {"text": "refund billing"},
    "phone": {"phone_number": "+1 555 0362728"},  # the caller of one session (seed 7)
}


async def measure(url: str, records: list[SessionRecord]) -> None:
    store = await IndexStore.open(url)
    tenant = f"measure-{uuid.uuid4().hex[:8]}"
    key = ScopeKey(tenant, Provider.STATESET, "")
    try:
        started = time.perf_counter()
        await store.upsert(key, records, 1)
        took = time.perf_counter() - started
        print(f"{store.describe()}: upsert {len(records)} records into one scope: {took:.1f} s")
        started = time.perf_counter()
        await store.upsert(key, records[:1000], 2)
        print(f"  upsert 1000 held records again: {(time.perf_counter() - started) * 1000:.0f} ms")
        await first_pages(store, [key], QUERIES)
        await deep_page(store, key, len(records) * 9 // 10)
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
            print(f"  SQLite file (with its WAL): {size / 2**20:.0f} MiB")
        # The same sessions as a vendor with one list per agent (Vectara): a page merges them.
        by_agent: dict[str, list[SessionRecord]] = {}
        for record in records:
            by_agent.setdefault(record.agent_id or "", []).append(record)
        keys = [ScopeKey(tenant, Provider.VECTARA, agent) for agent in sorted(by_agent)]
        for scope_key in keys:
            await store.upsert(scope_key, by_agent[scope_key.scope], 1)
        print(f"  {len(keys)} scopes of one vendor, merged:")
        merged = {name: QUERIES[name] for name in ("no filter", "status failed")}
        await first_pages(store, keys, merged)
    finally:
        await store.aclose()


async def deep_page(store: IndexStore, key: ScopeKey, skip: int) -> None:
    """A page of 50 resumed after `skip` rows (a keyset: it should cost what the first does)."""
    query = SessionQuery(started_after=T0 - timedelta(days=91), started_before=T0)
    after = None
    for _ in range(skip // 1000):
        after = (await store.page([key], query, after, 1000))[-1].sort_key
    times = []
    for _ in range(15):
        started = time.perf_counter()
        await store.page([key], query, after, 50)
        times.append(time.perf_counter() - started)
    print(f"  a page of 50 after {skip} rows: {statistics.median(times) * 1000:.1f} ms")


async def first_pages(
    store: IndexStore, keys: list[ScopeKey], queries: dict[str, dict[str, object]]
) -> None:
    window = {"started_after": T0 - timedelta(days=91), "started_before": T0}
    for name, filters in queries.items():
        query = SessionQuery(**window, **filters)  # type: ignore[arg-type]
        times = []
        for _ in range(15):
            started = time.perf_counter()
            page = await store.page(keys, query, None, 50)
            times.append(time.perf_counter() - started)
        count = await store.count(keys, query)
        median = statistics.median(times) * 1000
        print(f"  first page of 50, {name}: {median:.1f} ms ({len(page)} rows; {count} match)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    records = synthetic(args.rows)
    for url in args.urls:
        asyncio.run(measure(url, records))


if __name__ == "__main__":
    main()
