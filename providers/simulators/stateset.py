"""A faithful fake of StateSet Voice's `GET /api/v1/voice-sessions` (vendors.md §2 and §5).

What it reproduces: Bearer auth; `limit` (default 20, our choice: the vendor documents none;
1-100) and `offset` (≥ 0) with `{"ok": false, "error"}` 400s; the `status`, `agent_key` and
`stream_id` filters; the `{"data", "limit", "offset", "total"}` envelope, with an empty `data`
and the true `total` past the end; NO promised order; `x-request-id` on every answer;
`X-RateLimit-Limit` / `X-RateLimit-Remaining` on every answer and `Retry-After` on 429s. Active
calls have a partial transcript and null `ended_at`, `duration_seconds` and `summary`; failed
calls have an empty `summary`.

The list's order is the simulator's `order`: "shuffled" (the default: a fixed seeded shuffle,
never by start time, new calls put anywhere), "newest-first" (by start time, descending) or
"insertion" (the initial calls oldest first, new calls appended), so that a sync can be tested
against each (§5: the order a client observes must be learned, never assumed).

The data changes with the simulator's clock, after the anchor (`advance`, run before every
request, deterministic from the seed whatever the steps the clock took):
- a call arrives every 3600/`arrivals_per_hour` s (the first one interval after the anchor),
  started at that moment, active and saying its lines as time passes; it ends a few minutes
  later as completed, reviewed or failed, with its full transcript, summary and length;
- the calls on the line at the anchor end 10-40 minutes after it (so a clock moved by a few
  minutes still sees the anchor's data, and a completion can be tested with no arrivals);
- every 3600/`deletions_per_hour` s a seeded-random call that is not active is deleted (none
  while every call is active).
`changes` logs all three, with when and where in the list; `planned_ends()` says when each
active call will end, `ids_with_status()` lists the ids the `status` filter selects, `as_of` is
the model's time. `advance` does nothing unless something is due, and only what is due.

The calls are a model in the simulator's own terms (`VoiceCall`: who dialled whom, the true
start and length, what was said and which functions ran, as far as the call got by the model's
time); the vendor's JSON is rendered from it. Tests state what a client should see from the
same model, never from the JSON. To build 100,000 calls in about a second, only what listing
and filtering need (id, stream id, agent, start, status) is drawn up front, from the list's
own seeded generators; the rest of a call (its conversation, numbers, review) is planned from
its own generator, `random.Random(f"stateset:{seed}:{number}")`, when first read, so the data
does not depend on which calls were read first. Rendered documents of ended calls are cached.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Generic, TypeVar, overload

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from providers.simulators.base import JSONResponse, SessionKey, Simulator
from providers.simulators.fake_data import conversation, phone_number, spread_start_times

__all__ = [
    "AGENTS",
    "ARRIVED",
    "COMPLETED",
    "DELETED",
    "SESSIONS_PATH",
    "STATUSES",
    "Change",
    "FunctionUse",
    "QaReview",
    "StateSetSimulator",
    "Utterance",
    "VoiceAgent",
    "VoiceCall",
]

SESSIONS_PATH = "/api/v1/voice-sessions"
STATUSES = ("active", "completed", "reviewed", "failed")  # the vendor's `status` values [doc]
DEFAULT_LIMIT = 20  # not documented by the vendor: the example asks for 25, we default lower
MAX_LIMIT = 100
RATE_LIMIT_PER_MINUTE = 60  # per IP [doc]
ACTIVE_WINDOW = timedelta(hours=1)  # a call started this recently is still on the line
HANG_UP_AFTER = timedelta(seconds=3)  # from the last thing said to the end of the call
FAILED_SHARE = 0.1
REVIEWED_SHARE = 0.3
# When a call on the line at the anchor ends, in seconds after it: late enough that tests which
# move their clock by a minute or two still see the anchor's data.
STILL_ON_FOR_S = (10 * 60, 40 * 60)
SETTLED_PACE_S = (2, 12)  # between two lines of a call of the initial data
ARRIVAL_PACE_S = (15, 45)  # between two lines of an arriving call: a call of a few minutes
PLANS_KEPT = 4096  # planned calls kept in memory; any other is planned again from its seed

# What happened to the data after the anchor (`Change.kind`).
ARRIVED, COMPLETED, DELETED = "arrived", "completed", "deleted"

# How a call stands against the anchor (`_Entry.kind`).
_SETTLED = "settled"  # ended before the anchor
_ON_LINE = "on-line"  # on the line at the anchor: ends after it
_ARRIVED = "arrived"  # started after the anchor


@dataclass(frozen=True, slots=True)
class VoiceAgent:
    key: str
    line: str  # the number the agent answers and dials from
    topics: tuple[str, ...]
    model: str
    voice: str
    outbound: bool = False  # dispatch calls its drivers


AGENTS = (
    VoiceAgent("support_primary", "+14155550100", ("order_status", "faq"), "gpt-realtime", "alloy"),
    VoiceAgent("billing_line", "+14155550101", ("billing",), "gpt-realtime", "verse"),
    VoiceAgent("scheduling_desk", "+16465550102", ("appointment",), "gpt-realtime-mini", "shimmer"),
    VoiceAgent(
        "fleet_dispatch",
        "+13125550103",
        ("roadside",),
        "gpt-4o-realtime-preview",
        "sage",
        outbound=True,
    ),
)

_AGENT_KEYS = frozenset(agent.key for agent in AGENTS)

_QA_NOTES = (
    "Agent confirmed identity before acting.",
    "Good tone; summary matches the call.",
    "Tool result read back correctly.",
    "Should have offered a callback sooner.",
)


# --- the model: what happened, in the simulator's own terms ----------------------------------


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str  # "person" (on the phone with the agent) | "agent" | "system" (the platform)
    text: str
    at: datetime  # aware UTC, whole seconds


@dataclass(frozen=True, slots=True)
class FunctionUse:
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None  # the function failed with this message
    at: datetime  # when it was called: aware UTC, whole seconds
    duration_ms: int


@dataclass(frozen=True, slots=True)
class QaReview:
    done: bool  # a reviewer scored the call
    score: float | None
    notes: str | None


_NOT_REVIEWED = QaReview(done=False, score=None, notes=None)


@dataclass(frozen=True, slots=True)
class VoiceCall:
    """One call as it happened, up to the model's time (the simulator's last `advance`)."""

    id: str
    stream_id: str  # the media stream
    call_sid: str  # the telephony call
    agent_key: str
    status: str  # one of STATUSES
    agent_dialled: bool  # True: the agent called the person; False: the person called the agent
    person_number: str  # the person the agent talked to
    agent_number: str  # the agent's own line
    started_at: datetime  # aware UTC, whole seconds
    duration_ms: int | None  # None while the call is still on the line
    model: str
    voice: str
    utterances: tuple[Utterance, ...]  # what was said by the model's time, in order
    function_uses: tuple[FunctionUse, ...]  # the functions called by then, in order
    summary: str | None  # None: not written yet; "": nothing worth summarising
    tags: tuple[str, ...]
    review: QaReview

    @property
    def ended_at(self) -> datetime | None:
        if self.duration_ms is None:
            return None
        return self.started_at + timedelta(milliseconds=self.duration_ms)


@dataclass(frozen=True, slots=True)
class Change:
    """One change to the data after the anchor, as `advance` applied it."""

    at: datetime  # when it happened (aware UTC)
    kind: str  # ARRIVED | COMPLETED | DELETED
    call_id: str
    # The call's offset in the unfiltered list just after the change (DELETED: where it was).
    position: int


@dataclass(slots=True)
class _Entry:
    """What listing and filtering need of one call: kept for every call, drawn up front."""

    number: int  # the call's own seed: 0 … size-1 for the initial data, then arrivals in turn
    id: str
    stream_id: str
    agent: VoiceAgent
    started_at: datetime
    outcome: str  # how the call ends: completed, reviewed or failed
    kind: str  # _SETTLED | _ON_LINE | _ARRIVED
    ends_at: datetime | None  # the planned end of a call not settled at the anchor
    status: str  # as of the model's time
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class _Plan:
    """The whole of one call, planned from its own seed: the model's time cuts it."""

    call_sid: str
    person_number: str
    utterances: tuple[Utterance, ...]  # everything the call says, in order
    function_uses: tuple[FunctionUse, ...]
    ends_at: datetime
    summary: str  # once ended
    tags: tuple[str, ...]  # a failed call is also tagged "dropped" once it ended
    review: QaReview  # once ended


