"""Retries: full jitter, and a retry budget per vendor client (retries at most a tenth of the
client's calls over the last minute, ten a minute at least) that keeps a 503 storm from tripling
the vendor's load. Counted at the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from providers.adapter import Adapter
from providers.budget import request_budget
from providers.errors import UpstreamUnavailableError
from providers.simulators.samsara import SamsaraSimulator
from tests.providers.resilience.conftest import QUERY
from tests.support import FakeClock, connect


@pytest.fixture
async def adapter(sim: SamsaraSimulator, clock: FakeClock) -> AsyncIterator[Adapter]:
    adapter = connect(sim, clock=clock, rate_limit_per_min=0)  # the bucket is not under test
    yield adapter
    await adapter.aclose()


async def storm(adapter: Adapter, calls: int, clock: FakeClock) -> None:
    """`calls` calls in one long request (one request is one failure to the breaker, which
    then stays closed and lets every call reach the vendor)."""
    with request_budget(None, clock):
        for _ in range(calls):
            with pytest.raises(UpstreamUnavailableError):
                await adapter.list_sessions(QUERY, None, 5)


async def test_a_quiet_client_retries_a_blip(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status, sim.faults.error_budget = 503, 2
    page = await adapter.list_sessions(QUERY, None, 5)
    assert len(page.items) == 5
    assert [entry.status for entry in sim.log.entries] == [503, 503, 200]


async def test_the_budget_caps_retries_under_a_503_storm(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    """300 calls against a vendor answering 503 to everything: without a budget 900 requests
    (three tries each); with it, 300 plus a tenth of 300."""
    sim.faults.error_status = 503
    await storm(adapter, 300, clock)
    assert len(sim.log) == 300 + 30


async def test_the_floor_lets_ten_retries_a_minute_through(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status = 503
    await storm(adapter, 20, clock)
    assert len(sim.log) == 20 + 10, "ten retries: the first five calls' two each"
    clock.advance(60.0)
    await storm(adapter, 20, clock)
    assert len(sim.log) == 2 * (20 + 10), "a minute later, ten more"


async def test_back_off_is_full_jitter(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each wait is drawn from 0 to its cap (0.05 s, then 0.1 s): callers that failed together
    come back spread out, not together."""
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return 0.0

    monkeypatch.setattr("providers.retries.random.uniform", uniform)
    sim.faults.error_status = 503
    with pytest.raises(UpstreamUnavailableError):
        await adapter.list_sessions(QUERY, None, 5)
    assert drawn == [(0.0, 0.05), (0.0, 0.1)]
    assert clock.slept == [0.0, 0.0]
    assert len(sim.log) == 3
