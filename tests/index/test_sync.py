"""The sync against simulators whose data changes over time, in each list order, on both
backends: what a query sees after each sync, and what each sync costs in vendor calls."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from index.schema import SCHEMA_VERSION
from providers.query import SessionQuery
from providers.records import Channel, Provider, SessionRecord, SessionStatus
from tests.conftest import Gateway, running_gateway
from tests.index import raw
from tests.oracles import expected_records
from tests.support import expected

INDEXED = (Provider.STATESET, Provider.VECTARA)
INTERVAL_S = 30
PAGE = """
query($p: [Provider!], $first: Int, $after: String, $order: SessionOrder) {
  sessions(first: $first, after: $after, filter: {providers: $p}, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id providerSessionId status startedAt } }
    sources { provider fromIndex indexState indexedAt truncated }
  }
}
"""
INDEX_INFO = "{ providers { name index { state sessions syncedAt lagSeconds error } } }"


@asynccontextmanager
async def indexed(
    url: str, size: int = 300, environ: dict[str, str] | None = None, **options: Any
) -> AsyncIterator[Gateway]:
    environ = {
        "SESSIONGRAPH_INDEX_URL": url,
        "SESSIONGRAPH_SYNC_INTERVAL_S": str(INTERVAL_S),
        **(environ or {}),
    }
    async with running_gateway(size=size, environ=environ, **options) as gateway:
        yield gateway


async def ids(gateway: Gateway, provider: Provider, **variables: Any) -> list[str]:
    """Every session id of `provider` the connection shows, in order, over all its pages."""
    found: list[str] = []
    after = None
    for _ in range(200):
        body = await gateway.query(PAGE, p=[provider.name], first=100, after=after, **variables)
        assert "errors" not in body, body
        page = body["data"]["sessions"]
        found += [edge["node"]["providerSessionId"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more than 200 pages")


def truth(gateway: Gateway, provider: Provider, newest_first: bool = True) -> list[str]:
    """The simulator's own sessions of the default window (the 90 days to now, now rounded up
    to the next second, as the gateway does), in the one order."""
    simulator = gateway.simulators[provider]
    simulator.advance(gateway.clock.now())
    end = gateway.clock.now().replace(microsecond=0) + timedelta(seconds=1)
    start = end - timedelta(days=90)
    keys = [key for key in simulator.session_keys() if start <= key.started_at < end]
    keys.sort(key=lambda k: (k.started_at, k.agent_id or "", k.id), reverse=newest_first)
    return [key.id for key in keys]


async def advance(gateway: Gateway, seconds: float) -> None:
    gateway.clock.advance(seconds)
    await gateway.sync()


@pytest.mark.parametrize("provider", INDEXED, ids=lambda p: p.value)
async def test_a_ready_index_answers_exactly_with_no_vendor_list_call(
    index_url: str, provider: Provider
) -> None:
    async with indexed(index_url, size=3000) as gateway:
        first = await gateway.query(PAGE, p=[provider.name], first=10)
        source = first["data"]["sessions"]["sources"][0]
        assert source["fromIndex"] is False and source["indexState"] == "BUILDING"
        await gateway.sync()
        gateway.clear_logs()
        for newest_first in (True, False):
            order = "NEWEST_FIRST" if newest_first else "OLDEST_FIRST"
            assert await ids(gateway, provider, order=order) == truth(
                gateway, provider, newest_first
            )
        assert gateway.calls()[provider] == 0
        body = await gateway.query(PAGE, p=[provider.name], first=5)
        assert first["extensions"]["cost"]["estimated"] > 0  # the live scan's bound
        assert body["extensions"]["cost"] == {"estimated": 0, "actual": 0}  # no list call
        page = body["data"]["sessions"]
        assert page["totalCount"] == len(truth(gateway, provider))
        assert page["sources"][0]["fromIndex"] is True
        assert page["sources"][0]["indexState"] == "READY"
        info = await gateway.query(INDEX_INFO)
        index = {p["name"]: p["index"] for p in info["data"]["providers"]}
        assert index[provider.name]["state"] == "READY"
        assert index[provider.name]["sessions"] == len(gateway.simulators[provider].session_keys())
        assert index["SAMSARA"]["state"] == "OFF"


ORDERS = ("newest-first", "insertion", "shuffled")


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("provider", INDEXED, ids=lambda p: p.value)
async def test_new_sessions_show_within_one_sync_interval(
    index_url: str, provider: Provider, order: str
) -> None:
    async with indexed(index_url, size=500, order=order, arrivals_per_hour=120) as gateway:
        await gateway.sync()
        before = set(truth(gateway, provider))
        await advance(gateway, INTERVAL_S * 4)  # about four arrivals per vendor
        after = truth(gateway, provider)
        assert set(after) - before, "the simulator sent no new session"
        assert await ids(gateway, provider) == after


@pytest.mark.parametrize("provider", INDEXED, ids=lambda p: p.value)
async def test_a_completed_session_shows_completed_after_one_sync(
    index_url: str, provider: Provider
) -> None:
    async with indexed(index_url, size=500, arrivals_per_hour=60) as gateway:
        await gateway.sync()
        await advance(gateway, 120)  # arrivals: active sessions
        active = await _statuses(gateway, provider)
        assert "ACTIVE" in active.values()
        for _ in range(6 * 60 * 60 // INTERVAL_S):  # within six hours every one completes
            await advance(gateway, INTERVAL_S)
            now = await _statuses(gateway, provider)
            done = [
                key
                for key, status in active.items()
                if status == "ACTIVE" and now.get(key) != "ACTIVE"
            ]
            if done:
                break
        else:
            raise AssertionError("no active session completed")
        expected = {key[1]: status for key, status in _model_statuses(gateway, provider).items()}
        assert {key: now[key] for key in done} == {key: expected[key] for key in done}


@pytest.mark.parametrize("provider", INDEXED, ids=lambda p: p.value)
async def test_deleted_sessions_go_at_the_next_reconcile(
    index_url: str, provider: Provider
) -> None:
    async with indexed(index_url, size=500, deletions_per_hour=30) as gateway:
        await gateway.sync()
        before = set(truth(gateway, provider))
        await advance(gateway, 3600)  # about 30 deletions; a reconcile is due
        for _ in range(5):  # a reconcile reads in slices: each round goes on with it
            await advance(gateway, INTERVAL_S)
        after = truth(gateway, provider)
        assert before - set(after), "the simulator deleted nothing"
        assert await ids(gateway, provider) == after


DELETE = "mutation($id: ID!) { deleteSession(id: $id) { deletedId errors { code } } }"
VECTARA_NODES = """{ sessions(first: 20, filter: {providers: [VECTARA]})
  { nodes { id providerSessionId status } } }"""


async def test_a_page_read_before_a_delete_does_not_put_the_session_back(
    index_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync reads a page, the session on it is deleted, then the page is stored: the
    delete's audit record keeps the row it dropped from coming back until the next reconcile."""
    async with indexed(index_url, size=300) as gateway:
        await gateway.sync()
        nodes = (await gateway.query(VECTARA_NODES))["data"]["sessions"]["nodes"]
        doomed = next(n for n in nodes if n["status"] != "ACTIVE")
        adapter = gateway.sources.adapters[Provider.VECTARA]
        read = adapter.feed_page
        answers: list[Any] = []

        async def read_then_delete(*args: Any, **kwargs: Any) -> Any:
            page = await read(*args, **kwargs)
            listed = any(r.id == doomed["providerSessionId"] for r in page.records)
            if listed and not answers:  # the page holds it: deleted before the page is stored
                answers.append(await gateway.query(DELETE, id=doomed["id"]))
            return page

        monkeypatch.setattr(adapter, "feed_page", read_then_delete)
        await gateway.sync()
        assert [a["data"]["deleteSession"] for a in answers] == [
            {"deletedId": doomed["id"], "errors": []}
        ]
        after = await ids(gateway, Provider.VECTARA)
        assert doomed["providerSessionId"] not in after
        assert after == truth(gateway, Provider.VECTARA)


