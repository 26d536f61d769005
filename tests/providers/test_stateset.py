"""StateSet Voice quirks: the simulator against vendors.md §2, the mapping of hand-written vendor
JSON, and the adapter's scans, push-downs, keyset resume, stream-id lookups and error bodies.
What every adapter shares (walk order, batch getters, error statuses, retries, timeouts) is in
test_contract.py; expected records come from tests/oracles/stateset.py, never from the mapper."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.adapter import Adapter
from providers.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRejectedError,
    UserInputError,
)
from providers.query import SessionQuery, SortOrder
from providers.records import (
    AgentRecord,
    Channel,
    Provider,
    SessionDetails,
    SessionRecord,
    SessionRef,
    SessionStatus,
    Speaker,
    Tag,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
)
from providers.settings import ProviderSettings, Secret
from providers.simulators.stateset import AGENTS, StateSetSimulator
from providers.stateset.adapter import StateSetAdapter
from providers.stateset.mapping import session_record, voice_session_page
from providers.transport import reading
from tests.oracles import expected_records
from tests.support import connect, expected, ids, walk

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)  # the data ends here
NOW = ANCHOR + timedelta(minutes=7)  # the simulator's pinned clock
SIZE = 120
PATH = "/api/v1/voice-sessions"
EVERYTHING = SessionQuery(started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR)


def simulator(size: int = SIZE) -> StateSetSimulator:
    return StateSetSimulator(size=size, anchor=ANCHOR, clock=lambda: NOW)


@pytest.fixture
def sim() -> StateSetSimulator:
    return simulator()


@pytest.fixture
async def adapter(sim: StateSetSimulator) -> AsyncIterator[Adapter]:
    adapter = connect(sim)
    yield adapter
    await adapter.aclose()


async def vendor_get(
    sim: StateSetSimulator,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One raw request to the simulator, with its key unless `headers` says otherwise."""
    if headers is None:
        headers = {"Authorization": f"Bearer {sim.api_key}"}
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http:
        return await http.get(PATH, params=params, headers=headers)


def logged_params(sim: StateSetSimulator) -> list[dict[str, list[str]]]:
    return [entry.query for entry in sim.log.matching(PATH)]


def by_id(sim: StateSetSimulator) -> dict[str, SessionRecord]:
    return {record.id: record for record in expected_records(sim)}


# --- the simulator ------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_missing_or_wrong_key_gets_the_vendor_401(
    sim: StateSetSimulator, headers: dict[str, str]
) -> None:
    response = await vendor_get(sim, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "unauthorized"}
    assert response.headers["x-request-id"].startswith("req_")


async def test_default_page_is_20_in_the_envelope_with_rate_limit_headers(
    sim: StateSetSimulator,
) -> None:
    response = await vendor_get(sim)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"data", "limit", "offset", "total"}
    assert (len(body["data"]), body["limit"], body["offset"], body["total"]) == (20, 20, 0, SIZE)
    assert body["data"] == sim.documents[:20]
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["x-ratelimit-limit"] == "60"
    assert response.headers["x-ratelimit-remaining"] == "59"


async def test_the_rate_limit_window_is_the_trailing_minute_of_the_clock(
    sim: StateSetSimulator,
) -> None:
    for _ in range(3):
        await vendor_get(sim)
    assert (await vendor_get(sim)).headers["x-ratelimit-remaining"] == "56"
    sim.clock = lambda: NOW + timedelta(seconds=61)
    assert (await vendor_get(sim)).headers["x-ratelimit-remaining"] == "59"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": 101}, "limit must be an integer between 1 and 100"),
        ({"limit": 0}, "limit must be an integer between 1 and 100"),
        ({"limit": "ten"}, "limit must be an integer between 1 and 100"),
        ({"offset": -1}, "offset must be an integer at least 0"),
        ({"status": "done"}, "status must be one of active, completed, reviewed, failed"),
    ],
)
async def test_bad_parameters_get_400_with_the_vendor_body(
    sim: StateSetSimulator, params: dict[str, Any], error: str
) -> None:
    response = await vendor_get(sim, params)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error}
    assert "x-request-id" in response.headers


