"""Deleting a session at the vendor (`Adapter.delete_session`): the DELETE each contract
states (vendors.md: Vectara by agent and session key, Vonage by id and start day), the session
gone from the vendor's model afterwards, NOT_FOUND for what the vendor does not know, no
request for the vendors without a delete, and the transport's rule for a DELETE whose 204 was
lost (a retry's 404 then means done)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from providers.adapter import Adapter
from providers.errors import (
    NotFoundError,
    NotSupportedError,
    UpstreamUnavailableError,
    UserInputError,
)
from providers.query import SessionQuery
from providers.records import Provider, SessionRecord
from providers.simulators import Simulator, build
from providers.transport import Http, open_http
from tests.conftest import ANCHOR
from tests.oracles import expected_records
from tests.support import FakeClock, connect

WINDOW = SessionQuery(started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR)


def simulator_of(provider: Provider) -> Simulator:
    return build(provider.value, size=30, seed=5, anchor=ANCHOR, clock=FakeClock(ANCHOR).now)


@pytest.fixture
async def vonage() -> AsyncIterator[tuple[Simulator, Adapter]]:
    simulator = simulator_of(Provider.VONAGE)
    adapter = connect(simulator, rate_limit_per_min=0)
    yield simulator, adapter
    await adapter.aclose()


@pytest.fixture
async def vectara() -> AsyncIterator[tuple[Simulator, Adapter]]:
    simulator = simulator_of(Provider.VECTARA)
    adapter = connect(simulator, rate_limit_per_min=0)
    yield simulator, adapter
    await adapter.aclose()


async def listed_ids(adapter: Adapter) -> set[tuple[str | None, str]]:
    page = await adapter.list_sessions(WINDOW, None, 100)
    assert page.exhausted
    return {(item.record.agent_id, item.record.id) for item in page.items}


def victim(simulator: Simulator) -> SessionRecord:
    return sorted(expected_records(simulator), key=lambda record: record.sort_key)[7]


async def test_vonage_deletes_by_id_and_start_day(vonage: tuple[Simulator, Adapter]) -> None:
    simulator, adapter = vonage
    doomed = victim(simulator)
    simulator.log.clear()
    await adapter.delete_session(doomed.ref)
    (call,) = simulator.log.entries
    assert (call.method, call.path, call.status) == (
        "DELETE",
        f"/insights/sessions/{doomed.id}",
        204,
    )
    assert call.query == {"session_start_time": [doomed.started_at.date().isoformat()]}
    assert doomed.id not in {record.id for record in expected_records(simulator)}
    assert (None, doomed.id) not in await listed_ids(adapter)
    assert await adapter.get_sessions([doomed.ref]) == [None]


async def test_vectara_deletes_by_agent_and_session_key(
    vectara: tuple[Simulator, Adapter],
) -> None:
    simulator, adapter = vectara
    doomed = victim(simulator)
    simulator.log.clear()
    await adapter.delete_session(doomed.ref)
    (call,) = simulator.log.entries
    assert (call.method, call.path, call.status) == (
        "DELETE",
        f"/v2/agents/{doomed.agent_id}/sessions/{doomed.id}",
        204,
    )
    left = {(record.agent_id, record.id) for record in expected_records(simulator)}
    assert (doomed.agent_id, doomed.id) not in left
    assert len(left) == simulator.size - 1
    assert await listed_ids(adapter) == left
    assert await adapter.get_summaries([doomed.ref]) == [None]


@pytest.mark.parametrize("provider", [Provider.VONAGE, Provider.VECTARA])
async def test_an_unknown_session_is_not_found_after_one_call(provider: Provider) -> None:
    simulator = simulator_of(provider)
    adapter = connect(simulator, rate_limit_per_min=0)
    known = victim(simulator)
    unknown = replace(known.ref, id="ase_nosuchsession" if provider is Provider.VECTARA else "x1")
    wrong_day = replace(known.ref, started_at=known.started_at - timedelta(days=2))
    try:
        refs = [unknown, wrong_day] if provider is Provider.VONAGE else [unknown]
        for ref in refs:
            simulator.log.clear()
            with pytest.raises(NotFoundError) as raised:
                await adapter.delete_session(ref)
            assert raised.value.extensions == {
                "code": "NOT_FOUND",
                "provider": provider.name,
                "retryable": False,
            }
            assert [(e.method, e.status) for e in simulator.log.entries] == [("DELETE", 404)]
    finally:
        await adapter.aclose()
    assert len(expected_records(simulator)) == simulator.size  # nothing deleted


async def test_a_vonage_reference_without_its_day_is_refused_unsent(
    vonage: tuple[Simulator, Adapter],
) -> None:
    simulator, adapter = vonage
    simulator.log.clear()
    with pytest.raises(UserInputError):
        await adapter.delete_session(replace(victim(simulator).ref, started_at=None))
    with pytest.raises(UserInputError):
        await adapter.delete_session(replace(victim(simulator).ref, id="a/b"))
    assert len(simulator.log) == 0


@pytest.mark.parametrize("provider", list(Provider))
async def test_only_vectara_and_vonage_can_delete(provider: Provider) -> None:
    simulator = simulator_of(provider)
    adapter = connect(simulator, rate_limit_per_min=0)
    assert adapter.can_delete is (provider in (Provider.VECTARA, Provider.VONAGE))
    if adapter.can_delete:
        await adapter.aclose()
        return
    simulator.log.clear()
    try:
        with pytest.raises(NotSupportedError) as raised:
            await adapter.delete_session(victim(simulator).ref)
    finally:
        await adapter.aclose()
    assert raised.value.extensions["code"] == "NOT_SUPPORTED"
    assert len(simulator.log) == 0


class LosesFirstAnswer(httpx.AsyncBaseTransport):
    """The vendor does the first DELETE, and its 204 is lost on the way back: a proxy
    answers 503 instead."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "DELETE" and not self.lost:
            self.lost = True
            await response.aread()
            return httpx.Response(503, text="upstream connect error")
        return response


