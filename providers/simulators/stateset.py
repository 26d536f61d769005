"""A faithful fake of StateSet Voice's `GET /api/v1/voice-sessions` (vendors.md §2).

What it reproduces: Bearer auth; `limit` (default 20, our choice: the vendor documents none;
1-100) and `offset` (≥ 0) with `{"ok": false, "error"}` 400s; the `status`, `agent_key` and
`stream_id` filters; the `{"data", "limit", "offset", "total"}` envelope, with an empty `data`
and the true `total` past the end; NO order (a fixed shuffle, never by start time); `x-request-id`
on every answer; `X-RateLimit-Limit` / `X-RateLimit-Remaining` on every answer and `Retry-After`
on 429s. Active calls have a partial transcript and null `ended_at`, `duration_seconds` and
`summary`; failed calls have an empty `summary`.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from providers.records import SessionRecord
from providers.simulators.base import SessionKey, Simulator
from providers.simulators.fake_data import (
    Conversation,
    ToolUse,
    conversation,
    phone_number,
    spread_start_times,
)
from providers.stateset.mapping import SESSION_STATUSES, session_record

__all__ = ["StateSetSimulator"]

SESSIONS_PATH = "/api/v1/voice-sessions"
DEFAULT_LIMIT = 20  # not documented by the vendor: the example asks for 25, we default lower
MAX_LIMIT = 100
RATE_LIMIT_PER_MINUTE = 60  # per IP [doc]
ACTIVE_WINDOW = timedelta(hours=1)  # a call started this recently is still on the line
FAILED_SHARE = 0.1
REVIEWED_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class _Agent:
    key: str
    line: str  # the number the agent answers and dials from
    topics: tuple[str, ...]
    model: str
    voice: str
    outbound: bool = False  # dispatch calls its drivers


_AGENTS = (
    _Agent("support_primary", "+14155550100", ("order_status", "faq"), "gpt-realtime", "alloy"),
    _Agent("billing_line", "+14155550101", ("billing",), "gpt-realtime", "verse"),
    _Agent("scheduling_desk", "+16465550102", ("appointment",), "gpt-realtime-mini", "shimmer"),
    _Agent(
        "fleet_dispatch",
        "+13125550103",
        ("roadside",),
        "gpt-4o-realtime-preview",
        "sage",
        outbound=True,
    ),
)

_ROLES = {"user": "caller", "agent": "agent", "system": "system"}
_QA_NOTES = (
    "Agent confirmed identity before acting.",
    "Good tone; summary matches the call.",
    "Tool result read back correctly.",
    "Should have offered a callback sooner.",
)


class StateSetSimulator(Simulator):
    vendor = "stateset"

    sessions: list[dict[str, Any]]  # raw VoiceSession documents, in the (unsorted) served order

    def __init__(self, **kwargs: Any) -> None:
        self._served_at: deque[float] = deque()  # for X-RateLimit-Remaining
        super().__init__(**kwargs)

    # --- data ---------------------------------------------------------------------------------

    def generate(self) -> None:
        starts = [
            start.replace(microsecond=0)  # the vendor sends whole seconds
            for start in spread_start_times(self.rng, self.size, self.anchor)
        ]
        agents = [self.rng.choice(_AGENTS) for _ in starts]
        if len(starts) > 2:
            # Two concurrent calls on one line in the same second: only the id breaks the tie.
            middle = len(starts) // 2
            starts[middle + 1], agents[middle + 1] = starts[middle], agents[middle]
        sessions = [
            self._session(start, agent) for start, agent in zip(starts, agents, strict=True)
        ]
        self.rng.shuffle(sessions)  # StateSet promises no order: serve a fixed shuffle
        self.sessions = sessions

    def _session(self, started_at: datetime, agent: _Agent) -> dict[str, Any]:
        talk = conversation(self.rng, list(agent.topics))
        status = self._status(started_at)
        transcript, function_calls, last_word = self._exchange(talk, started_at, status)
        ended_at = None if status == "active" else last_word + timedelta(seconds=3)
        person = phone_number(self.rng)
        return {
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "stream_id": f"MZ{self.rng.getrandbits(128):032x}",
            "call_sid": f"CA{self.rng.getrandbits(128):032x}",
            "agent_key": agent.key,
            "status": status,
            "direction": "outbound" if agent.outbound else "inbound",
            "from_number": agent.line if agent.outbound else person,
            "to_number": person if agent.outbound else agent.line,
            "started_at": _iso(started_at),
            "ended_at": _iso(ended_at) if ended_at else None,
            "duration_seconds": int((ended_at - started_at).total_seconds()) if ended_at else None,
            "model": agent.model,
            "voice": agent.voice,
            "transcript": transcript,
            "function_calls": function_calls,
            "summary": _summary(talk, status),
            "tags": [*talk.tags, "dropped"] if status == "failed" else list(talk.tags),
            "qa": self._qa(status),
        }

    def _status(self, started_at: datetime) -> str:
        if self.anchor - started_at < ACTIVE_WINDOW:
            return "active"
        draw = self.rng.random()
        if draw < FAILED_SHARE:
            return "failed"
        return "reviewed" if draw < FAILED_SHARE + REVIEWED_SHARE else "completed"

    def _exchange(
        self, talk: Conversation, started_at: datetime, status: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], datetime]:
        """The transcript and function calls as far as the call got (an active call is still
        talking, a failed one broke off with a system turn), and when the last line was said."""
        turns = talk.turns
        if status in ("active", "failed"):
            turns = turns[: self.rng.randint(1, len(turns) - 1)]
        moment = started_at
        lines: list[tuple[str, str, datetime]] = []
        if self.rng.random() < 0.3:
            lines.append(("system", "This call may be recorded.", moment))
        for turn in turns:
            moment += timedelta(seconds=self.rng.randint(2, 12))
            lines.append((_ROLES[turn.role], turn.text, moment))
        if status == "failed":
            moment += timedelta(seconds=self.rng.randint(1, 5))
            lines.append(("system", "Media stream disconnected.", moment))
        turn_times = [at for role, _, at in lines if role != "system"]
        calls = [
            (tool, turn_times[tool.after_turn] + timedelta(seconds=1))
            for tool in talk.tools
            if tool.after_turn < len(turn_times)
        ]
        # Nothing is said after "now": a call that just started has little or no transcript.
        transcript = [_line(role, text, at) for role, text, at in lines if at <= self.anchor]
        function_calls = [_function_call(tool, at) for tool, at in calls if at <= self.anchor]
        return transcript, function_calls, moment

    def _qa(self, status: str) -> dict[str, Any]:
        if status != "reviewed":
            return {"state": "pending", "score": None, "notes": None}
        score = round(self.rng.uniform(0.55, 0.99), 2)
        return {"state": "reviewed", "score": score, "notes": self.rng.choice(_QA_NOTES)}

    # --- what the tests and demo mode ask -------------------------------------------------------

    def ground_truth(self) -> list[SessionRecord]:
        return [session_record(doc) for doc in self.sessions]

    def session_keys(self) -> list[SessionKey]:  # PLACEHOLDER: until the model is independent
        return [SessionKey(r.id, r.agent_id, r.started_at) for r in self.ground_truth()]

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(agent.key for agent in _AGENTS)

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
            doc
            for doc in self.sessions
            if (status is None or doc["status"] == status)
            and _equal_or_unset(doc["agent_key"], params.get("agent_key"))
            and _equal_or_unset(doc["stream_id"], params.get("stream_id"))
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
        """Answers in the trailing minute, this one included."""
        now = time.monotonic()
        self._served_at.append(now)
        while now - self._served_at[0] > 60.0:
            self._served_at.popleft()
        return len(self._served_at)


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
    if raw not in SESSION_STATUSES:
        raise ValueError(f"status must be one of {', '.join(SESSION_STATUSES)}")
    return raw


def _equal_or_unset(value: str, wanted: str | None) -> bool:
    return not wanted or value == wanted


def _line(role: str, text: str, at: datetime) -> dict[str, Any]:
    return {"role": role, "text": text, "timestamp": _iso(at)}


def _function_call(tool: ToolUse, at: datetime) -> dict[str, Any]:
    return {
        "name": tool.name,
        "arguments": tool.arguments,
        "result": tool.result,
        "error": tool.error,
        "timestamp": _iso(at),
        "duration_ms": tool.duration_ms,
    }


def _summary(talk: Conversation, status: str) -> str | None:
    if status == "active":
        return None
    return "" if status == "failed" else talk.summary  # "" : nothing worth summarising


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
