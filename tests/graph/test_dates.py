"""Times at the edges of the calendar: refused as `BAD_USER_INPUT` before any vendor call when
no window can be made of them, and a window reaching before 1970 or after 9999-01-01 cut there
(no session lies beyond, so the answer is the same), never an overflow inside the gateway."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Gateway
from tests.graph.test_bad_input import SESSIONS, refused

OUT_OF_RANGE = "is not a time between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"


@pytest.mark.parametrize(
    ("filter_", "message"),
    [
        (
            {"startedBefore": "0001-01-01T00:00:00Z"},
            "`startedBefore` must be after 1970-01-01T00:00:00Z",
        ),
        (
            {"startedBefore": "1969-12-31T23:59:59Z", "startedAfter": "0001-01-01T00:00:00Z"},
            "`startedBefore` must be after 1970-01-01T00:00:00Z",
        ),
        (
            {"startedBefore": "9999-12-31T23:59:59-14:00"},
            f"`startedBefore` is out of range: 9999-12-31T23:59:59-14:00 {OUT_OF_RANGE}",
        ),
        (
            {"startedAfter": "9999-12-31T23:59:59-14:00"},
            f"`startedAfter` is out of range: 9999-12-31T23:59:59-14:00 {OUT_OF_RANGE}",
        ),
        (
            # Year 1 east of UTC is year 0 in UTC: no window arithmetic can start from it.
            {"startedAfter": "0001-01-01T00:00:00+01:00", "providers": ["VONAGE"]},
            f"`startedAfter` is out of range: 0001-01-01T00:00:00+01:00 {OUT_OF_RANGE}",
        ),
        (
            {"startedAfter": "9999-06-01T00:00:00Z", "startedBefore": "9999-12-31T00:00:00Z"},
            "`startedAfter` must be before 9999-01-01T00:00:00Z",
        ),
    ],
    ids=lambda value: str(value)[:48],
)
async def test_a_time_no_window_can_be_made_of_is_refused_before_any_vendor_call(
    gateway: Gateway, filter_: dict[str, Any], message: str
) -> None:
    assert await refused(gateway, SESSIONS, f=filter_) == message


PAGE = """query($f: SessionFilter, $order: SessionOrder) {
  sessions(first: 10, filter: $f, orderBy: $order) {
    edges { node { id } } pageInfo { hasNextPage } sources { provider ok } } }"""


@pytest.mark.parametrize(
    ("far", "near", "order"),
    [
        # Newest first from year 1: Vonage's 60-day slices stepped below year 1 (an overflow
        # blamed on Vonage as UPSTREAM_BAD_RESPONSE) before the window was cut at 1970.
        ({"startedAfter": "0001-01-01T00:00:00Z"}, {"startedAfter": "1970-01-01T00:00:00Z"}, None),
        (
            {"startedAfter": "2026-10-01T00:00:00Z", "startedBefore": "9999-12-31T23:59:59Z"},
            {"startedAfter": "2026-10-01T00:00:00Z", "startedBefore": "9999-01-01T00:00:00Z"},
            "OLDEST_FIRST",
        ),
    ],
    ids=["year-1-after", "year-9999-before"],
)
async def test_a_window_beyond_1970_or_9999_is_cut_there_with_the_same_answer(
    gateway: Gateway, far: dict[str, str], near: dict[str, str], order: str | None
) -> None:
    answers = []
    for filter_ in (far, near):
        gateway.clear_logs()
        answers.append(await gateway.query(PAGE, f=filter_, order=order))
        assert "errors" not in answers[-1], answers[-1]
    assert answers[0] == answers[1]
    assert len(answers[0]["data"]["sessions"]["edges"]) == 10
