"""The circuit breaker of a vendor client: five failed requests in a row open it, an open
breaker answers at once without a request, one probe after the 30 s cool-down, closed again
when the probe is answered. Seen through `VendorClient.health()`."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from providers.adapter import Adapter
from providers.breaker import BreakerState, Health
from providers.budget import request_budget
from providers.errors import (
    UpstreamAuthError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from providers.simulators.samsara import SamsaraSimulator
from providers.simulators.vectara import VectaraSimulator
from tests.oracles import expected_records
from tests.providers.resilience.conftest import ANCHOR, QUERY
from tests.support import FakeClock, connect


@pytest.fixture
async def adapter(sim: SamsaraSimulator, clock: FakeClock) -> AsyncIterator[Adapter]:
    adapter = connect(sim, clock=clock)
    yield adapter
    await adapter.aclose()


async def fail(adapter: Adapter, times: int, clock: FakeClock) -> None:
    """`times` requests, one after another, each failing with what the vendor answers."""
    for _ in range(times):
        with request_budget(10.0, clock), pytest.raises(UpstreamUnavailableError):
            await adapter.list_sessions(QUERY, None, 5)


async def test_a_new_client_is_closed(adapter: Adapter) -> None:
    assert adapter.client.health() == Health(BreakerState.CLOSED, failures=0, since=None)


async def test_five_failed_requests_open_it_and_then_nothing_is_sent(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status = 500  # not retried: one request per call
    await fail(adapter, 4, clock)
    assert adapter.client.health() == Health(BreakerState.CLOSED, failures=4, since=None)
    clock.advance(1.0)
    await fail(adapter, 1, clock)
    assert adapter.client.health() == Health(BreakerState.OPEN, 5, ANCHOR + timedelta(seconds=1))
    assert len(sim.log) == 5

    clock.advance(10.0)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await adapter.list_sessions(QUERY, None, 5)
    assert caught.value.retry_after == 20.0, "seconds until the probe"
    assert caught.value.extensions["code"] == "UPSTREAM_UNAVAILABLE"
    with pytest.raises(UpstreamUnavailableError):  # the other endpoint: the same vendor
        await adapter.get_sessions([expected_records(sim)[0].ref])
    assert len(sim.log) == 5, "failed fast: the vendor was not asked"


async def test_after_the_cool_down_one_probe_goes_and_its_answer_closes_it(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status = 500
    await fail(adapter, 5, clock)
    clock.advance(30.0)
    assert adapter.client.health() == Health(
        BreakerState.HALF_OPEN, 5, ANCHOR + timedelta(seconds=30)
    )
    sim.faults.error_status = None
    sim.faults.latency_s = 0.2  # real time: the probe is still out while the others ask
    probe = asyncio.create_task(adapter.list_sessions(QUERY, None, 5))
    for _ in range(100):  # until the probe is at the vendor: a few loop turns
        if len(sim.log) == 6:
            break
        await asyncio.sleep(0)
    ref = expected_records(sim)[0].ref
    # Other questions meanwhile wait for the probe's answer instead of failing around it (a
    # page whose calls go out together must not cancel its own probe).
    others = [asyncio.create_task(adapter.get_sessions([ref])) for _ in range(3)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sim.log) == 6, "exactly one probe while half-open"
    assert not any(task.done() for task in others)
    assert len((await probe).items) == 5
    assert adapter.client.health() == Health(BreakerState.CLOSED, 0, ANCHOR + timedelta(seconds=30))
    sim.faults.latency_s = 0.0
    for found in await asyncio.gather(*others):
        assert found == [expected_records(sim)[0]]  # let through once the probe closed it
    await adapter.list_sessions(QUERY, None, 5)
    assert len(sim.log) >= 8


async def test_a_failed_probe_opens_it_again_for_another_cool_down(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status = 503  # retried, except by a probe
    await fail(adapter, 5, clock)
    sent = len(sim.log)
    clock.advance(31.0)
    probed_at = clock.now()
    await fail(adapter, 1, clock)
    assert len(sim.log) == sent + 1, "the probe is one try: not retried"
    assert adapter.client.health() == Health(BreakerState.OPEN, 6, probed_at)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await adapter.list_sessions(QUERY, None, 5)
    assert caught.value.retry_after == 30.0
    assert len(sim.log) == sent + 1


async def test_timeouts_open_it(sim: SamsaraSimulator, clock: FakeClock) -> None:
    adapter = connect(sim, clock=clock, timeout_s=0.02)
    sim.faults.hang_rate, sim.faults.hang_s = 1.0, 1.0
    try:
        for _ in range(5):
            with request_budget(10.0, clock), pytest.raises(UpstreamTimeoutError):
                await adapter.list_sessions(QUERY, None, 5)
        assert adapter.client.health().state is BreakerState.OPEN
        with pytest.raises(UpstreamUnavailableError):
            await adapter.list_sessions(QUERY, None, 5)
    finally:
        await adapter.aclose()
    assert len(sim.log) == 5


async def test_client_errors_and_bad_credentials_do_not_count(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status = 400
    for _ in range(8):
        with pytest.raises(UpstreamRejectedError):
            await adapter.list_sessions(QUERY, None, 5)
    stranger = connect(sim, clock=clock, credential="not-the-key")
    try:
        sim.faults.error_status = None
        for _ in range(8):
            with pytest.raises(UpstreamAuthError):
                await stranger.list_sessions(QUERY, None, 5)
        assert stranger.client.health() == Health(BreakerState.CLOSED, 0, None)
    finally:
        await stranger.aclose()
    assert adapter.client.health() == Health(BreakerState.CLOSED, 0, None)
    assert len(sim.log) == 16


async def test_an_answer_between_failures_starts_the_count_again(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status = 500
    await fail(adapter, 4, clock)
    sim.faults.error_status = None
    await adapter.list_sessions(QUERY, None, 5)
    sim.faults.error_status = 500
    await fail(adapter, 4, clock)
    assert adapter.client.health() == Health(BreakerState.CLOSED, 4, None)


async def test_the_calls_of_one_request_are_one_failure(clock: FakeClock) -> None:
    """A Vectara page asks every agent at once: five agents failing in one request are one
    piece of evidence. Outside a request (no budget) each call counts."""
    sim = VectaraSimulator(size=30, anchor=ANCHOR, clock=clock.now)
    adapter = connect(sim, clock=clock)
    sim.faults.error_status = 500
    try:
        with request_budget(10.0, clock), pytest.raises(UpstreamUnavailableError):
            await adapter.list_sessions(QUERY, None, 5)
        assert len(sim.log) == len(sim.agent_ids()) == 5
        assert adapter.client.health().failures == 1
        with pytest.raises(UpstreamUnavailableError):
            await adapter.list_sessions(QUERY, None, 5)
        assert adapter.client.health().state is BreakerState.OPEN
    finally:
        await adapter.aclose()


async def test_a_request_failing_again_after_another_one_still_counts_once(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    """Two requests in flight, their calls failing in turn: two failures, not five."""
    requests = []
    for _ in range(2):
        with request_budget(10.0, clock):
            requests.append(contextvars.copy_context())  # what the request's tasks run in
    sim.faults.error_status = 500
    for request in (0, 1, 0, 1, 0):
        call = adapter.list_sessions(QUERY, None, 5)
        with pytest.raises(UpstreamUnavailableError):
            await asyncio.create_task(call, context=requests[request])
    assert len(sim.log) == 5
    assert adapter.client.health() == Health(BreakerState.CLOSED, 2, None)
