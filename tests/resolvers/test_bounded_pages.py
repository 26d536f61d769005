"""Pages of the merged connection when a vendor's walk reaches its call bound: the page ends at
that vendor's frontier (short, or empty with cursors that go on), `hasNextPage` stays true, and
walking on loses nothing and repeats nothing. Expected sessions come from the oracles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from providers.adapter import Adapter
from providers.query import SessionQuery, SortOrder, matches
from providers.records import Provider
from providers.simulators import samsara
from tests.conftest import ANCHOR, Gateway
from tests.oracles import expected_records

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String,
           $filter: SessionFilter, $order: SessionOrder) {
  sessions(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $order) {
    edges { cursor late node { provider providerSessionId startedAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    sources { provider exhausted }
  }
}
"""
SINCE_2000 = datetime(2000, 1, 1, tzinfo=UTC)  # 164 slices of 60 days for Vonage
VONAGE_PAGE_CALLS = 16  # the most calls one Vonage page makes, whatever the window


def truth(gateway: Gateway, query: SessionQuery, providers: set[Provider]) -> list[tuple[str, str]]:
    records = [r for p in providers for r in expected_records(gateway.simulators[p])]
    kept = sorted(
        (r for r in records if matches(r, query)),
        key=lambda r: r.sort_key,
        reverse=query.order is SortOrder.NEWEST_FIRST,
    )
    return [(r.provider.name, r.id) for r in kept]


def names(edges: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["node"]["provider"], e["node"]["providerSessionId"]) for e in edges]


