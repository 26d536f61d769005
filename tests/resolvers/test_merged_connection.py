"""The merged connection against the four simulators: order, filters, cursors, failures."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.query import SessionQuery, SortOrder, matches
from providers.records import Channel, Provider, SessionRecord, SessionStatus
from resolvers.cursor import CursorCodec, filter_hash
from resolvers.filters import SessionFilterSpec
from tests.conftest import ANCHOR, Gateway, running_gateway
from tests.oracles import expected_records

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String,
           $filter: SessionFilter, $order: SessionOrder) {
  sessions(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $order) {
    edges { cursor late node { id provider providerSessionId startedAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
    sources { provider queried ok errorCode truncated exhausted }
  }
}
"""
WORDS = ["order", "refund", "appointment", "route", "thanks", "billing", "password"]
TAGS = ["order", "billing", "appointment", "refund", "delay", "faq"]


def truth(gateway: Gateway, query: SessionQuery, providers: set[Provider]) -> list[SessionRecord]:
    records = [r for p in providers for r in expected_records(gateway.simulators[p])]
    kept = [r for r in records if matches(r, query)]
    return sorted(kept, key=lambda r: r.sort_key, reverse=query.order is SortOrder.NEWEST_FIRST)


async def walk(gateway: Gateway, first: int, **variables: Any) -> tuple[list[dict[str, Any]], int]:
    nodes: list[dict[str, Any]] = []
    after, pages = None, 0
    while True:
        body = await gateway.query(PAGE, first=first, after=after, **variables)
        assert "errors" not in body, body
        connection = body["data"]["sessions"]
        pages += 1
        assert len(connection["edges"]) <= first
        nodes.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, pages
        # A page may be short, even empty, when a vendor's walk reached its call bound: its
        # end cursor goes on from there.
        after = connection["pageInfo"]["endCursor"]
        assert after is not None
        assert pages < 400


filters = st.fixed_dictionaries(
    {},
    optional={
        "providers": st.sets(st.sampled_from(list(Provider)), min_size=1),
        "statuses": st.sets(st.sampled_from(list(SessionStatus)), min_size=1),
        "text": st.sampled_from(WORDS),
        "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2, unique=True),
        "channels": st.sets(st.sampled_from(list(Channel)), min_size=1),
        "days": st.tuples(st.integers(0, 80), st.integers(1, 40)),
    },
)


def to_variables(drawn: dict[str, Any]) -> tuple[dict[str, Any], SessionQuery, set[Provider]]:
    after, before = ANCHOR - timedelta(days=90), ANCHOR
    if "days" in drawn:
        start, length = drawn["days"]
        before = ANCHOR - timedelta(days=start)
        after = before - timedelta(days=length)
    graphql: dict[str, Any] = {
        "startedAfter": after.isoformat(),
        "startedBefore": before.isoformat(),
    }
    for key in ("providers", "statuses", "channels"):
        if key in drawn:
            graphql[key] = sorted(v.name for v in drawn[key])
    for key in ("text", "tags"):
        if key in drawn:
            graphql[key] = drawn[key]
    query = SessionQuery(
        started_after=after,
        started_before=before,
        statuses=frozenset(drawn["statuses"]) if "statuses" in drawn else None,
        text=drawn.get("text"),
        tags=tuple(drawn.get("tags", ())),
        channels=frozenset(drawn["channels"]) if "channels" in drawn else None,
    )
    return graphql, query, set(drawn.get("providers", Provider))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.integers(1, 100), drawn=filters, order=st.sampled_from(list(SortOrder)))
def test_any_walk_equals_the_simulators_filtered_and_sorted(
    first: int, drawn: dict[str, Any], order: SortOrder
) -> None:
    graphql, query, providers = to_variables(drawn)
    query = replace(query, order=order)

    async def run() -> None:
        async with running_gateway(size=50) as gateway:
            expected = truth(gateway, query, providers)
            order_name = "NEWEST_FIRST" if order is SortOrder.NEWEST_FIRST else "OLDEST_FIRST"
            nodes, _ = await walk(gateway, first, filter=graphql, order=order_name)
            assert [(n["provider"].lower(), n["providerSessionId"]) for n in nodes] == [
                (r.provider.value, r.id) for r in expected
            ]

    asyncio.run(run())


