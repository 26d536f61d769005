"""Vonage AI Studio Insights quirks: the simulator against vendors.md §4 and seed 003, the mapping
of hand-written vendor JSON, and the adapter's 60-day slices, push-downs, native positions,
day-scoped getters and 401-for-parameters. What every adapter shares (walk order, batch getters,
bad ids, error statuses, retries, timeouts) is in test_contract.py; expected records come from
tests/oracles/vonage.py (the simulator's model), never from the mapper."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.adapter import Adapter
from providers.errors import UpstreamProtocolError, UpstreamRejectedError, UserInputError
from providers.query import SessionPage, SessionQuery, SortOrder
from providers.records import (
    Channel,
    FlowStep,
    Parameter,
    Provider,
    SessionDetails,
    SessionRecord,
    SessionRef,
    SessionStatus,
    Speaker,
    Tag,
    TranscriptTurn,
)
from providers.simulators.vonage.documents import LIGHT_PATHS, render
from providers.simulators.vonage.elastic import analyze, compile_filter, values
from providers.simulators.vonage.server import VonageSimulator
from providers.vonage.adapter import VonageAdapter
from providers.vonage.mapping import MAPPED_FIELDS, session_record
from tests.oracles import expected_records
from tests.support import connect, expected, ids, walk

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SIZE = 100
SEARCH = "/insights/sessions"
SORT_DESC = "session_start_time:desc,agent_information.id:desc,id:desc"


# --- fixtures and helpers ----------------------------------------------------------------------


def simulator(seed: int = 1) -> VonageSimulator:
    return VonageSimulator(size=SIZE, seed=seed, anchor=ANCHOR, clock=lambda: ANCHOR)


@pytest.fixture
def sim() -> VonageSimulator:
    return simulator()


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


def searches(sim: VonageSimulator) -> list[dict[str, str]]:
    return [
        {name: values[0] for name, values in entry.query.items()}
        for entry in sim.log.matching(SEARCH)
        if entry.path == SEARCH
    ]


def vonage_error(status: int, message: str, error: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "error": error}


def naive(moment: datetime) -> str:
    """Insights' time format, written out for the tests: naive UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


# --- the simulator: its model and how it spells it ----------------------------------------------


def test_dataset_looks_like_insights(sim: VonageSimulator) -> None:
    sessions = sim.sessions
    ended = [s for s in sessions if not s.running]
    assert len(sessions) - len(ended) == 2
    assert Counter(s.status_code for s in ended) == {0: 78, 100: 8, 200: 12}
    assert {s.channel for s in sessions} == {"telephony", "whatsapp", "http"}
    assert {s.agent.id for s in sessions} == set(sim.agent_ids()) and len(sim.agent_ids()) == 4
    assert len({s.started_at for s in sessions}) < SIZE  # ties on the very same microsecond
    for session in sessions:
        assert ANCHOR - timedelta(days=89) <= session.started_at < ANCHOR
        assert (session.caller is None) == (session.callee is None) == (session.channel == "http")
        if session.running:
            assert ANCHOR - session.started_at < timedelta(hours=1)
            assert session.duration_ms is None and session.ended_at is None
        else:
            assert session.ended_at is not None and session.ended_at < ANCHOR
        if any(call.error for call in session.webhooks):
            assert session.status_code == 200  # a failed webhook makes the session erroneous
    outcomes = {call.error is None for s in sessions for call in s.webhooks}
    assert outcomes == {True, False}


def test_a_recording_is_published_an_hour_after_the_call() -> None:
    # A thousand sessions: enough calls that ended within the last hour.
    sim = VonageSimulator(size=1000, seed=1, anchor=ANCHOR, clock=lambda: ANCHOR)
    recordings = {
        (ANCHOR - s.ended_at < timedelta(hours=1), s.recording is None)
        for s in sim.sessions
        if s.channel == "telephony" and s.ended_at is not None
    }
    assert recordings == {(True, True), (False, False)}  # null only just after the call


