"""What the Vonage simulator generates, in its own terms: agents and the sessions they ran, as
plain frozen values. `documents.py` spells each session as an Insights document; the tests'
oracle reads these values to state what a client should see. Nothing here knows the vendor's
JSON or the gateway's records.

The awkward parts are facts of the model, not of the spelling: a session less than an hour old
may still be running (no duration, no end node, half its turns); a recording is published an
hour after the call ends; every twentieth session starts at the very same microsecond as the one
before it; a tag may be collected twice in one session.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from providers.simulators.fake_data import Turn, conversation, phone_number, spread_start_times

__all__ = [
    "Agent",
    "CollectedParameter",
    "Dataset",
    "Session",
    "Step",
    "TagCount",
    "TagHit",
    "WebhookCall",
    "generate",
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
AUDIO_DELAY = timedelta(hours=1)  # a recording is published this long after the call ends
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
    turns: tuple[Turn, ...]  # in order; role "user" (the caller) or "agent"
    steps: tuple[Step, ...]  # the flow path, in order
    parameters: tuple[CollectedParameter, ...]
    recording: str | None  # the audio file's path once published; None before and for chats

    @property
    def ended_at(self) -> datetime | None:
        if self.duration_ms is None:
            return None
        return self.started_at + timedelta(milliseconds=self.duration_ms)

    @property
    def webhooks(self) -> tuple[WebhookCall, ...]:
        return tuple(step.webhook for step in self.steps if step.webhook is not None)

    @property
    def tags(self) -> tuple[TagCount, ...]:
        """Each tag once, in the order the flow first collected it, with its count."""
        hits = Counter(hit for step in self.steps for hit in step.tags)
        return tuple(TagCount(hit.tag, hit.category, count) for hit, count in hits.items())


@dataclass(frozen=True, slots=True)
class Dataset:
    account_id: str
    agents: tuple[Agent, ...]
    sessions: tuple[Session, ...]  # storage order: what a search without sort_by returns


def _object_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _start_times(rng: random.Random, size: int, anchor: datetime) -> list[datetime]:
    starts = [
        moment + timedelta(microseconds=rng.randint(0, 999))
        for moment in spread_start_times(rng, size, anchor)
    ]
    for index in range(_TIE_EVERY, size, _TIE_EVERY):
        starts[index] = starts[index - 1]
    return starts


def generate(rng: random.Random, size: int, anchor: datetime) -> Dataset:
    account_id = _object_id(rng)
    agents = tuple(
        Agent(_object_id(rng), _object_id(rng), name, voice, language, topics, phone_number(rng))
        for name, voice, language, topics in _PROFILES
    )
    builder = _SessionBuilder(rng, account_id, anchor)
    sessions = [
        builder.build(rng.choice(agents), start) for start in _start_times(rng, size, anchor)
    ]
    rng.shuffle(sessions)
    return Dataset(account_id, agents, tuple(sessions))


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


class _SessionBuilder:
    def __init__(self, rng: random.Random, account_id: str, anchor: datetime) -> None:
        self.rng = rng
        self.account_id = account_id
        self.anchor = anchor
        self.categories: dict[str, str] = {}  # tag → its category id, stable across sessions

    def build(self, agent: Agent, start: datetime) -> Session:
        rng = self.rng
        talk = conversation(rng, list(agent.topics))
        running = self.anchor - start < _RUNNING_WITHIN and rng.random() < 0.5
        heard = len(talk.turns) // 2 + 1 if running else len(talk.turns)
        session_id = _uuid(rng)
        channel = rng.choices(CHANNELS, _CHANNEL_WEIGHTS)[0]
        turns = tuple(talk.turns[:heard])
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
        steps = self._steps(channel, turns, webhooks, running, talk.tags)
        erroneous = any(call.error for _, call in webhooks) or rng.random() < 0.08
        status_code = ERRONEOUS if erroneous else rng.choice([SUCCESSFUL] * 9 + [WARNING])
        duration_ms, recording = None, None
        if not running:
            room_ms = int((self.anchor - start) / timedelta(milliseconds=1)) - 1000
            duration_ms = min(rng.randint(15_000, 360_000), room_ms)
            ended = start + timedelta(milliseconds=duration_ms)
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
            turns=turns,
            steps=steps,
            parameters=tuple(
                CollectedParameter(name, value, _PARAMETER_TYPES.get(name, "sys.any"))
                for name, value in talk.parameters.items()
            ),
            recording=recording,
        )

    def _steps(
        self,
        channel: str,
        turns: tuple[Turn, ...],
        webhooks: list[tuple[int, WebhookCall]],
        running: bool,
        tags: list[str],
    ) -> tuple[Step, ...]:
        rng = self.rng
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
                        url=CONNECTORS[channel],
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
        if not running:
            nodes.append(_Node(_object_id(rng), "end_call", request_id))
        for tag in tags:
            for _ in range(2 if rng.random() < 0.15 else 1):
                node = rng.choice(nodes[1:])
                category = self.categories.setdefault(tag, f"{rng.getrandbits(128):032x}")
                node.tags = [*(node.tags or []), TagHit(tag, category)]
        return tuple(node.step() for node in nodes)