async def test_offset_past_the_end_is_empty_with_the_true_total(sim: StateSetSimulator) -> None:
    body = (await vendor_get(sim, {"offset": 500, "limit": 100})).json()
    assert body == {"data": [], "limit": 100, "offset": 500, "total": SIZE}


async def test_pages_hold_every_session_once_in_a_stable_order_not_by_start_time(
    sim: StateSetSimulator,
) -> None:
    async def served_ids() -> list[str]:
        pages = [(await vendor_get(sim, {"limit": 100, "offset": o})).json() for o in (0, 100)]
        assert [len(page["data"]) for page in pages] == [100, SIZE - 100]
        return [doc["id"] for page in pages for doc in page["data"]]

    first, second = await served_ids(), await served_ids()
    assert first == second
    assert sorted(first) == sorted(key.id for key in sim.session_keys())
    starts = [call.started_at for call in sim.calls]
    assert starts not in (sorted(starts), sorted(starts, reverse=True))


async def test_status_agent_and_stream_filters(sim: StateSetSimulator) -> None:
    active = (await vendor_get(sim, {"status": "active", "limit": 100})).json()
    assert active["total"] == sum(call.status == "active" for call in sim.calls) > 0
    assert {doc["status"] for doc in active["data"]} == {"active"}
    billing = (await vendor_get(sim, {"agent_key": "billing_line", "limit": 100})).json()
    assert billing["total"] == sum(call.agent_key == "billing_line" for call in sim.calls)
    assert {doc["agent_key"] for doc in billing["data"]} == {"billing_line"}
    one = sim.documents[7]
    by_stream = (await vendor_get(sim, {"stream_id": one["stream_id"]})).json()
    assert by_stream == {"data": [one], "limit": 20, "offset": 0, "total": 1}
    assert (await vendor_get(sim, {"agent_key": "nobody"})).json()["total"] == 0


