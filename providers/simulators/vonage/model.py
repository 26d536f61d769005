"""What the Vonage simulator generates, in its own terms: agents and the sessions they ran, as
plain frozen values. `documents.py` spells each session as an Insights document; the tests'
oracle reads these values to state what a client should see. Nothing here knows the vendor's
JSON or the gateway's records.

The awkward parts are facts of the model, not of the spelling: a session less than an hour old
may still be running (no duration, no end node, half its turns); a recording is published an
hour after the call ends; every twentieth session starts at the very same microsecond as the one
before it; a tag may be collected twice in one session.

Built for 100,000 sessions in a second or two: a session's scalars, tags and status code (what
searches filter and sort on) are drawn for every session up front, from the conversation's
outline (`fake_data.outline`); what was said, run and collected (`Talk`) is generated the first
time it is read, from the session's own seeded RNG, so it is the same whatever order sessions
are read in.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from providers.simulators.fake_data import (
    Outline,
    Turn,
    conversation_for,
    outline,
    phone_number,
    sketch,
    spread_start_times,
)

__all__ = [
    "Agent",
    "CollectedParameter",
    "Dataset",
    "Session",
    "Step",
    "TagCount",
    "TagHit",
    "Talk",
    "Talks",
    "WebhookCall",
    "generate",
    "start_order",
]

# name, voice, language, topics of `fake_data.conversation`
_PROFILES = (
    ("Order Desk", "Salli", "en-US", ("order_status", "faq")),
    ("Clinic Scheduler", "Joanna", "en-US", ("appointment", "faq")),
    ("Billing Assistant", "Brian", "en-GB", ("billing", "faq")),
    ("Fleet Dispatch", "Matthew", "en-US", ("roadside",)),
)
CHANNELS = ("telephony", "whatsapp", "http")  # the vendor's words: phone calls, WhatsApp, web chat
_CHANNEL_WEIGHTS = (6, 3, 2)
_CUMULATIVE_WEIGHTS = tuple(itertools.accumulate(_CHANNEL_WEIGHTS))
CONNECTORS = {
    "telephony": "http://telephony-connector.ai.vonage.com/api/actions/speak",
    "whatsapp": "http://whatsapp-connector.ai.vonage.com/api/actions/send",
    "http": "http://http-connector.ai.vonage.com/api/actions/reply",
}
_PARAMETER_TYPES = {
    "order_id": "sys.number",
    "slot": "sys.datetime",
    "amount": "sys.money",
    "route_id": "sys.any",
}
# channel_data.status_code: 0 successful, 100 warning, 200 erroneous (seed 003)
SUCCESSFUL, WARNING, ERRONEOUS = 0, 100, 200
_TIE_EVERY = 20  # every 20th session starts at the very same microsecond as the one before
_RUNNING_WITHIN = timedelta(hours=1)  # only sessions this recent may still be running
_ONE_MS = timedelta(milliseconds=1)
AUDIO_DELAY = timedelta(hours=1)  # a recording is published this long after the call ends
_STATUS_CODES = (SUCCESSFUL,) * 9 + (WARNING,)  # an ended call that went well: 1 in 10 warned
SPEAK_CODE = 201  # what a connector answers to a speak action
WEBHOOK_TIMEOUT_CODE = 504  # what a webhook node records when the customer's API failed


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    version_id: str  # the published version: the agent speaks under this key in transcriptions
    name: str
    voice: str
    language: str
    topics: tuple[str, ...]
    number: str  # the number it answers on, E.164

    @property
    def hooks(self) -> str:
        """Where the agent's webhooks call the customer's API."""
        return f"https://api.{self.name.lower().replace(' ', '-')}.example.com/hooks"


@dataclass(frozen=True, slots=True)
class TagHit:
    """A tag one flow node collected."""

    tag: str
    category: str


@dataclass(frozen=True, slots=True)
class TagCount:
    """A tag the session collected, and how many times."""

    tag: str
    category: str
    count: int


@dataclass(frozen=True, slots=True)
class CollectedParameter:
    name: str
    value: str
    type: str  # the entity type, `sys.…`


@dataclass(frozen=True, slots=True)
class WebhookCall:
    """A call the flow made to the customer's API (a tool use, in the gateway's words)."""

    name: str  # the endpoint: the last segment of the URL
    url: str
    arguments: dict[str, Any]  # the JSON body sent
    answer: Any  # the JSON the API answered (`{"error": …}` when it failed)
    error: str | None  # why it failed; None when it answered
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Step:
    """One node execution of the flow path."""

    node_id: str
    kind: str  # start | collect_input | speak | webhook | end_call
    request_id: str
    execution_time_ms: int
    response_code: int
    url: str | None  # the URL the node called, if it called one
    said: str | None  # speak: what the agent said; collect_input: what the caller said
    webhook: WebhookCall | None
    tags: tuple[TagHit, ...]


@dataclass(frozen=True, slots=True)
class Talk:
    """What one session said, ran and collected."""

    turns: tuple[Turn, ...]  # in order; role "user" (the caller) or "agent"
    steps: tuple[Step, ...]  # the flow path, in order
    parameters: tuple[CollectedParameter, ...]


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    agent: Agent
    channel: str  # one of CHANNELS
    started_at: datetime  # aware UTC, to the microsecond
    running: bool  # still in progress at the anchor
    duration_ms: int | None  # None while running
    status_code: int  # SUCCESSFUL, WARNING or ERRONEOUS
    caller: str | None  # the number that called, E.164; None over http
    callee: str | None  # the number the agent answered on, E.164; None over http
    recording: str | None  # the audio file's path once published; None before and for chats
    tags: tuple[TagCount, ...]  # each tag once, in the conversation's order, with its count
    outline: Outline  # what the conversation is about and which way it goes
    # Where the talk comes from on first read: not part of what the session is.
    talks: Talks = field(compare=False, repr=False)

    @property
    def talk(self) -> Talk:
        return self.talks.of(self)

    @property
    def turns(self) -> tuple[Turn, ...]:
        return self.talk.turns

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.talk.steps

    @property
    def parameters(self) -> tuple[CollectedParameter, ...]:
        return self.talk.parameters

    @property
    def ended_at(self) -> datetime | None:
        if self.duration_ms is None:
            return None
        return self.started_at + timedelta(milliseconds=self.duration_ms)

    @property
    def webhooks(self) -> tuple[WebhookCall, ...]:
        return tuple(step.webhook for step in self.steps if step.webhook is not None)


@dataclass(frozen=True, slots=True)
class Dataset:
    account_id: str
    agents: tuple[Agent, ...]
    sessions: tuple[Session, ...]  # storage order: what a search without sort_by returns
    by_start: tuple[Session, ...]  # the same, by start time, then agent id, then id
    talks: Talks  # where every session's talk comes from, and those generated so far


def start_order(session: Session) -> tuple[datetime, str, str]:
    """What `Dataset.by_start` is sorted by."""
    return session.started_at, session.agent.id, session.id


def _object_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def _uuid(rng: random.Random) -> str:
    """`str(uuid.UUID(int=rng.getrandbits(128), version=4))`, in half the time."""
    digits = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _start_times(rng: random.Random, size: int, anchor: datetime) -> list[datetime]:
    one_us = timedelta(microseconds=1)  # multiplying it is exact, and cheaper than building one
    starts = [
        moment + one_us * rng.randint(0, 999) for moment in spread_start_times(rng, size, anchor)
    ]
    for index in range(_TIE_EVERY, size, _TIE_EVERY):
        starts[index] = starts[index - 1]
    return starts


def generate(rng: random.Random, size: int, anchor: datetime, seed: int) -> Dataset:
    """The dataset drawn from `rng`; `seed` seeds each session's own RNG, for its talk."""
    account_id = _object_id(rng)
    agents = tuple(
        Agent(_object_id(rng), _object_id(rng), name, voice, language, topics, phone_number(rng))
        for name, voice, language, topics in _PROFILES
    )
    talks = Talks(seed)
    builder = _SessionBuilder(rng, account_id, anchor, talks)
    sessions = [
        builder.build(rng.choice(agents), start) for start in _start_times(rng, size, anchor)
    ]
    # Built newest first: reversed, only the sessions that share a start need sorting.
    by_start = sorted(reversed(sessions), key=start_order)
    rng.shuffle(sessions)
    return Dataset(account_id, agents, tuple(sessions), tuple(by_start), talks)