async def test_every_vendor_failing_in_turn_leaves_the_others_in_order(gateway: Gateway) -> None:
    for failing in Provider:
        gateway.simulators[failing].faults.error_status = 500
        body = await gateway.query(PAGE, first=30)
        gateway.simulators[failing].faults.error_status = None
        connection = body["data"]["sessions"]
        providers = {edge["node"]["provider"] for edge in connection["edges"]}
        assert providers == {p.name for p in Provider} - {failing.name}
        starts = [edge["node"]["startedAt"] for edge in connection["edges"]]
        assert len(starts) == 30 and starts == sorted(starts, reverse=True)
        assert body["errors"] == [
            {
                "message": body["errors"][0]["message"],
                "path": ["sessions"],
                "extensions": {
                    "code": "UPSTREAM_UNAVAILABLE",
                    "provider": failing.name,
                    "retryable": True,
                },
            }
        ]
        failed = [s for s in connection["sources"] if not s["ok"]]
        assert failed == [
            {
                "provider": failing.name,
                "queried": True,
                "ok": False,
                "errorCode": "UPSTREAM_UNAVAILABLE",
                "truncated": False,
                "exhausted": False,
            }
        ]
        assert connection["totalCount"] is None


async def test_a_vendor_that_failed_is_resumed_on_the_next_page_nothing_lost(
    gateway: Gateway,
) -> None:
    everything, _ = await walk(gateway, 50)
    gateway.simulators[Provider.SAMSARA].faults.error_status = 500
    first = (await gateway.query(PAGE, first=20))["data"]["sessions"]
    gateway.simulators[Provider.SAMSARA].faults.error_status = None
    rest, late = await walk_from(gateway, 20, first["pageInfo"]["endCursor"])
    seen = [e["node"]["id"] for e in first["edges"]] + [n["id"] for n in rest]
    assert sorted(seen) == sorted(n["id"] for n in everything)
    assert len(seen) == len(set(seen))
    # Samsara's sessions that belonged on the first page arrive next, flagged late.
    boundary = first["edges"][-1]["node"]["startedAt"]
    missed = [n for n in everything if n["provider"] == "SAMSARA" and n["startedAt"] > boundary]
    assert late == len(missed) > 0
    assert [n["id"] for n in rest[: len(missed)]] == [n["id"] for n in missed]


async def walk_from(gateway: Gateway, first: int, after: str) -> tuple[list[dict[str, Any]], int]:
    nodes: list[dict[str, Any]] = []
    late = 0
    while True:
        body = await gateway.query(PAGE, first=first, after=after)
        connection = body["data"]["sessions"]
        nodes.extend(edge["node"] for edge in connection["edges"])
        late += sum(edge["late"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, late
        after = connection["pageInfo"]["endCursor"]


async def test_status_and_date_filters_reach_the_vendors(gateway: Gateway) -> None:
    gateway.clear_logs()
    after = (ANCHOR - timedelta(days=10)).isoformat()
    before = ANCHOR.isoformat()
    body = await gateway.query(
        PAGE,
        first=5,
        filter={
            "statuses": ["FAILED"],
            "startedAfter": after,
            "startedBefore": before,
        },
    )
    assert "errors" not in body
    samsara = gateway.simulators[Provider.SAMSARA].log.matching(
        "/agent-studio/voice-sessions/stream"
    )
    assert samsara and all(e.param("sessionStatus") == "failed" for e in samsara)
    assert all(e.param("startTime") is not None for e in samsara)
    vonage = gateway.simulators[Provider.VONAGE].log.matching("/insights/sessions")
    assert vonage and all(e.param("from_date") and e.param("to_date") for e in vonage)
    stateset = gateway.simulators[Provider.STATESET].log.matching("/api/v1/voice-sessions")
    assert stateset and all(e.param("status") == "failed" for e in stateset)


async def test_totals_only_when_every_vendor_can_count(gateway: Gateway) -> None:
    connection = (await gateway.query(PAGE, first=5))["data"]["sessions"]
    assert connection["totalCount"] is None  # Samsara cannot count


async def test_cursor_tampering_foreign_filters_and_garbage_are_bad_user_input(
    gateway: Gateway,
) -> None:
    connection = (await gateway.query(PAGE, first=5))["data"]["sessions"]
    cursor = connection["pageInfo"]["endCursor"]
    middle = len(cursor) // 2
    flipped = cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]
    gateway.clear_logs()
    for variables in (
        {"after": flipped},
        {"after": cursor, "filter": {"statuses": ["FAILED"]}},
        {"after": cursor, "order": "OLDEST_FIRST"},
        {"after": "not-a-cursor"},
        {"after": ""},
        {"last": 3, "before": cursor[::-1]},
    ):
        body = await gateway.query(PAGE, first=None if "last" in variables else 5, **variables)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], variables
        assert body["data"] is None
    assert sum(gateway.calls().values()) == 0, "no vendor request was built from a bad cursor"


