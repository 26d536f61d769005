"""Bounded walks (issue 8, item 4): one `list_sessions` call makes at most its adapter's
`list_call_bound(query, limit)` vendor calls (counted at the simulator), on adversarial data too;
a walk that reaches the bound stops with a position that goes on exactly there, so walking
page by page still returns exactly the oracle's sessions, in order, once each."""

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
from providers.query import SessionPage, SessionQuery, SortOrder
from providers.records import Channel, SessionRecord, SessionStatus
from providers.simulators import Simulator, samsara
from providers.simulators.samsara import SamsaraSimulator
from providers.simulators.stateset import StateSetSimulator
from providers.simulators.vectara import VectaraSimulator
from providers.simulators.vonage.server import VonageSimulator
from providers.vonage.search import MAX_WINDOW, Slices
from providers.walk import CallAllowance
from tests.conftest import ANCHOR, Vendor
from tests.support import FakeClock, connect, expected, ids

YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
PAGES = 2000  # more pages than this: the walk does not end


async def bounded_walk(
    adapter: Adapter, simulator: Simulator, query: SessionQuery, limit: int
) -> tuple[list[SessionRecord], list[SessionPage]]:
    """Every page of `query`, each resumed from a JSON round trip of the last page's
    `next_after`; each `list_sessions` call within the adapter's bound, at the simulator."""
    bound = adapter.list_call_bound(query, limit)
    records: list[SessionRecord] = []
    pages: list[SessionPage] = []
    after = None
    for _ in range(PAGES):
        before = len(simulator.log.entries)
        page = await adapter.list_sessions(query, after, limit)
        assert len(simulator.log.entries) - before <= bound
        pages.append(page)
        records += [item.record for item in page.items]
        if page.exhausted:
            assert not page.stopped
            return records, pages
        assert len(page.items) == limit or page.stopped, "a short page says why"
        after = json.loads(json.dumps(page.next_after))
    raise AssertionError("the walk did not end")


def keys(records: list[SessionRecord]) -> list[tuple[Any, ...]]:
    return [record.sort_key for record in records]


@pytest.fixture
async def vonage() -> AsyncIterator[tuple[VonageSimulator, Adapter]]:
    sim = VonageSimulator(size=40, seed=1, anchor=ANCHOR, clock=lambda: ANCHOR)
    adapter = connect(sim)
    yield sim, adapter
    await adapter.aclose()


# --- the allowance ---------------------------------------------------------------------------


def test_an_allowance_reserves_before_calls_and_a_part_gives_back_what_it_left() -> None:
    calls = CallAllowance(5)
    assert calls.take(2) and calls.left == 3
    assert not calls.take(4) and calls.left == 3  # nothing reserved when it does not fit
    part = calls.split(3)
    assert part is not None and calls.left == 0 and calls.split(1) is None
    part.spend()
    calls.give_back(part)
    assert (calls.left, part.left) == (2, 0)


# --- every vendor ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("limit", [1, 11, 101])
async def test_every_page_of_every_vendor_stays_within_its_bound(
    vendor: Vendor, order: SortOrder, limit: int
) -> None:
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR, order=order
    )
    records, _ = await bounded_walk(vendor.adapter, vendor.simulator, query, limit)
    assert keys(records) == keys(expected(vendor.simulator, query))


# --- Vonage: 60-day slices ---------------------------------------------------------------------


def test_slices_are_numbered_in_the_walk_order_and_found_again_by_key() -> None:
    end = datetime(2026, 11, 1, tzinfo=UTC)
    for order in SortOrder:
        slices = Slices(YEAR_ONE, end, order)
        assert len(slices) == 12_332  # the count of sequential calls
        last = len(slices) - 1
        for number in (0, 1, last - 1, last):
            assert slices.number_of(slices[number].key) == number
        assert slices[0].end - slices[0].start == MAX_WINDOW
    newest = Slices(YEAR_ONE, end, SortOrder.NEWEST_FIRST)
    assert (newest[0].end, newest[-1 + len(newest)].start) == (end, YEAR_ONE)
    oldest = Slices(YEAR_ONE, end, SortOrder.OLDEST_FIRST)
    assert oldest[1].start == datetime(1, 3, 2, tzinfo=UTC)
    assert len(Slices(end, end, SortOrder.OLDEST_FIRST)) == 0


async def test_year_one_oldest_first_walks_to_the_end_exactly_within_the_bound(
    vonage: tuple[VonageSimulator, Adapter],
) -> None:
    """`sessions(first: 20, orderBy: OLDEST_FIRST, filter: {providers: [VONAGE], startedAfter:
    "0001-01-01T00:00:00Z"})` made 12,332 sequential calls in one page; now each page makes at
    most 16 and goes on where it stopped."""
    sim, adapter = vonage
    query = SessionQuery(
        started_after=YEAR_ONE, started_before=ANCHOR, order=SortOrder.OLDEST_FIRST
    )
    assert adapter.list_call_bound(query, 21) == 16
    records, pages = await bounded_walk(adapter, sim, query, 21)
    assert records == expected(sim, query) and len(records) == 40
    empty = [page for page in pages if not page.items]
    assert len(empty) >= 12_332 // 16 - 1 and all(page.stopped for page in empty)
    # Each slice was asked once (its first page), give or take the pages holding sessions.
    firsts = Counter(entry.param("from_date") for entry in sim.log.entries)
    assert len(firsts) == 12_332 and len(sim.log.entries) <= 12_332 + 4


