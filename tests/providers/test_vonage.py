"""Vonage AI Studio Insights: the simulator's faithfulness, the mapping, and the adapter's
listing (60-day slices, push-downs, native positions), getters and errors."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.adapter import Adapter
from providers.errors import (
    UpstreamAuthError,
    UpstreamProtocolError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
    UserInputError,
)
from providers.query import SessionPage, SessionQuery, SortOrder, matches, words
from providers.records import (
    Channel,
    FlowStep,
    Parameter,
    Provider,
    Recording,
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
from providers.simulators.vonage.server import VonageSimulator
from providers.vonage.adapter import VonageAdapter
from providers.vonage.mapping import MAPPED_FIELDS, session_record
from tests.oracles import expected_records

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SIZE = 100
SEARCH = "/insights/sessions"
SORT_DESC = "session_start_time:desc,agent_information.id:desc,id:desc"


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def sim() -> VonageSimulator:
    return VonageSimulator(size=SIZE, anchor=ANCHOR)


def connect(sim: VonageSimulator, agent_ids: tuple[str, ...] | None = None) -> Adapter:
    settings = ProviderSettings(
        provider=Provider.VONAGE,
        base_url=sim.base_url,
        credential=Secret(sim.api_key),
        agent_ids=sim.agent_ids() if agent_ids is None else agent_ids,
    )
    return VonageAdapter.connect(settings, transport=sim.transport())


@pytest.fixture
async def adapter(sim: VonageSimulator) -> AsyncIterator[Adapter]:
    adapter = connect(sim)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def raw(sim: VonageSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """Straight HTTP to the simulator, with its key."""
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=sim.base_url, headers={"X-Vgai-Key": sim.api_key}
    ) as client:
        yield client


def day_params(**extra: Any) -> dict[str, Any]:
    """A valid search over the 30 days before the anchor."""
    return {"from_date": "2026-10-02", "to_date": "2026-10-31", **extra}


def window(days: float, order: SortOrder = SortOrder.NEWEST_FIRST, **filters: Any) -> SessionQuery:
    return SessionQuery(
        started_after=ANCHOR - timedelta(days=days),
        started_before=ANCHOR + timedelta(minutes=1),
        order=order,
        **filters,
    )


def expected(sim: VonageSimulator, query: SessionQuery) -> list[SessionRecord]:
    kept = [record for record in expected_records(sim) if matches(record, query)]
    return sorted(kept, key=lambda r: r.sort_key, reverse=query.order is SortOrder.NEWEST_FIRST)


async def walk(adapter: Adapter, query: SessionQuery, limit: int) -> list[SessionRecord]:
    records: list[SessionRecord] = []
    page = await adapter.list_sessions(query, None, limit)
    while True:
        assert page.exhausted or len(page.items) == limit
        records += [item.record for item in page.items]
        if page.exhausted:
            return records
        page = await adapter.list_sessions(query, page.items[-1].resume, limit)


def searches(sim: VonageSimulator) -> list[dict[str, str]]:
    return [
        {name: values[0] for name, values in entry.query.items()}
        for entry in sim.log.matching(SEARCH)
        if entry.path == SEARCH
    ]


def vonage_error(status: int, message: str, error: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "error": error}


# --- the simulator: auth, parameters, limits -----------------------------------------------------


async def test_missing_or_wrong_key_gets_vonages_401(sim: VonageSimulator) -> None:
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as client:
        missing = await client.get(SEARCH, params=day_params())
        wrong = await client.get(SEARCH, params=day_params(), headers={"X-Vgai-Key": "nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json() == vonage_error(401, "Invalid API key", "Unauthorized")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from_date": "2026-10-02"}, "to_date is required"),
        ({"to_date": "2026-10-02"}, "from_date is required"),
        (
            day_params(from_date="2026-08-01", to_date="2026-10-01"),
            "the date range can't be more than 60 days",
        ),
        (
            day_params(from_date="2026-10-03", to_date="2026-10-02"),
            "from_date must not be after to_date",
        ),
        (day_params(from_date="yesterday"), "invalid date: 'yesterday'"),
        (day_params(page_size=101), "invalid parameter page_size: must be between 1 and 100"),
        (day_params(page_size=0), "invalid parameter page_size: must be between 1 and 100"),
        (day_params(page_number=-1), "invalid parameter page_number: must be at least 0"),
        (day_params(filter_by='{"must": ['), "invalid filter_by: not JSON"),
        (
            day_params(filter_by='{"filter": []}'),
            "invalid filter_by: expected must, must_not and should lists",
        ),
        (
            day_params(filter_by='{"must": [{"wildcard": {"id": "a*"}}]}'),
            "invalid filter_by: unsupported clause 'wildcard'",
        ),
        (day_params(sort_by="session_start_time:up"), "invalid sort_by: 'session_start_time:up'"),
        (day_params(project_fields="id"), "invalid project_fields: not JSON"),
    ],
)
async def test_invalid_parameters_are_401_with_a_message(
    raw: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    response = await raw.get(SEARCH, params=params)
    assert response.status_code == 401
    assert response.json() == vonage_error(401, message, "Unauthorized")


async def test_sixty_days_apart_is_allowed(raw: httpx.AsyncClient) -> None:
    response = await raw.get(SEARCH, params={"from_date": "2026-08-02", "to_date": "2026-10-01"})
    assert response.status_code == 200


async def test_literal_braces_answer_empty_encoded_ones_do_not(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    filter_by = json.dumps({"must": [{"term": {"status": "ended"}}]})
    literal = await raw.get(
        f"{SEARCH}?from_date=2026-10-02&to_date=2026-10-31&filter_by={filter_by}"
    )
    assert "{" in sim.log.entries[-1].raw_query
    assert literal.status_code == 200
    assert literal.json() == {"total": 0, "hits": [], "page_size": "10", "page_number": "0"}

    encoded = await raw.get(SEARCH, params=day_params(filter_by=filter_by))
    assert "%7B" in sim.log.entries[-1].raw_query
    assert encoded.json()["total"] > 0


async def test_pages_echo_figures_as_strings_and_end_past_total(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    in_window = [
        doc for doc in sim.documents if "2026-10-02" <= doc["session_start_time"] < "2026-11-01"
    ]
    seen: list[str] = []
    for number in range(3):
        body = (await raw.get(SEARCH, params=day_params(page_size=25, page_number=number))).json()
        assert (body["total"], body["page_size"], body["page_number"]) == (
            len(in_window),
            "25",
            str(number),
        )
        seen += [hit["id"] for hit in body["hits"]]
    assert 25 < len(in_window) < 50 and body["hits"] == []  # page 2 is past the end: a 200
    # No sort_by: storage order, which is not the order of start times.
    assert seen == [doc["id"] for doc in in_window]
    assert seen != [doc["id"] for doc in sorted(in_window, key=lambda d: d["session_start_time"])]

    default_page = (await raw.get(SEARCH, params=day_params())).json()
    assert (len(default_page["hits"]), default_page["page_size"]) == (10, "10")


async def test_nothing_matching_is_404(raw: httpx.AsyncClient) -> None:
    response = await raw.get(SEARCH, params={"from_date": "2026-12-01", "to_date": "2026-12-31"})
    assert response.status_code == 404
    assert response.json() == vonage_error(404, "No sessions found", "Not Found")


async def test_to_date_is_inclusive_and_a_bare_day_is_the_whole_day(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    doc = max(sim.documents, key=lambda d: d["session_start_time"])
    start = doc["session_start_time"]
    term = json.dumps({"must": [{"term": {"id": doc["id"]}}]})

    async def found(from_date: str, to_date: str) -> bool:
        params = {"from_date": from_date, "to_date": to_date, "filter_by": term}
        return (await raw.get(SEARCH, params=params)).status_code == 200

    assert await found(start[:10], start[:10])
    assert await found("2026-10-01", start)
    before = (datetime.fromisoformat(start) - timedelta(microseconds=1)).isoformat()
    assert not await found("2026-10-01", before)


async def test_sort_by_is_multi_key_and_ties_follow_the_next_keys(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    params = day_params(from_date="2026-09-02", to_date="2026-11-01", page_size=100)
    body = (await raw.get(SEARCH, params={**params, "sort_by": SORT_DESC})).json()
    keys = [(h["session_start_time"], h["agent_information"]["id"], h["id"]) for h in body["hits"]]
    assert keys == sorted(keys, reverse=True)
    assert len({start for start, _, _ in keys}) < len(keys)  # the data holds ties

    by_agent = "agent_information.id:asc,session_start_time:asc"
    body = (await raw.get(SEARCH, params={**params, "sort_by": by_agent})).json()
    agent_keys = [(h["agent_information"]["id"], h["session_start_time"]) for h in body["hits"]]
    assert agent_keys == sorted(agent_keys)


async def test_project_fields_returns_only_those_paths_nested(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    doc = next(d for d in sim.documents if d["status"] == "ended" and d["channel"] == "telephony")
    params = day_params(
        from_date=doc["session_start_time"][:10],
        to_date=doc["session_start_time"][:10],
        filter_by=json.dumps({"must": [{"term": {"id": doc["id"]}}]}),
        project_fields=json.dumps(["agent_information.name", "channel_data", "flow_path.type"]),
    )
    (hit,) = (await raw.get(SEARCH, params=params)).json()["hits"]
    assert hit == {
        "agent_information": {"name": doc["agent_information"]["name"]},
        "channel_data": doc["channel_data"],
        "flow_path": [{"type": node["type"]} for node in doc["flow_path"]],
    }


async def test_filter_clauses_behave_like_elasticsearch(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    in_window = [d for d in sim.documents if "2026-09-02" <= d["session_start_time"] < "2026-11-01"]

    async def ids(filter_by: dict[str, Any]) -> set[str]:
        params: dict[str, Any] = {"from_date": "2026-09-02", "to_date": "2026-10-31"}
        params["page_size"] = 100
        response = await raw.get(SEARCH, params={**params, "filter_by": json.dumps(filter_by)})
        return (
            {hit["id"] for hit in response.json()["hits"]} if response.status_code == 200 else set()
        )

    def where(test: Any) -> set[str]:
        return {doc["id"] for doc in in_window if test(doc)}

    def user_words(doc: dict[str, Any]) -> set[str]:
        return set(words(" ".join(turn.get("user", "") for turn in doc["transcription"])))

    sample = in_window[0]
    # term matches any element of a list field
    request_id = sample["request_ids"][-1]
    assert await ids({"must": [{"term": {"request_ids": request_id}}]}) == {sample["id"]}
    refunds = where(lambda d: any(t["tag"] == "refund" for t in d["tags_list"]))
    assert refunds and await ids({"must": [{"term": {"tags_list.tag": "refund"}}]}) == refunds
    assert await ids({"must": [{"term": {"tags_list.tag": "Refund"}}]}) == set()  # exact
    # match: case-insensitive OR of words, on the caller's lines only for transcription.user
    said = where(lambda d: bool({"twice", "appointment"} & user_words(d)))
    asked = {"must": [{"match": {"transcription.user": "TWICE Appointment"}}]}
    assert said and await ids(asked) == said
    anyone = where(lambda d: any("refunded" in " ".join(t.values()) for t in d["transcription"]))
    assert anyone and await ids({"must": [{"match": {"transcription.*": "refunded"}}]}) == anyone
    # match does nothing on ID fields
    assert await ids({"must": [{"match": {"source": sample["source"] or "1"}}]}) == set()
    # should needs one hit; must_not excludes
    chats = where(lambda d: d["channel"] in ("whatsapp", "http"))
    should = [{"term": {"channel": "whatsapp"}}, {"term": {"channel": "http"}}]
    assert await ids({"should": should}) == chats
    assert await ids({"must_not": [{"terms": {"channel": ["whatsapp", "http"]}}]}) == where(
        lambda d: d["id"] not in chats
    )
    failed = where(lambda d: d["channel_data"]["status_code"] == 200)
    assert failed and await ids({"must": [{"term": {"channel_data.status_code": 200}}]}) == failed
    # range on the start time, a bare day rounded the ES way (lte: through the end of the day)
    october = where(lambda d: d["session_start_time"] >= "2026-10-01")
    span = {"gte": "2026-10-01", "lte": "2026-10-31"}
    assert await ids({"must": [{"range": {"session_start_time": span}}]}) == october


async def test_get_session_is_scoped_to_a_day(sim: VonageSimulator, raw: httpx.AsyncClient) -> None:
    doc = sim.documents[0]
    path = f"{SEARCH}/{doc['id']}/parameters"
    start = doc["session_start_time"]
    by_day = await raw.get(path, params={"session_start_time": start[:10]})
    by_time = await raw.get(path, params={"session_start_time": "T".join([start[:10], "08:09:43"])})
    assert by_day.json() == doc and by_time.json() == doc

    other_day = (datetime.fromisoformat(start) + timedelta(days=1)).date().isoformat()
    wrong = await raw.get(path, params={"session_start_time": other_day})
    assert (wrong.status_code, wrong.json()) == (
        404,
        vonage_error(404, "Session not found", "Not Found"),
    )
    missing = await raw.get(path)
    assert missing.status_code == 401
    assert missing.json() == vonage_error(401, "session_start_time is required", "Unauthorized")


async def test_search_finds_any_day_and_delete_removes(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    doc = sim.documents[3]
    assert (await raw.get(f"{SEARCH}/search/{doc['id']}")).json() == doc
    assert (await raw.get(f"{SEARCH}/search/unknown-id")).status_code == 404

    day = {"session_start_time": doc["session_start_time"][:10]}
    deleted = await raw.delete(f"{SEARCH}/{doc['id']}", params=day)
    assert deleted.status_code == 204
    assert (await raw.get(f"{SEARCH}/search/{doc['id']}")).status_code == 404
    assert len(expected_records(sim)) == SIZE - 1
    assert (await raw.delete(f"{SEARCH}/{doc['id']}", params=day)).status_code == 404


async def test_dataset_looks_like_insights(sim: VonageSimulator) -> None:
    truth = expected_records(sim)
    assert Counter(r.status for r in truth) == {
        SessionStatus.COMPLETED: 91,
        SessionStatus.FAILED: 8,
        SessionStatus.ACTIVE: 1,
    }
    assert {r.raw_channel for r in truth} == {"telephony", "whatsapp", "http"}
    assert {r.agent_id for r in truth} == set(sim.agent_ids()) and len(sim.agent_ids()) == 4
    for doc, record in zip(sim.documents, truth, strict=True):
        assert len(doc["session_start_time"]) == len("2026-10-08T17:09:27.758983")
        versions = {doc["agent_information"]["version_id"], "user"}
        assert {key for turn in doc["transcription"] for key in turn} == versions
        assert ANCHOR - timedelta(days=89) <= record.started_at < ANCHOR
        if record.status is SessionStatus.ACTIVE:
            assert ANCHOR - record.started_at < timedelta(hours=1)
            assert record.duration_ms is None and record.ended_at is None
        else:
            assert record.ended_at is not None and record.ended_at < ANCHOR
    recordings = [
        (ANCHOR - r.ended_at < timedelta(hours=1), r.details.recording is None)
        for r in truth
        if r.raw_channel == "telephony" and r.ended_at is not None and r.details
    ]
    assert set(recordings) == {(True, True), (False, False)}  # null only just after the call
    tool_statuses = {call.status for r in truth if r.details for call in r.details.tool_calls}
    assert tool_statuses == {ToolCallStatus.SUCCESS, ToolCallStatus.ERROR}


# --- the mapping ---------------------------------------------------------------------------------

AGENT_VERSION = "5f7f2f337340dc7249f81406"
SESSION_ID = "8ae433e8-7bc1-41a0-b0a6-0cccc30cbc36"
CATEGORY = "ddbc05ccbc48431d898104ac5e5b561a"

# Seed 003's example document, shortened, with a webhook node added (Insights' tool call).
SEED_DOCUMENT: dict[str, Any] = {
    "transcription": [
        {AGENT_VERSION: "sup?"},
        {AGENT_VERSION: "name?"},
        {"user": "Benjamin"},
        {AGENT_VERSION: "shut up Benjamin"},
    ],
    "account_id": "5f7f277cf090a7001116fabe",
    "api_key": "N/A",
    "status": "ended",
    "id": SESSION_ID,
    "language": "en-US",
    "tags": {CATEGORY: {"two": 1, "one": 1, "three": 2}},
    "params": {"name": {"completed": True, "value": "Benjamin"}},
    "tags_list": [
        {"count": 1, "tag": "two", "category": CATEGORY},
        {"count": 1, "tag": "one", "category": CATEGORY},
        {"count": 2, "tag": "three", "category": CATEGORY},
    ],
    "params_list": [
        {
            "value_text": "Benjamin",
            "name": "name",
            "completed": True,
            "type": "sys.names",
            "value": "Benjamin",
        }
    ],
    "agent_information": {
        "version_id": AGENT_VERSION,
        "id": "5f7f2e60a6034c9b5c79d16c",
        "name": "oriprod2",
        "voice": "Salli",
        "language": "en-US",
    },
    "source": "9720014044002502",
    "destination": "972523656841",
    "channel": "voice",
    "session_start_time": "2020-10-08T17:09:27.758983",
    "request_ids": ["759a8938-c296-4ff5-9ec9-d3f0267893f9", "db2a0259-92fa-4067-a50c-728689276c58"],
    "channel_data": {
        "duration": 27000,
        "audio_url": f"5f7f277cf090a7001116fabe/{AGENT_VERSION}/{SESSION_ID}.mp3",
        "call_status": "ended",
        "status_code": 200,
    },
    "flow_path": [
        {
            "node_id": "5f7f2e60a6034c9b5c79d16b",
            "type": "start",
            "context": {
                "status": {"code": 200, "message": ""},
                "output": None,
                "user_input": "",
                "url": "",
            },
            "tags": [],
            "execution_time": 0,
            "synchronized": True,
            "request_id": "759a8938-c296-4ff5-9ec9-d3f0267893f9",
            "request": {"payload": "", "headers": "", "verb": "POST", "url": ""},
            "response": {"payload": "", "code": 200},
        },
        {
            "synchronized": True,
            "request": {
                "headers": '{"Content-Type": "application/json"}',
                "payload": '{"text": "sup?"}',
                "verb": "POST",
                "url": "http://telephony-connector.ai.vonage.com/api/actions/speak",
            },
            "response": {
                "code": 201,
                "payload": '{"message": "Succesfully registered SPEAK action"}',
            },
            "context": {"url": "http://telephony-connector.ai.vonage.com/api/actions/speak"},
            "type": "speak",
            "request_id": "759a8938-c296-4ff5-9ec9-d3f0267893f9",
            "node_id": "5f7f2e689ce1d4ecd57793c5",
            "tags": [{"tag": "two", "category": CATEGORY}],
            "execution_time": 168,
        },
        {
            "request": {
                "payload": '{"name": "Benjamin"}',
                "url": "https://crm.example.com/hooks/find_customer",
            },
            "response": {"code": 500, "payload": "upstream exploded"},
            "context": {"url": "", "status": {"code": 500, "message": ""}},
            "type": "webhook",
            "request_id": "db2a0259-92fa-4067-a50c-728689276c58",
            "node_id": "5f7f2eca35e7e1a6c42754e0",
            "tags": [],
            "execution_time": 731,
            "unknown_field": {"ignored": True},
        },
    ],
}


def test_maps_the_seed_example_document() -> None:
    started = datetime(2020, 10, 8, 17, 9, 27, 758983, tzinfo=UTC)
    assert session_record(SEED_DOCUMENT) == SessionRecord(
        provider=Provider.VONAGE,
        id=SESSION_ID,
        status=SessionStatus.FAILED,  # ended with status_code 200: "erroneous"
        raw_status="ended",
        started_at=started,
        agent_id="5f7f2e60a6034c9b5c79d16c",
        agent_name="oriprod2",
        ended_at=started + timedelta(seconds=27),
        duration_ms=27000,
        channel=Channel.VOICE,
        raw_channel="voice",
        caller="9720014044002502",
        callee="972523656841",
        tags=(Tag("two", CATEGORY, 1), Tag("one", CATEGORY, 1), Tag("three", CATEGORY, 2)),
        parameters=(Parameter("name", "Benjamin", "sys.names"),),
        metadata={"language": "en-US", "agent_version_id": AGENT_VERSION},
        details=SessionDetails(
            transcript=(
                TranscriptTurn(Speaker.AGENT, "sup?", AGENT_VERSION),
                TranscriptTurn(Speaker.AGENT, "name?", AGENT_VERSION),
                TranscriptTurn(Speaker.USER, "Benjamin", "user"),
                TranscriptTurn(Speaker.AGENT, "shut up Benjamin", AGENT_VERSION),
            ),
            tool_calls=(
                ToolCall(
                    name="find_customer",
                    arguments={"name": "Benjamin"},
                    output="upstream exploded",
                    status=ToolCallStatus.ERROR,
                    error="upstream exploded",
                    duration_ms=731,
                ),
            ),
            flow_steps=(
                FlowStep(
                    "5f7f2e60a6034c9b5c79d16b",
                    "start",
                    "759a8938-c296-4ff5-9ec9-d3f0267893f9",
                    0,
                    200,
                ),
                FlowStep(
                    "5f7f2e689ce1d4ecd57793c5",
                    "speak",
                    "759a8938-c296-4ff5-9ec9-d3f0267893f9",
                    168,
                    201,
                    "http://telephony-connector.ai.vonage.com/api/actions/speak",
                    ("two",),
                ),
                FlowStep(
                    "5f7f2eca35e7e1a6c42754e0",
                    "webhook",
                    "db2a0259-92fa-4067-a50c-728689276c58",
                    731,
                    500,
                    "https://crm.example.com/hooks/find_customer",
                ),
            ),
            recording=Recording(f"5f7f277cf090a7001116fabe/{AGENT_VERSION}/{SESSION_ID}.mp3"),
        ),
    )


@pytest.mark.parametrize(
    ("status", "status_code", "expected_status"),
    [
        ("in_progress", 0, SessionStatus.ACTIVE),
        ("in_progress", 200, SessionStatus.ACTIVE),
        ("ended", 0, SessionStatus.COMPLETED),
        ("ended", 100, SessionStatus.COMPLETED),
        ("ended", None, SessionStatus.COMPLETED),
        ("ended", 200, SessionStatus.FAILED),
        ("archived", 0, SessionStatus.UNKNOWN),
    ],
)
def test_status_reads_status_and_status_code(
    status: str, status_code: int | None, expected_status: SessionStatus
) -> None:
    doc = {**SEED_DOCUMENT, "status": status, "channel_data": {"status_code": status_code}}
    record = session_record(doc)
    assert (record.status, record.raw_status) == (expected_status, status)


def test_mapping_tolerates_missing_empty_and_null_fields() -> None:
    record = session_record(
        {
            "id": "s-1",
            "session_start_time": "2026-10-01T10:00:00.500000",
            "status": "",
            "channel": "sms",
            "source": "",
            "destination": None,
            "agent_information": {"id": "", "name": None},
            "channel_data": {"duration": "", "audio_url": None},
            "transcription": [{"user": ""}, {"v1": "hello"}],
            "tags_list": [{"tag": "vip"}],
            "params_list": [{"name": "email", "value": ""}],
            "flow_path": [{"node_id": "n1"}],
        }
    )
    assert record == SessionRecord(
        provider=Provider.VONAGE,
        id="s-1",
        status=SessionStatus.UNKNOWN,
        raw_status="",
        started_at=datetime(2026, 10, 1, 10, 0, 0, 500000, tzinfo=UTC),
        channel=Channel.OTHER,
        raw_channel="sms",
        tags=(Tag("vip"),),
        parameters=(Parameter("email", None),),
        details=SessionDetails(
            transcript=(TranscriptTurn(Speaker.AGENT, "hello", "v1"),),
            flow_steps=(FlowStep("n1", "unknown"),),
        ),
    )


async def test_a_hit_of_the_wrong_shape_is_a_protocol_error(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    newest = max(sim.documents, key=lambda d: d["session_start_time"])
    newest["transcription"] = "not a list"
    with pytest.raises(UpstreamProtocolError):
        await adapter.list_sessions(window(10), None, 5)

    sim.faults.malformed_rate = 1.0
    with pytest.raises(UpstreamProtocolError):
        await adapter.list_sessions(window(10), None, 5)


# --- the adapter: listing ------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("limit", [1, 7, 40, 100])
async def test_walking_returns_the_ground_truth_in_order(
    sim: VonageSimulator, adapter: Adapter, order: SortOrder, limit: int
) -> None:
    query = window(95, order)  # two 60-day slices
    records = await walk(adapter, query, limit)
    assert records == expected(sim, query)
    assert len({r.id for r in records}) == SIZE
    assert len({r.started_at for r in records}) < SIZE  # ties were ordered by agent, then id


async def test_walking_a_filtered_query(sim: VonageSimulator, adapter: Adapter) -> None:
    query = window(
        95,
        SortOrder.OLDEST_FIRST,
        statuses=frozenset({SessionStatus.COMPLETED}),
        channels=frozenset({Channel.VOICE, Channel.CHAT}),
    )
    records = await walk(adapter, query, 6)
    assert records == expected(sim, query) and len(records) > 30


async def test_slices_are_walked_in_the_query_order_and_do_not_overlap(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    query = window(95)
    await walk(adapter, query, 100)
    start = ANCHOR - timedelta(days=95)
    end = ANCHOR + timedelta(minutes=1)
    middle = end - timedelta(days=60)
    slices = [(s["from_date"], s["to_date"]) for s in searches(sim)]
    iso = [t.replace(tzinfo=None).isoformat(timespec="microseconds") for t in (start, middle, end)]
    assert slices == [(iso[1], iso[2]), (iso[0], iso[1])]  # newest slice first
    ranges = [json.loads(s["filter_by"])["must"][0] for s in searches(sim)]
    assert ranges == [
        {"range": {"session_start_time": {"gte": iso[1], "lt": iso[2]}}},
        {"range": {"session_start_time": {"gte": iso[0], "lt": iso[1]}}},
    ]


async def test_pages_ask_only_for_what_is_needed(sim: VonageSimulator, adapter: Adapter) -> None:
    query = window(30)
    first = await adapter.list_sessions(query, None, 10)
    second = await adapter.list_sessions(query, first.items[-1].resume, 10)
    assert [(s["page_number"], s["page_size"]) for s in searches(sim)] == [("0", "10"), ("1", "10")]
    assert [i.record for i in first.items + second.items] == expected(sim, query)[:20]
    sim.log.clear()

    everything = await adapter.list_sessions(query, None, 100)
    assert everything.exhausted and len(everything.items) == everything.total
    assert [(s["page_number"], s["page_size"]) for s in searches(sim)] == [("0", "100")]


async def test_a_fresh_adapter_resumes_from_a_position(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    query = window(95, SortOrder.OLDEST_FIRST)
    first = await adapter.list_sessions(query, None, 13)
    position = json.loads(json.dumps(first.items[-1].resume))  # through a cursor and back
    assert position == {
        "slice": first.items[-1].resume["slice"],
        "page": 0,
        "size": 13,
        "index": 12,
    }

    sim.log.clear()
    other = connect(sim)
    try:
        resumed = await other.list_sessions(query, position, 13)
    finally:
        await other.aclose()
    assert [i.record for i in resumed.items] == expected(sim, query)[13:26]
    assert [(s["page_number"], s["page_size"]) for s in searches(sim)] == [("1", "13")]


async def test_resuming_mid_page_with_another_limit_takes_one_call(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    query = window(30)
    first = await adapter.list_sessions(query, None, 5)
    sim.log.clear()
    resumed = await adapter.list_sessions(query, first.items[2].resume, 20)
    assert [i.record for i in resumed.items] == expected(sim, query)[3:23]
    assert [(s["page_number"], s["page_size"]) for s in searches(sim)] == [("0", "23")]


@pytest.mark.parametrize(
    "position",
    [
        {"slice": "2020-01-01T00:00:00.000000", "page": 0, "size": 10, "index": 0},
        {"slice": "x", "page": -1, "size": 10, "index": 0},
        {"slice": "x", "page": 0, "size": 101, "index": 0},
        {"slice": "x", "page": 0, "size": 10, "index": 10},
        {"page": 0},
        ["not", "a", "mapping"],
    ],
)
async def test_a_foreign_position_is_refused(
    sim: VonageSimulator, adapter: Adapter, position: Any
) -> None:
    with pytest.raises(UserInputError):
        await adapter.list_sessions(window(30), position, 10)
    assert len(sim.log) == 0


async def test_push_downs_reach_the_vendor_encoded(sim: VonageSimulator, adapter: Adapter) -> None:
    target = next(
        r
        for r in sorted(expected_records(sim), key=lambda r: r.started_at, reverse=True)
        if r.raw_channel == "telephony" and any(t.name == "delay" for t in r.tags)
    )
    assert target.caller is not None and target.agent_id is not None
    query = window(
        30,
        agent_ids=(target.agent_id,),
        statuses=frozenset({SessionStatus.COMPLETED, SessionStatus.FAILED}),
        channels=frozenset({Channel.VOICE}),
        tags=("Delay",),
        phone_number=f"+{target.caller[:1]} ({target.caller[1:4]}) {target.caller[4:]}",
        text="Reroute me",
    )
    page = await adapter.list_sessions(query, None, 10)
    assert [i.record for i in page.items] == [target] == expected(sim, query)
    assert page.exhausted and page.total is None  # tags and text are not exact push-downs

    (entry,) = sim.log.matching(SEARCH)
    assert "{" not in entry.raw_query and "%7B" in entry.raw_query
    sent = {name: values[0] for name, values in entry.query.items()}
    assert sent["sort_by"] == SORT_DESC
    assert json.loads(sent["project_fields"]) == list(MAPPED_FIELDS)
    must = json.loads(sent["filter_by"])["must"][1:]
    assert must == [
        {"term": {"agent_information.id": target.agent_id}},
        {"term": {"status": "ended"}},
        {"terms": {"channel": ["telephony", "voice"]}},
        {"terms": {"tags_list.tag": ["DELAY", "Delay", "delay"]}},
        {"match": {"transcription.*": "reroute"}},
        {"match": {"transcription.*": "me"}},
    ]
    assert json.loads(sent["filter_by"])["should"] == [
        {"terms": {"source": [target.caller, f"+{target.caller}"]}},
        {"terms": {"destination": [target.caller, f"+{target.caller}"]}},
    ]
    assert "must_not" not in json.loads(sent["filter_by"])


@pytest.mark.parametrize(
    ("statuses", "must", "must_not", "exact"),
    [
        ({SessionStatus.ACTIVE}, [{"term": {"status": "in_progress"}}], None, True),
        (
            {SessionStatus.FAILED},
            [{"term": {"status": "ended"}}, {"term": {"channel_data.status_code": 200}}],
            None,
            True,
        ),
        (
            {SessionStatus.COMPLETED},
            [{"term": {"status": "ended"}}],
            [{"term": {"channel_data.status_code": 200}}],
            True,
        ),
        (
            {SessionStatus.ACTIVE, SessionStatus.FAILED},
            [{"terms": {"status": ["ended", "in_progress"]}}],
            None,
            False,
        ),
        ({SessionStatus.UNKNOWN}, [], None, False),
    ],
)
async def test_status_push_downs(
    sim: VonageSimulator,
    adapter: Adapter,
    statuses: set[SessionStatus],
    must: list[dict[str, Any]],
    must_not: list[dict[str, Any]] | None,
    exact: bool,
) -> None:
    query = window(30, statuses=frozenset(statuses))
    page = await adapter.list_sessions(query, None, 100)
    assert [i.record for i in page.items] == expected(sim, query)
    assert page.total == (len(page.items) if exact else None)
    sent = [json.loads(s["filter_by"]) for s in searches(sim)]
    assert sent[0]["must"][2:] == must  # after the window and the configured agents
    assert sent[0].get("must_not") == must_not


async def test_local_filters_finish_what_the_vendor_cannot_answer(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    other = await adapter.list_sessions(window(95, channels=frozenset({Channel.OTHER})), None, 5)
    assert (other.items, other.exhausted, other.total) == ((), True, None)
    assert all("channel" not in s["filter_by"] for s in searches(sim))

    sim.documents[0]["channel"] = "sms"
    sms = expected_records(sim)[0]
    other = await adapter.list_sessions(window(95, channels=frozenset({Channel.OTHER})), None, 5)
    assert [i.record for i in other.items] == [sms]


async def test_total_is_the_vendors_only_for_one_exact_slice(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    one_slice = await adapter.list_sessions(window(30), None, 5)
    assert one_slice.total == len(expected(sim, window(30))) == 35
    assert not one_slice.exhausted
    voice = window(30, channels=frozenset({Channel.VOICE}))
    assert (await adapter.list_sessions(voice, None, 5)).total == len(expected(sim, voice))
    two_slices = await adapter.list_sessions(window(95), None, 5)
    assert two_slices.total is None
    worded = await adapter.list_sessions(window(30, text="refund"), None, 5)
    assert worded.total is None


async def test_impossible_filters_ask_nothing(sim: VonageSimulator, adapter: Adapter) -> None:
    for query in (
        window(30, statuses=frozenset()),
        window(30, channels=frozenset()),
        window(30, agent_ids=()),
        replace(window(30), started_after=ANCHOR, started_before=ANCHOR),
    ):
        assert await adapter.list_sessions(query, None, 5) == SessionPage((), True, total=0)
    assert len(sim.log) == 0


async def test_configured_agents_scope_the_list(sim: VonageSimulator) -> None:
    agent = sim.agent_ids()[1]
    scoped, unscoped = connect(sim, (agent,)), connect(sim, ())
    try:
        mine = await walk(scoped, window(95), 100)
        everyone = await walk(unscoped, window(95), 100)
    finally:
        await scoped.aclose()
        await unscoped.aclose()
    assert mine == expected(sim, window(95, agent_ids=(agent,)))
    assert len(everyone) == SIZE
    filters = [json.loads(s["filter_by"])["must"] for s in searches(sim)]
    assert filters[0][1] == {"term": {"agent_information.id": agent}}
    assert all(len(must) == 1 for must in filters[2:])  # only the window: no agent clause


async def test_a_window_with_nothing_in_it_is_empty_not_an_error(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    future = SessionQuery(ANCHOR + timedelta(days=1), ANCHOR + timedelta(days=2))
    assert await adapter.list_sessions(future, None, 5) == SessionPage((), True, total=0)
    assert [entry.status for entry in sim.log.entries] == [404]


# --- the adapter: getting ------------------------------------------------------------------------


async def test_get_sessions_by_day_or_by_search(sim: VonageSimulator, adapter: Adapter) -> None:
    truth = {r.id: r for r in expected_records(sim)}
    known, other = expected_records(sim)[:2]
    refs = [
        known.ref,
        SessionRef(Provider.VONAGE, "no-such-session", started_at=known.started_at),
        replace(other.ref, started_at=None),
        replace(other.ref, started_at=other.started_at - timedelta(days=2)),
    ]
    assert await adapter.get_sessions(refs) == [truth[known.id], None, truth[other.id], None]
    requests = sorted((e.path, e.raw_query) for e in sim.log.entries)
    day = known.started_at.date().isoformat()
    wrong_day = (other.started_at - timedelta(days=2)).date().isoformat()
    assert requests == sorted(
        [
            (f"{SEARCH}/{known.id}/parameters", f"session_start_time={day}"),
            (f"{SEARCH}/no-such-session/parameters", f"session_start_time={day}"),
            (f"{SEARCH}/search/{other.id}", ""),
            (f"{SEARCH}/{other.id}/parameters", f"session_start_time={wrong_day}"),
        ]
    )


async def test_get_sessions_refuses_ids_that_are_not_vonages(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    for bad in ("../insights", "a b", "", "x/parameters"):
        with pytest.raises(UserInputError):
            await adapter.get_sessions([SessionRef(Provider.VONAGE, bad)])
    assert len(sim.log) == 0


# --- the adapter: errors -------------------------------------------------------------------------


async def test_a_bad_key_is_an_auth_error(sim: VonageSimulator) -> None:
    settings = ProviderSettings(Provider.VONAGE, sim.base_url, Secret("wrong"))
    adapter = VonageAdapter.connect(settings, transport=sim.transport())
    try:
        with pytest.raises(UpstreamAuthError) as raised:
            await adapter.list_sessions(window(30), None, 5)
    finally:
        await adapter.aclose()
    assert raised.value.message == "VONAGE answered 401: Invalid API key"


async def test_a_401_for_parameters_is_a_rejected_request(adapter: Adapter) -> None:
    with pytest.raises(UpstreamRejectedError) as raised:
        await adapter.client.get_json(SEARCH, {"from_date": "2026-10-01"})
    assert raised.value.message == "VONAGE answered 401: to_date is required"
    assert raised.value.status == 401


def test_read_error_tolerates_other_bodies() -> None:
    plain = httpx.Response(401, text="Unauthorized")
    listed = httpx.Response(401, json={"statusCode": 401, "message": ["a", "b"], "error": "x"})
    assert VonageAdapter.read_error(plain) == ("Unauthorized", None)
    assert VonageAdapter.read_error(listed) == ("a; b", UpstreamRejectedError)


async def test_unavailable_is_retried_then_reported(sim: VonageSimulator, adapter: Adapter) -> None:
    sim.faults.error_status = 503
    with pytest.raises(UpstreamUnavailableError):
        await adapter.list_sessions(window(30), None, 5)
    assert [e.status for e in sim.log.entries] == [503, 503, 503]

    sim.log.clear()
    sim.faults.error_budget = 1
    page = await adapter.list_sessions(window(30), None, 5)
    assert len(page.items) == 5 and [e.status for e in sim.log.entries] == [503, 200]


async def test_a_long_retry_after_surfaces_at_once(sim: VonageSimulator, adapter: Adapter) -> None:
    sim.faults.error_status = 429
    sim.faults.retry_after = "5"
    with pytest.raises(UpstreamRateLimitedError) as raised:
        await adapter.get_sessions([expected_records(sim)[0].ref])
    assert raised.value.retry_after == 5.0
    assert len(sim.log) == 1