@pytest.mark.parametrize("size", (500, 5000))
@pytest.mark.parametrize("provider", INDEXED, ids=lambda p: p.value)
async def test_a_sync_costs_what_changed_not_what_exists(
    index_url: str, provider: Provider, size: int
) -> None:
    """With no arrival, a tick reads each list's first page and its active filter (a page per
    100 sessions in progress): what is going on, not what exists; plus a fetch per session that
    completed since."""
    async with indexed(index_url, size=size) as gateway:
        await gateway.sync()
        await advance(gateway, INTERVAL_S)  # catches up with what changed during the build
        gateway.clear_logs()
        before = _model_statuses(gateway, provider)
        active = Counter(
            record.agent_id if provider is Provider.VECTARA else ""
            for record in _model(gateway, provider)
            if record.status is SessionStatus.ACTIVE
        )
        await advance(gateway, INTERVAL_S)
        after = _model_statuses(gateway, provider)
        completed = sum(1 for key, status in before.items() if after.get(key) != status)
        entries = gateway.simulators[provider].log.entries
        lists = [e for e in entries if e.path.endswith("sessions") and not e.param("stream_id")]
        scopes = gateway.sources.adapters[provider].feed_scopes()
        assert len(lists) == sum(1 + max(1, math.ceil(active[s] / 100)) for s in scopes)
        assert len(entries) - len(lists) == completed


