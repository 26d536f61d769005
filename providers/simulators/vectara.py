"""A faithful fake of the Vectara Agents API v2 (vendors.md §3), whose data changes over time.

What it keeps of the real API's awkward parts:
- sessions are listed one agent at a time, in no promised order, behind an opaque `page_key`
  that is present and non-empty only while another page exists; `total_count` counts every
  session the filters select, now;
- the order is the simulator's `order` (base.LIST_ORDERS), per agent list: "shuffled" (the
  default) a seeded shuffle, never by `created_at`, new sessions put at seeded-random places;
  "newest-first" by `created_at`, descending, new sessions at the head; "insertion" the order
  sessions were added: the initial data oldest first, new sessions appended at the end;
- a page key means "continue after the last session I gave you", whatever was added or
  deleted since: sessions added before that place are not seen by the walk under way, sessions
  added after it are; a deleted session's place still works. Page keys never expire here (the
  real ones may: vendors.md §5);
- session keys (`ase_` and 12 characters of [0-9a-zA-Z_-]) are unique per agent only: some
  agents share a key (one of every 25 initial sessions may take another agent's first key);
- `limit` is 1-100 (default 10) on both listings, else 400 with `field_errors`; `enabled`
  must be `true` or `false`; a page key from another listing is refused;
- errors are `{"messages": ["<code>: …"], "request_id": …}`, a 404 adds `id`;
- the conversation lives in a chronological, paged event stream (messages, agent output,
  thinking, tool input/output pairs, artifacts), where a tool's output may never arrive;
- `""` (a session's `name`) and null (its `description`) both mean "none";
- `filter` is accepted as a case-insensitive regular expression over the session's name and
  description ([target]: Vectara's other v2 listings filter that way); the adapter ignores it.

The data: 89 days of history before the anchor (a burst of 1 in 40 sessions, at most 50, in
the last hour), spread over four agents that speak (a fifth, retired, has none).

Time (driven only by `clock`, through `advance`, deterministic from the seed; the simulator is
built at its clock's "now", and never goes back):
- a session is open (`enabled: true`) from its creation until its planned close: the end of
  its conversation (its last event) plus its `tti_minutes` (30, 40, 50 or 60); then
  `enabled: false` for good. So the open sessions are the recent ones (their number follows
  the rate sessions come at, not the size of the history: ~400 of 100,000), and
  `enabled=true` lists them;
- a session's events appear as its conversation goes on: nothing later than "now" is served,
  and a tool called but not back yet has no output so far; an events page key (the index of
  the next event) stays valid as events are added;
- with `arrivals_per_hour` > 0, the k-th new session is created at anchor + k * 3600 /
  arrivals_per_hour s (k ≥ 1, to the millisecond), with a fresh key, on a seeded-random agent
  that speaks (weighted as the history); its first event comes 1 to 20 s later;
- with `deletions_per_hour` > 0, at anchor + k * 3600 / deletions_per_hour s one seeded-random
  closed session disappears: listing, `GET` and its events then 404 or leave it out, and
  `total_count` drops (none closed: nothing happens). `DELETE` removes one at once, open or not;
- the changes due at one moment are made closes first, then arrivals, then deletions, so the
  data at a moment does not depend on how often the clock was read; one `advance` makes at
  most `MAX_CHANGES_PER_ADVANCE` (a clock far ahead is caught up over several requests, the
  model standing at the last change made meanwhile);
- at the anchor the data is the generated data, whatever the rates; `changes` logs every
  arrival, close and deletion (`DELETE`s included) with its time, `model_time` says where the
  model stands.

The chats are a model in the simulator's own terms (`ChatSession`: its agent, when it began,
who the customer is, what was said and which tools ran, as far as the chat got by the model's
time, the last `advance`, and whether it is still open); the vendor's JSON is rendered from it.
Tests state what a client should see from the same model, never from the JSON.

Size: only what listing needs is made up front (key, agent, `created_at`, whether the session
is open: its conversation is drawn only when it may still be open). The rest of a session (its
customer, name and description, conversation, events) comes from its own seeded RNG on first
use, so it does not depend on what was read before; a closed session's JSON is kept once
rendered. The `filter` parameter reads every name and description of the agent (once). At
100,000 sessions: built in about a second, every list read in about 7 s the first time.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import hmac
import itertools
import json
import random
import re
import string
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from providers.simulators.base import JSONResponse, SessionKey, Simulator
from providers.simulators.fake_data import Conversation, ToolUse, conversation, phone_number

__all__ = [
    "AGENTS",
    "DEFAULT_LIMIT",
    "MAX_CHANGES_PER_ADVANCE",
    "MAX_LIMIT",
    "TTI_MINUTES",
    "Aside",
    "Change",
    "ChatAgent",
    "ChatSession",
    "Message",
    "ToolRun",
    "VectaraSimulator",
]

Json = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]
Place = tuple[str, str]  # (agent key, session key): a session's identity, keys being per agent

MAX_LIMIT = 100  # both listings [doc]
DEFAULT_LIMIT = 10  # both listings [doc]
# How long a session stays open after its last event. An hour at most: the open sessions are
# the chats of the last hour or so, as a support team's would be (a day made a demo's newest
# Vectara sessions mostly ACTIVE, so never cached: issue 12).
TTI_MINUTES = (30, 40, 50, 60)
MAX_CHANGES_PER_ADVANCE = 2000  # arrivals, closes and deletions made by one `advance`


@dataclass(frozen=True, slots=True)
class ChatAgent:
    key: str
    name: str
    description: str
    topics: tuple[str, ...]  # fake_data conversation topics; none: an agent without sessions
    weight: int  # its share of the sessions
    model: str
    enabled: bool = True

    @property
    def team(self) -> str:
        return self.key.removeprefix("agt_")


AGENTS = (
    ChatAgent(
        "agt_support",
        "Customer Support",
        "Answers order and store questions on the web shop and by email.",
        ("order_status", "faq"),
        4,
        "gpt-4o",
    ),
    ChatAgent(
        "agt_billing",
        "Billing Assistant",
        "Resolves invoices, duplicate charges and refunds.",
        ("billing",),
        2,
        "claude-sonnet-4",
    ),
    ChatAgent(
        "agt_scheduling",
        "Clinic Scheduling",
        "Books and moves clinic appointments.",
        ("appointment",),
        2,
        "gpt-4o-mini",
    ),
    ChatAgent(
        "agt_dispatch",
        "Fleet Dispatch",
        "Keeps drivers and customers informed about delays.",
        ("roadside",),
        1,
        "gpt-4o",
    ),
    ChatAgent(
        "agt_onboarding",
        "Onboarding Guide",
        "Retired before launch.",
        (),
        0,
        "gpt-4o-mini",
        enabled=False,
    ),
)
_AGENTS_BY_KEY = {agent.key: agent for agent in AGENTS}
_SPEAKING = tuple(agent for agent in AGENTS if agent.weight)
_SPEAKING_SHARES = tuple(itertools.accumulate(agent.weight for agent in _SPEAKING))
AGENT_OWNER = "cx-platform"
# Where the customer's app says the chat came from (the session's `metadata.channel`); None: it
# does not say.
CHANNELS = ("web_chat", "email", "whatsapp", "phone", "chat", "voice", "sms", None)
_CHANNEL_SHARES = tuple(itertools.accumulate((40, 15, 12, 8, 8, 4, 3, 10)))  # cumulated weights
SPOKEN_CHANNELS = frozenset({"phone", "voice", "whatsapp", "sms"})  # the customer has a number
_TOPIC_TITLES = {
    "order_status": "Order status",
    "faq": "Question",
    "billing": "Billing inquiry",
    "appointment": "Appointment booking",
    "roadside": "Route delay",
}
_HISTORY = timedelta(days=89)  # the initial data's span, before the anchor
# The initial data has a burst in the last hour (so that some chats are going on at the
# anchor): 1 in 40 sessions, at most 50: past 2,000 sessions the history is dense enough
# (100,000 over 89 days: ~47 an hour) and a burst would only inflate the open count.
_RECENT_SHARE = 40
_RECENT_CAP = 50
# No chat lasts an hour (a dozen turns at most, 45 s apart), so a session created longer ago
# than this before the anchor closed before it: only younger ones need their events drawn to
# know whether they are open.
_SETTLED = timedelta(minutes=max(TTI_MINUTES)) + timedelta(hours=1)
_KEY_ALPHABET = string.ascii_lowercase + string.digits
_SHARED_KEY_EVERY = 25  # every 25th session may reuse another agent's session key
_NEVER = datetime.max.replace(tzinfo=UTC)
_RANK_GAP = 1 << 64  # room between two neighbours of a listing for sessions added between them
_CACHE_SIZE = 20_000  # conversations (and their events) kept drawn; more are drawn again
_THINKING = "Working out the reply."
_CONTEXT_SUMMARY = "Older messages were summarized."
_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    429: "rate_limit_exceeded",
}
_DETAILS = {
    "unauthorized": "Invalid or missing API key",
    "forbidden": "Insufficient permissions",
    "rate_limit_exceeded": "Request rate limit exceeded",
}


# --- the model: what happened, in the simulator's own terms ----------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """Something said: by the customer (`by="user"`) or by the agent (`by="agent"`)."""

    event_id: str
    at: datetime  # aware UTC, whole milliseconds
    by: str
    text: str


@dataclass(frozen=True, slots=True)
class ToolRun:
    """One tool the agent called, and what came of it."""

    call_id: str
    name: str  # the tool; its configuration is `tcfg_<name>`
    arguments: Mapping[str, Any]
    at: datetime  # when the agent called it: aware UTC, whole milliseconds
    duration_ms: int  # how long it ran
    output: Mapping[str, Any] | None  # what it answered; a failure is an `error` inside
    error: str | None  # why it failed, in words; None: it worked
    answered: bool  # its output reached the session (it gets lost now and then, or is late)
    input_event_id: str
    output_event_id: str  # "" when the output got lost


@dataclass(frozen=True, slots=True)
class Aside:
    """An event that is neither said nor a tool: the agent's thinking, an image it read, an
    uploaded artifact, older messages summarised."""

    event_id: str
    at: datetime  # aware UTC, whole milliseconds
    kind: str  # the vendor's event `type`
    fields: Mapping[str, Any]  # the event's own fields


@dataclass(frozen=True, slots=True)
class ChatSession:
    """One chat with an agent as it stands at the model's time (the last `advance`)."""

    key: str  # unique per agent only
    agent_key: str
    started_at: datetime  # when the session was created: aware UTC, whole milliseconds
    topic: str
    title: str | None  # the session's name; None: it has none
    summary: str | None  # its description; None: none written
    customer_id: str
    priority: str  # "low" | "medium" | "high"
    channel: str | None  # where the chat came from, as the customer's app says; None: unsaid
    phone_number: str | None  # the customer's number, on spoken channels
    tags: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]  # what the chat was about (order id, slot, ...), in order
    going_on: bool  # the chat is under way: more is still to be said
    still_open: bool  # the session is enabled: the customer may write again
    tti_minutes: int
    messages: tuple[Message, ...]  # what was said so far, in order
    tool_runs: tuple[ToolRun, ...]  # the tools called so far, in order
    asides: tuple[Aside, ...]  # the other events so far, in order
    closes_at: datetime  # when it is (or was) disabled: its last event plus tti_minutes


