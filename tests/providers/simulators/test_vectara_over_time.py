"""The Vectara simulator over time: its three list orders, sessions that arrive, close and are
deleted as a fake clock moves, page keys across those changes, and its size. What a sync of
Vectara meets (vendors.md §3, §5), checked from what a client sees: the listings, `GET`s and
events, compared before and after the clock moves, and times stated here from the knobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.query import SessionQuery
from providers.simulators.vectara import MAX_CHANGES_PER_ADVANCE, VectaraSimulator
from tests.oracles import expected_records
from tests.oracles.select import select
from tests.oracles.vectara import listed
from tests.support import FakeClock, connect, walk

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SIZE = 300
AGENTS = ("agt_support", "agt_billing", "agt_scheduling", "agt_dispatch", "agt_onboarding")
Served = dict[str, Any]
EVERYTHING = SessionQuery(
    started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR + timedelta(days=2)
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Vendor:
    """A simulator on a fake clock, and a client that calls it as a sync would."""

    def __init__(self, **options: Any) -> None:
        self.clock = FakeClock(ANCHOR)
        self.sim = VectaraSimulator(
            size=options.pop("size", SIZE), anchor=ANCHOR, clock=self.clock.now, **options
        )
        self.http = httpx.AsyncClient(
            transport=self.sim.transport(),
            base_url=self.sim.base_url,
            headers={"x-api-key": self.sim.api_key},
        )

    def move_to(self, moment: datetime) -> None:
        self.clock.elapsed = (moment - ANCHOR).total_seconds()

    async def page(self, agent_key: str, **params: Any) -> Served:
        response = await self.http.get(f"/v2/agents/{agent_key}/sessions", params=params)
        assert response.status_code == 200, response.text
        body: Served = response.json()
        return body

    async def listing(self, agent_key: str, **params: Any) -> list[Served]:
        """Every page of one agent's list, following `page_key`; the total must hold."""
        sessions: list[Served] = []
        page_key = None
        while True:
            paging = {"page_key": page_key} if page_key else {}
            body = await self.page(agent_key, limit=100, **params, **paging)
            sessions += body["sessions"]
            page_key = body["metadata"].get("page_key")
            if not page_key:
                assert body["metadata"]["total_count"] == len(sessions)
                return sessions

    async def everything(self, **params: Any) -> dict[tuple[str, str], Served]:
        return {
            (agent_key, s["key"]): s
            for agent_key in AGENTS
            for s in await self.listing(agent_key, **params)
        }

    async def totals(self, **params: Any) -> dict[str, int]:
        return {
            agent_key: (await self.page(agent_key, **params))["metadata"]["total_count"]
            for agent_key in AGENTS
        }

    async def events(self, agent_key: str, key: str) -> list[Served]:
        path = f"/v2/agents/{agent_key}/sessions/{key}/events"
        events: list[Served] = []
        page_key = None
        while True:
            params = {"limit": 100} | ({"page_key": page_key} if page_key else {})
            body = (await self.http.get(path, params=params)).json()
            events += body["events"]
            page_key = body["metadata"].get("page_key")
            if not page_key:
                return events

    async def status(self, path: str) -> int:
        return (await self.http.get(path)).status_code


@pytest.fixture
async def vendor(request: pytest.FixtureRequest) -> AsyncIterator[Vendor]:
    options: dict[str, Any] = getattr(request, "param", {})
    made = Vendor(**options)
    yield made
    await made.http.aclose()


def knobs(**options: Any) -> Any:
    return pytest.mark.parametrize("vendor", [options], indirect=True)


# --- list orders ----------------------------------------------------------------------------


