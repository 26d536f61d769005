"""A faithful fake of StateSet Voice's `GET /api/v1/voice-sessions` (vendors.md §2).

What it reproduces: Bearer auth; `limit` (default 20, our choice: the vendor documents none;
1-100) and `offset` (≥ 0) with `{"ok": false, "error"}` 400s; the `status`, `agent_key` and
`stream_id` filters; the `{"data", "limit", "offset", "total"}` envelope, with an empty `data`
and the true `total` past the end; NO order (a fixed shuffle, never by start time); `x-request-id`
on every answer; `X-RateLimit-Limit` / `X-RateLimit-Remaining` on every answer and `Retry-After`
on 429s. Active calls have a partial transcript and null `ended_at`, `duration_seconds` and
`summary`; failed calls have an empty `summary`.

The calls are generated first as a model in the simulator's own terms (`VoiceCall`: who dialled
whom, the true start and length, what was said and which functions ran, as far as the call got
by the anchor); the vendor's JSON is rendered from it. Tests state what a client should see from
the same model, never from the JSON.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from providers.simulators.base import SessionKey, Simulator
from providers.simulators.fake_data import (
    Conversation,
    conversation,
    phone_number,
    spread_start_times,
)

__all__ = [
    "AGENTS",
    "SESSIONS_PATH",
    "STATUSES",
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


@dataclass(frozen=True, slots=True)
class VoiceCall:
    """One call as it happened, up to the simulator's anchor ("now")."""

    id: str
    stream_id: str  # the media stream
    call_sid: str  # the telephony call
    agent_key: str
    status: str  # as generated, one of STATUSES
    agent_dialled: bool  # True: the agent called the person; False: the person called the agent
    person_number: str  # the person the agent talked to
    agent_number: str  # the agent's own line
    started_at: datetime  # aware UTC, whole seconds
    duration_ms: int | None  # None while the call is still on the line
    model: str
    voice: str
    utterances: tuple[Utterance, ...]  # what was said by the anchor, in order
    function_uses: tuple[FunctionUse, ...]  # the functions called by the anchor, in order
    summary: str | None  # None: not written yet; "": nothing worth summarising
    tags: tuple[str, ...]
    review: QaReview

    @property
    def ended_at(self) -> datetime | None:
        if self.duration_ms is None:
            return None
        return self.started_at + timedelta(milliseconds=self.duration_ms)


class StateSetSimulator(Simulator):
    vendor = "stateset"

    calls: list[VoiceCall]  # the model, in the (unsorted) served order
    documents: list[dict[str, Any]]  # the VoiceSession JSON of each call, in the same order

    def __init__(self, **kwargs: Any) -> None:
        self._served_at: deque[datetime] = deque()  # for X-RateLimit-Remaining
        super().__init__(**kwargs)

    # --- data ---------------------------------------------------------------------------------

    def generate(self) -> None:
        starts = [
            start.replace(microsecond=0)  # the vendor sends whole seconds
            for start in spread_start_times(self.rng, self.size, self.anchor)
        ]
        agents = [self.rng.choice(AGENTS) for _ in starts]
        if len(starts) > 2:
            # Two concurrent calls on one line in the same second: only the id breaks the tie.
            middle = len(starts) // 2
            starts[middle + 1], agents[middle + 1] = starts[middle], agents[middle]
        calls = [self._call(start, agent) for start, agent in zip(starts, agents, strict=True)]
        self.rng.shuffle(calls)  # StateSet promises no order: serve a fixed shuffle
        self.calls = calls
        self.documents = [voice_session(call) for call in calls]

    def _call(self, started_at: datetime, agent: VoiceAgent) -> VoiceCall:
        talk = conversation(self.rng, list(agent.topics))
        status = self._status(started_at)
        utterances, uses, last_word = self._exchange(talk, started_at, status)
        ended_at = None if status == "active" else last_word + HANG_UP_AFTER
        person = phone_number(self.rng)
        return VoiceCall(
            id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            stream_id=f"MZ{self.rng.getrandbits(128):032x}",
            call_sid=f"CA{self.rng.getrandbits(128):032x}",
            agent_key=agent.key,
            status=status,
            agent_dialled=agent.outbound,
            person_number=person,
            agent_number=agent.line,
            started_at=started_at,
            duration_ms=None if ended_at is None else _ms(ended_at - started_at),
            model=agent.model,
            voice=agent.voice,
            utterances=utterances,
            function_uses=uses,
            summary=_summary(talk, status),
            tags=(*talk.tags, "dropped") if status == "failed" else tuple(talk.tags),
            review=self._review(status),
        )

    def _status(self, started_at: datetime) -> str:
        if self.anchor - started_at < ACTIVE_WINDOW:
            return "active"
        draw = self.rng.random()
        if draw < FAILED_SHARE:
            return "failed"
        return "reviewed" if draw < FAILED_SHARE + REVIEWED_SHARE else "completed"

    def _exchange(
        self, talk: Conversation, started_at: datetime, status: str
    ) -> tuple[tuple[Utterance, ...], tuple[FunctionUse, ...], datetime]:
        """What was said and which functions ran as far as the call got (an active call is
        still talking, a failed one broke off with a system line), and when the last line was
        said. Nothing is said after the anchor: a call that just started has little or none."""
        turns = talk.turns
        if status in ("active", "failed"):
            turns = turns[: self.rng.randint(1, len(turns) - 1)]
        moment = started_at
        said: list[Utterance] = []
        if self.rng.random() < 0.3:
            said.append(Utterance("system", "This call may be recorded.", moment))
        for turn in turns:
            moment += timedelta(seconds=self.rng.randint(2, 12))
            said.append(
                Utterance("person" if turn.role == "user" else turn.role, turn.text, moment)
            )
        if status == "failed":
            moment += timedelta(seconds=self.rng.randint(1, 5))
            said.append(Utterance("system", "Media stream disconnected.", moment))
        turn_times = [line.at for line in said if line.speaker != "system"]
        uses = [
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
        ]
        return (
            tuple(line for line in said if line.at <= self.anchor),
            tuple(use for use in uses if use.at <= self.anchor),
            moment,
        )

    def _review(self, status: str) -> QaReview:
        if status != "reviewed":
            return QaReview(done=False, score=None, notes=None)
        score = round(self.rng.uniform(0.55, 0.99), 2)
        return QaReview(done=True, score=score, notes=self.rng.choice(_QA_NOTES))

    # --- what the tests and demo mode ask -------------------------------------------------------

    def session_keys(self) -> list[SessionKey]:
        return [SessionKey(call.id, call.agent_key, call.started_at) for call in self.calls]

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
        chosen = [
            document
            for call, document in zip(self.calls, self.documents, strict=True)
            if (status is None or call.status == status)
            and _equal_or_unset(call.agent_key, params.get("agent_key"))
            and _equal_or_unset(call.stream_id, params.get("stream_id"))
        ]
        body = {
            "data": chosen[offset : offset + limit],
            "limit": limit,
            "offset": offset,
            "total": len(chosen),
        }
        return JSONResponse(body, headers=self._common_headers(rate_limited=False))

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


def _equal_or_unset(value: str, wanted: str | None) -> bool:
    return not wanted or value == wanted


def _summary(talk: Conversation, status: str) -> str | None:
    if status == "active":
        return None
    return "" if status == "failed" else talk.summary  # "" : nothing worth summarising


def _ms(span: timedelta) -> int:
    return span // timedelta(milliseconds=1)


def _iso(moment: datetime) -> str:
    """The vendor's times: ISO 8601 in UTC to the second, with `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