async def test_empty_slices_go_out_together_within_the_bound(
    vonage: tuple[VonageSimulator, Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, _ = vonage
    in_flight = InFlight(sim.transport())
    monkeypatch.setattr(sim, "transport", lambda: in_flight)
    # Each answer takes 20 ms, the simulator's work included: calls sent together overlap
    # (1 ms did not under load: the work alone took longer, and nothing waited).
    sim.faults.latency_s = 0.02
    adapter = connect(sim)
    query = SessionQuery(
        started_after=YEAR_ONE, started_before=ANCHOR, order=SortOrder.OLDEST_FIRST
    )
    try:
        page = await adapter.list_sessions(query, None, 21)
    finally:
        await adapter.aclose()
    assert len(sim.log.entries) == 16 and in_flight.most >= 8  # rounds of 1, 2, 8, 5
    assert (page.items, page.stopped, page.exhausted) == ((), True, False)
    assert page.resume == {"slice": "0003-08-19T00:00:00.000000", "offset": 0}
    assert page.frontier is not None and page.frontier[0] == datetime(3, 8, 19, tzinfo=UTC)

    # A page that finds sessions in its first slice asks no other.
    sim.log.clear()
    recent = SessionQuery(started_after=YEAR_ONE, started_before=ANCHOR)
    adapter = connect(sim)
    try:
        newest = await adapter.list_sessions(recent, None, 5)
    finally:
        await adapter.aclose()
    assert len(newest.items) == 5 and len(sim.log.entries) == 1


class InFlight(httpx.AsyncBaseTransport):
    """A transport that remembers the most requests it had in flight at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.now = 0
        self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= 1


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize(
    "filters",
    [
        {},  # exact: the vendor's total is the query's
        {"tags": ("billing",)},  # matched locally too: any number of pages per slice
        {"statuses": frozenset({SessionStatus.ACTIVE, SessionStatus.FAILED})},
    ],
    ids=["exact", "tags", "statuses"],
)
@pytest.mark.parametrize("walk_calls", [1, 2])
async def test_vonage_walks_stopped_anywhere_resume_exactly(
    vonage: tuple[VonageSimulator, Adapter],
    monkeypatch: pytest.MonkeyPatch,
    order: SortOrder,
    filters: dict[str, Any],
    walk_calls: int,
) -> None:
    sim, adapter = vonage
    monkeypatch.setattr(adapter, "walk_calls", walk_calls)
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=200),
        started_before=ANCHOR,
        order=order,
        **filters,
    )
    for limit in (3, 101):
        records, pages = await bounded_walk(adapter, sim, query, limit)
        assert records == expected(sim, query)
        assert any(page.stopped for page in pages)


# --- Samsara: empty pages while hasNextPage is true ----------------------------------------------


@pytest.fixture
def mostly_empty_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's stream serves nine empty pages, then a full one, and so on."""

    def page_size(page: int, limit: int) -> int:
        return limit if page % 10 == 9 else 0

    monkeypatch.setattr(samsara, "_page_size", page_size)


@pytest.fixture
async def samsara_vendor() -> AsyncIterator[tuple[SamsaraSimulator, Adapter]]:
    clock = FakeClock(ANCHOR)
    sim = SamsaraSimulator(size=80, anchor=ANCHOR, clock=clock.now)
    adapter = connect(sim, clock=clock)
    yield sim, adapter
    await adapter.aclose()


@pytest.mark.usefixtures("mostly_empty_pages")
@pytest.mark.parametrize("text", [None, "the"])
async def test_samsara_empty_pages_count_and_the_walk_resumes_through_them(
    samsara_vendor: tuple[SamsaraSimulator, Adapter], text: str | None
) -> None:
    sim, adapter = samsara_vendor
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR, text=text
    )
    assert adapter.list_call_bound(query, 11) == (5 if text is None else 10)
    records, pages = await bounded_walk(adapter, sim, query, 11)
    assert keys(records) == keys(expected(sim, query)) and records
    assert any(page.stopped and not page.items for page in pages)
    streamed = sim.log.matching("/agent-studio/voice-sessions/stream")
    assert all(entry.param("limit") == "100" for entry in streamed)


@pytest.mark.usefixtures("mostly_empty_pages")
async def test_samsara_oldest_first_scan_is_truncated_by_its_calls(
    samsara_vendor: tuple[SamsaraSimulator, Adapter],
) -> None:
    sim, adapter = samsara_vendor
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=120),
        started_before=ANCHOR,
        order=SortOrder.OLDEST_FIRST,
        scan_cap=100,
    )
    assert adapter.list_call_bound(query, 11) == 3  # one stream: its page and two per 100
    page = await adapter.list_sessions(query, None, 11)
    assert len(sim.log.entries) == 3
    assert (page.items, page.truncated, page.stopped) == ((), True, False)


