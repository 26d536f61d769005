"""A vendor body of the wrong shape is an UPSTREAM_BAD_RESPONSE worded for people: what was
wrong, in words. The Python exception's class goes to the log only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from providers.errors import ProviderError, UpstreamProtocolError
from providers.query import SessionQuery
from providers.records import Provider
from providers.settings import ProviderSettings, Secret
from providers.vendors import adapter_class
from tests.support import FakeClock

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
QUERY = SessionQuery(started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR)


@pytest.mark.parametrize(
    ("body", "said", "logged"),
    [
        (b'{"data": [{"id": ', "the body is not JSON", "JSONDecodeError"),
        (b'{"pagination": {}}', "the field 'data' is missing", "KeyError"),
        (b'{"data": 7, "pagination": {}}', "a value is not of the expected type", "TypeError"),
    ],
)
async def test_an_unreadable_body_is_described_not_named(
    body: bytes, said: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    settings = ProviderSettings(Provider.SAMSARA, "http://samsara.test", Secret("k"), ("a1",))
    adapter = adapter_class(Provider.SAMSARA).connect(settings, vendor, FakeClock(ANCHOR))
    caplog.set_level(logging.DEBUG, logger="sessiongraph")
    try:
        with pytest.raises(UpstreamProtocolError) as caught:
            await adapter.list_sessions(QUERY, None, 5)
    finally:
        await adapter.aclose()
    assert caught.value.message == f"SAMSARA sent a response sessiongraph cannot read: {said}"
    assert "Error" not in caught.value.message
    assert caught.value.extensions["code"] == "UPSTREAM_BAD_RESPONSE"
    assert any(logged in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        # a vendor echoing the key it refused: this client's own credential is masked
        ("invalid key sk-live-4242 for account", "invalid key ********** for account"),
        # line breaks and control characters could forge a log line or paint a terminal
        ("bad\r\nINFO forged line\x1b[31m red\x00", "bad INFO forged line [31m red"),
        ("x" * 1000, "x" * 299 + "…"),  # at most 300 characters
        ("", ""),
    ],
)
async def test_a_vendor_error_message_is_sanitised_before_a_client_reads_it(
    said: str, shown: str
) -> None:
    body = {"ok": False, "error": said}
    vendor = httpx.MockTransport(lambda request: httpx.Response(400, json=body))
    settings = ProviderSettings(Provider.STATESET, "http://stateset.test", Secret("sk-live-4242"))
    adapter = adapter_class(Provider.STATESET).connect(settings, vendor, FakeClock(ANCHOR))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.list_sessions(QUERY, None, 5)
    finally:
        await adapter.aclose()
    expected = "STATESET answered 400" + (f": {shown}" if shown else "")
    assert caught.value.message == expected