async def test_a_vendor_failing_during_sync_leaves_the_index_answering_stale(
    index_url: str,
) -> None:
    async with indexed(index_url, size=300) as gateway:
        await gateway.sync()
        gateway.simulators[Provider.STATESET].faults.error_status = 500
        await advance(gateway, INTERVAL_S)
        body = await gateway.query(PAGE, p=["STATESET"], first=5)
        source = body["data"]["sessions"]["sources"][0]
        assert source["indexState"] == "STALE" and source["fromIndex"] is True
        assert len(body["data"]["sessions"]["edges"]) == 5
        info = await gateway.query(INDEX_INFO)
        index = {p["name"]: p["index"] for p in info["data"]["providers"]}
        assert index["STATESET"]["state"] == "STALE" and index["STATESET"]["error"]


async def _statuses(gateway: Gateway, provider: Provider) -> dict[str, str]:
    body = await gateway.query(PAGE, p=[provider.name], first=100)
    return {
        e["node"]["providerSessionId"]: e["node"]["status"]
        for e in body["data"]["sessions"]["edges"]
    }


def _model_statuses(gateway: Gateway, provider: Provider) -> dict[tuple[str, str], str]:
    return {(r.agent_id or "", r.id): r.status.name for r in _model(gateway, provider)}


def _model(gateway: Gateway, provider: Provider) -> list[SessionRecord]:
    """The simulator's sessions now, as a client should see them (the oracle)."""
    simulator = gateway.simulators[provider]
    simulator.advance(gateway.clock.now())
    return expected_records(simulator)


async def test_an_index_of_a_newer_version_is_left_alone_and_the_server_scans_live(
    index_url: str,
) -> None:
    await raw.execute(
        index_url,
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
        f"INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION + 1}')",
    )
    async with indexed(index_url) as gateway:
        assert gateway.sources.index is None
        info = await gateway.query(INDEX_INFO)
        index = {p["name"]: p["index"] for p in info["data"]["providers"]}
        assert index["STATESET"]["state"] == "FAILED"
        assert f"version {SCHEMA_VERSION + 1}" in index["STATESET"]["error"]
        body = await gateway.query(PAGE, p=["STATESET"], first=5)
        assert len(body["data"]["sessions"]["edges"]) == 5
        source = body["data"]["sessions"]["sources"][0]
        assert source["fromIndex"] is False and source["indexState"] == "FAILED"


def _undecodable(index_url: str) -> str:
    junk = "X'6a756e6b'" if raw.sqlite_path(index_url) else "decode('6a756e6b', 'hex')"
    return f"UPDATE sessions SET record = {junk}"


@pytest.mark.parametrize(
    "breaking",
    [
        _undecodable,  # rows whose records do not decode
        # a database error on the read: on SQLite the reader thread's own sqlite3 error, on
        # PostgreSQL SQLAlchemy's
        lambda _: "DROP TABLE sessions",
    ],
    ids=["undecodable-rows", "table-gone"],
)
async def test_an_index_that_cannot_be_read_costs_speed_never_the_answer(
    index_url: str, breaking: Callable[[str], str]
) -> None:
    async with indexed(index_url, size=50) as gateway:
        await gateway.sync()
        await raw.execute(index_url, breaking(index_url))
        body = await gateway.query(PAGE, p=["STATESET"], first=50)
        assert "errors" not in body, body
        page = body["data"]["sessions"]
        assert [e["node"]["providerSessionId"] for e in page["edges"]] == truth(
            gateway, Provider.STATESET
        )[:50]
        assert page["sources"][0]["fromIndex"] is False
        assert page["sources"][0]["indexState"] == "FAILED"


async def test_with_the_index_off_pages_say_so() -> None:
    async with running_gateway(size=50) as gateway:  # SESSIONGRAPH_INDEX_URL=off
        body = await gateway.query(PAGE, p=["STATESET", "SAMSARA"], first=5)
        states = {s["provider"]: s["indexState"] for s in body["data"]["sessions"]["sources"]}
        assert states == {"SAMSARA": None, "STATESET": "OFF"}