@knobs(order="newest-first", arrivals_per_hour=30)
async def test_newest_first_is_by_created_at_descending_new_sessions_at_the_head(
    vendor: Vendor,
) -> None:
    before = await vendor.listing("agt_support")
    created = [at(s["created_at"]) for s in before]
    assert created == sorted(created, reverse=True) and len(created) > 100
    vendor.move_to(ANCHOR + timedelta(hours=2))  # 60 arrivals, some for this agent
    after = await vendor.listing("agt_support")
    created = [at(s["created_at"]) for s in after]
    assert created == sorted(created, reverse=True)
    new = [s["key"] for s in after if at(s["created_at"]) > ANCHOR]
    assert new and [s["key"] for s in after[: len(new)]] == new


@knobs(order="insertion", arrivals_per_hour=30)
async def test_insertion_order_is_oldest_first_then_new_sessions_appended(
    vendor: Vendor,
) -> None:
    before = await vendor.listing("agt_billing")
    created = [at(s["created_at"]) for s in before]
    assert created == sorted(created)
    vendor.move_to(ANCHOR + timedelta(hours=2))
    after = await vendor.listing("agt_billing")
    new = [s["key"] for s in after if at(s["created_at"]) > ANCHOR]
    assert new
    assert [s["key"] for s in after] == [s["key"] for s in before] + new  # in arrival order
    assert [at(s["created_at"]) for s in after] == sorted(at(s["created_at"]) for s in after)


@knobs(arrivals_per_hour=60)
async def test_shuffled_is_a_stable_shuffle_with_new_sessions_anywhere(vendor: Vendor) -> None:
    assert vendor.sim.order == "shuffled"  # the default
    before = await vendor.listing("agt_support")
    created = [s["created_at"] for s in before]
    assert created not in (sorted(created), sorted(created, reverse=True))
    vendor.move_to(ANCHOR + timedelta(hours=3))  # 180 arrivals
    after = [s["key"] for s in await vendor.listing("agt_support")]
    old = {s["key"] for s in before}
    assert [key for key in after if key in old] == [s["key"] for s in before]  # kept its order
    places = [index for index, key in enumerate(after) if key not in old]
    assert len(places) > 20
    middle = [p for p in places if len(places) <= p < len(after) - len(places)]
    assert middle  # neither all at the head nor all at the end

    again = Vendor(arrivals_per_hour=60)  # the same seed serves the same order
    again.move_to(ANCHOR + timedelta(hours=3))
    try:
        assert [s["key"] for s in await again.listing("agt_support")] == after
    finally:
        await again.http.aclose()


async def test_the_order_changes_the_order_only() -> None:
    """The same seed holds the same sessions, arrivals included, whatever the order."""
    seen = []
    for order in ("shuffled", "newest-first", "insertion"):
        made = Vendor(order=order, arrivals_per_hour=20, deletions_per_hour=10)
        made.move_to(ANCHOR + timedelta(hours=2))
        try:
            seen.append(await made.everything())
        finally:
            await made.http.aclose()
    assert seen[0] == seen[1] == seen[2]


@knobs(arrivals_per_hour=120, order="shuffled")
async def test_a_page_key_resumes_after_the_last_session_given_across_arrivals(
    vendor: Vendor,
) -> None:
    first = await vendor.page("agt_support", limit=40)
    given = [s["key"] for s in first["sessions"]]
    vendor.move_to(ANCHOR + timedelta(hours=1))  # 120 arrivals, put anywhere
    rest = await vendor.page("agt_support", limit=100, page_key=first["metadata"]["page_key"])
    now = [s["key"] for s in await vendor.listing("agt_support")]
    assert [s["key"] for s in rest["sessions"]] == now[now.index(given[-1]) + 1 :][:100]
    assert rest["metadata"]["total_count"] == len(now) > len(first["sessions"]) + 100


@knobs(order="newest-first", arrivals_per_hour=120)
async def test_newest_first_walk_under_way_does_not_see_new_sessions(vendor: Vendor) -> None:
    first = await vendor.page("agt_billing", limit=10)
    old = [s["key"] for s in await vendor.listing("agt_billing")]
    vendor.move_to(ANCHOR + timedelta(hours=1))
    rest = await vendor.page("agt_billing", limit=100, page_key=first["metadata"]["page_key"])
    assert [s["key"] for s in rest["sessions"]] == old[10:110]
    assert rest["metadata"]["total_count"] > len(old)  # the new ones are counted, at the head


