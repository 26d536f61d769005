"""The sync's bounds and refusals, on one scope of one vendor: a list longer than the index is
set to hold, a lease another replica holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from index.state import DEFAULT_TENANT, IndexState, ScopeKey
from index.store import IndexStore
from index.sync import ScopeSync, SyncLimits
from providers.adapter import Adapter
from providers.records import Provider
from providers.simulators import Simulator, build
from tests.conftest import ANCHOR
from tests.support import FakeClock, connect

KEY = ScopeKey(DEFAULT_TENANT, Provider.STATESET, "")
SIZE = 450


@dataclass
class Vendor:
    simulator: Simulator
    adapter: Adapter
    clock: FakeClock

    @property
    def calls(self) -> int:
        return len(self.simulator.log.entries)


@pytest.fixture
async def stateset() -> AsyncIterator[Vendor]:
    clock = FakeClock(ANCHOR)
    simulator = build("stateset", size=SIZE, seed=3, anchor=ANCHOR, clock=clock.now)
    adapter = connect(simulator, clock=clock)
    yield Vendor(simulator, adapter, clock)
    await adapter.aclose()


async def test_a_list_longer_than_the_index_holds_fails_and_waits(
    store: IndexStore, stateset: Vendor
) -> None:
    limits = SyncLimits(max_sessions=200, reconcile_interval_s=3600)
    sync = ScopeSync(store, stateset.adapter, KEY, limits, stateset.clock, "replica-a")
    status = await sync.run_once()
    assert status is not None and status.state is IndexState.FAILED
    assert status.error is not None and "SESSIONGRAPH_INDEX_MAX_SESSIONS" in status.error
    sent = stateset.calls
    assert sent == 3  # the bound: 200 sessions' pages, and the one that shows the list goes on
    stateset.clock.advance(60)
    again = await sync.run_once()
    assert again is not None and again.state is IndexState.FAILED
    assert stateset.calls == sent  # reading it again would not make it shorter
    stateset.clock.advance(3600)
    await sync.run_once()
    assert stateset.calls == 2 * sent


async def test_a_scope_leased_by_another_replica_is_left_to_it(
    store: IndexStore, stateset: Vendor
) -> None:
    clock = stateset.clock
    assert await store.take_lease(KEY, "replica-b", clock.now(), 120)
    sync = ScopeSync(store, stateset.adapter, KEY, SyncLimits(), clock, "replica-a")
    assert await sync.run_once() is None
    assert stateset.calls == 0
    clock.advance(121)  # replica-b stopped renewing its lease
    status = await sync.run_once()
    assert status is not None and status.state is IndexState.READY
    assert await store.sessions_held(KEY) == SIZE


async def test_a_reconcile_over_several_ticks_does_not_bring_on_the_next(
    store: IndexStore,
) -> None:
    """While a reconcile reads its slices, ticks find the arrivals; when it ends, the next
    tick finds nothing unaccounted for: no reconcile is brought forward."""
    clock = FakeClock(ANCHOR)
    simulator = build(
        "stateset", size=2000, seed=3, anchor=ANCHOR, clock=clock.now, arrivals_per_hour=120
    )
    adapter = connect(simulator, clock=clock, rate_limit_per_min=0)
    limits = SyncLimits(reconcile_pages=5, reconcile_interval_s=600)
    sync = ScopeSync(store, adapter, KEY, limits, clock, "replica-a")
    try:
        built = await sync.run_once()
        assert built is not None and built.reconciled_at is not None
        clock.advance(600)
        slices = 0
        status = built
        while status.reconciled_at == built.reconciled_at:
            clock.advance(30)
            status = await sync.run_once() or status
            slices += 1
            assert slices < 10
        assert slices > 1  # the reconcile took several ticks, with arrivals meanwhile
        clock.advance(30)
        after = await sync.run_once()
        assert after is not None and after.reconcile_due is None
        assert await store.sessions_held(KEY) == len(simulator.session_keys())
    finally:
        await adapter.aclose()


async def test_an_active_filter_longer_than_a_tick_reads_is_read_over_several(
    store: IndexStore,
) -> None:
    clock = FakeClock(ANCHOR)
    simulator = build("stateset", size=20_000, seed=3, anchor=ANCHOR, clock=clock.now)
    adapter = connect(simulator, clock=clock, rate_limit_per_min=0)
    sync = ScopeSync(store, adapter, KEY, SyncLimits(active_pages=2), clock, "replica-a")
    try:
        await sync.run_once()
        active_pages = [e for e in simulator.log.entries if e.param("status") == "active"]
        assert active_pages == []  # the build reads the whole list, not the filter
        for _ in range(3):
            clock.advance(30)
            status = await sync.run_once()
            assert status is not None and status.reconcile_due is None
        reads = [e for e in simulator.log.entries if e.param("status") == "active"]
        assert len(reads) == 6  # two pages a tick, going on from where the last tick stopped
        assert len({e.param("offset") for e in reads}) >= 5
    finally:
        await adapter.aclose()
