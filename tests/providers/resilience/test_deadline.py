"""One deadline per request, vendor side: each try gets what is left of the request's budget, no
try or retry goes past it, and every request sent is counted in the budget (its actual cost)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from providers.adapter import Adapter
from providers.budget import request_budget
from providers.errors import (
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from providers.simulators.samsara import SamsaraSimulator
from providers.simulators.vectara import VectaraSimulator
from tests.providers.resilience.conftest import ANCHOR, QUERY
from tests.support import FakeClock, connect


@pytest.fixture
async def adapter(sim: SamsaraSimulator, clock: FakeClock) -> AsyncIterator[Adapter]:
    adapter = connect(sim, clock=clock, timeout_s=5.0)
    yield adapter
    await adapter.aclose()


async def test_with_no_time_left_nothing_is_sent(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    with request_budget(1.0, clock) as budget:
        clock.advance(1.0)
        with pytest.raises(UpstreamTimeoutError, match="was not asked"):
            await adapter.list_sessions(QUERY, None, 5)
    assert len(sim.log) == 0
    assert budget.calls == 0


async def test_a_try_gets_only_what_is_left_of_the_request(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    """The vendor hangs for 2 s (real time); the try's own timeout (5 s) would wait for it, the
    request's 0.05 s left do not: a timeout, one request, not retried."""
    sim.faults.hang_rate, sim.faults.hang_s = 1.0, 2.0
    with request_budget(0.05, clock) as budget, pytest.raises(UpstreamTimeoutError):
        await adapter.list_sessions(QUERY, None, 5)
    assert len(sim.log) == 1
    assert budget.calls == 1


async def test_a_retry_after_that_would_pass_the_deadline_is_reported_at_once(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status, sim.faults.retry_after = 429, "1"  # short enough to wait, usually
    with request_budget(0.5, clock), pytest.raises(UpstreamRateLimitedError) as caught:
        await adapter.list_sessions(QUERY, None, 5)
    assert caught.value.retry_after == 1.0
    assert [entry.status for entry in sim.log.entries] == [429]
    assert clock.slept == []


async def test_a_retry_that_fits_is_made_and_counted(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status, sim.faults.retry_after, sim.faults.error_budget = 429, "1", 1
    with request_budget(5.0, clock) as budget:
        page = await adapter.list_sessions(QUERY, None, 5)
    assert len(page.items) == 5
    assert [entry.status for entry in sim.log.entries] == [429, 200]
    assert clock.slept == [1.0]
    assert (budget.calls, budget.calls_by_provider) == (2, {"samsara": 2})


async def test_a_back_off_that_would_pass_the_deadline_is_not_waited(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 without Retry-After: the back-off is drawn from 0 to 0.05 s (pinned at its cap here);
    with 0.04 s left, the 503 is the answer."""
    monkeypatch.setattr("providers.retries.random.uniform", lambda low, high: high)
    sim.faults.error_status = 503
    with request_budget(0.04, clock), pytest.raises(UpstreamUnavailableError):
        await adapter.list_sessions(QUERY, None, 5)
    assert [entry.status for entry in sim.log.entries] == [503]
    with request_budget(1.0, clock), pytest.raises(UpstreamUnavailableError):
        await adapter.list_sessions(QUERY, None, 5)
    assert [entry.status for entry in sim.log.entries] == [503] * 4, "with time: three tries"
    assert clock.slept == [0.05, 0.1]


async def test_every_request_sent_is_counted_once_in_the_request_that_sent_it(
    clock: FakeClock,
) -> None:
    """Vectara asks each agent, then one events call per session: the budget holds exactly what
    the simulator saw; identical GETs sent together are one request, counted once."""
    sim = VectaraSimulator(size=30, anchor=ANCHOR, clock=clock.now)
    adapter = connect(sim, clock=clock)
    try:
        with request_budget(10.0, clock) as budget:
            page = await adapter.list_sessions(QUERY, None, 5)
            await adapter.complete_sessions([item.record for item in page.items])
        assert budget.calls == len(sim.log) > 5
        assert budget.calls_by_provider == {"vectara": len(sim.log)}
        ref = page.items[0].record.ref
        sim.log.clear()
        await adapter.get_sessions([ref])
        alone = len(sim.log)
        sim.log.clear()
        with request_budget(10.0, clock) as shared:
            await asyncio.gather(adapter.get_sessions([ref]), adapter.get_sessions([ref]))
        assert shared.calls == len(sim.log) == alone
    finally:
        await adapter.aclose()
