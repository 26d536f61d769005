"""The StateSet simulator over time (vendors.md §2 and §5): each list order serves what it says,
calls arrive, end and are deleted when the clock says so, the data depends only on the clock,
and 100,000 calls build with an exact `total`. Expected values are stated from the knobs (the
rates, the anchor) and from what the vendor served earlier, not from the simulator's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from providers.query import SessionQuery
from providers.simulators.stateset import ARRIVED, COMPLETED, DELETED, StateSetSimulator
from tests.support import FakeClock, connect, expected, walk

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SIZE = 200
PATH = "/api/v1/voice-sessions"
ENDED = {"completed", "reviewed", "failed"}


def simulator(clock: FakeClock, size: int = SIZE, **knobs: Any) -> StateSetSimulator:
    return StateSetSimulator(size=size, anchor=ANCHOR, clock=clock.now, **knobs)


async def get(sim: StateSetSimulator, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http:
        response = await http.get(PATH, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def served(sim: StateSetSimulator, **params: str) -> list[dict[str, Any]]:
    """The whole list as a client reads it, page by page; the total must hold on every page."""
    documents: list[dict[str, Any]] = []
    total = None
    while total is None or len(documents) < total:
        body = await get(sim, {**params, "limit": 100, "offset": len(documents)})
        assert total in (None, body["total"]), "the list changed during the read"
        total = body["total"]
        assert body["data"] or len(documents) == total
        documents += body["data"]
    return documents


async def by_stream(sim: StateSetSimulator, stream_id: str) -> dict[str, Any] | None:
    body = await get(sim, {"stream_id": stream_id})
    assert body["total"] == len(body["data"]) <= 1
    return body["data"][0] if body["data"] else None


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def arrived_ids(sim: StateSetSimulator) -> list[str]:
    return [change.call_id for change in sim.changes if change.kind == ARRIVED]


# --- the list's order ---------------------------------------------------------------------------


async def test_newest_first_serves_start_times_descending_arrivals_included() -> None:
    clock = FakeClock(ANCHOR)
    sim = simulator(clock, order="newest-first", arrivals_per_hour=30)
    clock.advance(3600)
    documents = await served(sim)
    starts = [at(doc["started_at"]) for doc in documents]
    assert starts == sorted(starts, reverse=True)
    assert len(documents) == SIZE + 30
    # The newest 30 are the arrivals, newest first, one every 2 minutes after the anchor.
    assert starts[:30] == [ANCHOR + timedelta(minutes=2 * k) for k in range(30, 0, -1)]
    assert [doc["id"] for doc in documents] == [call.id for call in sim.calls]


async def test_insertion_serves_the_initial_calls_oldest_first_then_the_arrivals() -> None:
    clock = FakeClock(ANCHOR)
    sim = simulator(clock, order="insertion")
    initial = await served(sim)
    initial_starts = [at(doc["started_at"]) for doc in initial]
    assert initial_starts == sorted(initial_starts)

    clock = FakeClock(ANCHOR)
    sim = simulator(clock, order="insertion", arrivals_per_hour=60)
    clock.advance(20 * 60)
    documents = await served(sim)
    assert [doc["id"] for doc in documents[:SIZE]] == [doc["id"] for doc in initial]
    arrivals = documents[SIZE:]
    assert [at(doc["started_at"]) for doc in arrivals] == [
        ANCHOR + timedelta(minutes=k) for k in range(1, 21)
    ]
    assert [doc["id"] for doc in arrivals] == arrived_ids(sim)


async def test_shuffled_is_a_fixed_order_not_by_start_and_puts_arrivals_anywhere() -> None:
    clock = FakeClock(ANCHOR)
    sim = simulator(clock, arrivals_per_hour=120)  # "shuffled" is the default
    initial = await served(sim)
    starts = [at(doc["started_at"]) for doc in initial]
    assert starts not in (sorted(starts), sorted(starts, reverse=True))
    assert initial == await served(sim)  # the same order on every read

    clock.advance(3600)
    documents = await served(sim)
    arrivals = set(arrived_ids(sim))
    assert len(arrivals) == 120 and len(documents) == SIZE + 120
    places = [i for i, doc in enumerate(documents) if doc["id"] in arrivals]
    middle = range(len(documents) // 4, 3 * len(documents) // 4)
    assert sum(place in middle for place in places) > 20, "arrivals must land mid-list too"
    assert places[0] < len(documents) // 4 and places[-1] >= 3 * len(documents) // 4
    # The calls that were there keep their relative order.
    before = [doc["id"] for doc in initial]
    assert [doc["id"] for doc in documents if doc["id"] not in arrivals] == before


# --- changes over time --------------------------------------------------------------------------


async def test_at_the_anchor_the_data_is_the_static_data() -> None:
    clock = FakeClock(ANCHOR)
    static = simulator(clock)
    changing = simulator(clock, arrivals_per_hour=600, deletions_per_hour=600)
    assert await served(changing) == await served(static)
    assert changing.calls == static.calls and changing.session_keys() == static.session_keys()
    assert changing.changes == []


async def test_an_arrival_is_listed_and_counted_from_its_moment() -> None:
    clock = FakeClock(ANCHOR)
    sim = simulator(clock, arrivals_per_hour=60)  # one a minute
    clock.advance(59)
    assert (await get(sim))["total"] == SIZE
    active_before = (await get(sim, {"status": "active"}))["total"]

    clock.advance(1)
    assert (await get(sim))["total"] == SIZE + 1
    [new] = [doc for doc in await served(sim) if doc["id"] in arrived_ids(sim)]
    assert at(new["started_at"]) == ANCHOR + timedelta(minutes=1)
    assert new["status"] == "active"
    assert (new["ended_at"], new["duration_seconds"], new["summary"]) == (None, None, None)
    assert all(at(line["timestamp"]) <= clock.now() for line in new["transcript"])
    active = await served(sim, status="active")
    assert len(active) == active_before + 1 and new in active

    clock.advance(60)
    assert (await get(sim))["total"] == SIZE + 2


async def test_an_arrival_says_its_lines_as_time_passes_then_ends_a_few_minutes_later() -> None:
    clock = FakeClock(ANCHOR)
    sim = simulator(clock, arrivals_per_hour=1)
    clock.advance(3600)
    await get(sim)
    [call_id] = arrived_ids(sim)
    stream_id = next(doc["stream_id"] for doc in sim.documents if doc["id"] == call_id)
    end = sim.planned_ends()[call_id]
    started = ANCHOR + timedelta(hours=1)
    assert timedelta(0) < end - started < timedelta(minutes=10)  # a call of a few minutes

    transcripts = []
    for moment in (started + (end - started) * share for share in (0.3, 0.7)):
        clock.advance((moment - clock.now()).total_seconds())
        doc = await by_stream(sim, stream_id)
        assert doc is not None and doc["status"] == "active"
        assert all(at(line["timestamp"]) <= moment for line in doc["transcript"])
        transcripts.append(doc["transcript"])
    clock.advance((end - clock.now()).total_seconds())
    done = await by_stream(sim, stream_id)
    assert done is not None and done["status"] in ENDED
    transcripts.append(done["transcript"])
    assert transcripts[0] == transcripts[1][: len(transcripts[0])]  # it only grows
    assert transcripts[1] == transcripts[2][: len(transcripts[1])]
    assert len(transcripts[2]) > len(transcripts[0])
    assert at(done["ended_at"]) == end
    assert done["duration_seconds"] == (end - started).total_seconds()
    assert isinstance(done["summary"], str)
    assert done["id"] not in {doc["id"] for doc in await served(sim, status="active")}


async def test_a_call_on_the_line_at_the_anchor_ends_at_its_planned_end() -> None:
    clock = FakeClock(ANCHOR)
    sim = simulator(clock)  # no arrivals, no deletions: only the calls on the line change
    on_line = await served(sim, status="active")
    ends = sim.planned_ends()
    assert set(ends) == {doc["id"] for doc in on_line} and ends
    assert min(ends.values()) > ANCHOR + timedelta(minutes=5)  # a test clock's minutes see none
    call_id, end = min(ends.items(), key=lambda item: item[1])
    first = next(doc for doc in on_line if doc["id"] == call_id)

    clock.advance((end - ANCHOR).total_seconds() - 1)
    still = await by_stream(sim, first["stream_id"])
    assert still is not None and (still["status"], still["ended_at"]) == ("active", None)
    clock.advance(1)
    done = await by_stream(sim, first["stream_id"])
    assert done is not None and done["status"] in ENDED
    assert at(done["ended_at"]) == end
    assert done["duration_seconds"] == (end - at(first["started_at"])).total_seconds()
    assert done["summary"] is not None and len(done["transcript"]) > len(first["transcript"])
    assert done["transcript"][: len(first["transcript"])] == first["transcript"]
    assert (await get(sim, {"status": "active"}))["total"] == len(on_line) - 1
    assert (await get(sim))["total"] == SIZE
    assert [(c.kind, c.call_id, c.at) for c in sim.changes] == [(COMPLETED, call_id, end)]


async def test_deletions_remove_a_call_that_is_not_on_the_line() -> None:
    clock = FakeClock(ANCHOR)
    sim = simulator(clock, deletions_per_hour=30)  # one every 2 minutes
    ends = sim.planned_ends()
    clock.advance(119)
    before = {doc["id"]: doc for doc in await served(sim)}
    clock.advance(1)
    after = await served(sim)
    assert len(after) == SIZE - 1
    [gone] = set(before) - {doc["id"] for doc in after}
    assert before[gone]["status"] != "active"
    assert await by_stream(sim, before[gone]["stream_id"]) is None

    clock.advance(3600 - 120)
    assert (await get(sim))["total"] == SIZE - 30
    deletions = [change for change in sim.changes if change.kind == DELETED]
    assert [change.at for change in deletions] == [
        ANCHOR + timedelta(minutes=2 * k) for k in range(1, 31)
    ]
    for change in deletions:  # a call on the line at the anchor goes only once it has ended
        assert change.call_id not in ends or ends[change.call_id] <= change.at


async def test_the_data_depends_on_the_clock_only_not_on_its_steps() -> None:
    knobs = {"arrivals_per_hour": 40, "deletions_per_hour": 20}
    jump_clock, step_clock = FakeClock(ANCHOR), FakeClock(ANCHOR)
    jump, step = simulator(jump_clock, **knobs), simulator(step_clock, **knobs)
    for _ in range(90):
        step_clock.advance(60)
        await get(step, {"status": "active"})
    jump_clock.advance(90 * 60)
    assert await served(jump) == await served(step)
    assert jump.changes == step.changes
    kinds = [change.kind for change in jump.changes]
    assert (kinds.count(ARRIVED), kinds.count(DELETED)) == (60, 30)
    assert kinds.count(COMPLETED) > 50  # the arrivals that ended, and the calls on the line


async def test_the_oracle_follows_the_changes() -> None:
    """The adapter, walking the list after calls arrived, ended and went, returns what the
    oracle states from the model as of the same moment."""
    clock = FakeClock(ANCHOR)
    sim = simulator(clock, arrivals_per_hour=30, deletions_per_hour=10)
    clock.advance(45 * 60)
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR + timedelta(hours=1)
    )
    adapter = connect(sim, clock=clock)
    try:
        records = await walk(adapter, query, 50)
    finally:
        await adapter.aclose()
    assert records == expected(sim, query)
    assert len(records) == SIZE + 22 - 7


def test_documents_do_not_depend_on_what_was_read_first() -> None:
    forward, backward = simulator(FakeClock(ANCHOR)), simulator(FakeClock(ANCHOR))
    read_backward = [backward.documents[i] for i in reversed(range(SIZE))]
    assert list(forward.documents) == read_backward[::-1]


async def test_a_hundred_thousand_calls_build_with_an_exact_total() -> None:
    sim = simulator(FakeClock(ANCHOR), size=100_000)
    keys = sim.session_keys()
    assert len(keys) == len({key.id for key in keys}) == 100_000
    tail = await get(sim, {"limit": 100, "offset": 99_950})
    assert (tail["total"], len(tail["data"])) == (100_000, 50)
    assert [doc["id"] for doc in tail["data"]] == [key.id for key in keys[99_950:]]
    active = await get(sim, {"status": "active", "limit": 100})
    assert active["total"] == len(sim.ids_with_status("active")) >= 100_000 // 40


def test_a_call_on_the_line_is_never_deleted() -> None:
    """A busy line: a call arrives every second and lasts minutes, one is deleted every 2 s, so
    most calls are on the line; each deletion must pick one that has ended (and is skipped
    while every call is on the line)."""
    sim = simulator(FakeClock(ANCHOR), size=20, arrivals_per_hour=3600, deletions_per_hour=1800)
    deleted = 0
    for second in range(1, 301):
        on_line = sim.planned_ends()  # the calls on the line, and when each ends
        seen = len(sim.changes)
        sim.advance(ANCHOR + timedelta(seconds=second))
        for change in sim.changes[seen:]:
            if change.kind == DELETED:
                deleted += 1
                assert change.at == ANCHOR + timedelta(seconds=second) and second % 2 == 0
                assert change.call_id not in on_line or on_line[change.call_id] <= change.at
    assert deleted > 100  # the test is not vacuous: most of the 150 found a call to delete
    assert len(sim.ids_with_status("active")) > len(sim.calls) / 3
    assert len(sim.calls) == 20 + 300 - deleted
