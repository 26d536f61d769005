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
