"""What the README promises of filters, counts and `sources`, checked at the GraphQL level
against the tests' oracles (`tests.oracles` over the simulators' own models, `select` for the
meaning of a filter), never against `providers.query.matches`.

Each test first shows that its data can tell a right answer from a plausible wrong one (ALL
words against ANY word, a count against null, exhausted against not), so that it fails when
the product gives the wrong one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from providers.query import SessionQuery
from providers.records import Provider, SessionRecord, SessionStatus
from tests.conftest import ANCHOR, Gateway, running_gateway
from tests.oracles import expected_records
from tests.oracles.select import select

PAGE = """
query Page($first: Int, $after: String, $filter: SessionFilter) {
  sessions(first: $first, after: $after, filter: $filter) {
    edges { node { provider providerSessionId } }
    pageInfo { hasNextPage endCursor }
    totalCount
    sources { provider queried ok errorCode truncated exhausted }
  }
}
"""
AFTER, BEFORE = ANCHOR - timedelta(days=90), ANCHOR
WINDOW = {"startedAfter": AFTER.isoformat(), "startedBefore": BEFORE.isoformat()}
ALL = set(Provider)


@dataclass
class Walk:
    ids: list[tuple[str, str]]  # (provider, vendor id) in the order served
    pages: list[dict[str, Any]]  # each page's connection


async def walk(gateway: Gateway, first: int, **filter_: Any) -> Walk:
    """Every page of `sessions(filter: {window, **filter_})`, `first` at a time."""
    result = Walk([], [])
    after = None
    for _ in range(200):
        body = await gateway.query(PAGE, first=first, after=after, filter={**WINDOW, **filter_})
        assert "errors" not in body, body
        connection = body["data"]["sessions"]
        result.pages.append(connection)
        result.ids += [
            (e["node"]["provider"], e["node"]["providerSessionId"]) for e in connection["edges"]
        ]
        if not connection["pageInfo"]["hasNextPage"]:
            return result
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("the walk did not end")


def oracle(gateway: Gateway, providers: set[Provider], **query: Any) -> list[SessionRecord]:
    """The sessions of `providers` a query with the test window and `query` should return."""
    records = [r for p in providers for r in expected_records(gateway.simulators[p])]
    return select(records, SessionQuery(started_after=AFTER, started_before=BEFORE, **query))


def keys(records: list[SessionRecord]) -> list[tuple[str, str]]:
    return [(r.provider.name, r.id) for r in records]


# --- text: every word must appear ----------------------------------------------------------------

TWO_WORDS = ("appointment", "thanks")


async def test_text_with_two_words_needs_both(gateway: Gateway) -> None:
    first, second = TWO_WORDS
    both = oracle(gateway, ALL, text=f"{first} {second}")
    either = {r.id for r in oracle(gateway, ALL, text=first)}
    either |= {r.id for r in oracle(gateway, ALL, text=second)}
    # The data tells ALL from ANY: some sessions say one word without the other.
    assert both, "no session says both words: pick other words"
    assert either - {r.id for r in both}, "ALL and ANY agree on this data: pick other words"
    assert {r.provider for r in both} == ALL  # every vendor's text path is exercised

    answer = await walk(gateway, 50, text=f"{first} {second}")
    assert answer.ids == keys(both)


async def test_text_words_match_in_any_order_and_case(gateway: Gateway) -> None:
    first, second = TWO_WORDS
    both = keys(oracle(gateway, ALL, text=f"{first} {second}"))
    answer = await walk(gateway, 100, text=f"{second.upper()}   {first.title()}")
    assert answer.ids == both


async def test_text_words_said_in_no_session_together_match_nothing(gateway: Gateway) -> None:
    # "refund" and "order" each appear in many sessions, never in the same one.
    assert oracle(gateway, ALL, text="refund") and oracle(gateway, ALL, text="order")
    assert oracle(gateway, ALL, text="refund order") == []
    answer = await walk(gateway, 100, text="refund order")
    assert answer.ids == []
    assert [s["exhausted"] for s in answer.pages[0]["sources"]] == [True] * 4


# --- tags: all must be present -------------------------------------------------------------------

TWO_TAGS = ("billing", "escalated")


async def test_two_tags_must_both_be_present(gateway: Gateway) -> None:
    both = oracle(gateway, ALL, tags=TWO_TAGS)
    either = {r.id for tag in TWO_TAGS for r in oracle(gateway, ALL, tags=(tag,))}
    assert both, "no session has both tags: pick other tags"
    assert either - {r.id for r in both}, "ALL and ANY agree on this data: pick other tags"
    # Samsara sessions have no tags; the three others each have some with both.
    assert {r.provider for r in both} == {Provider.STATESET, Provider.VECTARA, Provider.VONAGE}

    answer = await walk(gateway, 10, tags=list(TWO_TAGS))
    assert answer.ids == keys(both)
    any_case = await walk(gateway, 100, tags=[t.upper() for t in reversed(TWO_TAGS)])
    assert any_case.ids == keys(both)


# --- totalCount: the vendors' count where the README promises one -------------------------------

SHORT_DAYS = 55  # one Vonage slice (at most 60 days)
SHORT = {
    "startedAfter": (ANCHOR - timedelta(days=SHORT_DAYS)).isoformat(),
    "startedBefore": ANCHOR.isoformat(),
}


def in_short_window(records: list[SessionRecord]) -> list[SessionRecord]:
    return [r for r in records if r.started_at >= ANCHOR - timedelta(days=SHORT_DAYS)]


@pytest.mark.parametrize(
    ("providers", "extra"),
    [
        ({Provider.STATESET}, {}),
        ({Provider.STATESET}, {"statuses": ["COMPLETED"]}),
        ({Provider.STATESET}, {"tags": list(TWO_TAGS)}),
        ({Provider.VONAGE}, {}),
        ({Provider.VONAGE}, {"statuses": ["FAILED"]}),
        ({Provider.STATESET, Provider.VONAGE}, {}),
    ],
    ids=["stateset", "stateset-completed", "stateset-tags", "vonage", "vonage-failed", "both"],
)
async def test_total_count_is_the_oracles_count_for_vendors_that_count(
    gateway: Gateway, providers: set[Provider], extra: dict[str, Any]
) -> None:
    filter_ = {**SHORT, "providers": sorted(p.name for p in providers), **extra}
    body = await gateway.query(PAGE, first=2, filter=filter_)
    query: dict[str, Any] = {}
    if "statuses" in extra:
        query["statuses"] = frozenset(SessionStatus[s] for s in extra["statuses"])
    if "tags" in extra:
        query["tags"] = tuple(extra["tags"])
    expected = in_short_window(oracle(gateway, providers, **query))
    assert len(expected) > 2  # more than one page: the count is not the page's length
    assert body["data"]["sessions"]["totalCount"] == len(expected)
    assert len(body["data"]["sessions"]["edges"]) == 2


async def test_vonage_counts_one_60_day_window_only(gateway: Gateway) -> None:
    # README: Vonage counts a window that fits in one of its 60-day searches; the default
    # window is 90 days, which it cannot count in one answer.
    body = await gateway.query(
        "{ sessions(first: 3, filter: {providers: [VONAGE]}) { totalCount edges { cursor } } }"
    )
    assert len(body["data"]["sessions"]["edges"]) == 3
    assert body["data"]["sessions"]["totalCount"] is None


@pytest.mark.parametrize(
    "providers",
    [{Provider.SAMSARA}, {Provider.SAMSARA, Provider.STATESET}, ALL],
    ids=["samsara", "samsara-stateset", "all"],
)
async def test_total_count_is_null_when_samsara_is_asked(
    gateway: Gateway, providers: set[Provider]
) -> None:
    filter_ = {**SHORT, "providers": sorted(p.name for p in providers)}
    body = await gateway.query(PAGE, first=3, filter=filter_)
    assert "errors" not in body
    assert body["data"]["sessions"]["totalCount"] is None
    assert len(body["data"]["sessions"]["edges"]) == 3


# --- sources -------------------------------------------------------------------------------------


def source(provider: Provider, **fields: Any) -> dict[str, Any]:
    base = {
        "provider": provider.name,
        "queried": True,
        "ok": True,
        "errorCode": None,
        "truncated": False,
        "exhausted": False,
    }
    return {**base, **fields}


async def test_a_failing_vendor_is_not_ok_and_says_why(gateway: Gateway) -> None:
    gateway.simulators[Provider.STATESET].faults.error_status = 500
    body = await gateway.query(PAGE, first=10, filter=WINDOW)
    connection = body["data"]["sessions"]
    assert connection["sources"] == [
        source(Provider.SAMSARA),
        source(Provider.STATESET, ok=False, errorCode="UPSTREAM_UNAVAILABLE"),
        source(Provider.VECTARA),
        source(Provider.VONAGE),
    ]
    assert [
        (e["path"], e["extensions"]["code"], e["extensions"]["provider"]) for e in body["errors"]
    ] == [(["sessions"], "UPSTREAM_UNAVAILABLE", "STATESET")]
    others = oracle(gateway, ALL - {Provider.STATESET})
    ids = [(e["node"]["provider"], e["node"]["providerSessionId"]) for e in connection["edges"]]
    assert ids == keys(others[:10])
    assert connection["totalCount"] is None  # a count without StateSet's would be wrong


async def test_a_vendor_the_filter_rules_out_is_not_queried(gateway: Gateway) -> None:
    listed = await gateway.query(
        """{ agents(first: 100, providers: [VONAGE]) { nodes { id providerAgentId } } }"""
    )
    agent = listed["data"]["agents"]["nodes"][0]
    gateway.clear_logs()
    answer = await walk(gateway, 100, agentIds=[agent["id"]])
    expected = [
        r for r in oracle(gateway, {Provider.VONAGE}) if r.agent_id == agent["providerAgentId"]
    ]
    assert answer.ids == keys(expected)
    assert answer.pages[-1]["sources"] == [
        source(Provider.SAMSARA, queried=False, exhausted=True),
        source(Provider.STATESET, queried=False, exhausted=True),
        source(Provider.VECTARA, queried=False, exhausted=True),
        source(Provider.VONAGE, exhausted=True),
    ]
    calls = gateway.calls()
    assert calls[Provider.SAMSARA] == calls[Provider.STATESET] == calls[Provider.VECTARA] == 0


async def test_a_scan_stopped_by_the_cap_says_truncated() -> None:
    # 300 sessions a vendor; a cap of 100. StateSet and Vectara promise no order: their scans
    # stop at the cap (Vectara's at its next page of 100) and say so. Samsara and Vonage page
    # in order: no scan, no cap.
    async with running_gateway(size=300, environ={"SESSIONGRAPH_SCAN_CAP": "100"}) as gateway:
        body = await gateway.query(PAGE, first=10, filter=WINDOW)
        connection = body["data"]["sessions"]
        said = {
            s["provider"]: (s["queried"], s["ok"], s["errorCode"], s["truncated"])
            for s in connection["sources"]
        }
        assert said == {
            "SAMSARA": (True, True, None, False),
            "STATESET": (True, True, None, True),
            "VECTARA": (True, True, None, True),
            "VONAGE": (True, True, None, False),
        }
        # What a truncated scan served is real, but not necessarily the newest.
        served = set(keys_of(connection))
        assert served <= set(keys(oracle(gateway, ALL)))
        assert connection["totalCount"] is None


async def test_a_scan_within_the_cap_is_not_truncated_and_exact() -> None:
    async with running_gateway(size=300) as gateway:
        body = await gateway.query(PAGE, first=10, filter=WINDOW)
        connection = body["data"]["sessions"]
        assert [s["truncated"] for s in connection["sources"]] == [False] * 4
        assert keys_of(connection) == keys(oracle(gateway, ALL)[:10])


def keys_of(connection: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["node"]["provider"], e["node"]["providerSessionId"]) for e in connection["edges"]]


async def test_a_walk_to_the_end_says_every_vendor_is_exhausted(gateway: Gateway) -> None:
    first, second = TWO_WORDS
    answer = await walk(gateway, 5, text=f"{first} {second}")
    assert answer.ids == keys(oracle(gateway, ALL, text=f"{first} {second}"))
    assert len(answer.pages) > 2
    # The first page: every vendor has more to give.
    assert [s["exhausted"] for s in answer.pages[0]["sources"]] == [False] * 4
    # The last page: nothing more from anyone.
    assert answer.pages[-1]["sources"] == [source(p, exhausted=True) for p in sorted(ALL)]


async def test_exhausted_means_none_of_that_vendors_sessions_come_later(
    gateway: Gateway,
) -> None:
    # SourceStatus.exhausted: "Nothing more from this vendor." A vendor that says so on a page
    # must have none of its sessions on the pages after it.
    first, second = TWO_WORDS
    answer = await walk(gateway, 5, text=f"{first} {second}")
    broken = []
    for index, page in enumerate(answer.pages):
        later = {e["node"]["provider"] for p in answer.pages[index + 1 :] for e in p["edges"]}
        broken += [
            (index, s["provider"])
            for s in page["sources"]
            if s["exhausted"] and s["provider"] in later
        ]
    assert broken == [], "(page, vendor) said exhausted, yet more of its sessions came later"


async def test_a_vendor_with_nothing_to_give_is_exhausted_at_once(gateway: Gateway) -> None:
    # Samsara sessions carry no tags: nothing of Samsara matches a tag filter.
    body = await gateway.query(PAGE, first=5, filter={**WINDOW, "tags": ["billing"]})
    samsara = body["data"]["sessions"]["sources"][0]
    assert samsara == source(Provider.SAMSARA, exhausted=True)
    assert [s["exhausted"] for s in body["data"]["sessions"]["sources"][1:]] == [False] * 3