async def test_a_404_after_a_lost_204_means_done() -> None:
    simulator = simulator_of(Provider.VECTARA)
    adapter = connect(simulator, rate_limit_per_min=0)
    adapter.client.http = connect_through(adapter, LosesFirstAnswer(simulator.transport()))
    doomed = victim(simulator)
    simulator.log.clear()
    try:
        await adapter.delete_session(doomed.ref)  # no error: the session is gone
    finally:
        await adapter.aclose()
    assert [(e.method, e.status) for e in simulator.log.entries] == [
        ("DELETE", 204),
        ("DELETE", 404),
    ]
    assert len(expected_records(simulator)) == simulator.size - 1


async def test_a_404_after_a_429_is_not_found() -> None:
    """A 429 is a refusal: nothing was done, so the retry's 404 is the vendor's real answer."""
    simulator = simulator_of(Provider.VECTARA)
    adapter = connect(simulator, rate_limit_per_min=0)
    unknown = replace(victim(simulator).ref, id="ase_nosuchsession")
    simulator.faults.error_status, simulator.faults.error_budget = 429, 1
    simulator.faults.retry_after = "0.1"
    simulator.log.clear()
    try:
        with pytest.raises(NotFoundError):
            await adapter.delete_session(unknown)
    finally:
        await adapter.aclose()
    assert [e.status for e in simulator.log.entries] == [429, 404]


async def test_a_vendor_still_down_is_its_typed_failure() -> None:
    simulator = simulator_of(Provider.VONAGE)
    adapter = connect(simulator, rate_limit_per_min=0)
    simulator.faults.error_status = 503
    simulator.log.clear()
    try:
        with pytest.raises(UpstreamUnavailableError):
            await adapter.delete_session(victim(simulator).ref)
    finally:
        await adapter.aclose()
    assert [e.status for e in simulator.log.entries] == [503, 503, 503]  # three tries
    assert len(expected_records(simulator)) == simulator.size


def connect_through(adapter: Adapter, transport: httpx.AsyncBaseTransport) -> Http:
    """The adapter's HTTP client again, over `transport`."""
    settings = adapter.settings
    return open_http(
        settings.base_url,
        {**type(adapter).auth_headers(settings.credential.reveal())},
        timeout_s=settings.timeout_s,
        max_connections=4,
        transport=transport,
    )