class Talks:
    """Every session's talk, generated on first read from an RNG seeded with the simulator's
    seed and the session's id, and kept."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.cache: dict[str, Talk] = {}

    def of(self, session: Session) -> Talk:
        talk = self.cache.get(session.id)
        if talk is None:
            talk = self.cache[session.id] = self._generate(session)
        return talk

    def forget(self, session_id: str) -> None:
        self.cache.pop(session_id, None)

    def _generate(self, session: Session) -> Talk:
        rng = random.Random(f"vonage:{self.seed}:{session.id}")
        talk = conversation_for(rng, session.outline)
        heard = _heard(len(talk.turns), session.running)
        turns = tuple(talk.turns[:heard])
        agent = session.agent
        webhooks = [
            (
                tool.after_turn,
                WebhookCall(
                    name=tool.name,
                    url=f"{agent.hooks}/{tool.name}",
                    arguments=tool.arguments,
                    answer={"error": tool.error} if tool.error is not None else tool.result,
                    error=tool.error,
                    duration_ms=tool.duration_ms,
                ),
            )
            for tool in talk.tools
            if tool.after_turn < heard
        ]
        return Talk(
            turns=turns,
            steps=_steps(rng, session, turns, webhooks),
            parameters=tuple(
                CollectedParameter(name, value, _PARAMETER_TYPES.get(name, "sys.any"))
                for name, value in talk.parameters.items()
            ),
        )


def _heard(turn_count: int, running: bool) -> int:
    """The turns said so far: about half of them while the session is still running."""
    return turn_count // 2 + 1 if running else turn_count


@dataclass
class _Node:
    """A step while the flow is being built: tags land on it afterwards."""

    node_id: str
    kind: str
    request_id: str
    execution_time_ms: int = 0
    response_code: int = 200
    url: str | None = None
    said: str | None = None
    webhook: WebhookCall | None = None
    tags: list[TagHit] | None = None

    def step(self) -> Step:
        return Step(
            self.node_id,
            self.kind,
            self.request_id,
            self.execution_time_ms,
            self.response_code,
            self.url,
            self.said,
            self.webhook,
            tuple(self.tags or ()),
        )


@dataclass(frozen=True, slots=True)
class _Shape:
    """What every talk of one outline shares, as far as listing and filtering need it."""

    failing: bool  # a webhook the caller got to fails
    tags: tuple[str, ...]


class _SessionBuilder:
    """What a session is listed, filtered and sorted by, drawn for every session from the
    dataset's RNG; its talk is left to `Talks`."""

    def __init__(self, rng: random.Random, account_id: str, anchor: datetime, talks: Talks) -> None:
        self.rng = rng
        self.account_id = account_id
        self.anchor = anchor
        self.talks = talks
        self.running_since = anchor - _RUNNING_WITHIN
        self.shapes: dict[tuple[str, bool, bool], _Shape] = {}  # by topic, twist, running
        # Each (tag, count) once: sessions share them. A tag's category is stable across
        # sessions, seeded by the tag (not drawn), so whichever session comes first.
        self.tag_counts: dict[tuple[str, int], TagCount] = {}

    def build(self, agent: Agent, start: datetime) -> Session:
        rng = self.rng
        plan = outline(rng, list(agent.topics))
        running = start > self.running_since and rng.random() < 0.5
        session_id = _uuid(rng)
        channel = _channel(rng)
        shape = self._shape(plan, running)
        erroneous = shape.failing or rng.random() < 0.08
        status_code = ERRONEOUS if erroneous else rng.choice(_STATUS_CODES)
        duration_ms, recording = None, None
        if not running:
            room_ms = (self.anchor - start) // _ONE_MS - 1000
            duration_ms = min(rng.randint(15_000, 360_000), room_ms)
            ended = start + _ONE_MS * duration_ms
            if channel == "telephony" and self.anchor - ended > AUDIO_DELAY:
                recording = f"{self.account_id}/{agent.version_id}/{session_id}.mp3"
        phone = channel != "http"
        return Session(
            id=session_id,
            agent=agent,
            channel=channel,
            started_at=start,
            running=running,
            duration_ms=duration_ms,
            status_code=status_code,
            caller=phone_number(rng) if phone else None,
            callee=agent.number if phone else None,
            recording=recording,
            tags=tuple(self._tag(tag, 2 if rng.random() < 0.15 else 1) for tag in shape.tags),
            outline=plan,
            talks=self.talks,
        )

    def _shape(self, plan: Outline, running: bool) -> _Shape:
        """Read off the outline's sketch: every talk of it has the same turns and tools."""
        key = (plan.topic, plan.twist, running)  # hashed faster than the outline itself
        shape = self.shapes.get(key)
        if shape is None:
            sketched = sketch(plan)
            heard = _heard(len(sketched.turns), running)
            failing = any(tool.error for tool in sketched.tools if tool.after_turn < heard)
            shape = self.shapes[key] = _Shape(failing, tuple(sketched.tags))
        return shape

    def _tag(self, tag: str, count: int) -> TagCount:
        counted = self.tag_counts.get((tag, count))
        if counted is None:
            category_rng = random.Random(f"vonage:{self.talks.seed}:tag:{tag}")
            category = f"{category_rng.getrandbits(128):032x}"
            counted = self.tag_counts[tag, count] = TagCount(tag, category, count)
        return counted