async def test_samsara_many_agent_streams_are_bounded_per_stream(
    samsara_vendor: tuple[SamsaraSimulator, Adapter],
) -> None:
    sim, adapter = samsara_vendor
    agents = tuple(sim.agent_ids()) + tuple(f"agent-{n}" for n in range(250))
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR, agent_ids=agents
    )
    assert adapter.list_call_bound(query, 11) == 2 * 3 + 3  # three streams of ≤100 agents
    records, _ = await bounded_walk(adapter, sim, query, 11)
    assert keys(records) == keys(expected(sim, query))


# --- Vectara: agents times pages ------------------------------------------------------------------


@pytest.fixture
async def vectara_vendor() -> AsyncIterator[tuple[VectaraSimulator, Adapter]]:
    # Seed 3: the text test needs matches further apart than one page's events calls.
    sim = VectaraSimulator(size=80, seed=3, anchor=ANCHOR, clock=lambda: ANCHOR)
    # Five agents of its own and 35 the vendor does not know (each one call, answered 404).
    adapter = connect(sim, agent_ids=sim.agent_ids() + tuple(f"agt_x{n}" for n in range(35)))
    yield sim, adapter
    await adapter.aclose()


async def test_vectara_many_agents_and_tiny_pages_stay_within_the_bound(
    vectara_vendor: tuple[VectaraSimulator, Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, adapter = vectara_vendor
    query = SessionQuery(started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR)
    assert adapter.list_call_bound(query, 21) == 40 + 20  # each agent, then 20 pages of 100
    records, _ = await bounded_walk(adapter, sim, query, 21)
    assert keys(records) == keys(expected(sim, query))

    # The vendor now answers one session a page: the scan is cut by its calls, and says so.
    monkeypatch.setattr(VectaraSimulator, "_limit", lambda self, request: 1)
    sim.log.clear()
    page = await adapter.list_sessions(query, None, 21)
    assert len(sim.log.entries) == 60 and page.truncated and len(page.items) == 21


async def test_vectara_text_filter_stops_after_the_last_candidate_checked_and_resumes(
    vectara_vendor: tuple[VectaraSimulator, Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, adapter = vectara_vendor
    monkeypatch.setattr(adapter, "fan_out", 2)  # few events calls a page: 20 + 2 x 2
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=120),
        started_before=ANCHOR,
        text="duplicate charged",
        order=SortOrder.OLDEST_FIRST,
    )
    assert adapter.list_call_bound(query, 2) == 40 + 20 + 24
    records, pages = await bounded_walk(adapter, sim, query, 2)
    assert records == expected(sim, query) and len(records) > 2
    stopped = [page for page in pages if page.stopped]
    assert stopped
    for page in stopped:  # it resumes after the last candidate it checked, shown or not
        assert page.frontier is not None and page.resume is not None
        assert page.resume["key"][0] == page.frontier[0].isoformat()


# --- StateSet: the scan ------------------------------------------------------------------------


async def test_stateset_scan_is_its_pages_up_to_the_cap() -> None:
    sim = StateSetSimulator(size=450, anchor=ANCHOR, clock=lambda: ANCHOR)
    adapter = connect(sim)
    query = SessionQuery(started_after=ANCHOR - timedelta(days=120), started_before=ANCHOR)
    try:
        capped = replace(query, scan_cap=250)
        assert adapter.list_call_bound(capped, 21) == 3
        page = await adapter.list_sessions(capped, None, 21)
        assert len(sim.log.entries) == 3 and page.truncated
        sim.log.clear()
        assert adapter.list_call_bound(query, 21) == 20
        records, _ = await bounded_walk(adapter, sim, query, 100)
        assert ids(records) == ids(expected(sim, query)) and len(records) == 450
    finally:
        await adapter.aclose()


def test_bounds_ignore_the_window_and_know_impossible_queries(
    vonage: tuple[VonageSimulator, Adapter],
) -> None:
    _, adapter = vonage
    short = SessionQuery(started_after=ANCHOR - timedelta(days=30), started_before=ANCHOR)
    year_one = replace(short, started_after=YEAR_ONE)
    assert adapter.list_call_bound(short, 21) == 3  # one slice, one page, one resumed page
    assert adapter.list_call_bound(year_one, 21) == 16
    assert adapter.list_call_bound(replace(year_one, text="refund"), 21) == 16
    assert adapter.list_call_bound(replace(short, channels=frozenset()), 21) == 0
    assert adapter.list_call_bound(replace(short, channels=frozenset({Channel.VOICE})), 0) == 0