async def walk(
    gateway: Gateway,
    variables: dict[str, Any],
    check_page: Callable[[dict[str, Any]], None] = lambda _: None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every edge of a forward walk and every page, `check_page` run on each."""
    edges: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    after = None
    for _ in range(100):
        gateway.clear_logs()
        body = await gateway.query(PAGE, after=after, **variables)
        assert "errors" not in body, body
        connection = body["data"]["sessions"]
        check_page(connection)
        pages.append(connection)
        edges += connection["edges"]
        if not connection["pageInfo"]["hasNextPage"]:
            return edges, pages
        after = connection["pageInfo"]["endCursor"]
        assert after is not None, "a page with more after it has an end cursor"
    raise AssertionError("the walk did not end")


def vonage_within_bound(gateway: Gateway) -> Callable[[dict[str, Any]], None]:
    def check(_: dict[str, Any]) -> None:
        assert gateway.calls()[Provider.VONAGE] <= VONAGE_PAGE_CALLS

    return check


async def test_a_vonage_walk_since_2000_pages_through_empty_pages_to_exactly_the_oracle(
    gateway: Gateway,
) -> None:
    variables = {
        "first": 20,
        "order": "OLDEST_FIRST",
        "filter": {"providers": ["VONAGE"], "startedAfter": SINCE_2000.isoformat()},
    }
    edges, pages = await walk(gateway, variables, vonage_within_bound(gateway))
    query = SessionQuery(
        started_after=SINCE_2000, started_before=ANCHOR, order=SortOrder.OLDEST_FIRST
    )
    assert names(edges) == truth(gateway, query, {Provider.VONAGE})
    assert not any(edge["late"] for edge in edges)
    empty = [page for page in pages if not page["edges"]]
    assert len(empty) >= 164 // VONAGE_PAGE_CALLS - 1
    for page in empty:
        info = page["pageInfo"]
        assert info["hasNextPage"] and info["endCursor"] and info["startCursor"]
        assert page["sources"] == [{"provider": "VONAGE", "exhausted": False}]


async def test_a_stopped_vendor_holds_back_the_others_until_its_walk_reaches_them(
    gateway: Gateway,
) -> None:
    """Every vendor, oldest first since 2000: Vonage walks 60-day slices of nothing for pages,
    and nobody's session may be shown before it has walked up to it."""
    variables = {
        "first": 25,
        "order": "OLDEST_FIRST",
        "filter": {"startedAfter": "2000-01-01T00:00:00Z"},
    }
    edges, pages = await walk(gateway, variables, vonage_within_bound(gateway))
    query = SessionQuery(
        started_after=SINCE_2000, started_before=ANCHOR, order=SortOrder.OLDEST_FIRST
    )
    assert names(edges) == truth(gateway, query, set(Provider))
    assert not any(edge["late"] for edge in edges)
    assert not pages[0]["edges"] and pages[0]["pageInfo"]["hasNextPage"]


@pytest.fixture
def mostly_empty_samsara_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Samsara's stream serves nine empty pages, then a full one, and so on."""

    def page_size(page: int, limit: int) -> int:
        return limit if page % 10 == 9 else 0

    monkeypatch.setattr(samsara, "_page_size", page_size)


@pytest.mark.usefixtures("mostly_empty_samsara_pages")
@pytest.mark.parametrize("first", [4, 30])
async def test_samsara_empty_pages_end_the_page_at_its_frontier_and_nothing_is_lost(
    gateway: Gateway, first: int
) -> None:
    samsara_adapter = gateway.sources.adapters[Provider.SAMSARA]

    def within_bound(_: dict[str, Any]) -> None:
        window = SessionQuery(started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR)
        bound = samsara_adapter.list_call_bound(window, first + 1)
        assert gateway.calls()[Provider.SAMSARA] <= bound

    edges, pages = await walk(gateway, {"first": first}, within_bound)
    query = SessionQuery(started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR)
    assert names(edges) == truth(gateway, query, set(Provider))
    assert not any(edge["late"] for edge in edges)
    assert any(len(page["edges"]) < first and page["pageInfo"]["hasNextPage"] for page in pages)


@pytest.mark.usefixtures("mostly_empty_samsara_pages")
async def test_a_vendor_stopped_before_reading_a_session_leaves_the_page_empty(
    gateway: Gateway,
) -> None:
    """The window ends just after Samsara's newest session: Samsara's first page reads only
    empty vendor pages, so no other vendor's session may be shown yet."""
    newest = max(expected_records(gateway.simulators[Provider.SAMSARA]), key=lambda r: r.sort_key)
    window = SessionQuery(
        started_after=ANCHOR - timedelta(days=90),
        started_before=newest.started_at + timedelta(milliseconds=1),
    )
    variables = {
        "first": 4,
        "filter": {
            "startedAfter": window.started_after.isoformat(),
            "startedBefore": window.started_before.isoformat(),
        },
    }
    edges, pages = await walk(gateway, variables)
    assert not pages[0]["edges"] and pages[0]["pageInfo"]["endCursor"]
    assert names(edges) == truth(gateway, window, set(Provider))
    assert names(edges)[0] == ("SAMSARA", newest.id)
    assert not any(edge["late"] for edge in edges)


async def test_backward_pages_through_empty_pages_use_the_start_cursor(gateway: Gateway) -> None:
    """`last` from the end of a NEWEST_FIRST window since 2000 walks Vonage's slices oldest
    first: empty pages, each with a start cursor that goes on backward."""
    filter_ = {"providers": ["VONAGE"], "startedAfter": SINCE_2000.isoformat()}
    edges: list[dict[str, Any]] = []
    before = None
    for _ in range(100):
        gateway.clear_logs()
        body = await gateway.query(PAGE, last=30, before=before, filter=filter_)
        connection = body["data"]["sessions"]
        assert gateway.calls()[Provider.VONAGE] <= VONAGE_PAGE_CALLS
        edges = connection["edges"] + edges
        if not connection["pageInfo"]["hasPreviousPage"]:
            break
        before = connection["pageInfo"]["startCursor"]
        assert before is not None
    else:
        raise AssertionError("the walk did not end")
    query = SessionQuery(started_after=SINCE_2000, started_before=ANCHOR)
    assert names(edges) == truth(gateway, query, {Provider.VONAGE})


async def test_a_stopped_page_with_sessions_goes_on_past_what_its_walk_read(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Vonage call a page and a filter Vonage cannot answer exactly: each page is the
    matching sessions of one vendor page of a slice, and the next goes on after that page."""
    monkeypatch.setattr(gateway.sources.adapters[Provider.VONAGE], "walk_calls", 1)
    variables = {"first": 50, "filter": {"providers": ["VONAGE"], "tags": ["billing"]}}

    def one_call(_: dict[str, Any]) -> None:
        assert gateway.calls()[Provider.VONAGE] == 1

    edges, pages = await walk(gateway, variables, one_call)
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR, tags=("billing",)
    )
    assert names(edges) == truth(gateway, query, {Provider.VONAGE})
    assert len(pages) == 2  # one slice a page
    assert 0 < len(pages[0]["edges"]) < 50 and pages[0]["pageInfo"]["hasNextPage"]


async def test_each_vendor_is_asked_once_a_page(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Provider] = []
    for adapter in gateway.sources.adapters.values():
        original = adapter.list_sessions

        async def counted(
            *args: Any, _original: Any = original, _adapter: Adapter = adapter
        ) -> Any:
            asked.append(_adapter.provider)
            return await _original(*args)

        monkeypatch.setattr(adapter, "list_sessions", counted)
    # Vonage stops on every page of this walk, and hands its place to the next page.
    variables = {
        "first": 10,
        "order": "OLDEST_FIRST",
        "filter": {"startedAfter": "2000-01-01T00:00:00Z"},
    }
    body = await gateway.query(PAGE, **variables)
    assert sorted(asked) == sorted(Provider)
    assert body["data"]["sessions"]["edges"] == []
