"""The HTTP boundary over real sockets, with both transports: a vendor that is down, slow or
answering is read the same way whichever client pool carries the call."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest

from providers.errors import UpstreamTimeoutError, UpstreamUnavailableError
from providers.query import SessionQuery
from providers.records import Provider
from providers.settings import ProviderSettings, Secret
from providers.simulators import Simulator
from providers.vendors import adapter_class
from tests.support import expected

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
QUERY = SessionQuery(started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR)


def settings(url: str, api_key: str, transport: str, timeout_s: float = 5.0) -> ProviderSettings:
    return ProviderSettings(
        provider=Provider.VONAGE,
        base_url=url,
        credential=Secret(api_key),
        timeout_s=timeout_s,
        http_transport=transport,
    )


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_real_vendor_answers_through_either_transport(
    served: tuple[Simulator, str], transport: str
) -> None:
    simulator, url = served
    adapter = adapter_class(Provider.VONAGE).connect(settings(url, simulator.api_key, transport))
    try:
        page = await adapter.list_sessions(QUERY, None, 100)
    finally:
        await adapter.aclose()
    assert page.exhausted
    assert [i.record for i in page.items] == expected(simulator, QUERY)
    assert len(page.items) == simulator.size


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_slow_vendor_is_a_timeout(served: tuple[Simulator, str], transport: str) -> None:
    simulator, url = served
    simulator.faults.hang_rate, simulator.faults.hang_s = 1.0, 1.0
    adapter = adapter_class(Provider.VONAGE).connect(
        settings(url, simulator.api_key, transport, timeout_s=0.2)
    )
    try:
        with pytest.raises(UpstreamTimeoutError):
            await adapter.list_sessions(QUERY, None, 10)
    finally:
        await adapter.aclose()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_vendor_that_refuses_connections_is_unavailable(transport: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    adapter = adapter_class(Provider.VONAGE).connect(
        settings(f"http://127.0.0.1:{port}", "key", transport)
    )
    try:
        with pytest.raises(UpstreamUnavailableError):
            await adapter.list_sessions(QUERY, None, 10)
    finally:
        await adapter.aclose()
