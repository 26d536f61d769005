"""One contract, every adapter, against its simulator (the idea of Strawberry's tests/http)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from providers.errors import (
    ProviderError,
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    UserInputError,
)
from providers.query import SessionQuery, SortOrder
from providers.records import SessionRecord
from tests.conftest import ANCHOR, Vendor, connect
from tests.oracles import expected_records

WINDOW = SessionQuery(started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR)


async def walk(vendor: Vendor, query: SessionQuery, page_size: int) -> list[SessionRecord]:
    records: list[SessionRecord] = []
    after = None
    for _ in range(1000):
        page = await vendor.adapter.list_sessions(query, after, page_size)
        assert len(page.items) <= page_size
        records.extend(item.record for item in page.items)
        if page.exhausted:
            return records
        assert len(page.items) == page_size or page.stopped, "a short page must say why"
        after = page.next_after
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("order", list(SortOrder))
async def test_walking_every_page_returns_each_session_once_in_order(
    vendor: Vendor, order: SortOrder
) -> None:
    truth = expected_records(vendor.simulator)
    assert len(truth) == vendor.simulator.size
    records = await walk(vendor, replace(WINDOW, order=order), page_size=10)
    keys = [r.sort_key for r in records]
    assert len(set(keys)) == len(keys), "no session twice"
    expected = sorted((r.sort_key for r in truth), reverse=order is SortOrder.NEWEST_FIRST)
    assert keys == expected


async def test_list_records_agree_with_the_ground_truth(vendor: Vendor) -> None:
    truth = {r.sort_key: r for r in expected_records(vendor.simulator)}
    for record in await walk(vendor, WINDOW, page_size=100):
        expected = truth[record.sort_key]
        assert record.status == expected.status
        assert record.raw_status == expected.raw_status
        assert record.agent_id == expected.agent_id
        assert record.started_at.tzinfo is not None
        if record.details is not None:
            assert record == expected


async def test_batch_getter_keeps_order_and_returns_none_for_unknown_ids(vendor: Vendor) -> None:
    truth = expected_records(vendor.simulator)
    picked = [truth[5], truth[0], truth[len(truth) // 2]]
    unknown = replace(picked[0].ref, id="unknown-session-0")
    refs = [picked[0].ref, unknown, picked[1].ref, picked[2].ref]
    got = await vendor.adapter.get_sessions(refs)
    assert got == [picked[0], None, picked[1], picked[2]]
    assert all(r is None or r.details is not None for r in got)


async def test_getter_refuses_an_id_no_vendor_could_have_made(vendor: Vendor) -> None:
    truth = expected_records(vendor.simulator)[0]
    before = len(vendor.simulator.log)
    with pytest.raises(UserInputError):
        await vendor.adapter.get_sessions([replace(truth.ref, id="../admin?x=1")])
    assert len(vendor.simulator.log) == before, "nothing was sent"


async def test_wrong_credential_is_an_authentication_error(vendor: Vendor) -> None:
    adapter = connect(vendor.simulator, credential="wrong-key")
    try:
        with pytest.raises(UpstreamAuthError) as caught:
            await adapter.list_sessions(WINDOW, None, 5)
    finally:
        await adapter.aclose()
    assert caught.value.extensions == {
        "code": "UPSTREAM_UNAUTHENTICATED",
        "provider": vendor.adapter.provider.name,
        "retryable": False,
    }
    assert vendor.simulator.log.entries[-1].status == 401


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (503, UpstreamUnavailableError, "UPSTREAM_UNAVAILABLE"),
        (500, UpstreamUnavailableError, "UPSTREAM_UNAVAILABLE"),
        (429, UpstreamRateLimitedError, "UPSTREAM_RATE_LIMITED"),
    ],
)
async def test_vendor_error_statuses_map_to_codes(
    vendor: Vendor, status: int, error: type[ProviderError], code: str
) -> None:
    vendor.simulator.faults.error_status = status
    vendor.simulator.faults.retry_after = "30"  # longer than we wait: surfaces at once
    with pytest.raises(error) as caught:
        await vendor.adapter.list_sessions(WINDOW, None, 5)
    assert caught.value.code == code
    assert caught.value.provider is vendor.adapter.provider
    # Vendors that fan out (Vectara: one call per agent) fail several calls at once: count
    # the tries of each distinct request.
    tries = Counter((e.path, e.raw_query) for e in vendor.simulator.log.entries)
    if status == 429:
        assert caught.value.retry_after == 30.0
        assert max(tries.values()) == 1, "a long Retry-After is reported, not waited for"
    elif status == 503:
        assert max(tries.values()) == 3, "503 is tried three times"
    else:
        assert max(tries.values()) == 1, "500 is not retried"


async def test_a_passing_503_is_retried_away(vendor: Vendor) -> None:
    vendor.simulator.faults.error_status = 503
    vendor.simulator.faults.error_budget = 1
    page = await vendor.adapter.list_sessions(WINDOW, None, 5)
    assert len(page.items) == 5
    assert vendor.simulator.log.entries[0].status == 503


async def test_malformed_body_is_a_protocol_error(vendor: Vendor) -> None:
    vendor.simulator.faults.malformed_rate = 1.0
    with pytest.raises(UpstreamProtocolError):
        await vendor.adapter.list_sessions(WINDOW, None, 5)


async def test_hang_is_a_timeout_not_an_httpx_exception(vendor: Vendor) -> None:
    adapter = connect(vendor.simulator, timeout_s=0.05)
    vendor.simulator.faults.hang_rate = 1.0
    vendor.simulator.faults.hang_s = 0.5
    try:
        with pytest.raises(UpstreamTimeoutError):
            await adapter.list_sessions(WINDOW, None, 5)
    finally:
        await adapter.aclose()