@dataclass(frozen=True, slots=True)
class Change:
    """Something the passing of time did to the data: a session `arrived`, `closed` (became
    `enabled: false`) or was `deleted` (by the schedule, or by a `DELETE`)."""

    at: datetime  # when, by the simulator's clock (a scheduled change: its planned moment)
    kind: str  # "arrived" | "closed" | "deleted"
    agent_key: str
    key: str


# --- what is drawn of a session, and when ----------------------------------------------------


@dataclass(slots=True)
class _Entry:
    """What listing needs of a session, made up front; the rest is drawn from `number`."""

    number: int  # seeds the session's own RNG: 0.. for the initial data, then the arrivals
    key: str
    agent_key: str
    started_at: datetime  # aware UTC, whole milliseconds
    rank: int  # its place in its agent's listing (ascending); never changes
    closes_at: datetime | None  # planned close; None: closed before the anchor (not drawn)


@dataclass(frozen=True, slots=True)
class _Profile:
    """The session's own fields (what its listing entry shows): the first draws of its RNG."""

    topic: str
    title: str | None
    summary: str | None
    customer_id: str
    priority: str
    channel: str | None
    phone_number: str | None
    tags: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]
    tti_minutes: int

    def described(self) -> str:
        """What `filter` searches."""
        return f"{self.title or ''}\n{self.summary or ''}"