def _channel(rng: random.Random) -> str:
    """`rng.choices(CHANNELS, _CHANNEL_WEIGHTS)[0]`, the same draw, without its set-up."""
    return CHANNELS[bisect.bisect(_CUMULATIVE_WEIGHTS, rng.random() * _CUMULATIVE_WEIGHTS[-1])]


def _steps(
    rng: random.Random,
    session: Session,
    turns: tuple[Turn, ...],
    webhooks: list[tuple[int, WebhookCall]],
) -> tuple[Step, ...]:
    """The flow path: a node per turn and webhook, an end node once the call is over, and the
    session's tags, each collected as many times as it counts, on nodes drawn at random."""
    request_id = _uuid(rng)
    nodes = [_Node(_object_id(rng), "start", request_id)]
    for index, turn in enumerate(turns):
        if turn.role == "user":
            request_id = _uuid(rng)  # every caller input opens a new request
            nodes.append(_Node(_object_id(rng), "collect_input", request_id, said=turn.text))
        else:
            node_id = _object_id(rng)
            nodes.append(
                _Node(
                    node_id,
                    "speak",
                    request_id,
                    execution_time_ms=rng.randint(80, 5000),
                    response_code=SPEAK_CODE,
                    url=CONNECTORS[session.channel],
                    said=turn.text,
                )
            )
        for after_turn, call in webhooks:
            if after_turn == index:
                nodes.append(
                    _Node(
                        _object_id(rng),
                        "webhook",
                        request_id,
                        execution_time_ms=call.duration_ms,
                        response_code=WEBHOOK_TIMEOUT_CODE if call.error else 200,
                        url=call.url,
                        webhook=call,
                    )
                )
    if not session.running:
        nodes.append(_Node(_object_id(rng), "end_call", request_id))
    for tag in session.tags:
        for _ in range(tag.count):
            node = rng.choice(nodes[1:])
            node.tags = [*(node.tags or []), TagHit(tag.tag, tag.category)]
    return tuple(node.step() for node in nodes)