def test_documents_spell_the_model_the_insights_way(sim: VonageSimulator) -> None:
    """Seed 003: a naive start with microseconds, numbers as bare digits, the caller speaking as
    `user` and the agent under its version id, the duration in ms, tags and parameters three
    ways, `audio_url` null until the recording is published."""
    assert len(sim.documents) == len(sim.sessions)
    for doc, session in zip(sim.documents, sim.sessions, strict=True):
        agent = session.agent
        assert doc["id"] == session.id
        assert doc["session_start_time"] == naive(session.started_at)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", doc["session_start_time"])
        assert doc["status"] == doc["channel_data"]["call_status"]
        assert doc["status"] == ("in_progress" if session.running else "ended")
        assert doc["channel_data"]["status_code"] == session.status_code
        assert doc["channel_data"].get("duration") == session.duration_ms
        assert doc["source"] == (session.caller or "").removeprefix("+")
        assert doc["destination"] == (session.callee or "").removeprefix("+")
        assert doc["agent_information"]["id"] == agent.id
        said = [
            ({"user"} if t.role == "user" else {agent.version_id}, t.text) for t in session.turns
        ]
        assert [(set(turn), *turn.values()) for turn in doc["transcription"]] == said
        assert {t["tag"]: t["count"] for t in doc["tags_list"]} == {
            t.tag: t.count for t in session.tags
        }
        collected = Counter(t["tag"] for t in doc["flow_data"]["collected_tags"])
        assert collected == {t.tag: t.count for t in session.tags}
        assert {p["name"]: p["value"] for p in doc["params_list"]} == {
            name: entry["value"] for name, entry in doc["params"].items()
        }
        if session.channel == "telephony" and not session.running:
            assert doc["channel_data"]["audio_url"] == session.recording
        else:
            assert "audio_url" not in doc["channel_data"]
        webhooks = [node for node in doc["flow_path"] if node["type"] == "webhook"]
        assert [json.loads(node["request"]["payload"]) for node in webhooks] == [
            call.arguments for call in session.webhooks
        ]


def test_the_model_is_seeded_and_the_keys_come_from_it() -> None:
    first, again = simulator(), simulator()
    assert first.sessions == again.sessions
    # The talk is generated when read, each session from its own seed: the same whatever the
    # order sessions are read in.
    assert [s.talk for s in first.sessions] == [s.talk for s in reversed(again.sessions)][::-1]
    assert list(first.documents) == list(again.documents)
    assert [(k.id, k.agent_id, k.started_at) for k in first.session_keys()] == [
        (s.id, s.agent.id, s.started_at) for s in first.sessions
    ]
    assert simulator(seed=2).sessions != first.sessions


def test_rendered_documents_are_kept_up_to_a_limit() -> None:
    sim = simulator()
    sim.rendered_limit = 10
    sim.documents[0]["channel"] = "sms"  # a change a test makes to a document is kept…
    _ = sim.documents[1:10]  # (ten rendered: the limit)
    assert sim.documents[0]["channel"] == "sms"  # (read again: now the most recent)
    _ = sim.documents[10:20]  # …until as many as the limit are read after it
    assert sim.documents[0]["channel"] == sim.sessions[0].channel != "sms"
    assert sim.documents[0] == render(sim.sessions[0], sim.account_id)