@dataclass(frozen=True, slots=True)
class _Story:
    """Everything the session's conversation will ever hold, and its events as served."""

    messages: tuple[Message, ...]
    tool_runs: tuple[ToolRun, ...]
    asides: tuple[Aside, ...]
    last_event: datetime
    event_times: tuple[datetime, ...]  # ascending: a prefix of `events` is served at a time
    events: tuple[Json, ...]


class _Listing:
    """One agent's sessions in the order served: keys by ascending rank. A rank never changes,
    so a page key holding the last rank given resumes right after it, whatever came or went."""

    __slots__ = ("keys", "ranks")

    def __init__(self) -> None:
        self.ranks: list[int] = []
        self.keys: list[str] = []

    def __len__(self) -> int:
        return len(self.ranks)

    def add(self, rank: int, key: str) -> None:
        index = bisect_left(self.ranks, rank)
        self.ranks.insert(index, rank)
        self.keys.insert(index, key)

    def remove(self, rank: int) -> None:
        index = bisect_left(self.ranks, rank)
        del self.ranks[index], self.keys[index]

    def after(self, rank: int | None) -> Iterator[tuple[int, str]]:
        """The sessions placed after `rank` (None: all), in order."""
        start = 0 if rank is None else bisect_right(self.ranks, rank)
        return zip(self.ranks[start:], self.keys[start:], strict=True)

    def free_rank(self, rng: random.Random, order: str) -> int:
        """A rank for a new session: at the head (newest first), at the end (insertion order)
        or between two seeded-random neighbours (shuffled)."""
        if not self.ranks:
            return 0
        if order == "newest-first":
            return self.ranks[0] - _RANK_GAP
        if order == "shuffled":
            for _ in range(64):  # a gap is used up only after 64 sessions put in it
                index = rng.randint(0, len(self.ranks))
                if index == 0:
                    return self.ranks[0] - _RANK_GAP
                if index == len(self.ranks):
                    break
                low, high = self.ranks[index - 1], self.ranks[index]
                if high - low > 1:
                    return (low + high) // 2
        return self.ranks[-1] + _RANK_GAP