async def test_retention_keeps_recent_sessions_and_older_windows_scan_live(
    index_url: str,
) -> None:
    environ = {"SESSIONGRAPH_INDEX_RETENTION_DAYS": "30"}
    async with indexed(index_url, size=600, environ=environ) as gateway:
        await gateway.sync()
        now = gateway.clock.now()
        horizon = now - timedelta(days=30)
        every = gateway.simulators[Provider.STATESET].session_keys()
        info = await gateway.query(INDEX_INFO)
        index = {p["name"]: p["index"] for p in info["data"]["providers"]}
        assert index["STATESET"]["sessions"] == sum(1 for k in every if k.started_at >= horizon)
        assert 0 < index["STATESET"]["sessions"] < len(every)
        recent = {"startedAfter": (now - timedelta(days=10)).isoformat(), "providers": ["STATESET"]}
        older = {"startedAfter": (now - timedelta(days=60)).isoformat(), "providers": ["STATESET"]}
        for window, from_index in ((recent, True), (older, False)):
            body = await gateway.query(SOURCES, filter=window)
            source = body["data"]["sessions"]["sources"][0]
            assert source["fromIndex"] is from_index
            wanted = sorted(
                (
                    k
                    for k in every
                    if k.started_at >= datetime.fromisoformat(window["startedAfter"])
                ),
                key=lambda k: (k.started_at, k.agent_id or "", k.id),
                reverse=True,
            )
            assert body["data"]["sessions"]["totalCount"] == len(wanted)


SOURCES = """
query($filter: SessionFilter) {
  sessions(first: 5, filter: $filter) { totalCount sources { fromIndex indexState } }
}
"""


FILTERED = """
query($filter: SessionFilter, $after: String) {
  sessions(first: 20, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { providerSessionId } }
    sources { fromIndex }
  }
}
"""


@pytest.mark.parametrize(
    ("provider", "extra"),
    [
        (Provider.STATESET, {"text": "refund"}),
        (Provider.STATESET, {"statuses": ["FAILED"], "tags": ["dropped"]}),
        (Provider.VECTARA, {"text": "order"}),
        (Provider.VECTARA, {"statuses": ["COMPLETED"], "channels": ["CHAT"]}),
    ],
    ids=["stateset-text", "stateset-status-tag", "vectara-text", "vectara-status-channel"],
)
async def test_filters_read_from_the_index_equal_the_oracle(
    index_url: str, provider: Provider, extra: dict[str, Any]
) -> None:
    async with indexed(index_url, size=400) as gateway:
        await gateway.sync()
        gateway.clear_logs()
        window = {"startedAfter": (gateway.clock.now() - timedelta(days=90)).isoformat()}
        variables = {"providers": [provider.name], **window, **extra}
        seen: list[str] = []
        after = None
        for _ in range(50):
            body = await gateway.query(FILTERED, filter=variables, after=after)
            assert "errors" not in body, body
            page = body["data"]["sessions"]
            assert page["sources"][0]["fromIndex"] is True
            seen += [edge["node"]["providerSessionId"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        query = SessionQuery(
            started_after=datetime.fromisoformat(window["startedAfter"]),
            started_before=gateway.clock.now() + timedelta(seconds=1),
            text=extra.get("text"),
            statuses=frozenset(SessionStatus[s] for s in extra.get("statuses", ())) or None,
            tags=tuple(extra.get("tags", ())),
            channels=frozenset(Channel[c] for c in extra.get("channels", ())) or None,
        )
        wanted = [record.id for record in expected(gateway.simulators[provider], query)]
        assert wanted and seen == wanted
        listed = [
            e for e in gateway.simulators[provider].log.entries if e.path.endswith("sessions")
        ]
        assert listed == []  # no list call; Vectara's text reads events, nothing else


async def test_stopping_while_another_writer_holds_sqlite_leaves_the_lease_to_expire(
    tmp_path: Any,
) -> None:
    url = f"sqlite:///{tmp_path}/index.db"
    async with indexed(url, size=20) as gateway:
        await gateway.sync()
        assert gateway.sources.index is not None
        path = raw.sqlite_path(url)
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, as a cancelled write can keep it
            await gateway.sources.index.syncer.stop()  # returns: no "database is locked"
        finally:
            holder.close()
        rows = await raw.fetch(url, "SELECT holder FROM leases")
        assert rows  # the leases were left to expire, not released
