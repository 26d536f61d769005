"""Samsara and Vonage at 100,000 sessions: built once for the module, what they list is exact
against their own models, and a page generates what was said only for the sessions it serves.
No timings here: the size itself is the point (construction draws only what lists and filters
need; see the simulators' docstrings)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.simulators.base import SessionKey
from providers.simulators.samsara import SamsaraSimulator
from providers.simulators.vonage import VonageSimulator

SIZE = 100_000
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
STREAM = "/agent-studio/voice-sessions/stream"
SEARCH = "/insights/sessions"
ALL_STATUSES = "completed,running,failed,unknown"


@pytest.fixture(scope="module")
def samsara() -> SamsaraSimulator:
    sim = SamsaraSimulator(size=SIZE, anchor=ANCHOR, clock=lambda: ANCHOR)
    assert not sim.contents.cache  # nothing said yet: content comes on first read
    return sim


@pytest.fixture(scope="module")
def vonage() -> VonageSimulator:
    sim = VonageSimulator(size=SIZE, anchor=ANCHOR, clock=lambda: ANCHOR)
    assert not sim.talks.cache  # nothing said yet: the talk comes on first read
    return sim


@pytest.fixture(scope="module")
def vonage_keys(vonage: VonageSimulator) -> list[SessionKey]:
    return vonage.session_keys()


@pytest.fixture
async def samsara_http(samsara: SamsaraSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {samsara.api_key}"}
    async with httpx.AsyncClient(
        transport=samsara.transport(), base_url=samsara.base_url, headers=headers
    ) as client:
        yield client


@pytest.fixture
async def vonage_http(vonage: VonageSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=vonage.transport(),
        base_url=vonage.base_url,
        headers={"X-Vgai-Key": vonage.api_key},
    ) as client:
        yield client


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def naive(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


# --- Samsara ----------------------------------------------------------------------------------


async def walk_stream(client: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    served: list[dict[str, Any]] = []
    after = None
    for _ in range(5000):  # the bound: far more pages than any walk below needs
        response = await client.get(
            STREAM, params={**params, **({"after": after} if after else {})}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        served += page["data"]
        if not page["pagination"]["hasNextPage"]:
            return served
        after = page["pagination"]["endCursor"]
    raise AssertionError("the stream did not end")


def test_samsara_holds_every_session_newest_first(samsara: SamsaraSimulator) -> None:
    keys = samsara.session_keys()
    assert len(keys) == len({key.id for key in keys}) == SIZE
    starts = [key.started_at for key in keys]
    assert starts == sorted(starts, reverse=True)
    assert ANCHOR - timedelta(days=89) <= starts[-1] and starts[0] < ANCHOR


async def test_samsara_walks_a_window_exactly(
    samsara: SamsaraSimulator, samsara_http: httpx.AsyncClient
) -> None:
    start, end = ANCHOR - timedelta(hours=30), ANCHOR - timedelta(hours=3)
    params = {"startTime": rfc3339(start), "endTime": rfc3339(end), "limit": 100}
    params |= {"agentIds": ",".join(samsara.agent_ids()), "sessionStatus": ALL_STATUSES}
    generated_before = set(samsara.contents.cache)
    served = await walk_stream(samsara_http, params)
    truth = [key.id for key in samsara.session_keys() if start <= key.started_at <= end]
    assert [summary["id"] for summary in served] == truth and len(truth) > 500
    # A summary's duration comes from the content: generated for the sessions served, only.
    assert set(samsara.contents.cache) - generated_before == set(truth)
    by_id = samsara.by_id
    assert all(s["durationMilliseconds"] == by_id[s["id"]].duration_ms for s in served)


async def test_samsara_walks_a_sparse_filter_over_the_whole_range(
    samsara: SamsaraSimulator, samsara_http: httpx.AsyncClient
) -> None:
    driver = samsara.drivers[3].id
    params = {"startTime": rfc3339(ANCHOR - timedelta(days=90)), "endTime": rfc3339(ANCHOR)}
    params |= {"agentIds": ",".join(samsara.agent_ids()), "driverIds": driver, "limit": 100}
    served = await walk_stream(samsara_http, params)  # completed only: the vendor's default
    truth = [s.id for s in samsara.sessions if s.driver_id == driver and s.status == "completed"]
    assert [summary["id"] for summary in served] == truth and len(truth) > 500


# --- Vonage -----------------------------------------------------------------------------------


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (timedelta(days=60), timedelta(0)),
        (timedelta(days=89), timedelta(days=29)),
        (timedelta(days=1, hours=3), timedelta(days=1)),
        (timedelta(minutes=30), timedelta(0)),
    ],
)
async def test_vonage_totals_are_the_models_count(
    vonage_keys: list[SessionKey],
    vonage_http: httpx.AsyncClient,
    since: timedelta,
    until: timedelta,
) -> None:
    start, end = ANCHOR - since, ANCHOR - until
    body = await search(vonage_http, from_date=naive(start), to_date=naive(end), page_size=1)
    in_window = [key for key in vonage_keys if start <= key.started_at <= end]
    assert body["total"] == len(in_window) > 0


@pytest.mark.parametrize(
    ("clause", "wanted"),
    [
        ({"must": [{"term": {"channel": "whatsapp"}}]}, lambda s: s.channel == "whatsapp"),
        (
            {"must": [{"term": {"status": "ended"}}, {"term": {"channel_data.status_code": 200}}]},
            lambda s: not s.running and s.status_code == 200,
        ),
        (
            {"must_not": [{"terms": {"tags_list.tag": ["faq", "refund"]}}]},
            lambda s: not {"faq", "refund"} & {tag.tag for tag in s.tags},
        ),
        (
            {
                "must": [
                    {"range": {"session_start_time": {"gte": "2026-10-15", "lt": "2026-10-16"}}}
                ]
            },
            lambda s: (
                datetime(2026, 10, 15, tzinfo=UTC)
                <= s.started_at
                < datetime(2026, 10, 16, tzinfo=UTC)
            ),
        ),
    ],
)
async def test_vonage_filtered_totals_are_the_models_count(
    vonage: VonageSimulator, vonage_http: httpx.AsyncClient, clause: dict[str, Any], wanted: Any
) -> None:
    start, end = ANCHOR - timedelta(days=60), ANCHOR
    talks_before = set(vonage.talks.cache)
    body = await search(
        vonage_http,
        from_date=naive(start),
        to_date=naive(end),
        filter_by=json.dumps(clause),
        project_fields='["id", "channel", "tags_list"]',
        page_size=100,
    )
    truth = [s for s in vonage.sessions if start <= s.started_at <= end and wanted(s)]
    assert body["total"] == len(truth) > 0
    assert {hit["id"] for hit in body["hits"]} <= {s.id for s in truth}
    assert set(vonage.talks.cache) == talks_before  # light fields only: no talk generated


async def test_vonage_deep_pages_follow_the_gateways_sort(
    vonage: VonageSimulator, vonage_http: httpx.AsyncClient
) -> None:
    start, end = ANCHOR - timedelta(days=60), ANCHOR
    sort_by = "session_start_time:desc,agent_information.id:desc,id:desc"
    fields = '["id", "params_list"]'  # params_list is heavy: the hits' talks are generated
    talks_before = set(vonage.talks.cache)
    body = await search(
        vonage_http,
        from_date=naive(start),
        to_date=naive(end),
        sort_by=sort_by,
        project_fields=fields,
        page_number=400,
        page_size=100,
    )
    ordered = sorted(
        (s for s in vonage.sessions if start <= s.started_at <= end),
        key=lambda s: (s.started_at, s.agent.id, s.id),
        reverse=True,
    )
    assert [hit["id"] for hit in body["hits"]] == [s.id for s in ordered[40_000:40_100]]
    assert set(vonage.talks.cache) - talks_before == {hit["id"] for hit in body["hits"]}


async def test_vonage_text_matches_generate_the_talks_they_examine(
    vonage: VonageSimulator, vonage_http: httpx.AsyncClient
) -> None:
    start, end = ANCHOR - timedelta(minutes=20), ANCHOR
    clause = {"must": [{"match": {"transcription.*": "refund"}}]}
    body = await search(
        vonage_http,
        from_date=naive(start),
        to_date=naive(end),
        filter_by=json.dumps(clause),
        project_fields='["id"]',
        page_size=100,
    )

    def said_refund(session: Any) -> bool:
        return any("refund" in re.findall(r"\w+", turn.text.lower()) for turn in session.turns)

    in_window = [s for s in vonage.sessions if start <= s.started_at <= end]
    assert body["total"] == len([s for s in in_window if said_refund(s)]) > 0
    assert {s.id for s in in_window} <= set(vonage.talks.cache)