class _Rejected(Exception):
    """Raised inside a handler to answer with the vendor's error instead."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class VectaraSimulator(Simulator):
    vendor = "vectara"
    auth_header = "x-api-key"

    # --- data ------------------------------------------------------------------------------------

    def generate(self) -> None:
        self._request_ids = itertools.count(1)
        anchor = _to_ms(self.anchor)
        self._now = anchor  # the model's time: the last `advance`
        # Each agent's creation and last update.
        self._agent_dates = {agent.key: self._agent_dates_for(anchor) for agent in AGENTS}
        self._entries: dict[Place, _Entry] = {}  # every session held, initial newest first
        self._listings = {agent.key: _Listing() for agent in AGENTS}
        self._open: dict[str, set[str]] = {agent.key: set() for agent in AGENTS}
        self._closed: list[Place] = []  # what a scheduled deletion picks from
        self._closed_at: dict[Place, int] = {}  # where each sits in `_closed`
        self._closing: list[tuple[datetime, int, Place]] = []  # heap of planned closes
        self._changes: list[Change] = []
        self._profiles: dict[int, _Profile] = {}
        self._stories: dict[int, _Story] = {}  # at most _CACHE_SIZE, oldest drawn dropped
        self._settled: dict[int, ChatSession] = {}  # closed sessions: they no longer change
        self._rendered: dict[int, bytes] = {}  # closed sessions' JSON, likewise
        self._make_initial(anchor)
        # What time brings: its own RNGs, so that the initial data does not depend on it.
        self._arrival_rng = random.Random(f"vectara:{self.seed}:arrivals")
        self._placing_rng = random.Random(f"vectara:{self.seed}:placing")
        self._deletion_rng = random.Random(f"vectara:{self.seed}:deletions")
        self._arrived = 0  # arrivals made so far
        self._deleted = 0  # scheduled deletions due so far (made or found nothing to delete)
        self._next_due = self._next_change()
        self.advance(self.clock())

    def _make_initial(self, anchor: datetime) -> None:
        """The history: what listing needs of every session, drawn from `self.rng` in one
        pass; the conversations of the sessions young enough to be open, to know until when."""
        first_keys: dict[str, str] = {}  # each agent's first session key: what others share
        taken: dict[str, set[str]] = {agent.key: set() for agent in AGENTS}
        entries: list[_Entry] = []
        for number, started_at in enumerate(_start_times(self.rng, self.size, anchor)):
            agent = _speaking_agent(self.rng)
            key = self._initial_key(agent.key, number, first_keys, taken[agent.key])
            first_keys.setdefault(agent.key, key)
            taken[agent.key].add(key)
            entries.append(_Entry(number, key, agent.key, started_at, 0, None))
        by_agent: dict[str, list[_Entry]] = {agent.key: [] for agent in AGENTS}
        for entry in entries:  # newest first
            by_agent[entry.agent_key].append(entry)
        for agent in AGENTS:
            served = by_agent[agent.key]
            self.rng.shuffle(served)  # drawn in every order mode: the data stays the same
            if self.order == "newest-first":
                served.sort(key=lambda entry: entry.started_at, reverse=True)
            elif self.order == "insertion":
                served.sort(key=lambda entry: entry.started_at)
            listing = self._listings[agent.key]
            listing.ranks = [index * _RANK_GAP for index in range(len(served))]
            listing.keys = [entry.key for entry in served]
            for index, entry in enumerate(served):
                entry.rank = index * _RANK_GAP
        for entry in entries:
            place = (entry.agent_key, entry.key)
            self._entries[place] = entry
            if entry.started_at > anchor - _SETTLED:
                entry.closes_at = self._planned_close(entry)
            if entry.closes_at is not None and entry.closes_at > anchor:
                self._open[entry.agent_key].add(entry.key)
                heapq.heappush(self._closing, (entry.closes_at, entry.number, place))
            else:
                self._mark_closed(place)

    def _initial_key(
        self, agent_key: str, number: int, first_keys: Mapping[str, str], taken: set[str]
    ) -> str:
        """A fresh `ase_…` key, or now and then one another agent already uses."""
        if number % _SHARED_KEY_EVERY == _SHARED_KEY_EVERY // 3:
            for other in AGENTS:
                key = first_keys.get(other.key)
                if other.key != agent_key and key is not None and key not in taken:
                    return key
        return _session_key(self.rng)

    def _agent_dates_for(self, now: datetime) -> tuple[datetime, datetime]:
        created = now - timedelta(days=self.rng.randint(120, 400))
        return created, created + timedelta(days=self.rng.randint(1, 100))

    # --- time ------------------------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Makes the changes due by `now` in the order they are due (closes, then arrivals,
        then deletions at the same moment), so the result does not depend on how often it is
        called. Nothing due: only the model's time moves (events come out as they happen)."""
        if now <= self._now:
            return
        if now < self._next_due:
            self._now = now
            return
        for _ in range(MAX_CHANGES_PER_ADVANCE):
            due = self._next_due
            if due > now:
                break
            self._now = due
            if self._closing and self._closing[0][0] == due:
                self._close_next()
            elif self._arrival_time(self._arrived + 1) == due:
                self._arrive()
            else:
                self._delete_scheduled()
            self._next_due = self._next_change()
        if self._next_due > now:  # else the model stays at the last change; the next call goes on
            self._now = now

    @property
    def model_time(self) -> datetime:
        """The moment the model (and what is served) stands at: the last `advance`."""
        return self._now

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every arrival, close and deletion so far, in the order made."""
        return tuple(self._changes)

    def _next_change(self) -> datetime:
        candidates = [self._arrival_time(self._arrived + 1), self._deletion_time(self._deleted + 1)]
        if self._closing:
            candidates.append(self._closing[0][0])
        return min(candidates)

    def _arrival_time(self, k: int) -> datetime:
        return _every(self.anchor, self.arrivals_per_hour, k)

    def _deletion_time(self, k: int) -> datetime:
        return _every(self.anchor, self.deletions_per_hour, k)

    def _close_next(self) -> None:
        at, number, place = heapq.heappop(self._closing)
        entry = self._entries.get(place)
        if entry is None or entry.number != number:
            return  # deleted while open
        self._open[entry.agent_key].discard(entry.key)
        self._mark_closed(place)
        self._changes.append(Change(at, "closed", *place))

    def _arrive(self) -> None:
        self._arrived += 1
        at = self._now
        rng = self._arrival_rng
        agent = _speaking_agent(rng)
        key = _session_key(rng)
        while (agent.key, key) in self._entries:
            key = _session_key(rng)
        listing = self._listings[agent.key]
        rank = listing.free_rank(self._placing_rng, self.order)
        entry = _Entry(self.size + self._arrived - 1, key, agent.key, at, rank, None)
        entry.closes_at = self._planned_close(entry)
        place = (agent.key, key)
        self._entries[place] = entry
        listing.add(rank, key)
        self._open[agent.key].add(key)
        heapq.heappush(self._closing, (entry.closes_at, entry.number, place))
        self._changes.append(Change(at, "arrived", *place))

    def _delete_scheduled(self) -> None:
        self._deleted += 1
        if self._closed:
            place = self._closed[self._deletion_rng.randrange(len(self._closed))]
            self._remove(place)

    def _remove(self, place: Place) -> None:
        entry = self._entries.pop(place)
        self._listings[entry.agent_key].remove(entry.rank)
        self._open[entry.agent_key].discard(entry.key)
        if place in self._closed_at:  # swap the last closed session into its slot
            index = self._closed_at.pop(place)
            last = self._closed.pop()
            if last != place:
                self._closed[index] = last
                self._closed_at[last] = index
        self._settled.pop(entry.number, None)
        self._rendered.pop(entry.number, None)
        self._changes.append(Change(self._now, "deleted", *place))

    def _mark_closed(self, place: Place) -> None:
        self._closed_at[place] = len(self._closed)
        self._closed.append(place)

    def _planned_close(self, entry: _Entry) -> datetime:
        profile = self._profile(entry)
        return self._story(entry).last_event + timedelta(minutes=profile.tti_minutes)

    # --- each session, drawn from its own RNG on first use ---------------------------------------

    def _rng(self, entry: _Entry) -> random.Random:
        return random.Random(f"vectara:{self.seed}:{entry.number}")

    def _profile(self, entry: _Entry) -> _Profile:
        profile = self._profiles.get(entry.number)
        if profile is None:
            profile, _ = _draw_profile(self._rng(entry), _AGENTS_BY_KEY[entry.agent_key])
            self._profiles[entry.number] = profile
        return profile

    def _story(self, entry: _Entry) -> _Story:
        story = self._stories.get(entry.number)
        if story is None:
            rng = self._rng(entry)
            _, talk = _draw_profile(rng, _AGENTS_BY_KEY[entry.agent_key])  # the same first draws
            story = _draw_story(rng, talk, entry.key, entry.started_at)
            if len(self._stories) >= _CACHE_SIZE:
                del self._stories[next(iter(self._stories))]
            self._stories[entry.number] = story
        return story

    def _chat(self, entry: _Entry) -> ChatSession:
        """The session as it stands at the model's time."""
        settled = self._settled.get(entry.number)
        if settled is not None:
            return settled
        profile = self._profile(entry)
        story = self._story(entry)
        messages, runs, asides, going_on = _as_of(story, self._now)
        still_open = entry.key in self._open[entry.agent_key]
        session = ChatSession(
            key=entry.key,
            agent_key=entry.agent_key,
            started_at=entry.started_at,
            topic=profile.topic,
            title=profile.title,
            summary=profile.summary,
            customer_id=profile.customer_id,
            priority=profile.priority,
            channel=profile.channel,
            phone_number=profile.phone_number,
            tags=profile.tags,
            facts=profile.facts,
            going_on=going_on,
            still_open=still_open,
            tti_minutes=profile.tti_minutes,
            messages=messages,
            tool_runs=runs,
            asides=asides,
            closes_at=story.last_event + timedelta(minutes=profile.tti_minutes),
        )
        if not still_open:
            self._settled[entry.number] = session
        return session

    # --- what the tests, the benchmark and demo mode ask ----------------------------------------

    @property
    def sessions(self) -> tuple[ChatSession, ...]:
        """The model: every session the vendor holds now (deleted ones gone), newest first.
        Draws every conversation: at a large size, ask `session` for the few you need."""
        return tuple(self._chat(entry) for entry in self._newest_first())

    def session(self, agent_key: str, key: str) -> ChatSession | None:
        """One session as it stands now; None when the vendor does not hold it."""
        entry = self._entries.get((agent_key, key))
        return None if entry is None else self._chat(entry)

    def open_sessions(self) -> list[tuple[str, str]]:
        """(agent key, session key) of every session open now: what `enabled=true` lists."""
        return [(agent_key, key) for agent_key, keys in self._open.items() for key in keys]

    def session_keys(self) -> list[SessionKey]:
        return [
            SessionKey(entry.key, entry.agent_key, entry.started_at)
            for entry in self._newest_first()
        ]

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(agent.key for agent in AGENTS)

    def agent_dates(self, agent_key: str) -> tuple[datetime, datetime]:
        """When the agent was created and last updated."""
        return self._agent_dates[agent_key]

    def _newest_first(self) -> list[_Entry]:
        return sorted(self._entries.values(), key=lambda entry: entry.started_at, reverse=True)

    # --- errors and auth -------------------------------------------------------------------------

    def authorized(self, header_value: str | None) -> bool:
        return header_value is not None and hmac.compare_digest(header_value, self.api_key)

    def error_response(self, status: int, message: str) -> Response:
        code = _STATUS_CODES.get(status) or "_".join(message.lower().split()) or "error"
        return self._error(status, code, _DETAILS.get(code, message))

    def _error(self, status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
        request_id = f"req_{next(self._request_ids):010d}"
        body = {"messages": [f"{code}: {detail}"], "request_id": request_id, **extra}
        return JSONResponse(body, status_code=status)

    def _invalid(self, field: str, problem: str) -> _Rejected:
        response = self._error(
            400, "invalid_request", f"invalid {field}", field_errors={field: problem}
        )
        return _Rejected(response)

    # --- routes -----------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        agent = "/v2/agents/{agent_key}"
        session = agent + "/sessions/{session_key}"
        return [
            Route(agent, self._answering(self._get_agent), methods=["GET"]),
            Route(agent + "/sessions", self._answering(self._list_sessions), methods=["GET"]),
            Route(session, self._answering(self._get_session), methods=["GET"]),
            Route(session, self._answering(self._delete_session), methods=["DELETE"]),
            Route(session + "/events", self._answering(self._list_events), methods=["GET"]),
        ]

    @staticmethod
    def _answering(handler: Handler) -> Handler:
        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except _Rejected as rejected:
                return rejected.response

        return answer

    async def _get_agent(self, request: Request) -> Response:
        return JSONResponse(self._agent_json(_AGENTS_BY_KEY[self._agent(request)]))

    async def _list_sessions(self, request: Request) -> Response:
        agent_key = self._agent(request)
        limit = self._limit(request)
        enabled, pattern = self._session_filter(request)
        after = self._page_after(request, scope=agent_key)
        total, candidates = self._selected(agent_key, enabled, pattern, after)
        picked = list(itertools.islice(candidates, limit + 1))
        page = picked[:limit]
        metadata: Json = {"total_count": total}
        if len(picked) > limit:
            metadata["page_key"] = self._page_key(agent_key, page[-1][0])
        # Assembled from each session's rendered JSON: a cold sync reads every session.
        sessions = b",".join(
            self._session_bytes(self._entries[(agent_key, key)]) for _, key in page
        )
        body = b'{"sessions":[' + sessions + b'],"metadata":' + _dumps(metadata) + b"}"
        return Response(body, media_type="application/json")

    def _selected(
        self,
        agent_key: str,
        enabled: bool | None,
        pattern: re.Pattern[str] | None,
        after: int | None,
    ) -> tuple[int, Iterator[tuple[int, str]]]:
        """How many sessions of the agent the filters select, and those placed after `after`,
        in order, as (rank, key). Cheap without `filter` (the open ones are few)."""
        listing, open_keys = self._listings[agent_key], self._open[agent_key]
        if pattern is not None:
            chosen = [
                (rank, key)
                for rank, key in listing.after(None)
                if (enabled is None or (key in open_keys) == enabled)
                and pattern.search(self._profile(self._entries[(agent_key, key)]).described())
            ]
            return len(chosen), (item for item in chosen if after is None or item[0] > after)
        if enabled is True:
            ranked = sorted((self._entries[(agent_key, key)].rank, key) for key in open_keys)
            return len(ranked), (item for item in ranked if after is None or item[0] > after)
        if enabled is False:
            rest = (item for item in listing.after(after) if item[1] not in open_keys)
            return len(listing) - len(open_keys), rest
        return len(listing), listing.after(after)

    async def _get_session(self, request: Request) -> Response:
        body = self._session_bytes(self._entries[self._session(request)])
        return Response(body, media_type="application/json")

    async def _delete_session(self, request: Request) -> Response:
        self._remove(self._session(request))
        return Response(status_code=204)

    async def _list_events(self, request: Request) -> Response:
        agent_key, key = place = self._session(request)
        scope = f"{agent_key}/{key}"
        limit = self._limit(request)
        start = self._page_after(request, scope=scope) or 0  # events: the next one's index
        if start < 0:
            raise self._invalid("page_key", "is not a page key of this listing")
        story = self._story(self._entries[place])
        served = bisect_right(story.event_times, self._now)  # what has happened so far
        metadata: Json = {}
        if start + limit < served:
            metadata["page_key"] = self._page_key(scope, start + limit)
        events = list(story.events[start : min(start + limit, served)])
        return JSONResponse({"events": events, "metadata": metadata})

    # --- request parts ---------------------------------------------------------------------------

    def _agent(self, request: Request) -> str:
        agent_key: str = request.path_params["agent_key"]
        if agent_key not in self._listings:
            detail = f"Agent with key '{agent_key}' does not exist"
            raise _Rejected(self._error(404, "agent_not_found", detail, id=agent_key))
        return agent_key

    def _session(self, request: Request) -> Place:
        agent_key = self._agent(request)
        session_key: str = request.path_params["session_key"]
        if (agent_key, session_key) not in self._entries:
            detail = f"Session '{session_key}' not found for agent '{agent_key}'"
            raise _Rejected(self._error(404, "session_not_found", detail, id=session_key))
        return agent_key, session_key

    def _limit(self, request: Request) -> int:
        raw = request.query_params.get("limit")
        if raw is None:
            return DEFAULT_LIMIT
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise self._invalid("limit", f"must be an integer between 1 and {MAX_LIMIT}")
        return limit

    def _session_filter(self, request: Request) -> tuple[bool | None, re.Pattern[str] | None]:
        """The `enabled` and `filter` parameters (None: not given)."""
        enabled = request.query_params.get("enabled")
        if enabled not in (None, "true", "false"):
            raise self._invalid("enabled", "must be true or false")
        pattern = request.query_params.get("filter") or ""
        try:
            regex = re.compile(pattern, re.IGNORECASE) if pattern else None
        except re.error as exc:
            raise self._invalid("filter", "must be a valid regular expression") from exc
        return (None if enabled is None else enabled == "true"), regex

    def _page_key(self, scope: str, after: int) -> str:
        raw = json.dumps({"scope": scope, "after": after}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _page_after(self, request: Request, scope: str) -> int | None:
        """Where the page key says the last page ended (None without one: from the start);
        a key of another listing is refused."""
        page_key = request.query_params.get("page_key")
        if not page_key:
            return None
        try:
            decoded = json.loads(base64.urlsafe_b64decode(page_key + "=" * (-len(page_key) % 4)))
            after = decoded["after"] if decoded["scope"] == scope else None
        except (ValueError, binascii.Error, KeyError, TypeError):
            after = None
        if not isinstance(after, int) or isinstance(after, bool):
            raise self._invalid("page_key", "is not a page key of this listing")
        return after

    # --- the vendor's JSON, rendered from the model ----------------------------------------------

    def _session_bytes(self, entry: _Entry) -> bytes:
        """The session's JSON document, kept once it is closed (it no longer changes)."""
        body = self._rendered.get(entry.number)
        if body is None:
            body = _dumps(self._session_json(entry))
            if entry.key not in self._open[entry.agent_key]:
                self._rendered[entry.number] = body
        return body

    def _session_json(self, entry: _Entry) -> Json:
        """The AgentSession document (vendors.md §3): `key` and `id` equal, no name sent as
        `""`, no description as null, the rest in the free `metadata` object."""
        profile = self._profile(entry)
        metadata: Json = {
            "customer_id": profile.customer_id,
            "priority": profile.priority,
            "issue_category": profile.topic,
            "tags": list(profile.tags),
            **dict(profile.facts),
        }
        if profile.channel is not None:
            metadata["channel"] = profile.channel
        if profile.phone_number is not None:
            metadata["phone_number"] = profile.phone_number
        return {
            "key": entry.key,
            "id": entry.key,
            "agent_key": entry.agent_key,
            "name": profile.title or "",
            "description": profile.summary,
            "metadata": metadata,
            "enabled": entry.key in self._open[entry.agent_key],
            "tti_minutes": profile.tti_minutes,
            "created_at": _iso(entry.started_at),
        }

    def _agent_json(self, agent: ChatAgent) -> Json:
        created, updated = self._agent_dates[agent.key]
        return {
            "key": agent.key,
            "name": agent.name,
            "description": agent.description,
            "enabled": agent.enabled,
            "metadata": {"team": agent.team, "owner": AGENT_OWNER},
            "model": {"name": agent.model, "parameters": {"temperature": 0.2}},
            "tool_configurations": {},
            "first_step": {"type": "conversational", "instructions": []},
            "created_at": _iso(created),
            "updated_at": _iso(updated),
        }


# --- drawing: the history's start times, a session's profile and conversation ----------------


def _start_times(rng: random.Random, count: int, anchor: datetime) -> list[datetime]:
    """`count` distinct start times in the 89 days before `anchor` (to the millisecond), newest
    first; a burst in the last hour (`_RECENT_SHARE`, `_RECENT_CAP`) so that some chats are
    going on. fake_data.spread_start_times' draws, the burst capped."""
    span_ms = int(_HISTORY.total_seconds()) * 1000
    picked: set[int] = set()
    recent = max(1, min(count // _RECENT_SHARE, _RECENT_CAP))
    while len(picked) < count:
        picked.add(rng.randint(30_000, 3_600_000 if len(picked) < recent else span_ms))
    return [anchor - timedelta(milliseconds=ms) for ms in sorted(picked)]


def _draw_profile(rng: random.Random, agent: ChatAgent) -> tuple[_Profile, Conversation]:
    """The session's own fields, and the conversation its events will hold."""
    talk = conversation(rng, list(agent.topics))
    channel = CHANNELS[bisect_right(_CHANNEL_SHARES, rng.random() * _CHANNEL_SHARES[-1])]
    customer_id = f"customer_{rng.randint(10000, 99999)}"
    priority = rng.choice(["low", "medium", "high"])
    number = phone_number(rng) if channel in SPOKEN_CHANNELS else None
    titled = rng.random() >= 0.1
    described = rng.random() >= 0.1
    profile = _Profile(
        topic=talk.topic,
        title=f"{_TOPIC_TITLES[talk.topic]} ({customer_id})" if titled else None,
        summary=talk.summary if described else None,
        customer_id=customer_id,
        priority=priority,
        channel=channel,
        phone_number=number,
        tags=tuple(talk.tags),
        facts=tuple(talk.parameters.items()),
        tti_minutes=rng.choice(TTI_MINUTES),
    )
    return profile, talk


def _draw_story(rng: random.Random, talk: Conversation, key: str, started_at: datetime) -> _Story:
    """What will be said, which tools will run and what else will happen, from the first
    message (1 to 20 s after the session is created) to the last."""
    at = started_at + timedelta(seconds=rng.randint(1, 20))
    messages: list[Message] = []
    runs: list[ToolRun] = []
    asides: list[Aside] = []
    fields: Json  # an aside's own fields, drawn before its event id
    for index, turn in enumerate(talk.turns):
        if turn.role == "user":
            messages.append(Message(_token(rng, "aev_", 16), at, "user", turn.text))
            if index == 1 and rng.random() < 0.05:
                fields = {"artifact_id": _token(rng, "art_", 10)}
                moment = at + timedelta(seconds=1)
                asides.append(Aside(_token(rng, "aev_", 16), moment, "image_read", fields))
        else:
            if rng.random() < 0.3:
                moment = at - timedelta(seconds=1)
                fields = {"content": _THINKING}
                asides.append(Aside(_token(rng, "aev_", 16), moment, "thinking", fields))
            messages.append(Message(_token(rng, "aev_", 16), at, "agent", turn.text))
        for tool in (tool for tool in talk.tools if tool.after_turn == index):
            run = _tool_run(rng, tool, at)
            runs.append(run)
            at = run.at + timedelta(milliseconds=run.duration_ms)
        at += timedelta(seconds=rng.randint(3, 45))
    if rng.random() < 0.05:
        fields = {"artifacts": [_artifact(rng)]}
        asides.append(Aside(_token(rng, "aev_", 16), at, "artifact_upload", fields))
    if rng.random() < 0.03:
        fields = {"content": _CONTEXT_SUMMARY}
        asides.append(Aside(_token(rng, "aev_", 16), at, "context_limit_exceeded", fields))
    timed = _events(key, messages, runs, asides)
    return _Story(
        messages=tuple(messages),
        tool_runs=tuple(runs),
        asides=tuple(asides),
        last_event=timed[-1][0],
        event_times=tuple(moment for moment, _ in timed),
        events=tuple(event for _, event in timed),
    )


def _as_of(
    story: _Story, now: datetime
) -> tuple[tuple[Message, ...], tuple[ToolRun, ...], tuple[Aside, ...], bool]:
    """What had happened by `now` (a tool called but not back yet has no output so far), and
    whether more is to come."""
    if story.last_event <= now:
        return story.messages, story.tool_runs, story.asides, False
    return (
        tuple(m for m in story.messages if m.at <= now),
        tuple(
            replace(run, answered=False) if run.answered and _ended(run) > now else run
            for run in story.tool_runs
            if run.at <= now
        ),
        tuple(a for a in story.asides if a.at <= now),
        True,
    )


def _tool_run(rng: random.Random, tool: ToolUse, after: datetime) -> ToolRun:
    """A tool called a second after `after`; its output gets lost one time in twenty."""
    call_id = _token(rng, "tc_", 10)
    input_event_id = _token(rng, "aev_", 16)
    answered = rng.random() >= 0.05
    output: Json | None = None
    error: str | None = None
    output_event_id = ""
    if answered:
        output, error = _tool_output(rng, tool)
        output_event_id = _token(rng, "aev_", 16)
    elif tool.error is not None:
        output, error = {"error": tool.error}, tool.error
    else:
        output = tool.result
    return ToolRun(
        call_id=call_id,
        name=tool.name,
        arguments=tool.arguments,
        at=after + timedelta(seconds=1),
        duration_ms=tool.duration_ms,
        output=output,
        error=error,
        answered=answered,
        input_event_id=input_event_id,
        output_event_id=output_event_id,
    )


def _tool_output(rng: random.Random, tool: ToolUse) -> tuple[Json | None, str | None]:
    """The tool's result; a failure is an `error` inside the output object, as a string or,
    when the tool service itself broke, as an object."""
    if tool.error is not None:
        return {"error": tool.error}, tool.error
    if rng.random() < 0.05:
        message = f"{tool.name} returned 500"
        return {"error": {"type": "tool_execution_error", "message": message}}, message
    return tool.result, None


def _speaking_agent(rng: random.Random) -> ChatAgent:
    """An agent with sessions, by its weight (`rng.choices`' draw, without its overhead: it
    runs once a session)."""
    return _SPEAKING[bisect_right(_SPEAKING_SHARES, rng.random() * _SPEAKING_SHARES[-1])]


def _session_key(rng: random.Random) -> str:
    """A fresh `ase_…` key: 12 characters of Vectara's key alphabet, [0-9a-zA-Z_-]."""
    return "ase_" + base64.urlsafe_b64encode(rng.randbytes(9)).decode()


def _token(rng: random.Random, prefix: str, length: int) -> str:
    """A seeded vendor id: `aev_…` events, `tc_…` tool calls, `art_…` artifacts."""
    return prefix + "".join(rng.choices(_KEY_ALPHABET, k=length))


def _artifact(rng: random.Random) -> Json:
    artifact_id = _token(rng, "art_", 10)
    return {
        "artifact_id": artifact_id,
        "filename": "receipt.pdf",
        "mime_type": "application/pdf",
        "size_bytes": rng.randint(20_000, 400_000),
    }


def _events(
    key: str, messages: list[Message], runs: list[ToolRun], asides: list[Aside]
) -> list[tuple[datetime, Json]]:
    """The session's event stream, chronological (ties in the order they happened), each
    with its time."""
    timed: list[tuple[datetime, int, Json]] = []

    def add(event_id: str, kind: str, at: datetime, fields: Mapping[str, Any]) -> None:
        head = {"id": event_id, "session_key": key, "type": kind, "created_at": _iso(at)}
        timed.append((at, len(timed), head | dict(fields)))

    for message in messages:
        if message.by == "user":
            parts = [{"type": "text", "content": message.text}]
            add(message.event_id, "input_message", message.at, {"messages": parts})
        else:
            add(message.event_id, "agent_output", message.at, {"content": message.text})
    for run in runs:
        ids = {
            "tool_call_id": run.call_id,
            "tool_configuration_name": f"tcfg_{run.name}",
            "tool_name": run.name,
        }
        add(run.input_event_id, "tool_input", run.at, ids | {"tool_input": run.arguments})
        if run.answered:
            add(run.output_event_id, "tool_output", _ended(run), ids | {"tool_output": run.output})
    for aside in asides:
        add(aside.event_id, aside.kind, aside.at, aside.fields)
    return [(at, event) for at, _, event in sorted(timed, key=lambda entry: entry[:2])]


def _every(anchor: datetime, per_hour: float, k: int) -> datetime:
    """The k-th moment (k ≥ 1) of a steady rate from `anchor`, to the millisecond; a rate of
    0: never."""
    try:
        return _to_ms(anchor + timedelta(seconds=k * 3600 / per_hour))
    except (ZeroDivisionError, OverflowError):
        return _NEVER


def _dumps(document: Json) -> bytes:
    """JSON as Starlette's `JSONResponse` renders it."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _ended(run: ToolRun) -> datetime:
    return run.at + timedelta(milliseconds=run.duration_ms)


def _to_ms(moment: datetime) -> datetime:
    """`moment` in UTC, cut to the millisecond: what the vendor's timestamps carry."""
    moment = moment.astimezone(UTC)
    return moment - timedelta(microseconds=moment.microsecond % 1000)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