async def test_cursors_work_on_another_process_with_the_same_secret() -> None:
    async with running_gateway() as one:
        page = (await one.query(PAGE, first=7))["data"]["sessions"]
        expected = await one.query(PAGE, first=7, after=page["pageInfo"]["endCursor"])
    async with running_gateway() as other:
        again = await other.query(PAGE, first=7, after=page["pageInfo"]["endCursor"])
    assert again == expected
    async with running_gateway(environ={"SESSIONGRAPH_CURSOR_SECRET": "another"}) as foreign:
        refused = await foreign.query(PAGE, first=7, after=page["pageInfo"]["endCursor"])
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_backward_paging_mirrors_forward_paging(gateway: Gateway) -> None:
    everything, _ = await walk(gateway, 100)
    tail = (await gateway.query(PAGE, last=15))["data"]["sessions"]
    assert [e["node"]["id"] for e in tail["edges"]] == [n["id"] for n in everything[-15:]]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    assert tail["pageInfo"]["hasNextPage"] is False
    before = await gateway.query(PAGE, last=10, before=tail["pageInfo"]["startCursor"])
    ids = [e["node"]["id"] for e in before["data"]["sessions"]["edges"]]
    assert ids == [n["id"] for n in everything[-25:-15]]
    # A cursor of a backward page pages forward too.
    forward = await gateway.query(
        PAGE, first=5, after=before["data"]["sessions"]["pageInfo"]["endCursor"]
    )
    assert [e["node"]["id"] for e in forward["data"]["sessions"]["edges"]] == [
        n["id"] for n in everything[-15:-10]
    ]


async def test_a_forward_walk_from_a_backward_cursor_goes_on_exactly_to_the_end(
    gateway: Gateway,
) -> None:
    """The first forward page resumes by keyset in a window narrowed at the cursor; the pages
    after it resume the vendors' native positions in that same narrowed window."""
    everything, _ = await walk(gateway, 100)
    tail = (await gateway.query(PAGE, last=30))["data"]["sessions"]
    rest, late = await walk_from(gateway, 7, tail["pageInfo"]["startCursor"])
    assert [n["id"] for n in rest] == [n["id"] for n in everything[-29:]]
    assert late == 0


async def test_a_signed_cursor_with_an_unreadable_narrowed_window_is_refused(
    gateway: Gateway,
) -> None:
    tail = (await gateway.query(PAGE, last=3))["data"]["sessions"]
    forward = await gateway.query(PAGE, first=3, after=tail["pageInfo"]["startCursor"])
    codec = CursorCodec("test-secret")  # the gateway's secret: only the window is wrong
    made = codec.decode(
        forward["data"]["sessions"]["pageInfo"]["endCursor"],
        expected_filter=filter_hash({"filter": SessionFilterSpec().canonical(), "order": "desc"}),
        argument="after",
    )
    assert "@window" in made.positions
    broken = replace(made, positions={**made.positions, "@window": {"after": "soon"}})
    gateway.clear_logs()
    body = await gateway.query(PAGE, first=3, after=codec.encode(broken))
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert sum(gateway.calls().values()) == 0