def test_the_talk_follows_what_was_drawn_up_front(sim: VonageSimulator) -> None:
    """Tags and status codes are drawn before the talk (searches filter on them): the talk
    generated later must agree with them."""
    for session in sim.sessions:
        collected = Counter(hit.tag for step in session.steps for hit in step.tags)
        assert collected == {tag.tag: tag.count for tag in session.tags}
        assert {hit.category for step in session.steps for hit in step.tags} == {
            tag.category for tag in session.tags
        }
        failed = any(call.error for call in session.webhooks)
        assert not failed or session.status_code == 200
        assert (session.steps[-1].kind == "end_call") != session.running
    # Both branches of a failing lookup occur, so the check above can fail.
    assert {any(call.error for call in s.webhooks) for s in sim.sessions} == {True, False}
    # A tag's category is the same in every session.
    categories: dict[str, set[str]] = {}
    for session in sim.sessions:
        for tag in session.tags:
            categories.setdefault(tag.tag, set()).add(tag.category)
    assert all(len(found) == 1 for found in categories.values())


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
    start, end = datetime(2026, 10, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    in_window = [s.id for s in sim.sessions if start <= s.started_at < end]
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
    assert seen == in_window
    by_start = sorted(
        (s for s in sim.sessions if s.id in set(in_window)), key=lambda s: s.started_at
    )
    assert seen != [s.id for s in by_start]

    default_page = (await raw.get(SEARCH, params=day_params())).json()
    assert (len(default_page["hits"]), default_page["page_size"]) == (10, "10")


async def test_nothing_matching_is_404(raw: httpx.AsyncClient) -> None:
    response = await raw.get(SEARCH, params={"from_date": "2026-12-01", "to_date": "2026-12-31"})
    assert response.status_code == 404
    assert response.json() == vonage_error(404, "No sessions found", "Not Found")


async def test_to_date_is_inclusive_and_a_bare_day_is_the_whole_day(
    sim: VonageSimulator, raw: httpx.AsyncClient
) -> None:
    newest = max(sim.sessions, key=lambda s: s.started_at)
    start = naive(newest.started_at)
    term = json.dumps({"must": [{"term": {"id": newest.id}}]})

    async def found(from_date: str, to_date: str) -> bool:
        params = {"from_date": from_date, "to_date": to_date, "filter_by": term}
        return (await raw.get(SEARCH, params=params)).status_code == 200

    assert await found(start[:10], start[:10])
    assert await found("2026-10-01", start)
    assert not await found("2026-10-01", naive(newest.started_at - timedelta(microseconds=1)))


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
    start, end = datetime(2026, 9, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    in_window = [s for s in sim.sessions if start <= s.started_at < end]

    async def found(filter_by: dict[str, Any]) -> set[str]:
        params: dict[str, Any] = {"from_date": "2026-09-02", "to_date": "2026-10-31"}
        params["page_size"] = 100
        response = await raw.get(SEARCH, params={**params, "filter_by": json.dumps(filter_by)})
        return (
            {hit["id"] for hit in response.json()["hits"]} if response.status_code == 200 else set()
        )

    def where(test: Any) -> set[str]:
        return {s.id for s in in_window if test(s)}

    def words(session: Any, *roles: str) -> set[str]:
        lines = [t.text for t in session.turns if t.role in roles]
        return {word.lower() for line in lines for word in re.findall(r"\w+", line)}

    sample = in_window[0]
    # term matches any element of a list field
    request_id = sample.steps[-1].request_id
    assert await found({"must": [{"term": {"request_ids": request_id}}]}) == {sample.id}
    refunds = where(lambda s: any(t.tag == "refund" for t in s.tags))
    assert refunds and await found({"must": [{"term": {"tags_list.tag": "refund"}}]}) == refunds
    assert await found({"must": [{"term": {"tags_list.tag": "Refund"}}]}) == set()  # exact
    # match: case-insensitive OR of words, on the caller's lines only for transcription.user
    said = where(lambda s: bool({"twice", "appointment"} & words(s, "user")))
    asked = {"must": [{"match": {"transcription.user": "TWICE Appointment"}}]}
    assert said and await found(asked) == said
    anyone = where(lambda s: "refunded" in words(s, "user", "agent"))
    assert anyone and await found({"must": [{"match": {"transcription.*": "Refunded"}}]}) == anyone
    # match does nothing on ID fields
    number = (sample.caller or "+1").removeprefix("+")
    assert await found({"must": [{"match": {"source": number}}]}) == set()
    # should needs one hit; must_not excludes
    chats = where(lambda s: s.channel in ("whatsapp", "http"))
    should = [{"term": {"channel": "whatsapp"}}, {"term": {"channel": "http"}}]
    assert await found({"should": should}) == chats
    assert await found({"must_not": [{"terms": {"channel": ["whatsapp", "http"]}}]}) == where(
        lambda s: s.id not in chats
    )
    failed = where(lambda s: s.status_code == 200)
    assert failed and await found({"must": [{"term": {"channel_data.status_code": 200}}]}) == failed
    # range on the start time, a bare day rounded the ES way (lte: through the end of the day)
    october = where(lambda s: s.started_at >= datetime(2026, 10, 1, tzinfo=UTC))
    span = {"gte": "2026-10-01", "lte": "2026-10-31"}
    assert await found({"must": [{"range": {"session_start_time": span}}]}) == october


def test_paths_read_from_the_model_are_what_the_documents_say(sim: VonageSimulator) -> None:
    """Searches read these paths from the model instead of rendering documents: they must find
    what `values` finds in the rendered document, for every kind of session."""
    assert {s.running for s in sim.sessions} == {True, False}
    assert {s.channel for s in sim.sessions} == {"telephony", "whatsapp", "http"}
    for session in sim.sessions:
        doc = render(session, sim.account_id)
        for path, read in LIGHT_PATHS.items():
            assert read(session) == values(doc, list(path)), (path, session.id)


SEARCHES: list[dict[str, Any]] = [
    {"must": [{"terms": {"channel": ["whatsapp", "http"]}}]},
    {"must": [{"term": {"channel_data.status_code": "200"}}]},
    {"must_not": [{"term": {"status": "ended"}}]},
    {"should": [{"term": {"tags_list.tag": "refund"}}, {"term": {"tags_list.tag": "faq"}}]},
    {"must": [{"range": {"channel_data.duration": {"gte": 200_000}}}]},
    {"must": [{"range": {"session_start_time": {"gt": "2026-10-10", "lt": "2026-10-20"}}}]},
    {"must": [{"term": {"params_list.name": "order_id"}}]},  # heavy: generates talks
    {"must": [{"match": {"transcription.*": "refund appointment"}}]},
    {"must": [{"match": {"*": "whatsapp"}}]},  # every top-level field: renders documents
    {"must": [{"term": {"flow_path.type": "webhook"}}, {"term": {"agent_information.id": "x"}}]},
]


@pytest.mark.parametrize("search", SEARCHES)
async def test_a_search_answers_the_same_before_and_after_documents_are_rendered(
    search: dict[str, Any],
) -> None:
    """Before: fields read from the model and the talk (hits of `id` only render nothing);
    after: from the rendered documents."""
    sim = simulator()
    params = {"from_date": "2026-09-02", "to_date": "2026-10-31", "page_size": 100}
    params |= {"sort_by": "channel_data.duration:desc,id:asc", "project_fields": '["id"]'}
    params["filter_by"] = json.dumps(search)
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=sim.base_url, headers={"X-Vgai-Key": sim.api_key}
    ) as client:
        before = await client.get(SEARCH, params=params)
        assert all(sim.document(s) for s in sim.sessions)
        after = await client.get(SEARCH, params=params)
    assert (before.status_code, before.json()) == (after.status_code, after.json())
    if before.status_code == 200:
        assert 0 < len(before.json()["hits"]) < 100


def test_the_searches_above_can_disagree() -> None:
    """Most select some sessions but not all; one selects none."""
    sim = simulator()
    start, end = datetime(2026, 9, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    docs = [sim.document(s) for s in sim.sessions if start <= s.started_at < end]
    counts = [
        sum(compile_filter(json.dumps(search)).selects(doc) for doc in docs) for search in SEARCHES
    ]
    assert counts[-1] == 0 and all(0 < count < len(docs) for count in counts[:-1])


def test_match_reads_words_the_way_elasticsearch_does() -> None:
    """The standard analyzer: lower case, punctuation dropped, "don't" and "order_id" whole."""
    assert analyze("Don't SHOUT, order_id 'quoted'!") == {"don't", "shout", "order_id", "quoted"}


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
    assert len(sim.sessions) == len(sim.documents) == SIZE - 1
    assert doc["id"] not in {key.id for key in sim.session_keys()}
    assert (await raw.delete(f"{SEARCH}/{doc['id']}", params=day)).status_code == 404


# --- the mapping: hand-written vendor JSON -------------------------------------------------------

_MINIMAL_DOCUMENT: dict[str, Any] = {
    "id": "8ae433e8-7bc1-41a0-b0a6-0cccc30cbc36",
    "session_start_time": "2020-10-08T17:09:27.758983",
    "status": "ended",
    "channel": "voice",
    "channel_data": {"duration": 27000, "call_status": "ended", "status_code": 200},
}


@pytest.mark.parametrize(
    ("status", "status_code", "expected_status"),
    [
        ("in_progress", 0, SessionStatus.ACTIVE),
        ("in_progress", 200, SessionStatus.ACTIVE),
        ("ended", 0, SessionStatus.COMPLETED),
        ("ended", 100, SessionStatus.COMPLETED),  # a warning is not a failure
        ("ended", None, SessionStatus.COMPLETED),
        ("ended", 200, SessionStatus.FAILED),  # "erroneous"
        ("archived", 0, SessionStatus.UNKNOWN),
    ],
)
def test_status_reads_status_and_status_code(
    status: str, status_code: int | None, expected_status: SessionStatus
) -> None:
    doc = {**_MINIMAL_DOCUMENT, "status": status, "channel_data": {"status_code": status_code}}
    record = session_record(doc)
    assert (record.status, record.raw_status) == (expected_status, status)


def test_a_naive_start_is_utc_and_the_duration_is_milliseconds() -> None:
    record = session_record(_MINIMAL_DOCUMENT)
    started = datetime(2020, 10, 8, 17, 9, 27, 758983, tzinfo=UTC)
    assert (record.started_at, record.duration_ms) == (started, 27000)
    assert record.ended_at == datetime(2020, 10, 8, 17, 9, 54, 758983, tzinfo=UTC)
    numbers = session_record({**_MINIMAL_DOCUMENT, "source": 972500, "destination": 97250})
    assert (numbers.caller, numbers.callee) == ("972500", "97250")  # a number, not a string


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
    newest["session_start_time"] = "not a time"
    with pytest.raises(UpstreamProtocolError):
        await adapter.list_sessions(window(10), None, 5)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("transcription", "not a list", "transcript"),
        ("transcription", [["not", "an object"]], "transcript"),
        ("flow_path", [{"type": "webhook"}], "tool_calls"),  # no node_id, no URL
        ("flow_path", [{"type": "start"}], "flow_steps"),  # no node_id
    ],
)
async def test_details_of_the_wrong_shape_fail_where_they_are_read(
    sim: VonageSimulator, adapter: Adapter, key: str, value: Any, field: str
) -> None:
    """Details are mapped when read (a page shows few of the hits it lists): a malformed one
    is the same typed error then, for that session's field only, and stays one."""
    newest = max(sim.documents, key=lambda d: d["session_start_time"])
    newest[key] = value
    page = await adapter.list_sessions(window(10, with_details=True), None, 5)
    first, *others = (item.record for item in page.items)
    assert first.id == newest["id"] and first.details is not None
    for _ in range(2):
        with pytest.raises(UpstreamProtocolError):
            getattr(first.details, field)
    assert all(getattr(record.details, field) is not None for record in others)