# --- arrivals ---------------------------------------------------------------------------------


@knobs(arrivals_per_hour=6)
async def test_a_new_session_arrives_every_ten_minutes_open_and_listed(vendor: Vendor) -> None:
    before = await vendor.everything()
    totals, open_totals = await vendor.totals(), await vendor.totals(enabled="true")
    first = ANCHOR + timedelta(minutes=10)
    vendor.move_to(first - timedelta(milliseconds=1))
    assert await vendor.totals() == totals

    vendor.move_to(first)
    after = await vendor.everything()
    [(agent_key, key)] = set(after) - set(before)
    arrived = after[(agent_key, key)]
    assert at(arrived["created_at"]) == first
    assert arrived["enabled"] is True and arrived["id"] == key
    assert await vendor.totals() == totals | {agent_key: totals[agent_key] + 1}
    assert await vendor.totals(enabled="true") == open_totals | {
        agent_key: open_totals[agent_key] + 1
    }
    assert key in {s["key"] for s in await vendor.listing(agent_key, enabled="true")}
    got = await vendor.http.get(f"/v2/agents/{agent_key}/sessions/{key}")
    assert got.json() == arrived
    assert [(c.at, c.kind, c.agent_key, c.key) for c in vendor.sim.changes] == [
        (first, "arrived", agent_key, key)
    ]

    vendor.move_to(ANCHOR + timedelta(minutes=60))  # five more, one each 10 minutes
    times = sorted(at(s["created_at"]) for s in (await vendor.everything()).values())
    assert [t for t in times if t > ANCHOR] == [
        ANCHOR + timedelta(minutes=m) for m in (10, 20, 30, 40, 50, 60)
    ]


@knobs(arrivals_per_hour=30)
async def test_a_new_chat_grows_event_by_event_then_closes_tti_after_its_last(
    vendor: Vendor,
) -> None:
    vendor.move_to(ANCHOR + timedelta(minutes=2))
    vendor.sim.advance(vendor.clock.now())  # the model moves when asked (or at a request)
    [(agent_key, key)] = [(c.agent_key, c.key) for c in vendor.sim.changes if c.kind == "arrived"]
    path = f"/v2/agents/{agent_key}/sessions/{key}"
    counts = []
    for seconds in range(0, 1800, 15):
        vendor.move_to(ANCHOR + timedelta(minutes=2, seconds=seconds))
        events = await vendor.events(agent_key, key)
        assert all(at(e["created_at"]) <= vendor.clock.now() for e in events)
        counts.append(len(events))
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] > 4
    final = await vendor.events(agent_key, key)
    closes = at(final[-1]["created_at"]) + timedelta(
        minutes=(await vendor.http.get(path)).json()["tti_minutes"]
    )
    vendor.move_to(closes - timedelta(milliseconds=1))
    assert (await vendor.http.get(path)).json()["enabled"] is True
    vendor.move_to(closes)
    assert (await vendor.http.get(path)).json()["enabled"] is False
    assert await vendor.events(agent_key, key) == final


# --- closes -----------------------------------------------------------------------------------