def test_dataset_has_the_vendor_shapes_and_a_mix_of_states(sim: StateSetSimulator) -> None:
    statuses = {doc["status"] for doc in sim.documents}
    assert statuses == {"active", "completed", "reviewed", "failed"}
    assert len({doc["agent_key"] for doc in sim.documents}) == 4
    for doc in sim.documents:
        assert re.fullmatch(r"MZ[0-9a-f]{32}", doc["stream_id"])
        assert re.fullmatch(r"CA[0-9a-f]{32}", doc["call_sid"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["started_at"])
        assert {turn["role"] for turn in doc["transcript"]} <= {"caller", "agent", "system"}
        assert all(isinstance(call["arguments"], dict) for call in doc["function_calls"])
        started = datetime.fromisoformat(doc["started_at"])
        still_on = (doc["ended_at"], doc["duration_seconds"], doc["summary"]) == (None, None, None)
        assert still_on == (doc["status"] == "active")
        assert doc["status"] != "active" or ANCHOR - started < timedelta(hours=1)
        assert doc["qa"]["state"] == ("reviewed" if doc["status"] == "reviewed" else "pending")
    assert any(call["error"] for doc in sim.documents for call in doc["function_calls"])
    assert any(doc["direction"] == "outbound" for doc in sim.documents)


def test_documents_say_who_dialled_whom_and_the_length_in_whole_seconds(
    sim: StateSetSimulator,
) -> None:
    """vendors.md §2 read literally: `from_number` dialled `to_number`; `duration_seconds` is
    `ended_at - started_at` in seconds; nothing is said before the start or after "now"."""
    lines = {agent.key: agent.line for agent in AGENTS}
    for doc in sim.documents:
        line = lines[doc["agent_key"]]
        if doc["direction"] == "outbound":
            assert doc["from_number"] == line != doc["to_number"]
        else:
            assert doc["direction"] == "inbound"
            assert doc["to_number"] == line != doc["from_number"]
        started = datetime.fromisoformat(doc["started_at"])
        if doc["ended_at"] is not None:
            length = datetime.fromisoformat(doc["ended_at"]) - started
            assert doc["duration_seconds"] == length.total_seconds() > 0
            assert isinstance(doc["duration_seconds"], int)
        said = [datetime.fromisoformat(t["timestamp"]) for t in doc["transcript"]]
        said += [datetime.fromisoformat(c["timestamp"]) for c in doc["function_calls"]]
        assert all(started <= at <= ANCHOR for at in said)


def test_the_model_is_seeded_and_the_keys_come_from_it() -> None:
    first, again = simulator(), simulator()
    assert first.calls == again.calls and first.documents == again.documents
    assert [key.id for key in first.session_keys()] == [call.id for call in first.calls]
    assert [doc["id"] for doc in first.documents] == [call.id for call in first.calls]
    other_seed = StateSetSimulator(size=SIZE, seed=2, anchor=ANCHOR, clock=lambda: NOW)
    assert other_seed.calls != first.calls


async def test_429_carries_retry_after_and_rate_limit_headers(sim: StateSetSimulator) -> None:
    sim.faults.error_status, sim.faults.retry_after = 429, "7"
    response = await vendor_get(sim)
    assert response.status_code == 429
    assert response.json() == {"ok": False, "error": "rate limit exceeded"}
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-ratelimit-limit"] == "60"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert "x-request-id" in response.headers


async def test_server_errors_use_the_vendor_body(sim: StateSetSimulator) -> None:
    sim.faults.error_status = 503
    response = await vendor_get(sim)
    assert (response.status_code, response.json()) == (
        503,
        {"ok": False, "error": "service unavailable"},
    )


# --- the mapping --------------------------------------------------------------------------------

EXAMPLE: dict[str, Any] = {
    "id": "550e8400-e29b-41d4-a716-446655440001",
    "stream_id": "MZ0123456789abcdef0123456789abcdef",
    "call_sid": "CAfedcba9876543210fedcba9876543210",
    "agent_key": "support_primary",
    "status": "reviewed",
    "direction": "inbound",
    "from_number": "+15555555678",
    "to_number": "+15555551234",
    "started_at": "2026-05-14T18:40:02Z",
    "ended_at": "2026-05-14T18:42:09Z",
    "duration_seconds": 127,
    "model": "gpt-realtime",
    "voice": "alloy",
    "transcript": [
        {
            "role": "agent",
            "text": "Order desk, how can I help?",
            "timestamp": "2026-05-14T18:40:03Z",
        },
        {"role": "caller", "text": "Where is order 123?", "timestamp": "2026-05-14T18:40:09.250Z"},
        {"role": "supervisor", "text": "(joined)", "timestamp": "2026-05-14T20:40:10+02:00"},
    ],
    "function_calls": [
        {
            "name": "lookup_order",
            "arguments": {"order_id": "123"},
            "result": {"status": "shipped"},
            "error": None,
            "timestamp": "2026-05-14T18:40:11Z",
            "duration_ms": 412,
        },
        {
            "name": "send_sms",
            "arguments": {"to": "+15555555678"},
            "result": None,
            "error": "sms gateway down",
            "timestamp": "2026-05-14T18:40:20Z",
            "duration_ms": 5000,
        },
    ],
    "summary": "Order 123 shipped.",
    "tags": ["order", ""],
    "qa": {"state": "reviewed", "score": 0.92, "notes": "Good call."},
    "sentiment": "positive",  # not in the contract: ignored
}


def test_maps_one_voice_session_to_exact_fields() -> None:
    def at(clock: str) -> datetime:
        return datetime.fromisoformat(f"2026-05-14T{clock}+00:00")

    assert session_record(EXAMPLE) == SessionRecord(
        provider=Provider.STATESET,
        id="550e8400-e29b-41d4-a716-446655440001",
        status=SessionStatus.COMPLETED,
        raw_status="reviewed",
        started_at=at("18:40:02"),
        agent_id="support_primary",
        ended_at=at("18:42:09"),
        duration_ms=127_000,
        channel=Channel.VOICE,
        direction="inbound",
        caller="+15555555678",
        callee="+15555551234",
        summary="Order 123 shipped.",
        tags=(Tag("order"),),
        metadata={
            "call_sid": "CAfedcba9876543210fedcba9876543210",
            "model": "gpt-realtime",
            "voice": "alloy",
            "qa": {"state": "reviewed", "score": 0.92, "notes": "Good call."},
        },
        lookup_key="MZ0123456789abcdef0123456789abcdef",
        details=SessionDetails(
            transcript=(
                TranscriptTurn(
                    Speaker.AGENT, "Order desk, how can I help?", "agent", 1000, at("18:40:03")
                ),
                TranscriptTurn(
                    Speaker.USER, "Where is order 123?", "caller", 7250, at("18:40:09.250")
                ),
                TranscriptTurn(Speaker.UNKNOWN, "(joined)", "supervisor", 8000, at("18:40:10")),
            ),
            tool_calls=(
                ToolCall(
                    name="lookup_order",
                    arguments={"order_id": "123"},
                    output={"status": "shipped"},
                    status=ToolCallStatus.SUCCESS,
                    offset_ms=9000,
                    at=at("18:40:11"),
                    duration_ms=412,
                ),
                ToolCall(
                    name="send_sms",
                    arguments={"to": "+15555555678"},
                    output=None,
                    status=ToolCallStatus.ERROR,
                    error="sms gateway down",
                    offset_ms=18000,
                    at=at("18:40:20"),
                    duration_ms=5000,
                ),
            ),
        ),
    )


def test_active_outbound_call_swaps_parties_and_blanks_mean_absent() -> None:
    doc = {
        **EXAMPLE,
        "status": "active",
        "direction": "outbound",
        "ended_at": None,
        "duration_seconds": None,
        "summary": None,
        "model": "",
        "voice": None,
        "function_calls": [
            {"name": "transfer", "arguments": {}, "error": {"code": "busy", "message": "line busy"}}
        ],
    }
    doc.pop("qa")
    record = session_record(doc)
    assert (record.status, record.raw_status) == (SessionStatus.ACTIVE, "active")
    assert (record.caller, record.callee) == ("+15555551234", "+15555555678")
    assert (record.ended_at, record.duration_ms, record.summary) == (None, None, None)
    assert record.metadata == {"call_sid": "CAfedcba9876543210fedcba9876543210"}
    assert record.details is not None
    assert record.details.tool_calls == (
        ToolCall("transfer", {}, None, ToolCallStatus.ERROR, error="line busy"),
    )
    queued = session_record({**EXAMPLE, "status": "queued"})
    assert (queued.status, queued.raw_status) == (SessionStatus.UNKNOWN, "queued")


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"data": [{"id": "x"}]},
        {"data": [{**EXAMPLE, "started_at": "yesterday"}]},
        {"data": [{**EXAMPLE, "agent_key": 7}]},
        [],
    ],
)
def test_an_unreadable_page_is_a_protocol_error(body: Any) -> None:
    with pytest.raises(UpstreamProtocolError), reading(Provider.STATESET):
        voice_session_page(body)


