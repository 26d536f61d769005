"""`python -m bench.index`: the session index (issue 9) at 1k, 10k and 100k sessions per vendor.

Each size runs in a process of its own (its RSS is its own): the four simulators at that size,
in-process, under a clock that moves only when told (`_StillClock`, the tests' FakeClock), and
the app (`graph.app.create_app`; the index on a new SQLite file, or `--index-url`) over them
through httpx's ASGI transport, its sync driven by hand (`ScopeSync.run_once`,
`Syncer.run_once`). The simulators receive 10 new sessions per vendor per 30 s of that clock.

The vendors' rate limits are lifted in-process: the still clock would only jump over their
waits, and that jump would bring arrivals into the build. The build's time at the documented
limits is computed from its calls with the gateway's own token bucket (`documented_seconds`).
The hourly reconcile is moved out of the measured intervals (its cost is a full read: the
build's calls, once an hour) and reported apart.

Per size:
1. the merged first page (`MERGED`) once every index is READY: wall time on the real clock
   over `--runs` requests after `--warmup` (the gateway, the index's reads and the live vendors'
   simulators share this one process and its core), also less the time spent inside the
   simulators; the same page of the indexed vendors only and of the live ones only, and one
   vendor's index read (page and count) alone, to say where the time goes;
2. vendor calls per page (simulators' request logs): StateSet and Vectara must be 0;
3. calls per sync interval: with nothing changed, then with 10 arrivals per vendor (and what
   else the simulators changed meanwhile: completions of earlier calls), right after the build
   and, up to `--steady-up-to` sessions, again in a steady state (the clock moved past the
   calls on the line at the anchor, the sync caught up: how many intervals that took is
   reported too; at 100k that alone takes minutes);
4. the cold build: calls per vendor, their time at the documented limits, its wall time here;
5. the index's size on disk after the build, the process's RSS.

Prints a Markdown report and writes every figure to bench/out/index.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.report import CpuMeter, machine
from graph.app import create_app
from graph.settings import load_settings
from index.reader import IndexReader
from index.state import DEFAULT_TENANT, IndexState, ScopeKey
from index.store import IndexStore
from providers.budget import BackgroundPacing
from providers.clock import Clock
from providers.query import SessionQuery
from providers.ratelimit import TokenBucket
from providers.records import Provider
from providers.simulators import Simulator
from providers.simulators.request_log import LoggedRequest
from providers.vendors import adapter_class
from resolvers.sources import Sources, build_simulators, demo_sources

__all__ = ["documented_seconds", "main", "markdown"]

OUT = Path(__file__).with_name("out")
# A fixed anchor: the data, so every figure, is the same whatever the day of the run.
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
INTERVAL_S = 30.0  # the sync's default interval (SESSIONGRAPH_SYNC_INTERVAL_S)
NEW_PER_INTERVAL = 10
# The StateSet simulator's calls on the line at the anchor end 10-40 min after it (2.5% of the
# data: 2,500 at 100k); the steady state is measured once they have.
STEADY_AT = timedelta(minutes=45)
CATCH_UP_BOUND = 100  # intervals: more means the sync does not catch up
MERGED = "{ sessions(first: 50) { edges { node { id provider startedAt status } } } }"
ONLY = (
    "{ sessions(first: 50, filter: {providers: [%s]}) "
    "{ edges { node { id provider startedAt status } } } }"
)
SIZES = (1_000, 10_000, 100_000)
P50_TARGET = 1.2  # the largest size's p50 within 1.2x of the smallest's


class _StillClock(Clock):
    """Time that moves only when told (or when something sleeps): one "now" for the gateway
    and the simulators, so the data changes exactly as much as the benchmark says."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)


def documented_seconds(calls: int, per_minute: int, pacing: BackgroundPacing) -> float:
    """How long `calls` background calls, one after the other, take at `per_minute`: the
    gateway's own bucket (`providers.ratelimit`), full at the start, less the share the sync
    leaves to queries (`BackgroundPacing.keep_share`); then the refill, 3/4 of the limit.
    Vendor latency is left out: StateSet's wait for a token (1.33 s) is far above it."""
    clock = _StillClock(ANCHOR)
    bucket = TokenBucket(per_minute, clock)
    keep = int(bucket.capacity * pacing.keep_share)
    for _ in range(calls):
        clock.advance(bucket.reserve(math.inf, keep))
    return clock.elapsed


