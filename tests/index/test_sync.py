"""The sync against simulators whose data changes over time, in each list order, on both
backends: what a query sees after each sync, and what each sync costs in vendor calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from providers.records import Provider
from tests.conftest import Gateway, running_gateway

INDEXED = (Provider.STATESET, Provider.VECTARA)
INTERVAL_S = 30
PAGE = """
query($p: [Provider!], $first: Int, $after: String, $order: SessionOrder) {
  sessions(first: $first, after: $after, filter: {providers: $p}, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id vendorId status startedAt agent { vendorId } } }
    sources { provider fromIndex indexState indexedAt truncated }
  }
}
"""
INDEX_INFO = "{ providers { name index { state sessions syncedAt lagSeconds error } } }"


@asynccontextmanager
async def indexed(url: str, size: int = 300, **options: Any) -> AsyncIterator[Gateway]:
    environ = {"SESSIONGRAPH_INDEX_URL": url, "SESSIONGRAPH_SYNC_INTERVAL_S": str(INTERVAL_S)}
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
        found += [edge["node"]["vendorId"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more than 200 pages")


def truth(gateway: Gateway, provider: Provider, newest_first: bool = True) -> list[str]:
    """The simulator's own sessions of the default window (90 days to now), in the one order."""
    simulator = gateway.simulators[provider]
    simulator.advance(gateway.clock.now())
    now = gateway.clock.now()
    keys = [
        key for key in simulator.session_keys() if now - timedelta(days=90) <= key.started_at < now
    ]
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
        expected = _model_statuses(gateway, provider)
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


@pytest.mark.parametrize("provider", INDEXED, ids=lambda p: p.value)
async def test_a_sync_with_nothing_new_costs_a_few_calls_whatever_the_size(
    index_url: str, provider: Provider
) -> None:
    costs = []
    for size in (500, 5000):
        async with indexed(index_url, size=size) as gateway:
            await gateway.sync()
            gateway.clear_logs()
            await advance(gateway, INTERVAL_S)
            costs.append(gateway.calls()[provider])
    scopes = (
        1
        if provider is Provider.STATESET
        else len(gateway.sources.adapters[provider].feed_scopes())
    )
    assert costs[0] == costs[1] <= 3 * scopes  # first page, active filter (and a refetch)


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
    return {e["node"]["vendorId"]: e["node"]["status"] for e in body["data"]["sessions"]["edges"]}


def _model_statuses(gateway: Gateway, provider: Provider) -> dict[str, str]:
    from tests.oracles import expected_records

    simulator = gateway.simulators[provider]
    simulator.advance(gateway.clock.now())
    return {r.id: r.status.name for r in expected_records(simulator)}