# --- listing ------------------------------------------------------------------------------------

FILTERED = {
    "window": replace(
        EVERYTHING,
        started_after=ANCHOR - timedelta(days=30),
        started_before=ANCHOR - timedelta(days=10),
    ),
    "active": replace(EVERYTHING, statuses=frozenset({SessionStatus.ACTIVE})),
    "failed": replace(EVERYTHING, statuses=frozenset({SessionStatus.FAILED})),
    "completed": replace(EVERYTHING, statuses=frozenset({SessionStatus.COMPLETED})),
    "one_agent": replace(EVERYTHING, agent_ids=("fleet_dispatch",), order=SortOrder.OLDEST_FIRST),
    "two_agents": replace(EVERYTHING, agent_ids=("billing_line", "scheduling_desk")),
    "text": replace(EVERYTHING, text="charged TWICE"),
    "tags": replace(EVERYTHING, tags=("Billing", "refund")),
    "phone": replace(EVERYTHING, phone_number="+1 (415) 555-0101"),
    "chat_only": replace(EVERYTHING, channels=frozenset({Channel.CHAT})),
}


@pytest.mark.parametrize("name", list(FILTERED))
async def test_filtered_walks_match_the_oracle(
    sim: StateSetSimulator, adapter: Adapter, name: str
) -> None:
    query = FILTERED[name]
    found = await walk(adapter, query, 6)
    assert found == expected(sim, query)
    assert len(set(ids(found))) == len(found)
    assert 0 < len(found) < SIZE or (name == "chat_only" and found == [])