async def test_an_open_session_closes_at_its_last_event_plus_tti(vendor: Vendor) -> None:
    """No arrivals: the sessions open at the anchor close one by one, each when its last event
    is `tti_minutes` old, and leave the `enabled=true` listing then."""
    opened = await vendor.everything(enabled="true")
    assert opened
    closes = {}
    for (agent_key, key), served in opened.items():
        events = await vendor.events(agent_key, key)
        assert events and at(events[-1]["created_at"]) <= ANCHOR  # no chat is going on
        closes[(agent_key, key)] = at(events[-1]["created_at"]) + timedelta(
            minutes=served["tti_minutes"]
        )
    assert all(moment > ANCHOR for moment in closes.values())
    place, moment = min(closes.items(), key=lambda item: item[1])
    agent_key, key = place
    vendor.move_to(moment - timedelta(milliseconds=1))
    assert place in await vendor.everything(enabled="true")
    open_total = (await vendor.page(agent_key, enabled="true"))["metadata"]["total_count"]
    vendor.move_to(moment)
    assert place not in await vendor.everything(enabled="true")
    assert key in {s["key"] for s in await vendor.listing(agent_key, enabled="false")}
    assert (await vendor.page(agent_key, enabled="true"))["metadata"]["total_count"] == (
        open_total - 1
    )
    served = await vendor.http.get(f"/v2/agents/{agent_key}/sessions/{key}")
    assert served.json()["enabled"] is False
    assert (moment, "closed", agent_key, key) in [
        (c.at, c.kind, c.agent_key, c.key) for c in vendor.sim.changes
    ]
    vendor.move_to(max(closes.values()))
    assert await vendor.everything(enabled="true") == {}
    assert len(await vendor.everything()) == SIZE  # closed, not gone


async def test_open_sessions_are_the_recent_ones_not_a_share_of_the_history() -> None:
    """Open: within tti_minutes (an hour at most) of the last event. So the open count follows
    the rate sessions come at: a small part of a large history."""
    sim = VectaraSimulator(size=20_000, anchor=ANCHOR, clock=lambda: ANCHOR)
    opened = sim.open_sessions()
    assert 0 < len(opened) < 20_000 // 100
    for agent_key, key in opened:
        session = sim.session(agent_key, key)
        assert session is not None and session.still_open
        assert ANCHOR - session.started_at < timedelta(hours=2)


# --- deletions --------------------------------------------------------------------------------


@knobs(deletions_per_hour=4)
async def test_every_fifteen_minutes_a_closed_session_disappears(vendor: Vendor) -> None:
    at_anchor = await vendor.everything()
    totals = await vendor.totals()
    vendor.move_to(ANCHOR + timedelta(minutes=15) - timedelta(milliseconds=1))
    before = await vendor.everything()  # chats may have closed meanwhile: none went
    assert set(before) == set(at_anchor)
    vendor.move_to(ANCHOR + timedelta(minutes=15))
    after = await vendor.everything()
    [(agent_key, key)] = set(before) - set(after)
    assert set(after) < set(before)
    assert before[(agent_key, key)]["enabled"] is False  # only closed sessions go
    assert await vendor.totals() == totals | {agent_key: totals[agent_key] - 1}
    path = f"/v2/agents/{agent_key}/sessions/{key}"
    assert await vendor.status(path) == 404
    assert await vendor.status(path + "/events") == 404
    assert vendor.sim.session(agent_key, key) is None
    assert (ANCHOR + timedelta(minutes=15), "deleted", agent_key, key) in [
        (c.at, c.kind, c.agent_key, c.key) for c in vendor.sim.changes
    ]
    vendor.move_to(ANCHOR + timedelta(hours=2))
    assert len(await vendor.everything()) == SIZE - 8
    assert len(vendor.sim.session_keys()) == SIZE - 8


@knobs(deletions_per_hour=3600)
async def test_deletions_take_closed_sessions_only(vendor: Vendor) -> None:
    """One a second: after SIZE seconds every closed session is gone, the open ones are not."""
    opened = await vendor.everything(enabled="true")
    assert opened
    vendor.move_to(ANCHOR + timedelta(seconds=SIZE))
    left = await vendor.everything()
    assert left == await vendor.everything(enabled="true")
    assert set(left) == {place for place in opened if place in left} and left
    deleted = [c for c in vendor.sim.changes if c.kind == "deleted"]
    assert len(deleted) == SIZE - len(left) == len({(c.agent_key, c.key) for c in deleted})


