"""Samsara Agent Studio quirks: the simulator against vendors.md §1, the mapping of hand-written
vendor JSON, and the adapter's native cursors, keyset scans, push-downs, stream chunks, detail
batches and error bodies. What every adapter shares (walk order, batch getters, bad ids, error
statuses, retries, timeouts) is in test_contract.py; expected records come from
tests/oracles/samsara.py (the simulator's model), never from the mapper."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.adapter import Adapter
from providers.errors import (
    UpstreamProtocolError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
    UserInputError,
)
from providers.query import SessionQuery, SortOrder
from providers.records import (
    AgentRecord,
    Channel,
    Provider,
    Recording,
    SessionRecord,
    SessionRef,
    SessionStatus,
    Speaker,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
)
from providers.samsara.mapping import session_from_detail, session_from_summary
from providers.settings import ProviderSettings, Secret
from providers.simulators.request_log import LoggedRequest
from providers.simulators.samsara import SamsaraSimulator
from providers.vendors import adapter_class
from tests.support import FakeClock, connect, expected, ids, walk, walk_pages

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)  # the data ends here
NOW = datetime(2026, 11, 21, 10, 30, 42, tzinfo=UTC)  # the simulator's and adapter's clock
SIZE = 80
STREAM = "/agent-studio/voice-sessions/stream"
DETAILS = "/agent-studio/voice-sessions"
ALL_STATUSES = "completed,running,failed,unknown"
WINDOW = {"startTime": "2026-08-01T00:00:00Z", "endTime": "2026-11-01T00:00:00Z"}
SUMMARY_FIELDS = {
    "agentId",
    "agentName",
    "durationMilliseconds",
    "happenedAtTime",
    "id",
    "recipient",
    "sessionStatus",
    "triggerType",
    "updatedAtTime",
}  # no vehicle or driver ids in a summary


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def sim(clock: FakeClock) -> SamsaraSimulator:
    return SamsaraSimulator(size=SIZE, anchor=ANCHOR, clock=clock.now)


@pytest.fixture
async def adapter(sim: SamsaraSimulator, clock: FakeClock) -> AsyncIterator[Adapter]:
    adapter = connect(sim, clock=clock)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def http(sim: SamsaraSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=sim.transport(),
        base_url=sim.base_url,
        headers={"Authorization": f"Bearer {sim.api_key}"},
    ) as client:
        yield client


def stream_params(sim: SamsaraSimulator, **extra: Any) -> dict[str, Any]:
    return {**WINDOW, "agentIds": ",".join(sim.agent_ids()), **extra}


def query(**fields: Any) -> SessionQuery:
    return SessionQuery(started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR, **fields)


def stream_calls(sim: SamsaraSimulator) -> list[LoggedRequest]:
    return [entry for entry in sim.log.entries if entry.path == STREAM]


def details_calls(sim: SamsaraSimulator) -> list[LoggedRequest]:
    return [entry for entry in sim.log.entries if entry.path == DETAILS]


def streamed(sim: SamsaraSimulator) -> list[dict[str, list[str]]]:
    return [entry.query for entry in stream_calls(sim)]


# --- the simulator: its model, auth, required parameters, limits ----------------------------------


def test_the_model_is_seeded_and_newest_first() -> None:
    def build() -> SamsaraSimulator:
        return SamsaraSimulator(size=SIZE, seed=5, anchor=ANCHOR, clock=lambda: NOW)

    one, two = build(), build()
    assert one.sessions == two.sessions
    # What was said is generated when read, each session from its own seed: the same whatever
    # the order sessions are read in.
    assert [s.content for s in one.sessions] == [s.content for s in reversed(two.sessions)][::-1]
    keys = [(s.started_at, s.id) for s in one.sessions]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == SIZE
    assert [(k.id, k.agent_id, k.started_at) for k in one.session_keys()] == [
        (s.id, s.agent.id, s.started_at) for s in one.sessions
    ]
    assert all(ANCHOR - timedelta(days=89) <= s.started_at < ANCHOR for s in one.sessions)
    assert {s.status for s in one.sessions} == {"completed", "running", "failed", "unknown"}
    assert all((s.status == "running") == (s.duration_ms is None) for s in one.sessions)


async def test_details_render_the_model_in_the_documented_shape(
    sim: SamsaraSimulator, http: httpx.AsyncClient
) -> None:
    details: list[dict[str, Any]] = []
    for start in range(0, SIZE, 40):
        batch = ",".join(s.id for s in sim.sessions[start : start + 40])
        details += (await http.get(DETAILS, params={"ids": batch})).json()["data"]
    assert [detail["id"] for detail in details] == [s.id for s in sim.sessions]
    for session, detail in zip(sim.sessions, details, strict=True):
        assert set(detail) == SUMMARY_FIELDS | {
            "transcript",
            "toolCalls",
            "callEvents",
            "recordingUrl",
            "recordingUrlExpiresAtTime",
        }
        assert datetime.fromisoformat(detail["happenedAtTime"]) == session.started_at
        assert detail["durationMilliseconds"] == session.duration_ms
        assert detail["recipient"] == session.recipient.text  # "" when unknown, never null
        assert detail["triggerType"] == session.trigger_type
        assert detail["sessionStatus"] == session.status
        starts = [turn["startMilliseconds"] for turn in detail["transcript"]]
        assert starts == sorted(starts)  # ascending, offsets from the start
        assert [turn["speakerType"] for turn in detail["transcript"]] == [
            turn.speaker_type for turn in session.turns
        ]
        for call, run in zip(detail["toolCalls"], session.tool_runs, strict=True):
            assert isinstance(call["arguments"], str) and isinstance(call["output"], str)
            assert json.loads(call["arguments"]) == run.arguments
            assert call["status"] == run.status
    speakers = {turn["speakerType"] for detail in details for turn in detail["transcript"]}
    assert speakers == {"agent", "driver", "admin", "unknown"}
    tool_statuses = {call["status"] for detail in details for call in detail["toolCalls"]}
    assert {"success", "error"} <= tool_statuses <= {"success", "error", "unknown"}
    assert {detail["recipient"] == "" for detail in details} == {True, False}


async def test_a_missing_or_wrong_key_gets_the_vendors_401_body(sim: SamsaraSimulator) -> None:
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as client:
        missing = await client.get(STREAM, params=stream_params(sim))
        wrong = await client.get(
            DETAILS, params={"ids": "x"}, headers={"Authorization": "Bearer nope"}
        )
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == {"message": "unauthorized", "requestId": f"{1:032x}"}
    assert wrong.json() == {"message": "unauthorized", "requestId": f"{2:032x}"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"agentIds": "a"}, "startTime is required"),
        ({"startTime": "2026-10-01T00:00:00Z"}, "agentIds is required"),
        (
            {"startTime": "2026-10-01", "agentIds": "a"},
            "startTime must be an RFC 3339 time, got '2026-10-01'",
        ),
        (
            {"startTime": "2026-10-01T00:00:00", "agentIds": "a"},
            "startTime must be an RFC 3339 time, got '2026-10-01T00:00:00'",
        ),
        (
            {"startTime": "2026-10-01T00:00:00Z", "endTime": "tomorrow", "agentIds": "a"},
            "endTime must be an RFC 3339 time, got 'tomorrow'",
        ),
        (
            {
                "startTime": "2026-10-02T00:00:00Z",
                "endTime": "2026-10-01T00:00:00Z",
                "agentIds": "a",
            },
            "endTime must not be before startTime",
        ),
        (
            {"startTime": "2026-10-01T00:00:00Z", "agentIds": ",".join(map(str, range(101)))},
            "agentIds accepts at most 100 values",
        ),
        (
            {**WINDOW, "agentIds": "a", "vehicleIds": ",".join(map(str, range(101)))},
            "vehicleIds accepts at most 100 values",
        ),
        (
            {**WINDOW, "agentIds": "a", "driverIds": ",".join(map(str, range(101)))},
            "driverIds accepts at most 100 values",
        ),
        (
            {**WINDOW, "agentIds": "a", "sessionStatus": "completed,active"},
            "sessionStatus must be among completed, running, failed, unknown",
        ),
        ({**WINDOW, "agentIds": "a", "limit": "0"}, "limit must be an integer from 1 to 100"),
        ({**WINDOW, "agentIds": "a", "limit": "101"}, "limit must be an integer from 1 to 100"),
        ({**WINDOW, "agentIds": "a", "limit": "ten"}, "limit must be an integer from 1 to 100"),
        ({**WINDOW, "agentIds": "a", "after": "not-a-cursor"}, "after is not a valid cursor"),
    ],
)
async def test_the_stream_refuses_bad_parameters_with_400(
    http: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    response = await http.get(STREAM, params=params)
    assert response.status_code == 400
    assert response.json()["message"] == message
    assert set(response.json()) == {"message", "requestId"}


@pytest.mark.parametrize(
    "start", ["2026-10-01T00:00:00Z", "2026-10-01T00:00:00.455Z", "2026-09-30T20:00:00-04:00"]
)
async def test_the_stream_takes_rfc3339_with_ms_and_offsets(
    sim: SamsaraSimulator, http: httpx.AsyncClient, start: str
) -> None:
    params = stream_params(sim, startTime=start, sessionStatus=ALL_STATUSES, limit=100)
    response = await http.get(STREAM, params=params)
    assert response.status_code == 200
    since = datetime.fromisoformat(start)
    assert [s["id"] for s in response.json()["data"]] == [
        s.id for s in sim.sessions if s.started_at >= since
    ]


async def test_defaults_are_completed_only_and_50_per_page(
    sim: SamsaraSimulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(STREAM, params=stream_params(sim))
    page = response.json()
    assert len(page["data"]) == 50
    assert {summary["sessionStatus"] for summary in page["data"]} == {"completed"}
    everything = await http.get(STREAM, params=stream_params(sim, sessionStatus=ALL_STATUSES))
    statuses = {summary["sessionStatus"] for summary in everything.json()["data"]}
    assert statuses == {"completed", "running", "failed", "unknown"}


# --- the simulator: order, pages, cursors ---------------------------------------------------------


async def all_pages(http: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        response = await http.get(STREAM, params={**params, **({"after": after} if after else {})})
        assert response.status_code == 200, response.text
        pages.append(response.json())
        if not pages[-1]["pagination"]["hasNextPage"]:
            return pages
        after = pages[-1]["pagination"]["endCursor"]


async def test_pages_are_short_or_empty_while_more_follow_and_the_last_cursor_is_empty(
    sim: SamsaraSimulator, http: httpx.AsyncClient
) -> None:
    pages = await all_pages(http, stream_params(sim, sessionStatus=ALL_STATUSES, limit=10))
    assert [len(page["data"]) for page in pages] == [10, 5, 10, 0] * 3 + [5]
    assert [page["pagination"]["hasNextPage"] for page in pages] == [True] * 12 + [False]
    assert pages[-1]["pagination"]["endCursor"] == ""
    served = [summary for page in pages for summary in page["data"]]
    times = [summary["happenedAtTime"] for summary in served]
    assert times == sorted(times, reverse=True)  # happenedAtTime descending, the one promise
    assert [s["id"] for s in served] == [s.id for s in sim.sessions]
    assert all(set(summary) == SUMMARY_FIELDS for summary in served)


@pytest.mark.parametrize("change", [{"limit": 20}, {"sessionStatus": "completed"}])
async def test_a_cursor_is_bound_to_every_other_parameter(
    sim: SamsaraSimulator, http: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    """vendors.md: keep every other parameter identical while following `after`."""
    params = stream_params(sim, sessionStatus=ALL_STATUSES, limit=10)
    cursor = (await http.get(STREAM, params=params)).json()["pagination"]["endCursor"]
    same = await http.get(STREAM, params={**params, "after": cursor})
    # the second page is a short one: half the limit
    assert [s["id"] for s in same.json()["data"]] == [s.id for s in sim.sessions[10:15]]
    other = await http.get(STREAM, params={**params, **change, "after": cursor})
    assert other.status_code == 400
    assert other.json()["message"] == "after cursor does not match the other request parameters"


async def test_a_cursor_expires_after_30_days(
    sim: SamsaraSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    params = stream_params(sim, limit=5)
    cursor = (await http.get(STREAM, params=params)).json()["pagination"]["endCursor"]
    clock.advance(timedelta(days=30).total_seconds())
    assert (await http.get(STREAM, params={**params, "after": cursor})).status_code == 200
    clock.advance(1)
    response = await http.get(STREAM, params={**params, "after": cursor})
    assert (response.status_code, response.json()["message"]) == (400, "after cursor has expired")


async def test_end_time_is_inclusive(sim: SamsaraSimulator, http: httpx.AsyncClient) -> None:
    newest = sim.sessions[0]
    end = newest.started_at.isoformat(timespec="milliseconds")  # RFC 3339 with an offset
    response = await http.get(
        STREAM, params=stream_params(sim, endTime=end, sessionStatus=ALL_STATUSES)
    )
    assert response.json()["data"][0]["id"] == newest.id


async def test_vehicle_and_driver_filters_use_the_hidden_fleet_ids(
    sim: SamsaraSimulator, http: httpx.AsyncClient
) -> None:
    vehicle_id, driver_id = sim.vehicle_ids[0], sim.drivers[0].id
    response = await http.get(
        STREAM,
        params=stream_params(sim, sessionStatus=ALL_STATUSES, vehicleIds=vehicle_id, limit=100),
    )
    assert [s["id"] for s in response.json()["data"]] == [
        s.id for s in sim.sessions if s.vehicle_id == vehicle_id
    ]
    response = await http.get(
        STREAM,
        params=stream_params(sim, sessionStatus=ALL_STATUSES, driverIds=driver_id, limit=100),
    )
    assert [s["id"] for s in response.json()["data"]] == [
        s.id for s in sim.sessions if s.driver_id == driver_id
    ]


# --- the simulator: details, errors ---------------------------------------------------------------


async def test_details_leave_unknown_ids_out_and_refuse_more_than_100(
    sim: SamsaraSimulator, http: httpx.AsyncClient
) -> None:
    known = [sim.sessions[3].id, sim.sessions[1].id]
    response = await http.get(DETAILS, params={"ids": ",".join([known[0], "nope", known[1]])})
    assert [detail["id"] for detail in response.json()["data"]] == known
    too_many = await http.get(DETAILS, params={"ids": ",".join(map(str, range(101)))})
    assert (too_many.status_code, too_many.json()["message"]) == (
        400,
        "ids accepts at most 100 values",
    )
    missing = await http.get(DETAILS)
    assert (missing.status_code, missing.json()["message"]) == (400, "ids is required")


async def test_recordings_are_presigned_for_an_hour_from_the_request(
    sim: SamsaraSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    recorded = next(s for s in sim.sessions if s.recording_key)
    unrecorded = next(s for s in sim.sessions if s.recording_key is None)
    response = await http.get(DETAILS, params={"ids": f"{recorded.id},{unrecorded.id}"})
    with_recording, without = response.json()["data"]
    assert with_recording["recordingUrl"].startswith(
        f"https://agent-studio-recordings.s3.us-west-2.amazonaws.com/org-4821/voice-sessions/"
        f"{recorded.id}.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261121T103000Z"
    )
    assert with_recording["recordingUrlExpiresAtTime"] == "2026-11-21T11:30:00.000Z"
    assert (without["recordingUrl"], without["recordingUrlExpiresAtTime"]) == ("", "")
    clock.advance(2 * 3600)
    later = (await http.get(DETAILS, params={"ids": recorded.id})).json()["data"][0]
    assert "X-Amz-Date=20261121T123000Z" in later["recordingUrl"]
    assert later["recordingUrlExpiresAtTime"] == "2026-11-21T13:30:00.000Z"


async def test_5xx_is_plain_text_and_429_says_retry_after_in_fractions(
    sim: SamsaraSimulator, http: httpx.AsyncClient
) -> None:
    sim.faults.error_status = 503
    unavailable = await http.get(DETAILS, params={"ids": "x"})
    assert (unavailable.status_code, unavailable.text) == (503, "503 service unavailable")
    assert unavailable.headers["content-type"].startswith("text/plain")
    sim.faults.reset()
    sim.faults.error_status = 429
    limited = await http.get(DETAILS, params={"ids": "x"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "0.40235"
    assert limited.json()["message"] == "rate limit exceeded"


async def test_the_rate_limit_is_shared_by_both_endpoints(
    sim: SamsaraSimulator, http: httpx.AsyncClient
) -> None:
    sim.faults.rate_limit_per_minute = 2
    await http.get(STREAM, params=stream_params(sim))
    await http.get(DETAILS, params={"ids": "x"})
    limited = await http.get(DETAILS, params={"ids": "x"})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "0.40235")


# --- the mapping ----------------------------------------------------------------------------------

RAW_DETAIL: dict[str, Any] = {
    "agentId": "agt-7",
    "agentName": "Dispatch Assistant",
    "durationMilliseconds": 61250,
    "happenedAtTime": "2026-05-19T10:23:11.455-04:00",
    "id": "vs-123",
    "recipient": "+14155550123",
    "sessionStatus": "failed",
    "triggerType": "harshEvent",
    "updatedAtTime": "2026-05-19T14:25:00Z",
    "someNewField": {"ignored": True},
    "transcript": [
        {"speakerType": "agent", "text": "Dispatch here.", "startMilliseconds": 900},
        {"speakerType": "driver", "text": "Flat tyre.", "startMilliseconds": 2100},
        {"speakerType": "admin", "text": "Noted.", "startMilliseconds": 3000},
        {"speakerType": "robot", "text": "beep", "startMilliseconds": None},
    ],
    "toolCalls": [
        {
            "name": "update_eta",
            "arguments": '{"route_id": "R-9", "delay_minutes": 20}',
            "output": '{"notified": true}',
            "startMilliseconds": 2500,
            "durationMilliseconds": 312,
            "status": "success",
        },
        {
            "name": "page_mechanic",
            "arguments": "truck 12",
            "output": "pager offline",
            "startMilliseconds": 4000,
            "durationMilliseconds": 5000,
            "status": "error",
        },
        {"name": "log_note", "arguments": "", "output": "", "status": "pending"},
    ],
    "callEvents": [{"happenedAtTime": "2026-05-19T14:23:11.455Z", "type": "Call initiated"}],
    "recordingUrl": "https://recordings.example/vs-123.wav?sig=abc",
    "recordingUrlExpiresAtTime": "2026-05-19T15:23:11.123456789Z",
}


def test_a_detail_maps_to_exact_record_fields() -> None:
    record = session_from_detail(RAW_DETAIL)
    started = datetime(2026, 5, 19, 14, 23, 11, 455000, tzinfo=UTC)
    assert replace(record, details=None) == SessionRecord(
        provider=Provider.SAMSARA,
        id="vs-123",
        status=SessionStatus.FAILED,
        raw_status="failed",
        started_at=started,
        agent_id="agt-7",
        agent_name="Dispatch Assistant",
        ended_at=started + timedelta(milliseconds=61250),
        duration_ms=61250,
        channel=Channel.VOICE,
        caller="+14155550123",
        metadata={"triggerType": "harshEvent", "updatedAtTime": "2026-05-19T14:25:00Z"},
    )
    assert record.details is not None
    assert record.details.transcript == (
        TranscriptTurn(Speaker.AGENT, "Dispatch here.", "agent", offset_ms=900),
        TranscriptTurn(Speaker.USER, "Flat tyre.", "driver", offset_ms=2100),
        TranscriptTurn(Speaker.USER, "Noted.", "admin", offset_ms=3000),
        TranscriptTurn(Speaker.UNKNOWN, "beep", "robot", offset_ms=None),
    )
    assert record.details.tool_calls == (
        ToolCall(
            name="update_eta",
            arguments={"route_id": "R-9", "delay_minutes": 20},
            output={"notified": True},
            status=ToolCallStatus.SUCCESS,
            offset_ms=2500,
            duration_ms=312,
        ),
        ToolCall(
            name="page_mechanic",
            arguments="truck 12",  # not JSON: kept as it came
            output=None,
            status=ToolCallStatus.ERROR,
            error="pager offline",
            offset_ms=4000,
            duration_ms=5000,
        ),
        ToolCall("log_note", None, None, ToolCallStatus.UNKNOWN),
    )
    assert record.details.recording == Recording(
        "https://recordings.example/vs-123.wav?sig=abc",
        datetime(2026, 5, 19, 15, 23, 11, 123456, tzinfo=UTC),
    )


def test_empty_strings_and_nulls_are_absent_and_running_has_no_end() -> None:
    record = session_from_summary(
        {
            "agentId": "agt-7",
            "agentName": "",
            "durationMilliseconds": None,
            "happenedAtTime": "2026-05-19T14:23:11Z",
            "id": "vs-9",
            "recipient": "",
            "sessionStatus": "running",
            "triggerType": "",
        }
    )
    assert (record.status, record.raw_status) == (SessionStatus.ACTIVE, "running")
    assert (record.agent_name, record.caller, record.duration_ms, record.ended_at) == (
        None,
        None,
        None,
        None,
    )
    assert (record.metadata, record.details) == ({}, None)
    odd = session_from_summary({**RAW_DETAIL, "sessionStatus": "paused", "recordingUrl": ""})
    assert (odd.status, odd.raw_status) == (SessionStatus.UNKNOWN, "paused")
    unrecorded = session_from_detail({**RAW_DETAIL, "recordingUrl": ""})
    assert unrecorded.details is not None and unrecorded.details.recording is None


# --- the adapter: walking the stream --------------------------------------------------------------


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("limit", [1, 7, 100])
async def test_list_records_are_the_expected_ones_without_details(
    sim: SamsaraSimulator, adapter: Adapter, order: SortOrder, limit: int
) -> None:
    q = query(order=order)
    records, pages = await walk_pages(adapter, q, limit)
    truth = expected(sim, q)
    assert len(truth) == SIZE
    assert all(record.details is None for record in records)  # the stream has no transcript
    assert records == [replace(record, details=None) for record in truth]
    assert all(page.total is None for page in pages)  # Samsara cannot count


@pytest.mark.parametrize("order", list(SortOrder))
async def test_a_fresh_adapter_resumes_from_a_position(
    sim: SamsaraSimulator, clock: FakeClock, order: SortOrder
) -> None:
    q = query(order=order)
    adapters = [connect(sim, clock=clock) for _ in range(30)]
    try:
        records = await walk(adapters, q, 6)
    finally:
        for adapter in adapters:
            await adapter.aclose()
    assert ids(records) == ids(expected(sim, q))


async def test_newest_first_positions_are_native_cursors_and_full_pages_cost_one_call(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    page = await adapter.list_sessions(query(), None, 10)
    assert len(page.items) == 10
    assert len(stream_calls(sim)) == 1  # no look-ahead for a full page
    after, consumed = page.items[4].resume["streams"][0]
    assert after is None and consumed == 5  # first vendor page, five consumed
    sim.log.clear()
    resumed = await adapter.list_sessions(query(), page.items[4].resume, 5)
    assert ids(item.record for item in resumed.items) == ids(item.record for item in page.items[5:])
    # The same page is asked again with the same parameters, its first five skipped.
    assert [entry.param("limit") for entry in stream_calls(sim)] == ["100"]
    assert stream_calls(sim)[0].param("after") is None


async def test_oldest_first_scans_the_window_and_narrows_start_time_on_resume(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    q = query(order=SortOrder.OLDEST_FIRST)
    first = await adapter.list_sessions(q, None, 5)
    assert [entry.param("limit") for entry in stream_calls(sim)] == ["100"]  # the vendor max
    oldest = first.items[-1].record
    assert first.items[-1].resume == {
        "key": [oldest.started_at.isoformat(), oldest.agent_id, oldest.id]
    }
    sim.log.clear()
    await adapter.list_sessions(q, first.items[-1].resume, 5)
    start = stream_calls(sim)[0].param("startTime") or ""
    assert datetime.fromisoformat(start) == oldest.started_at


async def test_oldest_first_stops_at_the_scan_cap_and_says_truncated(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    page = await adapter.list_sessions(query(order=SortOrder.OLDEST_FIRST, scan_cap=30), None, 10)
    assert (page.truncated, len(page.items)) == (True, 10)
    assert [entry.param("limit") for entry in stream_calls(sim)] == ["100"]  # one page is enough
    newest_30 = sorted(expected(sim, query())[:30], key=lambda record: record.sort_key)
    assert ids(item.record for item in page.items) == ids(newest_30[:10])


# --- the adapter: push-downs and local filters ----------------------------------------------------


async def test_window_agents_and_all_four_statuses_are_always_sent(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    start = datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=UTC)
    q = SessionQuery(started_after=start, started_before=ANCHOR)
    await adapter.list_sessions(q, None, 7)
    assert streamed(sim)[0] == {
        "startTime": ["2026-10-01T12:00:00.123Z"],
        "endTime": ["2026-11-01T00:00:00.000Z"],
        "sessionStatus": [ALL_STATUSES],
        "agentIds": [",".join(sorted(sim.agent_ids()))],
        "limit": ["100"],  # always the largest: a cursor binds every parameter
    }


async def test_statuses_agents_vehicles_and_drivers_are_pushed_down(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    agent_id = sim.agent_ids()[2]
    vehicle_ids = (sim.vehicle_ids[1], sim.vehicle_ids[0])
    q = query(
        statuses=frozenset({SessionStatus.ACTIVE, SessionStatus.COMPLETED}),
        agent_ids=(agent_id,),
        vehicle_ids=vehicle_ids,
        driver_ids=(sim.drivers[0].id,),
    )
    page = await adapter.list_sessions(q, None, 100)
    sent = streamed(sim)[0]
    assert sent["sessionStatus"] == ["completed,running"]
    assert sent["agentIds"] == [agent_id]
    assert sent["vehicleIds"] == [",".join(sorted(vehicle_ids))]
    assert sent["driverIds"] == [sim.drivers[0].id]
    # The fleet ids are the simulator's hidden facts: the oracle's records do not hold them.
    truth = [
        s.id
        for s in sim.sessions
        if s.agent.id == agent_id
        and s.status in {"completed", "running"}
        and s.vehicle_id in vehicle_ids
        and s.driver_id == sim.drivers[0].id
    ]
    assert ids(item.record for item in page.items) == truth


async def test_more_than_100_agents_are_several_streams_merged_in_order(
    sim: SamsaraSimulator, clock: FakeClock
) -> None:
    real = sorted(sim.agent_ids())
    # 140 ids that sort between the third and fourth real agent: each chunk holds three
    fillers = tuple(f"{real[2]}-{n:03d}" for n in range(140))
    adapters = [connect(sim, agent_ids=(*real, *fillers), clock=clock) for _ in range(40)]
    try:
        records, pages = await walk_pages(adapters, query(), 9)
    finally:
        for adapter in adapters:
            await adapter.aclose()
    assert ids(records) == ids(expected(sim, query()))
    chunks = sorted({entry["agentIds"][0] for entry in streamed(sim)}, key=len, reverse=True)
    assert chunks == [",".join([*real[:3], *fillers[:97]]), ",".join([*fillers[97:], *real[3:]])]
    assert len(pages[0].items[0].resume["streams"]) == 2


async def test_the_half_open_window_drops_the_session_at_the_inclusive_end_time(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    newest = sim.sessions[0]
    q = SessionQuery(started_after=ANCHOR - timedelta(days=3), started_before=newest.started_at)
    page = await adapter.list_sessions(q, None, 100)
    assert newest.id not in ids(item.record for item in page.items)
    assert ids(item.record for item in page.items) == ids(expected(sim, q))


async def test_phone_number_is_filtered_locally_with_full_vendor_pages(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    number = next(s.recipient.text for s in sim.sessions if s.recipient.text.startswith("+"))
    q = query(phone_number=f"+1 ({number[2:5]}) {number[5:8]}-{number[8:]}")
    page = await adapter.list_sessions(q, None, 5)
    truth = expected(sim, q)
    assert 1 <= len(truth) < 5
    assert [item.record for item in page.items] == [replace(r, details=None) for r in truth]
    assert page.exhausted
    assert [entry.param("limit") for entry in stream_calls(sim)] == ["100"]


@pytest.mark.parametrize("order", list(SortOrder))
async def test_text_fetches_details_of_candidates_and_keeps_them(
    sim: SamsaraSimulator, adapter: Adapter, order: SortOrder
) -> None:
    q = query(text="reroute", order=order, statuses=frozenset({SessionStatus.COMPLETED}))
    records = await walk(adapter, q, 4)
    truth = expected(sim, q)
    assert len(truth) > 4
    assert records == truth  # details kept, equal to what the getter returns
    detail_calls = details_calls(sim)
    completed = {s.id for s in sim.sessions if s.status == "completed"}
    asked = {i for entry in detail_calls for i in (entry.param("ids") or "").split(",")}
    assert asked <= completed  # only candidates the other filters let through
    assert all(len((entry.param("ids") or "").split(",")) <= 100 for entry in detail_calls)


@pytest.mark.parametrize(
    "fields",
    [
        {"tags": ("billing",)},
        {"channels": frozenset({Channel.CHAT})},
        {"statuses": frozenset()},
        {"vehicle_ids": ()},
        {"agent_ids": ()},
    ],
)
async def test_filters_no_samsara_session_can_match_cost_no_call(
    sim: SamsaraSimulator, adapter: Adapter, fields: dict[str, Any]
) -> None:
    for order in SortOrder:
        page = await adapter.list_sessions(query(order=order, **fields), None, 10)
        assert (page.items, page.exhausted) == ((), True)
    assert len(sim.log) == 0


async def test_ids_that_could_break_a_comma_list_are_refused_before_any_call(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    with pytest.raises(UserInputError):
        await adapter.list_sessions(query(vehicle_ids=("1,2",)), None, 10)
    with pytest.raises(UserInputError):
        await adapter.get_sessions([SessionRef(Provider.SAMSARA, "a,b")])
    with pytest.raises(UserInputError):
        await adapter.list_sessions(query(), {"streams": [["x", 1], ["y", 2]]}, 10)
    with pytest.raises(UserInputError):
        await adapter.list_sessions(query(order=SortOrder.OLDEST_FIRST), {"streams": []}, 10)
    assert len(sim.log) == 0


# --- the adapter: getters -------------------------------------------------------------------------


async def test_get_sessions_asks_each_id_once_in_batches_of_100(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    truth = expected(sim, query())  # every session, details filled
    assert len(truth) == SIZE
    unknown = [SessionRef(Provider.SAMSARA, f"missing-{n}") for n in range(70)]
    refs = [record.ref for record in truth] + unknown + [truth[3].ref]  # one asked twice
    assert await adapter.get_sessions(refs) == [*truth, *[None] * 70, truth[3]]
    asked = [(entry.param("ids") or "").split(",") for entry in details_calls(sim)]
    assert sorted(len(batch) for batch in asked) == [50, 100]
    assert sorted(i for batch in asked for i in batch) == sorted({ref.id for ref in refs})


async def test_get_agents_knows_only_configured_ids(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    agent_id = sim.agent_ids()[0]
    assert await adapter.get_agents([agent_id, "other"]) == [
        AgentRecord(Provider.SAMSARA, agent_id),
        None,
    ]
    assert len(sim.log) == 0  # no public endpoint lists agents


# --- the adapter: the vendor's error bodies and Retry-After ---------------------------------------


async def test_a_5xx_message_is_the_plain_text_body(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    sim.faults.error_status = 503
    with pytest.raises(UpstreamUnavailableError) as caught:
        await adapter.list_sessions(query(), None, 10)
    assert caught.value.message == "SAMSARA answered 503: 503 service unavailable"


async def test_a_json_error_message_carries_the_request_id(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    sim.faults.error_status = 429
    sim.faults.retry_after = "5"
    with pytest.raises(UpstreamRateLimitedError) as caught:
        await adapter.get_sessions([SessionRef(Provider.SAMSARA, "x")])
    assert caught.value.message == (
        f"SAMSARA answered 429: rate limit exceeded (requestId {1:032x})"
    )


async def test_the_vendors_fractional_retry_after_is_waited_for(
    sim: SamsaraSimulator, adapter: Adapter, clock: FakeClock
) -> None:
    sim.faults.error_status = 429
    sim.faults.error_budget = 1
    page = await adapter.list_sessions(query(), None, 3)
    assert len(page.items) == 3
    assert [entry.status for entry in stream_calls(sim)] == [429, 200]
    assert clock.slept == [0.40235]


async def test_a_cursor_the_vendor_refuses_is_a_rejected_request(
    sim: SamsaraSimulator, adapter: Adapter
) -> None:
    with pytest.raises(UpstreamRejectedError) as caught:
        await adapter.list_sessions(query(), {"streams": [["bm90LWEtY3Vyc29y", 0]]}, 10)
    assert caught.value.message.startswith("SAMSARA answered 400: after is not a valid cursor")


async def test_a_stream_page_is_read_only_as_far_as_the_walk_goes(
    adapter: Adapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream page holds 100 summaries; a first page of 5 reads 5 of them into records."""
    read: list[str] = []

    def counted(summary: dict[str, Any]) -> SessionRecord:
        read.append(summary["id"])
        return session_from_summary(summary)

    monkeypatch.setattr("providers.samsara.adapter.session_from_summary", counted)
    page = await adapter.list_sessions(query(), None, 5)
    assert len(page.items) == 5
    assert read == [item.record.id for item in page.items]


async def test_a_malformed_summary_the_walk_reaches_is_a_bad_response() -> None:
    """Read late, still the one typed error (and only when the walk reaches it)."""
    good = {"id": "s1", "happenedAtTime": "2026-10-01T00:00:00Z", "sessionStatus": "completed"}
    body = {"data": [good, {"id": "s2"}], "pagination": {"hasNextPage": False}}
    vendor = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    settings = ProviderSettings(Provider.SAMSARA, "http://samsara.test", Secret("k"), ("a1",))
    adapter = adapter_class(Provider.SAMSARA).connect(settings, vendor, FakeClock(ANCHOR))
    try:
        assert [
            item.record.id for item in (await adapter.list_sessions(query(), None, 1)).items
        ] == ["s1"]
        with pytest.raises(UpstreamProtocolError) as caught:
            await adapter.list_sessions(query(), None, 2)
    finally:
        await adapter.aclose()
    assert caught.value.message.startswith("SAMSARA sent a response sessiongraph cannot read")