async def test_the_first_page_reports_the_exact_total_of_a_complete_scan(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    query = FILTERED["window"]
    page = await adapter.list_sessions(query, None, 5)
    assert page.total == len(expected(sim, query))
    assert (page.exhausted, page.truncated) == (False, False)


async def test_a_fresh_adapter_resumes_after_a_position(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    first = await adapter.list_sessions(EVERYTHING, None, 10)
    position = json.loads(json.dumps(first.items[-1].resume))
    other = connect(sim)
    try:
        second = await other.list_sessions(EVERYTHING, position, 10)
    finally:
        await other.aclose()
    assert [item.record for item in second.items] == expected(sim, EVERYTHING)[10:20]


async def test_two_calls_in_the_same_second_are_ordered_by_id(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    starts = [call.started_at for call in sim.calls]
    tied = next(start for start in starts if starts.count(start) == 2)
    query = replace(
        EVERYTHING,
        started_after=tied,
        started_before=tied + timedelta(seconds=1),
        order=SortOrder.OLDEST_FIRST,
    )
    first = await adapter.list_sessions(query, None, 1)
    second = await adapter.list_sessions(query, first.items[0].resume, 1)
    found = [first.items[0].record.id, second.items[0].record.id]
    assert found == sorted(call.id for call in sim.calls if call.started_at == tied)
    assert (first.exhausted, second.exhausted, second.total) == (False, True, 2)


@pytest.mark.parametrize(
    ("query", "pushed"),
    [
        (replace(EVERYTHING, agent_ids=("billing_line",)), {"agent_key": ["billing_line"]}),
        (replace(EVERYTHING, statuses=frozenset({SessionStatus.ACTIVE})), {"status": ["active"]}),
        (replace(EVERYTHING, statuses=frozenset({SessionStatus.FAILED})), {"status": ["failed"]}),
        (
            replace(
                EVERYTHING,
                agent_ids=("billing_line",),
                statuses=frozenset({SessionStatus.FAILED}),
            ),
            {"agent_key": ["billing_line"], "status": ["failed"]},
        ),
    ],
)
async def test_push_downs_are_sent_once_per_scan(
    sim: StateSetSimulator, adapter: Adapter, query: SessionQuery, pushed: dict[str, list[str]]
) -> None:
    page = await adapter.list_sessions(query, None, 5)
    assert logged_params(sim) == [{**pushed, "limit": ["100"], "offset": ["0"]}]
    assert [item.record for item in page.items] == expected(sim, query)[:5]


@pytest.mark.parametrize(
    "query",
    [
        EVERYTHING,
        replace(EVERYTHING, statuses=frozenset({SessionStatus.COMPLETED})),
        replace(EVERYTHING, statuses=frozenset({SessionStatus.ACTIVE, SessionStatus.FAILED})),
        replace(EVERYTHING, statuses=frozenset({SessionStatus.UNKNOWN})),
        replace(EVERYTHING, agent_ids=("billing_line", "scheduling_desk")),
        replace(EVERYTHING, text="refund", tags=("billing",), phone_number="+14155550101"),
    ],
)
async def test_what_the_vendor_cannot_answer_is_a_full_local_scan(
    sim: StateSetSimulator, adapter: Adapter, query: SessionQuery
) -> None:
    page = await adapter.list_sessions(query, None, 5)
    assert logged_params(sim) == [
        {"limit": ["100"], "offset": ["0"]},
        {"limit": ["100"], "offset": ["100"]},
    ]
    assert [item.record for item in page.items] == expected(sim, query)[:5]


async def test_pages_after_the_first_go_out_together_once_the_total_is_known() -> None:
    big = simulator(size=350)
    adapter = connect(big)
    try:
        assert await walk(adapter, EVERYTHING, 400) == expected(big, EVERYTHING)
    finally:
        await adapter.aclose()
    offsets = [p["offset"][0] for p in logged_params(big)]
    assert offsets[0] == "0"
    assert sorted(offsets[1:]) == ["100", "200", "300"]
    assert {p["limit"][0] for p in logged_params(big)} == {"100"}


async def test_without_a_total_the_scan_reads_page_by_page_to_a_short_page(
    sim: StateSetSimulator,
) -> None:
    """The envelope is [target]: a vendor that sends no `total` still ends on a short page."""
    docs = list(sim.documents) * 2  # every session twice, as if the list shifted: each is kept once
    asked: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        offset, limit = (int(request.url.params[name]) for name in ("offset", "limit"))
        asked.append(request.url.params["offset"])
        return httpx.Response(200, json={"data": docs[offset : offset + limit]})

    adapter = StateSetAdapter.connect(
        ProviderSettings(Provider.STATESET, "http://stateset.test", Secret("k")),
        transport=httpx.MockTransport(serve),
    )
    try:
        page = await adapter.list_sessions(EVERYTHING, None, 500)
    finally:
        await adapter.aclose()
    assert asked == ["0", "100", "200"]
    assert [item.record for item in page.items] == expected(sim, EVERYTHING)
    assert (page.exhausted, page.truncated, page.total) == (True, False, SIZE)


async def test_a_scan_stops_at_scan_cap_and_says_truncated(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    query = replace(EVERYTHING, scan_cap=110)
    page = await adapter.list_sessions(query, None, 500)
    assert logged_params(sim) == [
        {"limit": ["100"], "offset": ["0"]},
        {"limit": ["10"], "offset": ["100"]},
    ]
    read = {call.id for call in sim.calls[:110]}  # the first 110 in the served order
    assert [item.record for item in page.items] == [
        record for record in expected(sim, query) if record.id in read
    ]
    assert (page.truncated, page.exhausted, page.total) == (True, False, None)


async def test_queries_that_match_nothing_ask_nothing(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    for query in (
        replace(EVERYTHING, agent_ids=()),
        replace(EVERYTHING, statuses=frozenset()),
        replace(EVERYTHING, vehicle_ids=("v1",)),
    ):
        page = await adapter.list_sessions(query, None, 5)
        assert (page.items, page.exhausted, page.total) == ((), True, 0)
    assert len(sim.log) == 0


async def test_no_configured_agent_means_every_agent(sim: StateSetSimulator) -> None:
    unscoped = connect(sim, agent_ids=())
    try:
        assert await walk(unscoped, EVERYTHING, 100) == expected(sim, EVERYTHING)
    finally:
        await unscoped.aclose()


async def test_a_foreign_position_is_bad_user_input(adapter: Adapter) -> None:
    for position in ({"page": 3}, {"started_at": "soon", "agent_id": "", "id": "x"}):
        with pytest.raises(UserInputError):
            await adapter.list_sessions(EVERYTHING, position, 5)


# --- getting ------------------------------------------------------------------------------------


async def test_a_session_is_fetched_by_its_stream_id_and_must_match_the_id(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    truth = expected_records(sim)
    unknown = SessionRef(
        Provider.STATESET, "0e0e0e0e-0000-4000-8000-000000000000", None, None, "MZ" + "0" * 32
    )
    wrong_stream = replace(truth[4].ref, lookup_key=truth[5].lookup_key)
    found = await adapter.get_sessions([truth[3].ref, unknown, wrong_stream, truth[5].ref])
    assert found == [truth[3], None, None, truth[5]]
    assert sorted(p["stream_id"][0] for p in logged_params(sim)) == sorted(
        {str(truth[3].lookup_key), str(unknown.lookup_key), str(truth[5].lookup_key)}
    )
    assert all(p["limit"] == ["100"] for p in logged_params(sim))


async def test_a_ref_without_stream_id_is_found_by_a_scan_that_stops_early(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    early = sim.calls[10].id
    found = await adapter.get_sessions([SessionRef(Provider.STATESET, early)])
    assert found == [by_id(sim)[early]]
    assert logged_params(sim) == [{"limit": ["100"], "offset": ["0"]}]


async def test_the_scan_for_a_bare_id_reads_on_until_it_is_found(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    late = sim.calls[110].id
    found = await adapter.get_sessions([SessionRef(Provider.STATESET, late)])
    assert found == [by_id(sim)[late]]
    assert logged_params(sim) == [
        {"limit": ["100"], "offset": ["0"]},
        {"limit": ["100"], "offset": ["100"]},
    ]


async def test_a_stream_id_no_vendor_could_have_made_is_refused_before_any_request(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    ref = SessionRef(
        Provider.STATESET, "550e8400-e29b-41d4-a716-446655440001", lookup_key="MZ 1&x=2"
    )
    with pytest.raises(UserInputError):
        await adapter.get_sessions([ref])
    assert len(sim.log) == 0


async def test_agents_are_configured_or_seen_on_a_session(sim: StateSetSimulator) -> None:
    scoped = connect(sim, agent_ids=("support_primary",))
    try:
        agents = await scoped.get_agents(["support_primary", "billing_line", "ghost", "a/b"])
    finally:
        await scoped.aclose()
    assert agents == [
        AgentRecord(Provider.STATESET, "support_primary"),
        AgentRecord(Provider.STATESET, "billing_line"),
        None,
        None,
    ]
    assert sorted(p["agent_key"][0] for p in logged_params(sim)) == ["billing_line", "ghost"]


# --- the vendor's error bodies and headers ------------------------------------------------------


async def test_a_short_429_is_waited_out(sim: StateSetSimulator, adapter: Adapter) -> None:
    sim.faults.error_status, sim.faults.retry_after, sim.faults.error_budget = 429, "0", 1
    page = await adapter.list_sessions(EVERYTHING, None, 5)
    assert [item.record for item in page.items] == expected(sim, EVERYTHING)[:5]
    assert [entry.status for entry in sim.log.entries] == [429, 200, 200]


async def test_a_400_is_rejected_with_the_message_of_the_vendor_body(
    sim: StateSetSimulator, adapter: Adapter
) -> None:
    sim.faults.error_status = 400
    with pytest.raises(UpstreamRejectedError, match="STATESET answered 400: bad request"):
        await adapter.list_sessions(EVERYTHING, None, 5)


async def test_a_wrong_key_reports_the_message_of_the_vendor_body(sim: StateSetSimulator) -> None:
    wrong = connect(sim, credential="stolen")
    try:
        with pytest.raises(UpstreamAuthError, match="STATESET answered 401: unauthorized"):
            await wrong.get_sessions([expected_records(sim)[0].ref])
    finally:
        await wrong.aclose()