async def test_relay_argument_errors(gateway: Gateway) -> None:
    for variables, fragment in (
        ({"first": -1}, "negative"),
        ({"last": -2}, "negative"),
        ({"first": 101}, "at most 100"),
        ({"first": 5, "last": 5}, "not both"),
    ):
        body = await gateway.query(PAGE, **variables)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert fragment in body["errors"][0]["message"]


async def test_first_zero_answers_page_info_only(gateway: Gateway) -> None:
    connection = (await gateway.query(PAGE, first=0))["data"]["sessions"]
    assert connection["edges"] == []
    assert connection["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("paging", ["first: 0", "last: 0"])
async def test_an_empty_page_with_details_selected_reads_every_vendor(
    gateway: Gateway, paging: str
) -> None:
    """Selecting a detail field hands each vendor's listed sessions to the detail prefetch:
    for a page of none, none of them can make it, and no vendor is reported failed."""
    body = await gateway.query(
        f"{{ sessions({paging}) {{ edges {{ node {{ transcript {{ text }} }} }}"
        " sources { provider ok } } }"
    )
    assert "errors" not in body, body
    assert body["data"]["sessions"]["edges"] == []
    sources = body["data"]["sessions"]["sources"]
    assert {s["provider"] for s in sources if s["ok"]} == {p.name for p in Provider}


@pytest.mark.parametrize("first", [1, 7, 100])
async def test_default_window_walk_with_several_page_sizes(gateway: Gateway, first: int) -> None:
    nodes, _ = await walk(gateway, first)
    query = SessionQuery(
        started_after=datetime(2000, 1, 1, tzinfo=UTC),
        started_before=datetime(2100, 1, 1, tzinfo=UTC),
    )
    assert [n["providerSessionId"] for n in nodes] == [
        r.id for r in truth(gateway, query, set(Provider))
    ]


async def test_a_capped_scan_says_it_is_truncated() -> None:
    async with running_gateway(environ={"SESSIONGRAPH_SCAN_CAP": "30"}) as gateway:
        body = await gateway.query(PAGE, first=10, filter={"providers": ["STATESET", "VONAGE"]})
    sources = {s["provider"]: s for s in body["data"]["sessions"]["sources"]}
    # StateSet promises no order: its scan read 30 of 80 sessions and says so.
    assert sources["STATESET"]["truncated"] is True
    assert sources["STATESET"]["ok"] is True
    # Vonage sorts for us: no scan, no cap.
    assert sources["VONAGE"]["truncated"] is False
    assert body["data"]["sessions"]["totalCount"] is None


async def test_vendors_not_configured_are_silent_unless_asked_for(gateway: Gateway) -> None:
    samsara = gateway.simulators[Provider.SAMSARA]
    adapters = gateway.sources.adapters
    removed = adapters.pop(Provider.SAMSARA)
    try:
        body = await gateway.query(PAGE, first=10)
        assert "errors" not in body
        assert {s["provider"] for s in body["data"]["sessions"]["sources"]} == {
            "STATESET",
            "VECTARA",
            "VONAGE",
        }
        asked = await gateway.query(PAGE, first=10, filter={"providers": ["SAMSARA", "VONAGE"]})
        assert [e["extensions"] for e in asked["errors"]] == [
            {"code": "PROVIDER_NOT_CONFIGURED", "provider": "SAMSARA", "retryable": False}
        ]
        assert {e["node"]["provider"] for e in asked["data"]["sessions"]["edges"]} == {"VONAGE"}
    finally:
        adapters[Provider.SAMSARA] = removed
    assert len(samsara.log) == 0