_T = TypeVar("_T")


class _Listing(Sequence[_T], Generic[_T]):
    """The served list as of the model's time, each item read when asked for."""

    __slots__ = ("_numbers", "_read")

    def __init__(self, numbers: Callable[[], list[int]], read: Callable[[int], _T]) -> None:
        self._numbers = numbers
        self._read = read

    def __len__(self) -> int:
        return len(self._numbers())

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...

    def __getitem__(self, index: int | slice) -> _T | list[_T]:
        if isinstance(index, slice):
            return [self._read(number) for number in self._numbers()[index]]
        return self._read(self._numbers()[index])

    def __iter__(self) -> Iterator[_T]:
        return iter([self._read(number) for number in self._numbers()])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} served items>"


class StateSetSimulator(Simulator):
    vendor = "stateset"

    changes: list[Change]  # what `advance` did after the anchor, in the order it happened

    def __init__(self, **kwargs: Any) -> None:
        self._served_at: deque[datetime] = deque()  # for X-RateLimit-Remaining
        super().__init__(**kwargs)

    # --- data ---------------------------------------------------------------------------------

    def generate(self) -> None:
        self._now = self.anchor  # the model's time: the last `advance`
        # Every time of the model is UTC to the second, as the vendor sends them.
        self._base = self.anchor.astimezone(UTC).replace(microsecond=0)
        starts = [
            start.astimezone(UTC).replace(microsecond=0)
            for start in spread_start_times(self.rng, self.size, self.anchor)
        ]  # newest first
        agents = [self.rng.choice(AGENTS) for _ in starts]
        if len(starts) > 2:
            # Two concurrent calls on one line in the same second: only the id breaks the tie.
            middle = len(starts) // 2
            starts[middle + 1], agents[middle + 1] = starts[middle], agents[middle]
        self._entries: list[_Entry] = []
        self._completions: list[tuple[datetime, int]] = []  # a heap: (planned end, number)
        for number, (start, agent) in enumerate(zip(starts, agents, strict=True)):
            on_line = self.anchor - start < ACTIVE_WINDOW
            entry = self._entry(self.rng, number, start, agent, _ON_LINE if on_line else _SETTLED)
            if on_line:
                entry.ends_at = self._end_after_anchor(self._call_rng(number))
                self._completions.append((entry.ends_at, number))
            self._entries.append(entry)
        heapq.heapify(self._completions)
        self._order = self._initial_order()
        self._by_stream = {entry.stream_id: entry.number for entry in self._entries}
        self._plans: OrderedDict[int, _Plan] = OrderedDict()
        self._documents: dict[int, bytes] = {}  # ended calls' documents (they no longer change)
        self._filtered: dict[tuple[str | None, str | None], list[int]] = {}
        self._arrivals_rng = random.Random(f"{self.vendor}:{self.seed}:arrivals")
        self._deletions_rng = random.Random(f"{self.vendor}:{self.seed}:deletions")
        # Where a shuffled list puts arrivals: apart, so the calls that arrive are the same
        # whatever the order.
        self._places_rng = random.Random(f"{self.vendor}:{self.seed}:places")
        self._arrivals_done = self._deletions_done = 0
        self._next_arrival = self._tick(self.arrivals_per_hour, 1)
        self._next_deletion = self._tick(self.deletions_per_hour, 1)
        self.changes = []

    def _entry(
        self, rng: random.Random, number: int, start: datetime, agent: VoiceAgent, kind: str
    ) -> _Entry:
        draw = rng.random()
        outcome = "failed" if draw < FAILED_SHARE else "completed"
        if FAILED_SHARE <= draw < FAILED_SHARE + REVIEWED_SHARE:
            outcome = "reviewed"
        return _Entry(
            number=number,
            id=_uuid4(rng.getrandbits(128)),
            stream_id=f"MZ{rng.getrandbits(128):032x}",
            agent=agent,
            started_at=start,
            outcome=outcome,
            kind=kind,
            ends_at=None,
            status=outcome if kind == _SETTLED else "active",
        )

    def _initial_order(self) -> list[int]:
        newest_first = list(range(self.size))  # spread_start_times gives the newest first
        if self.order == "newest-first":
            return newest_first
        if self.order == "insertion":
            return newest_first[::-1]
        self.rng.shuffle(newest_first)  # StateSet promises no order: a fixed shuffle
        return newest_first

    def _call_rng(self, number: int) -> random.Random:
        return random.Random(f"{self.vendor}:{self.seed}:{number}")

    def _end_after_anchor(self, rng: random.Random) -> datetime:
        """The planned end of a call on the line at the anchor: its generator's first draw."""
        return self._base + timedelta(seconds=rng.randint(*STILL_ON_FOR_S))

    def _plan(self, entry: _Entry) -> _Plan:
        plan = self._plans.get(entry.number)
        if plan is None:
            plan = self._plans[entry.number] = self._make_plan(entry)
            if len(self._plans) > PLANS_KEPT:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(entry.number)
        return plan

    def _make_plan(self, entry: _Entry) -> _Plan:
        rng = self._call_rng(entry.number)
        ends_at = self._end_after_anchor(rng) if entry.kind == _ON_LINE else None
        talk = conversation(rng, list(entry.agent.topics))
        turns = talk.turns
        failed = entry.outcome == "failed"
        if failed:
            turns = turns[: rng.randint(1, len(turns) - 1)]
        low, high = ARRIVAL_PACE_S if entry.kind == _ARRIVED else SETTLED_PACE_S
        moment = entry.started_at
        said: list[Utterance] = []
        if rng.random() < 0.3:
            said.append(Utterance("system", "This call may be recorded.", moment))
        for turn in turns:
            moment += timedelta(seconds=rng.randint(low, high))
            said.append(
                Utterance("person" if turn.role == "user" else turn.role, turn.text, moment)
            )
        if failed:
            moment += timedelta(seconds=rng.randint(1, 5))
            said.append(Utterance("system", "Media stream disconnected.", moment))
        if ends_at is None:
            ends_at = said[-1].at + HANG_UP_AFTER
        else:
            # The call got this far by the anchor; the rest is said between then and its end.
            said = _said_later(said, rng.randint(1, len(said) - 1), self._base, ends_at)
        turn_times = [line.at for line in said if line.speaker != "system"]
        uses = tuple(
            FunctionUse(
                tool.name,
                tool.arguments,
                tool.result,
                tool.error,
                turn_times[tool.after_turn] + timedelta(seconds=1),
                tool.duration_ms,
            )
            for tool in talk.tools
            if tool.after_turn < len(turn_times)
        )
        review = _NOT_REVIEWED
        if entry.outcome == "reviewed":
            score = round(rng.uniform(0.55, 0.99), 2)
            review = QaReview(done=True, score=score, notes=rng.choice(_QA_NOTES))
        return _Plan(
            call_sid=f"CA{rng.getrandbits(128):032x}",
            person_number=phone_number(rng),
            utterances=tuple(said),
            function_uses=uses,
            ends_at=ends_at,
            summary="" if failed else talk.summary,  # "": nothing worth summarising
            tags=tuple(talk.tags),
            review=review,
        )

    def _call(self, number: int) -> VoiceCall:
        entry = self._entries[number]
        plan = self._plan(entry)
        agent = entry.agent
        ended = entry.status != "active"
        if ended:
            utterances, uses = plan.utterances, plan.function_uses
        else:  # what was said by the model's time
            utterances = tuple(line for line in plan.utterances if line.at <= self._now)
            uses = tuple(use for use in plan.function_uses if use.at <= self._now)
        return VoiceCall(
            id=entry.id,
            stream_id=entry.stream_id,
            call_sid=plan.call_sid,
            agent_key=agent.key,
            status=entry.status,
            agent_dialled=agent.outbound,
            person_number=plan.person_number,
            agent_number=agent.line,
            started_at=entry.started_at,
            duration_ms=_ms(plan.ends_at - entry.started_at) if ended else None,
            model=agent.model,
            voice=agent.voice,
            utterances=utterances,
            function_uses=uses,
            summary=plan.summary if ended else None,
            tags=(*plan.tags, "dropped") if entry.status == "failed" else plan.tags,
            review=plan.review if ended else _NOT_REVIEWED,
        )

    def _document(self, number: int) -> bytes:
        """The VoiceSession JSON of call `number` as of the model's time."""
        document = self._documents.get(number)
        if document is None:
            document = orjson.dumps(voice_session(self._call(number)))
            if self._entries[number].status != "active":
                # A copy to keep: orjson's own bytes keep their whole write buffer (~8 KB, five
                # times the document), which is 800 MB at 100,000 calls instead of 150.
                document = self._documents[number] = bytes(memoryview(document))
        return document

    # --- changes over time ----------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Applies every change due by `now`, one at a time in time order (an end before a
        deletion before an arrival at the same moment), so the data depends only on `now`."""
        if now <= self._now:
            return  # the model never goes back
        while True:
            due = self._next_change()
            if due is None or due[0] > now:
                break
            at, apply = due
            self._now = at
            apply(at)
        self._now = now

    def _next_change(self) -> tuple[datetime, Callable[[datetime], None]] | None:
        candidates: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        if self._completions:
            candidates.append((self._completions[0][0], 0, self._complete))
        if self._next_deletion is not None:
            candidates.append((self._next_deletion, 1, self._delete))
        if self._next_arrival is not None:
            candidates.append((self._next_arrival, 2, self._arrive))
        if not candidates:
            return None
        at, _, apply = min(candidates, key=lambda candidate: candidate[:2])
        return at, apply

    def _tick(self, per_hour: float, count: int) -> datetime | None:
        """When the `count`-th event of a steady rate falls, to the second (exact arithmetic,
        so one interval later is exactly one interval later)."""
        if per_hour <= 0:
            return None
        seconds = math.ceil(count * Fraction(3600) / Fraction(per_hour))
        return self._base + timedelta(seconds=seconds)

    def _complete(self, at: datetime) -> None:
        _, number = heapq.heappop(self._completions)
        entry = self._entries[number]
        entry.status = entry.outcome
        self._changed(Change(at, COMPLETED, entry.id, self._order.index(number)))

    def _delete(self, at: datetime) -> None:
        self._deletions_done += 1
        self._next_deletion = self._tick(self.deletions_per_hour, self._deletions_done + 1)
        order = self._order
        if not order:
            return
        start = self._deletions_rng.randrange(len(order))
        # The first call from a random place on that is not on the line (those are few).
        for step in range(len(order)):
            position = (start + step) % len(order)
            entry = self._entries[order[position]]
            if entry.status != "active":
                break
        else:
            return  # every call is on the line: nothing may be deleted
        del order[position]
        entry.deleted = True
        del self._by_stream[entry.stream_id]
        self._documents.pop(entry.number, None)
        self._plans.pop(entry.number, None)
        self._changed(Change(at, DELETED, entry.id, position))

    def _arrive(self, at: datetime) -> None:
        self._arrivals_done += 1
        self._next_arrival = self._tick(self.arrivals_per_hour, self._arrivals_done + 1)
        rng = self._arrivals_rng
        number = len(self._entries)
        start = at.astimezone(UTC).replace(microsecond=0)
        entry = self._entry(rng, number, start, rng.choice(AGENTS), _ARRIVED)
        self._entries.append(entry)
        entry.ends_at = self._plan(entry).ends_at
        heapq.heappush(self._completions, (entry.ends_at, number))
        if self.order == "newest-first":
            position = 0  # it started after every call already listed
        elif self.order == "insertion":
            position = len(self._order)
        else:
            position = self._places_rng.randint(0, len(self._order))
        self._order.insert(position, number)
        self._by_stream[entry.stream_id] = number
        self._changed(Change(at, ARRIVED, entry.id, position))

    def _changed(self, change: Change) -> None:
        self.changes.append(change)
        self._filtered.clear()

    # --- what the tests and demo mode ask -------------------------------------------------------

    @property
    def calls(self) -> Sequence[VoiceCall]:
        """The model as of the last `advance`, in the served (unfiltered) order."""
        return _Listing(lambda: self._order, self._call)

    @property
    def documents(self) -> Sequence[dict[str, Any]]:
        """The VoiceSession JSON of each call, in the same order: exactly what is served."""
        return _Listing(lambda: self._order, lambda number: orjson.loads(self._document(number)))

    @property
    def as_of(self) -> datetime:
        """The model's time: the last `advance` (the anchor before any)."""
        return self._now

    def ids_with_status(self, status: str) -> list[str]:
        """The ids of the calls with the vendor's `status`, in the served order."""
        return [self._entries[number].id for number in self._matching(status, None)]

    def planned_ends(self) -> dict[str, datetime]:
        """When each active call will end (by id), so a test can move its clock there."""
        return {
            self._entries[number].id: at
            for at, number in sorted(self._completions)
            if not self._entries[number].deleted
        }

    def session_keys(self) -> list[SessionKey]:
        entries = self._entries
        return [
            SessionKey(entries[n].id, entries[n].agent.key, entries[n].started_at)
            for n in self._order
        ]

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(agent.key for agent in AGENTS)

    # --- serving --------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        return [Route(SESSIONS_PATH, self._list_sessions, methods=["GET"])]

    def authorized(self, header_value: str | None) -> bool:
        scheme, _, key = (header_value or "").partition(" ")
        return scheme.lower() == "bearer" and key == self.api_key

    def error_response(self, status: int, message: str) -> Response:
        response = JSONResponse({"ok": False, "error": message}, status_code=status)
        response.headers.update(self._common_headers(rate_limited=status == 429))
        if status == 429:
            response.headers["Retry-After"] = self.faults.retry_after
        return response

    async def _list_sessions(self, request: Request) -> Response:
        params = request.query_params
        try:
            limit = _integer(params, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
            offset = _integer(params, "offset", 0, low=0, high=None)
            status = _status_filter(params.get("status"))
        except ValueError as exc:
            return self.error_response(400, str(exc))
        agent_key = params.get("agent_key") or None
        stream_id = params.get("stream_id")
        if stream_id:  # the one way to fetch a call again: no scan
            number = self._by_stream.get(stream_id)
            entry = None if number is None else self._entries[number]
            chosen = [] if entry is None else [entry.number]
            if entry is not None and not _selects(entry, status, agent_key):
                chosen = []
        else:
            chosen = self._matching(status, agent_key)
        page = b",".join(self._document(number) for number in chosen[offset : offset + limit])
        # The envelope around the cached documents, as compact as Starlette's JSONResponse.
        body = b'{"data":[%s],"limit":%d,"offset":%d,"total":%d}' % (
            page,
            limit,
            offset,
            len(chosen),
        )
        return Response(
            body,
            media_type="application/json",
            headers=self._common_headers(rate_limited=False),
        )

    def _matching(self, status: str | None, agent_key: str | None) -> list[int]:
        """The call numbers the filters select, in the served order; kept until the data
        changes, so paging through a filtered list reads it once."""
        if status is None and agent_key is None:
            return self._order
        if agent_key is not None and agent_key not in _AGENT_KEYS:
            return []  # not kept: a client must not grow the cache with made-up keys
        chosen = self._filtered.get((status, agent_key))
        if chosen is None:
            entries = self._entries
            chosen = self._filtered[(status, agent_key)] = [
                number for number in self._order if _selects(entries[number], status, agent_key)
            ]
        return chosen

    def _common_headers(self, *, rate_limited: bool) -> dict[str, str]:
        limit = self.faults.rate_limit_per_minute or RATE_LIMIT_PER_MINUTE
        remaining = 0 if rate_limited else max(0, limit - self._count_served())
        return {
            "x-request-id": f"req_{uuid.uuid4().hex}",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
        }

    def _count_served(self) -> int:
        """Answers in the trailing minute of the simulator's clock, this one included."""
        now = self.clock()
        self._served_at.append(now)
        while now - self._served_at[0] > timedelta(minutes=1):
            self._served_at.popleft()
        return len(self._served_at)


# --- the vendor's JSON, rendered from the model ----------------------------------------------

_ROLES = {"person": "caller", "agent": "agent", "system": "system"}  # the vendor's `role`s


def voice_session(call: VoiceCall) -> dict[str, Any]:
    """The VoiceSession document of `call` (vendors.md §2)."""
    dialler, answerer = (
        (call.agent_number, call.person_number)
        if call.agent_dialled
        else (call.person_number, call.agent_number)
    )
    ended_at = call.ended_at
    return {
        "id": call.id,
        "stream_id": call.stream_id,
        "call_sid": call.call_sid,
        "agent_key": call.agent_key,
        "status": call.status,
        "direction": "outbound" if call.agent_dialled else "inbound",
        "from_number": dialler,
        "to_number": answerer,
        "started_at": _iso(call.started_at),
        "ended_at": None if ended_at is None else _iso(ended_at),
        # Whole seconds, as the vendor counts them.
        "duration_seconds": None if call.duration_ms is None else call.duration_ms // 1000,
        "model": call.model,
        "voice": call.voice,
        "transcript": [
            {"role": _ROLES[line.speaker], "text": line.text, "timestamp": _iso(line.at)}
            for line in call.utterances
        ],
        "function_calls": [
            {
                "name": use.name,
                "arguments": use.arguments,
                "result": use.result,
                "error": use.error,
                "timestamp": _iso(use.at),
                "duration_ms": use.duration_ms,
            }
            for use in call.function_uses
        ],
        "summary": call.summary,
        "tags": list(call.tags),
        "qa": {
            "state": "reviewed" if call.review.done else "pending",
            "score": call.review.score,
            "notes": call.review.notes,
        },
    }


def _said_later(
    said: list[Utterance], reached: int, anchor: datetime, ends_at: datetime
) -> list[Utterance]:
    """`said` with the lines from `reached` on spread evenly after the anchor (and after the
    line before them), the last one HANG_UP_AFTER before `ends_at`."""
    first = max(anchor, said[reached - 1].at)
    rest = said[reached:]
    span = int((ends_at - HANG_UP_AFTER - first).total_seconds())
    later = [
        Utterance(line.speaker, line.text, first + timedelta(seconds=span * (i + 1) // len(rest)))
        for i, line in enumerate(rest)
    ]
    return said[:reached] + later


def _uuid4(bits: int) -> str:
    """The text of `uuid.UUID(int=bits, version=4)`, without building the object (a few
    times faster, which counts at 100,000 calls)."""
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # the RFC 4122 variant
    bits = (bits & ~(0xF000 << 64)) | (4 << 76)  # version 4
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _selects(entry: _Entry, status: str | None, agent_key: str | None) -> bool:
    return (status is None or entry.status == status) and (
        agent_key is None or entry.agent.key == agent_key
    )


def _integer(params: QueryParams, name: str, default: int, *, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer {bounds}") from None
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {bounds}")
    return value


def _status_filter(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    return raw


def _ms(span: timedelta) -> int:
    return span // timedelta(milliseconds=1)


def _iso(moment: datetime) -> str:
    """The vendor's times: ISO 8601 in UTC to the second, with `Z`. The model's times are UTC
    already: isoformat is twice as fast as strftime, and rendering is most of a cold read."""
    return moment.isoformat()[:19] + "Z"