# --- the adapter: listing ------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("limit", [1, 7, 40, 100])
async def test_two_slices_walk_in_order_whatever_the_page_size(
    sim: VonageSimulator, adapter: Adapter, order: SortOrder, limit: int
) -> None:
    query = window(95, order)  # two 60-day slices
    records = await walk(adapter, query, limit)
    assert records == expected(sim, query)
    assert len(set(ids(records))) == SIZE
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
    iso = [naive(t) for t in (start, middle, end)]
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


async def test_a_fresh_adapter_resumes_from_a_native_position(
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

    sim.documents[0]["channel"] = "sms"  # a channel word the gateway does not know
    sms = replace(expected_records(sim)[0], channel=Channel.OTHER, raw_channel="sms")
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
    scoped, unscoped = connect(sim, agent_ids=(agent,)), connect(sim, agent_ids=())
    try:
        mine = await walk(scoped, window(95), 100)
        everyone = await walk(unscoped, window(95), 100)
    finally:
        await scoped.aclose()
        await unscoped.aclose()
    assert mine == expected(sim, window(95, agent_ids=(agent,)))
    assert everyone == expected(sim, window(95)) and len(everyone) == SIZE
    filters = [json.loads(s["filter_by"])["must"] for s in searches(sim)]
    assert filters[0][1] == {"term": {"agent_information.id": agent}}
    assert all(len(must) == 1 for must in filters[2:])  # only the window: no agent clause


async def test_a_window_with_nothing_in_it_is_empty_not_an_error(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    future = SessionQuery(
        started_after=ANCHOR + timedelta(days=1), started_before=ANCHOR + timedelta(days=2)
    )
    assert await adapter.list_sessions(future, None, 5) == SessionPage((), True, total=0)
    assert [entry.status for entry in sim.log.entries] == [404]


# --- the adapter: getting ------------------------------------------------------------------------


async def test_get_sessions_by_day_or_by_search(sim: VonageSimulator, adapter: Adapter) -> None:
    known, other = expected_records(sim)[:2]
    refs = [
        known.ref,
        SessionRef(Provider.VONAGE, "no-such-session", started_at=known.started_at),
        replace(other.ref, started_at=None),
        replace(other.ref, started_at=other.started_at - timedelta(days=2)),
    ]
    assert await adapter.get_sessions(refs) == [known, None, other, None]
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


# --- the adapter: Vonage's 401s ------------------------------------------------------------------


async def test_a_401_for_parameters_is_a_rejected_request(adapter: Adapter) -> None:
    with pytest.raises(UpstreamRejectedError) as raised:
        await adapter.client.get_json(SEARCH, {"from_date": "2026-10-01"})
    assert raised.value.message == "VONAGE answered 401: to_date is required"
    assert raised.value.status == 401


def test_only_invalid_api_key_is_a_bad_credential() -> None:
    bad_key = httpx.Response(401, json=vonage_error(401, "Invalid API key", "Unauthorized"))
    plain = httpx.Response(401, text="Unauthorized")
    listed = httpx.Response(401, json={"statusCode": 401, "message": ["a", "b"], "error": "x"})
    assert VonageAdapter.read_error(bad_key) == ("Invalid API key", None)
    assert VonageAdapter.read_error(plain) == ("Unauthorized", None)
    assert VonageAdapter.read_error(listed) == ("a; b", UpstreamRejectedError)
