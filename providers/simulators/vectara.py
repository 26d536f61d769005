"""A faithful fake of the Vectara Agents API v2 (vendors.md §3).

What it keeps of the real API's awkward parts:
- sessions are listed one agent at a time, in no promised order (a seeded shuffle, never by
  `created_at`), behind an opaque `page_key` that is present and non-empty only while another
  page exists; `total_count` counts every session the filters select;
- session keys are unique per agent only: some agents share a key;
- `limit` is 1-100 (default 10) on both listings, else 400 with `field_errors`; `enabled`
  must be `true` or `false`; a page key from another listing is refused;
- errors are `{"messages": ["<code>: …"], "request_id": …}`, a 404 adds `id`;
- the conversation lives in a chronological, paged event stream (messages, agent output,
  thinking, tool input/output pairs, artifacts), where a tool's output may never arrive;
- `filter` is accepted as a case-insensitive regular expression over the session's name and
  description ([target]: Vectara's other v2 listings filter that way); the adapter ignores it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import re
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
from providers.vectara.mapping import session_record, with_events

__all__ = ["VectaraSimulator"]

Json = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

MAX_LIMIT = 100
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class _AgentSpec:
    key: str
    name: str
    description: str
    topics: tuple[str, ...]  # fake_data conversation topics; none: an agent without sessions
    weight: int  # its share of the sessions
    model: str
    enabled: bool = True


AGENTS = (
    _AgentSpec(
        "agt_support",
        "Customer Support",
        "Answers order and store questions on the web shop and by email.",
        ("order_status", "faq"),
        4,
        "gpt-4o",
    ),
    _AgentSpec(
        "agt_billing",
        "Billing Assistant",
        "Resolves invoices, duplicate charges and refunds.",
        ("billing",),
        2,
        "claude-sonnet-4",
    ),
    _AgentSpec(
        "agt_scheduling",
        "Clinic Scheduling",
        "Books and moves clinic appointments.",
        ("appointment",),
        2,
        "gpt-4o-mini",
    ),
    _AgentSpec(
        "agt_dispatch",
        "Fleet Dispatch",
        "Keeps drivers and customers informed about delays.",
        ("roadside",),
        1,
        "gpt-4o",
    ),
    _AgentSpec(
        "agt_onboarding",
        "Onboarding Guide",
        "Retired before launch.",
        (),
        0,
        "gpt-4o-mini",
        enabled=False,
    ),
)
_CHANNELS = ("web_chat", "email", "whatsapp", "phone", "chat", "voice", "sms", None)
_CHANNEL_WEIGHTS = (40, 15, 12, 8, 8, 4, 3, 10)
_SPOKEN_CHANNELS = frozenset({"phone", "voice", "whatsapp", "sms"})
_TOPIC_TITLES = {
    "order_status": "Order status",
    "faq": "Question",
    "billing": "Billing inquiry",
    "appointment": "Appointment booking",
    "roadside": "Route delay",
}
_OPEN_SHARE_BY_AGE = (
    (timedelta(days=1), 0.85),
    (timedelta(days=7), 0.3),
    (timedelta(days=30), 0.05),
)
_KEY_ALPHABET = string.ascii_lowercase + string.digits
_SHARED_KEY_EVERY = 25  # every 25th session reuses another agent's session key
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


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        self._agents: dict[str, Json] = {spec.key: self._agent_json(spec) for spec in AGENTS}
        # Per agent, the sessions in the order served; `_ranks` holds each one's place in that
        # order, so page keys survive deletions.
        self._sessions: dict[str, list[Json]] = {spec.key: [] for spec in AGENTS}
        self._ranks: dict[tuple[str, str], int] = {}
        self._events: dict[tuple[str, str], list[Json]] = {}
        speaking = [spec for spec in AGENTS if spec.weight]
        weights = [spec.weight for spec in speaking]
        for index, started_at in enumerate(spread_start_times(self.rng, self.size, self.anchor)):
            spec = self.rng.choices(speaking, weights)[0]
            key = self._session_key(spec.key, index)
            self._add_session(spec, key, started_at)
        for agent_key, sessions in self._sessions.items():
            self.rng.shuffle(sessions)
            for rank, session in enumerate(sessions):
                self._ranks[(agent_key, session["key"])] = rank

    def _agent_json(self, spec: _AgentSpec) -> Json:
        created = self.anchor - timedelta(days=self.rng.randint(120, 400))
        return {
            "key": spec.key,
            "name": spec.name,
            "description": spec.description,
            "enabled": spec.enabled,
            "metadata": {"team": spec.key.removeprefix("agt_"), "owner": "cx-platform"},
            "model": {"name": spec.model, "parameters": {"temperature": 0.2}},
            "tool_configurations": {},
            "first_step": {"type": "conversational", "instructions": []},
            "created_at": _iso(created),
            "updated_at": _iso(created + timedelta(days=self.rng.randint(1, 100))),
        }

    def _session_key(self, agent_key: str, index: int) -> str:
        """A fresh `ase_…` key, or now and then one another agent already uses."""
        if index % _SHARED_KEY_EVERY == _SHARED_KEY_EVERY // 3:
            taken = {session["key"] for session in self._sessions[agent_key]}
            for other_key, sessions in self._sessions.items():
                if other_key != agent_key and sessions and sessions[0]["key"] not in taken:
                    return str(sessions[0]["key"])
        return self._token("ase_", 12)

    def _add_session(self, spec: _AgentSpec, key: str, started_at: datetime) -> None:
        talk = conversation(self.rng, list(spec.topics))
        events = self._conversation_events(key, talk, started_at)
        cut = [event for event in events if event["created_at"] <= _iso(self.anchor)]
        session = self._session_json(spec.key, key, talk, started_at, still_talking=cut != events)
        self._sessions[spec.key].append(session)
        self._events[(spec.key, key)] = cut

    def _session_json(
        self,
        agent_key: str,
        key: str,
        talk: Conversation,
        started_at: datetime,
        still_talking: bool,
    ) -> Json:
        channel = self.rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0]
        metadata: Json = {
            "customer_id": f"customer_{self.rng.randint(10000, 99999)}",
            "priority": self.rng.choice(["low", "medium", "high"]),
            "issue_category": talk.topic,
            "tags": list(talk.tags),
            **talk.parameters,
        }
        if channel is not None:
            metadata["channel"] = channel
        if channel in _SPOKEN_CHANNELS:
            metadata["phone_number"] = phone_number(self.rng)
        name = f"{_TOPIC_TITLES[talk.topic]} ({metadata['customer_id']})"
        return {
            "key": key,
            "id": key,
            "agent_key": agent_key,
            "name": "" if self.rng.random() < 0.1 else name,
            "description": None if self.rng.random() < 0.1 else talk.summary,
            "metadata": metadata,
            "enabled": still_talking or self._still_open(started_at),
            "tti_minutes": self.rng.choice([30, 60, 240, 1440]),
            "created_at": _iso(started_at),
        }

    def _still_open(self, started_at: datetime) -> bool:
        """Recent chats are mostly left open, older ones mostly closed, none past a month."""
        age = self.anchor - started_at
        for younger_than, share in _OPEN_SHARE_BY_AGE:
            if age < younger_than:
                return self.rng.random() < share
        return False

    def _conversation_events(
        self, key: str, talk: Conversation, started_at: datetime
    ) -> list[Json]:
        at = started_at + timedelta(seconds=self.rng.randint(1, 20))
        events: list[Json] = []

        def add(kind: str, moment: datetime, **fields: Any) -> None:
            event_id = self._token("aev_", 16)
            events.append(
                {"id": event_id, "session_key": key, "type": kind, "created_at": _iso(moment)}
                | fields
            )

        for index, turn in enumerate(talk.turns):
            if turn.role == "user":
                add("input_message", at, messages=[{"type": "text", "content": turn.text}])
                if index == 1 and self.rng.random() < 0.05:
                    add(
                        "image_read", at + timedelta(seconds=1), artifact_id=self._token("art_", 10)
                    )
            else:
                if self.rng.random() < 0.3:
                    add("thinking", at - timedelta(seconds=1), content="Working out the reply.")
                add("agent_output", at, content=turn.text)
            for tool in (tool for tool in talk.tools if tool.after_turn == index):
                at = self._tool_events(add, tool, at)
            at += timedelta(seconds=self.rng.randint(3, 45))
        if self.rng.random() < 0.05:
            add("artifact_upload", at, artifacts=[self._artifact()])
        if self.rng.random() < 0.03:
            add("context_limit_exceeded", at, content="Older messages were summarized.")
        events.sort(key=lambda event: str(event["created_at"]))
        return events

    def _tool_events(self, add: Callable[..., None], tool: ToolUse, at: datetime) -> datetime:
        """A tool_input and, unless it got lost, its tool_output; returns when the tool ended."""
        ids = {
            "tool_call_id": self._token("tc_", 10),
            "tool_configuration_name": f"tcfg_{tool.name}",
            "tool_name": tool.name,
        }
        start = at + timedelta(seconds=1)
        add("tool_input", start, tool_input=tool.arguments, **ids)
        end = start + timedelta(milliseconds=tool.duration_ms)
        if self.rng.random() >= 0.05:
            add("tool_output", end, tool_output=self._tool_output(tool), **ids)
        return end

    def _tool_output(self, tool: ToolUse) -> Json | None:
        """The tool's result; a failure is an `error` inside the output object, as a string or,
        when the tool service itself broke, as an object."""
        if tool.error is not None:
            return {"error": tool.error}
        if self.rng.random() < 0.05:
            failure = {"type": "tool_execution_error", "message": f"{tool.name} returned 500"}
            return {"error": failure}
        return tool.result

    def _token(self, prefix: str, length: int) -> str:
        """A seeded vendor id: `ase_…` sessions, `aev_…` events, `tc_…` tool calls."""
        return prefix + "".join(self.rng.choices(_KEY_ALPHABET, k=length))

    def _artifact(self) -> Json:
        return {
            "artifact_id": self._token("art_", 10),
            "filename": "receipt.pdf",
            "mime_type": "application/pdf",
            "size_bytes": self.rng.randint(20_000, 400_000),
        }

    # --- oracle -----------------------------------------------------------------------------------

    def ground_truth(self) -> list[SessionRecord]:
        return [
            with_events(
                session_record(session, agent_key), self._events[(agent_key, session["key"])]
            )
            for agent_key, sessions in self._sessions.items()
            for session in sessions
        ]

    def session_keys(self) -> list[SessionKey]:  # PLACEHOLDER: until the model is independent
        return [SessionKey(r.id, r.agent_id, r.started_at) for r in self.ground_truth()]

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(self._agents)

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
        return JSONResponse(self._agent(request))

    async def _list_sessions(self, request: Request) -> Response:
        agent_key = self._agent(request)["key"]
        limit = self._limit(request)
        selected = list(filter(self._session_filter(request), self._sessions[agent_key]))
        after = self._page_start(request, scope=agent_key)
        remaining = [s for s in selected if self._ranks[(agent_key, s["key"])] >= after]
        page = remaining[:limit]
        metadata: Json = {"total_count": len(selected)}
        if len(remaining) > limit:
            next_rank = self._ranks[(agent_key, page[-1]["key"])] + 1
            metadata["page_key"] = self._page_key(agent_key, next_rank)
        return JSONResponse({"sessions": page, "metadata": metadata})

    async def _get_session(self, request: Request) -> Response:
        return JSONResponse(self._session(request))

    async def _delete_session(self, request: Request) -> Response:
        session = self._session(request)
        agent_key = session["agent_key"]
        self._sessions[agent_key].remove(session)
        del self._events[(agent_key, session["key"])]
        return Response(status_code=204)

    async def _list_events(self, request: Request) -> Response:
        session = self._session(request)
        scope = f"{session['agent_key']}/{session['key']}"
        limit = self._limit(request)
        start = self._page_start(request, scope=scope)
        events = self._events[(session["agent_key"], session["key"])]
        metadata: Json = {}
        if start + limit < len(events):
            metadata["page_key"] = self._page_key(scope, start + limit)
        return JSONResponse({"events": events[start : start + limit], "metadata": metadata})

    # --- request parts ---------------------------------------------------------------------------

    def _agent(self, request: Request) -> Json:
        agent_key = request.path_params["agent_key"]
        agent = self._agents.get(agent_key)
        if agent is None:
            detail = f"Agent with key '{agent_key}' does not exist"
            raise _Rejected(self._error(404, "agent_not_found", detail, id=agent_key))
        return agent

    def _session(self, request: Request) -> Json:
        agent_key = self._agent(request)["key"]
        session_key = request.path_params["session_key"]
        for session in self._sessions[agent_key]:
            if session["key"] == session_key:
                return session
        detail = f"Session '{session_key}' not found for agent '{agent_key}'"
        raise _Rejected(self._error(404, "session_not_found", detail, id=session_key))

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

    def _session_filter(self, request: Request) -> Callable[[Json], bool]:
        """The `enabled` and `filter` parameters as one test of a session."""
        enabled = request.query_params.get("enabled")
        if enabled not in (None, "true", "false"):
            raise self._invalid("enabled", "must be true or false")
        pattern = request.query_params.get("filter") or ""
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise self._invalid("filter", "must be a valid regular expression") from exc

        def selected(session: Json) -> bool:
            if enabled is not None and session["enabled"] != (enabled == "true"):
                return False
            described = f"{session['name'] or ''}\n{session['description'] or ''}"
            return regex.search(described) is not None

        return selected

    def _page_key(self, scope: str, start: int) -> str:
        raw = json.dumps({"scope": scope, "start": start}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _page_start(self, request: Request, scope: str) -> int:
        """Where the page key says to start (0 without one); a key of another listing is
        refused."""
        page_key = request.query_params.get("page_key")
        if not page_key:
            return 0
        try:
            decoded = json.loads(base64.urlsafe_b64decode(page_key + "=" * (-len(page_key) % 4)))
            start = decoded["start"] if decoded["scope"] == scope else None
        except (ValueError, binascii.Error, KeyError, TypeError):
            start = None
        if not isinstance(start, int) or start < 0:
            raise self._invalid("page_key", "is not a page key of this listing")
        return start