# --- determinism and bounds -------------------------------------------------------------------


async def test_the_data_at_the_anchor_is_the_generated_data_whatever_the_rates() -> None:
    still = Vendor()
    busy = Vendor(arrivals_per_hour=600, deletions_per_hour=600)
    try:
        assert await still.everything() == await busy.everything()
        assert busy.sim.changes == ()
    finally:
        await still.http.aclose()
        await busy.http.aclose()


async def test_changes_depend_on_the_clock_only_not_on_how_often_it_is_read() -> None:
    options = {"arrivals_per_hour": 30.0, "deletions_per_hour": 10.0}
    stepped = VectaraSimulator(size=SIZE, anchor=ANCHOR, clock=lambda: ANCHOR, **options)
    end = ANCHOR + timedelta(hours=20)
    moment = ANCHOR
    while moment < end:
        moment += timedelta(seconds=997)
        stepped.advance(min(moment, end))
    jumped = VectaraSimulator(size=SIZE, anchor=ANCHOR, clock=lambda: end, **options)
    assert stepped.changes == jumped.changes
    kinds = {change.kind for change in jumped.changes}
    assert kinds == {"arrived", "closed", "deleted"}
    assert stepped.sessions == jumped.sessions


def test_one_advance_makes_a_bounded_number_of_changes() -> None:
    sim = VectaraSimulator(size=30, anchor=ANCHOR, clock=lambda: ANCHOR, arrivals_per_hour=10_800)
    later = ANCHOR + timedelta(seconds=1000)  # 3,000 arrivals due
    sim.advance(later)
    assert len(sim.changes) == MAX_CHANGES_PER_ADVANCE
    assert sim.model_time < later
    assert len(sim.session_keys()) == 30 + len([c for c in sim.changes if c.kind == "arrived"])
    sim.advance(later)
    assert sim.model_time == later
    assert len([c for c in sim.changes if c.kind == "arrived"]) == 3000


# --- the adapter over changing data -----------------------------------------------------------


async def test_the_oracle_follows_the_data_as_it_changes() -> None:
    """Through the adapter, after arrivals, closes and deletions: the listing and the details
    are what the oracle says from the model now."""
    clock = FakeClock(ANCHOR)
    sim = VectaraSimulator(
        size=80, anchor=ANCHOR, clock=clock.now, arrivals_per_hour=12, deletions_per_hour=3
    )
    adapter = connect(sim, clock=clock)
    try:
        clock.advance(3 * 3600 + 17)
        sim.advance(clock.now())  # the model moves when asked (or at a request)
        records = expected_records(sim)
        assert len(records) == 80 + 36 - 9
        assert await walk(adapter, EVERYTHING, 50) == select(
            [listed(session) for session in sim.sessions], EVERYTHING
        )
        assert await adapter.get_sessions([record.ref for record in records]) == records
    finally:
        await adapter.aclose()


# --- size -------------------------------------------------------------------------------------


async def test_a_hundred_thousand_sessions_construct_and_list() -> None:
    sim = VectaraSimulator(size=100_000, anchor=ANCHOR, clock=lambda: ANCHOR)
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=sim.base_url, headers={"x-api-key": sim.api_key}
    ) as http:
        totals = []
        for agent_key in AGENTS:
            body = (
                await http.get(f"/v2/agents/{agent_key}/sessions", params={"limit": 100})
            ).json()
            totals.append(body["metadata"]["total_count"])
            assert len(body["sessions"]) == min(100, totals[-1])
        opened = await http.get("/v2/agents/agt_support/sessions", params={"enabled": "true"})
    assert sum(totals) == 100_000
    assert 0 < opened.json()["metadata"]["total_count"] < 1000
    keys = sim.session_keys()
    assert len(keys) == 100_000 and len({(k.agent_id, k.id) for k in keys}) == 100_000
