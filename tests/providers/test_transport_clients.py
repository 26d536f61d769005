"""The two HTTP clients over real sockets (`SESSIONGRAPH_HTTP_TRANSPORT`): the same request on
the wire and the same reading of what comes back — error bodies, Retry-After, a connection cut
mid-answer — whichever client carries the call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from providers.adapter import Adapter
from providers.errors import (
    UpstreamAuthError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
)
from providers.query import SessionQuery
from providers.records import Provider
from providers.settings import ProviderSettings, Secret
from providers.simulators.vonage import VonageSimulator
from providers.vendors import adapter_class
from tests.support import FakeClock, expected

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
QUERY = SessionQuery(started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR)
TRANSPORTS = ["aiohttp", "httpx"]


def vonage(url: str, key: str, transport: str) -> Adapter:
    settings = ProviderSettings(
        provider=Provider.VONAGE,
        base_url=url,
        credential=Secret(key),
        timeout_s=5.0,
        http_transport=transport,
    )
    return adapter_class(Provider.VONAGE).connect(settings, clock=FakeClock(ANCHOR))


async def test_both_clients_send_the_same_request_line_and_read_the_same_page(
    served: tuple[VonageSimulator, str],
) -> None:
    simulator, url = served
    lines, pages = [], []
    for transport in TRANSPORTS:
        simulator.log.clear()
        adapter = vonage(url, simulator.api_key, transport)
        try:
            pages.append(await adapter.list_sessions(QUERY, None, 7))
        finally:
            await adapter.aclose()
        log = simulator.log.entries
        lines.append([(entry.method, entry.path, entry.raw_query) for entry in log])
    assert lines[0] == lines[1]
    assert any("%7B" in query for _, _, query in lines[0])  # filter_by's braces, encoded
    assert pages[0] == pages[1]
    assert [item.record for item in pages[0].items] == expected(simulator, QUERY)[:7]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_error_bodies_are_read_whichever_client(
    served: tuple[VonageSimulator, str], transport: str
) -> None:
    simulator, url = served
    adapter = vonage(url, "wrong-key", transport)
    try:
        with pytest.raises(UpstreamAuthError) as bad_key:
            await adapter.list_sessions(QUERY, None, 5)
    finally:
        await adapter.aclose()
    assert bad_key.value.message == "VONAGE answered 401: Invalid API key"

    too_long = SessionQuery(started_after=ANCHOR - timedelta(days=61), started_before=ANCHOR)
    adapter = vonage(url, simulator.api_key, transport)
    try:
        with pytest.raises(UpstreamRejectedError) as rejected:  # 401 for parameters
            await adapter.client.get_json(
                "/insights/sessions",
                {"from_date": "2026-08-01", "to_date": "2026-10-31", "page_size": 5},
            )
        page = await adapter.list_sessions(too_long, None, 5)  # walked in 60-day slices
    finally:
        await adapter.aclose()
    assert rejected.value.status == 401 and "more than 60 days" in rejected.value.message
    assert len(page.items) == 5


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_429_is_read_with_its_retry_after(
    served: tuple[VonageSimulator, str], transport: str
) -> None:
    simulator, url = served
    simulator.faults.error_status = 429
    simulator.faults.retry_after = "30"  # longer than a query waits: reported, not retried
    adapter = vonage(url, simulator.api_key, transport)
    try:
        with pytest.raises(UpstreamRateLimitedError) as limited:
            await adapter.list_sessions(QUERY, None, 5)
    finally:
        await adapter.aclose()
    assert limited.value.retry_after == 30.0
    assert len(simulator.log) == 1


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads a request and answers half a head, then closes: a vendor that died mid-answer."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_connection_cut_mid_answer_is_unreachable_and_tried_again(
    transport: str,
) -> None:
    served: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(1)
        await cut_short(reader, writer)

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = vonage(f"http://127.0.0.1:{port}", "key", transport)
    try:
        with pytest.raises(UpstreamUnavailableError, match="could not be reached"):
            await adapter.client.get_json("/insights/sessions", {"page_size": 1})
    finally:
        await adapter.aclose()
        server.close()
        await server.wait_closed()
    assert len(served) == 3  # RetryPolicy().attempts: a vendor unreachable is worth a retry


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_closed_client_fails_a_late_call_and_opens_nothing(
    served: tuple[VonageSimulator, str], transport: str
) -> None:
    simulator, url = served
    adapter = vonage(url, simulator.api_key, transport)
    await adapter.list_sessions(QUERY, None, 1)
    await adapter.aclose()
    simulator.log.clear()
    # A task that outlived the server (a detail fetch of a finished request) calls again.
    with pytest.raises(UpstreamUnavailableError):
        await adapter.list_sessions(QUERY, None, 1)
    assert simulator.log.entries == []
    await adapter.aclose()  # nothing left open to close