def _sources(simulators: Mapping[Provider, Simulator], clock: Clock) -> Sources:
    """`resolvers.sources.demo_sources`, with the client-side rate limits off (0)."""
    return demo_sources(
        simulators=dict(simulators), clock=clock, timeout_s=60.0, rate_limit_per_min=0
    )


def _timed(app: ASGIApp, spent: list[float]) -> ASGIApp:
    """`app`, adding the seconds each call spends inside it to `spent`: the simulators' share
    of a page's time (they run in the gateway's process and on its core)."""

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            spent.append(time.perf_counter() - started)

    return timed


def _call_kind(entry: LoggedRequest) -> str:
    """What a sync call to StateSet or Vectara was for."""
    if entry.param("stream_id") or len(entry.path.strip("/").split("/")) == 5:
        return "refetch"  # one session read again (StateSet by stream id, Vectara by key)
    if entry.param("status") == "active" or entry.param("enabled") == "true":
        return "active"
    return "list"


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _file_mib(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 1) if path.exists() else 0.0


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _repeat(runs: int, warmup: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    """Milliseconds of each of `runs` calls of `once`, after `warmup` unmeasured ones."""
    times: list[float] = []
    for number in range(warmup + runs):
        started = time.perf_counter()
        await once()
        if number >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return times


@dataclass
class _Bench:
    """One size: the simulators, the app over them and its client."""

    clock: _StillClock
    simulators: dict[Provider, Simulator]
    sources: Sources
    client: httpx.AsyncClient
    in_simulators: list[float]  # seconds spent inside the simulators, call by call

    @property
    def reader(self) -> IndexReader:
        assert self.sources.index is not None
        return self.sources.index.reader

    @property
    def store(self) -> IndexStore:
        return self.reader.store

    @property
    def indexed(self) -> list[Provider]:
        assert self.sources.index is not None
        return list(self.sources.index.syncer.scopes)

    def clear_logs(self) -> None:
        for simulator in self.simulators.values():
            simulator.log.clear()

    async def states(self) -> dict[str, str]:
        return {
            p.value: (await self.reader.summary(self.sources.adapters[p])).state.value
            for p in self.indexed
        }

    async def exact(self) -> dict[str, bool]:
        """Per indexed vendor: the index holds as many sessions as the vendor has."""
        found: dict[str, bool] = {}
        for provider in self.indexed:
            keys = [
                ScopeKey(DEFAULT_TENANT, provider, scope)
                for scope in self.sources.adapters[provider].feed_scopes()
            ]
            held = sum([await self.store.sessions_held(key) for key in keys])
            found[provider.value] = held == len(self.simulators[provider].session_keys())
        return found

    async def settled(self) -> bool:
        """No full read due or under way (the reconcile interval is out of reach) and the
        index exact."""
        for provider in self.indexed:
            for status in await self.store.statuses(DEFAULT_TENANT, provider):
                if status.reconcile_due is not None or status.state is not IndexState.READY:
                    return False
        return all((await self.exact()).values())

    async def build(self) -> dict[str, dict[str, Any]]:
        """Each indexed vendor's first full read, one vendor after the other (so each has its
        own wall time; a server runs them at once)."""
        assert self.sources.index is not None
        syncer = self.sources.index.syncer
        built: dict[str, dict[str, Any]] = {}
        for provider, scopes in syncer.scopes.items():
            self.clear_logs()
            started = time.perf_counter()
            for scope in scopes:
                status = await scope.run_once()
                if status is None or status.state is not IndexState.READY:
                    raise RuntimeError(f"{provider.value}: the build ended {status}")
            wall = time.perf_counter() - started
            calls = len(self.simulators[provider].log)
            per_minute = adapter_class(provider).config.rate_limit_per_min
            built[provider.value] = {
                "scopes": len(scopes),
                "calls": calls,
                "wall_s": round(wall, 2),
                "documented_limit_per_min": per_minute,
                "at_documented_limit_s": round(
                    documented_seconds(calls, per_minute, syncer.limits.pacing), 1
                ),
            }
        # Queries read the scopes' states at most once per `status_ttl_s` of the clock: on a
        # clock that stood still they would stay BUILDING (and the pages live) for ever.
        self.clock.advance(self.reader.status_ttl_s)
        return built

    async def page(self, query: str, runs: int, warmup: int) -> dict[str, Any]:
        """`query` `warmup + runs` times: wall times and each run's vendor calls."""
        calls: list[dict[str, int]] = []
        vendors_ms: list[float] = []

        async def once() -> None:
            self.clear_logs()
            self.in_simulators.clear()
            response = await self.client.post("/graphql", json={"query": query})
            vendors_ms.append(sum(self.in_simulators) * 1000)
            body = response.json()
            edges = ((body.get("data") or {}).get("sessions") or {}).get("edges") or []
            if response.status_code != 200 or body.get("errors") or len(edges) != 50:
                raise RuntimeError(f"the page is not clean: {response.text[:600]}")
            calls.append({p.value: len(s.log) for p, s in self.simulators.items()})

        times = await _repeat(runs, warmup, once)
        measured = calls[warmup:]
        own = [total - vendors for total, vendors in zip(times, vendors_ms[warmup:], strict=True)]
        return {
            "runs": runs,
            "p50_ms": round(statistics.median(times), 1),
            "p90_ms": round(_percentile(times, 0.90), 1),
            "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1),
            # Without the time spent inside the simulators (at most: their calls may overlap).
            "own_p50_ms": round(statistics.median(own), 1),
            "own_p90_ms": round(_percentile(own, 0.90), 1),
            # Every run's count, once: a single value when each page costs the same.
            "calls_per_page": {p.value: sorted({c[p.value] for c in measured}) for p in Provider},
        }

    async def index_reads(self, runs: int) -> dict[str, dict[str, float]]:
        """One indexed vendor's share of the merged page, read from the index alone: the whole
        `list_sessions`, and its two reads apart: a page of 51 and the count."""
        now = self.clock.now()
        window = SessionQuery(started_after=now - timedelta(days=90), started_before=now)
        found: dict[str, dict[str, float]] = {}
        for provider in self.indexed:
            adapter = self.sources.adapters[provider]
            lister = self.reader.lister(adapter)
            scopes = adapter.feed_scopes()
            keys = [ScopeKey(DEFAULT_TENANT, provider, scope) for scope in scopes]
            counted = window
            if scopes == ("",):  # as the reader asks: one list for all agents, the configured
                counted = SessionQuery(
                    started_after=window.started_after,
                    started_before=window.started_before,
                    agent_ids=adapter.default_agent_ids() or None,
                )
            listed = await _repeat(runs, 1, partial(lister.list_sessions, window, None, 51))
            page = await _repeat(runs, 1, partial(self.store.page, keys, counted, None, 51))
            count = await _repeat(runs, 1, partial(self.store.count, keys, counted))
            found[provider.value] = {
                "list_sessions_p50_ms": round(statistics.median(listed), 1),
                "page_p50_ms": round(statistics.median(page), 1),
                "count_p50_ms": round(statistics.median(count), 1),
            }
        return found

    async def tick(self, seconds: float) -> dict[str, Any]:
        """One sync round after the clock moved `seconds`: its calls by kind, and what the
        vendors changed in that time (the simulators' own change logs)."""
        assert self.sources.index is not None
        before = self.clock.now()
        self.clock.advance(seconds)
        self.clear_logs()
        started = time.perf_counter()
        await self.sources.index.syncer.run_once()
        wall = time.perf_counter() - started
        after = self.clock.now()
        calls: dict[str, dict[str, int]] = {}
        changes: dict[str, dict[str, int]] = {}
        for provider in self.indexed:
            simulator = self.simulators[provider]
            simulator.advance(after)  # a vendor the sync did not ask has changed all the same
            calls[provider.value] = dict(Counter(_call_kind(e) for e in simulator.log.entries))
            changed: Sequence[Any] = getattr(simulator, "changes", ())
            changes[provider.value] = dict(
                Counter(change.kind for change in changed if before < change.at <= after)
            )
        return {"calls": calls, "changes": changes, "wall_ms": round(wall * 1000, 1)}

    async def ticks(self, count: int) -> dict[str, Any]:
        """A round with nothing changed, then `count` intervals with arrivals."""
        return {
            "no_change": await self.tick(0.0),
            "intervals": [await self.tick(INTERVAL_S) for _ in range(count)],
        }

    async def catch_up(self) -> dict[str, Any]:
        """The clock jumps to `STEADY_AT` after the anchor; the sync runs an interval at a time
        until it is settled. Its rounds and their calls."""
        self.clock.advance((ANCHOR + STEADY_AT - self.clock.now()).total_seconds())
        rounds: list[dict[str, Any]] = []
        while not rounds or not await self.settled():
            if len(rounds) == CATCH_UP_BOUND:
                raise RuntimeError(f"the sync did not catch up in {CATCH_UP_BOUND} intervals")
            rounds.append(await self.tick(INTERVAL_S if rounds else 0.0))
        return {
            "rounds": len(rounds),
            "calls": {
                p.value: sum(sum(r["calls"][p.value].values()) for r in rounds)
                for p in self.indexed
            },
            "wall_s": round(sum(r["wall_ms"] for r in rounds) / 1000, 1),
        }


@asynccontextmanager
async def _running(size: int, seed: int, order: str, index_url: str) -> AsyncIterator[_Bench]:
    clock = _StillClock(ANCHOR)
    simulators = build_simulators(
        size=size,
        seed=seed,
        anchor=ANCHOR,
        clock=clock,
        order=order,
        arrivals_per_hour=NEW_PER_INTERVAL * 3600 / INTERVAL_S,
    )
    settings = load_settings(
        {
            "SESSIONGRAPH_CURSOR_SECRET": "bench-index",
            "SESSIONGRAPH_AUTH": "off",
            "SESSIONGRAPH_INDEX_URL": index_url,
            "SESSIONGRAPH_SYNC_INTERVAL_S": f"{INTERVAL_S:g}",
            # Out of the measured intervals' reach: its cost is reported apart.
            "SESSIONGRAPH_RECONCILE_INTERVAL_S": str(7 * 86400),
        }
    )
    in_simulators: list[float] = []
    for simulator in simulators.values():
        simulator.app = _timed(simulator.app, in_simulators)  # before the adapters connect
    sources = _sources(simulators, clock)
    app = create_app(settings, sources=sources, start_sync=False)
    async with app.router.lifespan_context(app):
        if sources.index is None:
            raise RuntimeError(f"the index did not open: {sources.index_error}")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield _Bench(clock, simulators, sources, client, in_simulators)


async def measure(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of one size (in this process: its RSS is the figure's)."""
    figures: dict[str, Any] = {"size": size, "rss_mib": {"start": _rss_mib()}}
    with tempfile.TemporaryDirectory(prefix="bench-index-") as folder:
        db = Path(folder) / "index.db"
        url = args.index_url.format(size=size) if args.index_url else f"sqlite:///{db}"
        started = time.perf_counter()
        async with _running(size, args.seed, args.order, url) as bench:
            figures["simulators_s"] = round(time.perf_counter() - started, 1)
            figures["rss_mib"]["simulators"] = _rss_mib()
            if set((await bench.states()).values()) != {"building"}:
                raise RuntimeError(f"the index is not empty: {await bench.states()}")
            figures["build"] = await bench.build()
            figures["rss_mib"]["built"] = _rss_mib()
            if set((await bench.states()).values()) != {"ready"}:
                raise RuntimeError(f"not READY after the build: {await bench.states()}")
            if not args.index_url:
                wal = db.with_name(db.name + "-wal")
                figures["disk_mib"] = {"db": _file_mib(db), "wal": _file_mib(wal)}
            figures["merged"] = await bench.page(MERGED, args.runs, args.warmup)
            live = ", ".join(p.name for p in Provider if p not in bench.indexed)
            indexed = ", ".join(p.name for p in bench.indexed)
            figures["indexed_only"] = await bench.page(ONLY % indexed, args.runs // 3, 1)
            figures["live_only"] = await bench.page(ONLY % live, args.runs // 3, 1)
            figures["index_reads"] = await bench.index_reads(args.runs // 3)
            figures["after_build"] = await bench.ticks(args.ticks_after_build)
            if size <= args.steady_up_to:
                figures["catch_up"] = await bench.catch_up()
                figures["steady"] = await bench.ticks(args.ticks)
            figures["exact_at_end"] = await bench.exact()
            figures["rss_mib"]["end"] = _rss_mib()
    figures["rss_mib"]["max"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


# --- the report -------------------------------------------------------------------------------


def _calls(tick: Mapping[str, Any], provider: str) -> int:
    return sum(tick["calls"].get(provider, {}).values())


def _interval_cells(ticks: Mapping[str, Any], provider: str) -> str:
    """'no change · with changes mean [min-max] (changes per interval, mean)'."""
    intervals = ticks["intervals"]
    costs = [_calls(t, provider) for t in intervals]
    changes = [sum(t["changes"].get(provider, {}).values()) for t in intervals]
    return (
        f"{_calls(ticks['no_change'], provider)} · {statistics.fmean(costs):.1f} "
        f"[{min(costs)}-{max(costs)}] ({statistics.fmean(changes):.1f})"
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def markdown(results: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> str:
    indexed = list(results[0]["build"])
    base = results[0]["merged"]["p50_ms"]
    out = [
        f"### Index — {config['order']} lists, {config['backend']}, sync every "
        f"{INTERVAL_S:g} s, {NEW_PER_INTERVAL} arrivals per vendor per interval",
        "",
        "| figure | " + " | ".join(f"{r['size']:,}" for r in results) + " |",
        "|---|" + "--:|" * len(results),
    ]

    def line(label: str, cells: Sequence[str]) -> None:
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    line(
        f"merged first page, p50 / p90 ms ({config['runs']} runs)",
        [f"{r['merged']['p50_ms']:.1f} / {r['merged']['p90_ms']:.1f}" for r in results],
    )
    line(
        f"p50 ÷ p50 at {results[0]['size']:,} (target ≤ {P50_TARGET})",
        [f"{r['merged']['p50_ms'] / base:.2f}" for r in results],
    )
    own = results[0]["merged"]["own_p50_ms"]
    line(
        "the same less the time inside the simulators, p50 / p90 ms (ratio)",
        [
            f"{r['merged']['own_p50_ms']:.1f} / {r['merged']['own_p90_ms']:.1f} "
            f"({r['merged']['own_p50_ms'] / own:.2f})"
            for r in results
        ],
    )
    line(
        "same page, indexed vendors only / live vendors only, p50 ms",
        [f"{r['indexed_only']['p50_ms']:.1f} / {r['live_only']['p50_ms']:.1f}" for r in results],
    )
    for p in indexed:
        line(
            f"{p} index read alone: list_sessions = page of 51 + count, p50 ms",
            [
                f"{r['index_reads'][p]['list_sessions_p50_ms']:.1f} = "
                f"{r['index_reads'][p]['page_p50_ms']:.1f} + "
                f"{r['index_reads'][p]['count_p50_ms']:.1f}"
                for r in results
            ],
        )
    for vendor in results[0]["merged"]["calls_per_page"]:
        line(
            f"vendor calls per merged page: {vendor}",
            ["/".join(str(c) for c in r["merged"]["calls_per_page"][vendor]) for r in results],
        )
    for phase, label in (("after_build", "right after the build"), ("steady", "steady state")):
        for p in indexed:
            line(
                f"{p} calls per interval, {label}: no change · 10 new, mean [range] "
                "(vendor changes)",
                [_interval_cells(r[phase], p) if phase in r else "—" for r in results],
            )
    line(
        f"catch-up after a jump to anchor + {STEADY_AT.seconds // 60} min: intervals "
        f"(calls {' / '.join(indexed)})",
        [
            f"{r['catch_up']['rounds']} "
            f"({' / '.join(str(r['catch_up']['calls'][p]) for p in indexed)})"
            if "catch_up" in r
            else "—"
            for r in results
        ],
    )
    for p in indexed:
        limit = results[0]["build"][p]["documented_limit_per_min"]
        line(
            f"{p} cold build: calls · at {limit}/min · wall here",
            [
                f"{r['build'][p]['calls']} · {_duration(r['build'][p]['at_documented_limit_s'])}"
                f" · {r['build'][p]['wall_s']:.1f} s"
                for r in results
            ],
        )
        line(
            f"{p} hourly reconcile (a full read), calls per interval amortized",
            [f"{r['build'][p]['calls'] * INTERVAL_S / 3600:.1f}" for r in results],
        )
    if "disk_mib" in results[0]:
        line(
            "index on disk after the build, MiB (db + wal)",
            [f"{r['disk_mib']['db']:.1f} + {r['disk_mib']['wal']:.1f}" for r in results],
        )
    stages = ("simulators", "built", "end", "max")
    line(
        "process RSS: simulators made / built / end / max, MiB",
        [" / ".join(f"{r['rss_mib'][k]:.0f}" for k in stages) for r in results],
    )
    line(
        "index exact at the end (held = the vendor's sessions)",
        [
            ", ".join(f"{p} {'yes' if ok else 'NO'}" for p, ok in r["exact_at_end"].items())
            for r in results
        ],
    )
    last, first = results[-1], results[0]
    out.append("")
    for label, key in (("", "p50_ms"), (", less the simulators' time", "own_p50_ms")):
        ratio = last["merged"][key] / first["merged"][key]
        out.append(
            f"- merged first page p50{label} at {last['size']:,} ÷ at {first['size']:,}: "
            f"{ratio:.2f} (target ≤ {P50_TARGET}) — {'met' if ratio <= P50_TARGET else 'MISSED'}"
        )
    if config.get("cpu"):
        cpu = config["cpu"]
        out.append(
            f"- other processes used {cpu['others_share']:.0%} of the machine's CPU during the "
            f"run ({cpu['others_cpu_s']:.0f} CPU-s over {cpu['wall_s']:.0f} s)"
        )
    return "\n".join(out)


# --- the command ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.index", description=__doc__)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--runs", type=int, default=30, help="measured merged pages per size")
    parser.add_argument("--warmup", type=int, default=3, help="merged pages before measuring")
    parser.add_argument("--ticks-after-build", type=int, default=3, help="intervals measured")
    parser.add_argument("--ticks", type=int, default=10, help="steady-state intervals measured")
    parser.add_argument(
        "--steady-up-to",
        type=int,
        default=10_000,
        help="the steady state only up to this size (at 100k its catch-up alone takes minutes)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--order", default="shuffled", help="how StateSet and Vectara list (the simulators')"
    )
    parser.add_argument(
        "--index-url",
        default="",
        help="an empty index database per size, `{size}` in it replaced (default: new SQLite "
        "files)",
    )
    parser.add_argument("--out", type=Path, default=OUT / "index.json")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child: one size
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    if not args.sizes or min(args.sizes) < 1 or args.runs < 3 or args.ticks < 1:
        parser.error("sizes and ticks must be positive, runs at least 3")
    return args


def _child(size: int, argv: Sequence[str]) -> dict[str, Any]:
    """`size` in a process of its own: its figures (JSON, its output's last line)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.index", *argv, "--one", str(size)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"size {size} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.one is not None:
        print(json.dumps(asyncio.run(measure(args.one, args))))
        return 0
    host = machine()
    started = time.monotonic()
    cpu = CpuMeter()
    results: list[dict[str, Any]] = []
    for size in args.sizes:
        print(f"bench.index: {size:,} sessions per vendor …", file=sys.stderr, flush=True)
        results.append(_child(size, argv))
    config = {
        "command": " ".join(["python -m bench.index", *argv]),
        "sizes": args.sizes,
        "runs": args.runs,
        "warmup": args.warmup,
        "ticks_after_build": args.ticks_after_build,
        "ticks": args.ticks,
        "seed": args.seed,
        "order": args.order,
        "backend": args.index_url.split(":", 1)[0] if args.index_url else "SQLite",
        "anchor": ANCHOR.isoformat(),
        "interval_s": INTERVAL_S,
        "new_per_interval": NEW_PER_INTERVAL,
        "python": platform.python_version(),
        "elapsed_s": round(time.monotonic() - started, 1),
        "cpu": cpu.finish(),  # the children were waited for: theirs counts as ours
    }
    report = {"config": config, "machine": host, "sizes": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(results, config))
    print(f"\nbench.index: {config['elapsed_s']} s; figures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
