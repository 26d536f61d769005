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
- `""` (a session's `name`) and null (its `description`) both mean "none";
- `filter` is accepted as a case-insensitive regular expression over the session's name and
  description ([target]: Vectara's other v2 listings filter that way); the adapter ignores it.

The chats are generated first as a model in the simulator's own terms (`ChatSession`: its agent,
when it began, who the customer is, what was said and which tools ran, as far as the chat got
by the anchor, and whether it is still open); the vendor's JSON is rendered from it. Tests state
what a client should see from the same model, never from the JSON.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import re
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from providers.simulators.base import SessionKey, Simulator
from providers.simulators.fake_data import (
    Conversation,
    ToolUse,
    conversation,
    phone_number,
    spread_start_times,
)

__all__ = [
    "AGENTS",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Aside",
    "ChatAgent",
    "ChatSession",
    "Message",
    "ToolRun",
    "VectaraSimulator",
]

Json = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

MAX_LIMIT = 100  # both listings [doc]
DEFAULT_LIMIT = 10  # both listings [doc]


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
AGENT_OWNER = "cx-platform"
# Where the customer's app says the chat came from (the session's `metadata.channel`); None: it
# does not say.
CHANNELS = ("web_chat", "email", "whatsapp", "phone", "chat", "voice", "sms", None)
_CHANNEL_WEIGHTS = (40, 15, 12, 8, 8, 4, 3, 10)
SPOKEN_CHANNELS = frozenset({"phone", "voice", "whatsapp", "sms"})  # the customer has a number
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
    """One chat with an agent as it stood at the simulator's anchor ("now")."""

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
    going_on: bool  # the chat was under way at the anchor: more is still to be said
    still_open: bool  # the session is enabled: the customer may write again
    tti_minutes: int
    messages: tuple[Message, ...]  # what was said by the anchor, in order
    tool_runs: tuple[ToolRun, ...]  # the tools called by the anchor, in order
    asides: tuple[Aside, ...]  # the other events by the anchor, in order


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
        now = _to_ms(self.anchor)
        # Each agent's creation and last update.
        self._agent_dates = {agent.key: self._agent_dates_for(now) for agent in AGENTS}
        # The model, in the order generated (newest first), and per agent the keys in the order
        # served; `_ranks` holds each one's place in that order, so page keys survive deletions.
        self._model: dict[tuple[str, str], ChatSession] = {}
        self._served: dict[str, list[str]] = {agent.key: [] for agent in AGENTS}
        self._ranks: dict[tuple[str, str], int] = {}
        speaking = [agent for agent in AGENTS if agent.weight]
        weights = [agent.weight for agent in speaking]
        for index, started_at in enumerate(spread_start_times(self.rng, self.size, self.anchor)):
            agent = self.rng.choices(speaking, weights)[0]
            key = self._session_key(agent.key, index)
            session = self._chat(agent, key, _to_ms(started_at), now)
            self._model[(agent.key, key)] = session
            self._served[agent.key].append(key)
        for agent_key, keys in self._served.items():
            self.rng.shuffle(keys)
            for rank, key in enumerate(keys):
                self._ranks[(agent_key, key)] = rank
        self._agents_json = {agent.key: self._agent_json(agent) for agent in AGENTS}
        self._sessions_json = {place: _session_json(s) for place, s in self._model.items()}
        self._events_json = {place: _events_json(s) for place, s in self._model.items()}

    @property
    def sessions(self) -> tuple[ChatSession, ...]:
        """The model: every session the vendor holds now (deleted ones gone), newest first."""
        return tuple(self._model.values())

    def _agent_dates_for(self, now: datetime) -> tuple[datetime, datetime]:
        created = now - timedelta(days=self.rng.randint(120, 400))
        return created, created + timedelta(days=self.rng.randint(1, 100))

    def _session_key(self, agent_key: str, index: int) -> str:
        """A fresh `ase_…` key, or now and then one another agent already uses."""
        if index % _SHARED_KEY_EVERY == _SHARED_KEY_EVERY // 3:
            taken = set(self._served[agent_key])
            for other_key, keys in self._served.items():
                if other_key != agent_key and keys and keys[0] not in taken:
                    return keys[0]
        return self._token("ase_", 12)

    def _chat(self, agent: ChatAgent, key: str, started_at: datetime, now: datetime) -> ChatSession:
        talk = conversation(self.rng, list(agent.topics))
        messages, tool_runs, asides, cut = self._conversation(talk, started_at, now)
        channel = self.rng.choices(CHANNELS, _CHANNEL_WEIGHTS)[0]
        customer_id = f"customer_{self.rng.randint(10000, 99999)}"
        priority = self.rng.choice(["low", "medium", "high"])
        number = phone_number(self.rng) if channel in SPOKEN_CHANNELS else None
        titled = self.rng.random() >= 0.1
        described = self.rng.random() >= 0.1
        return ChatSession(
            key=key,
            agent_key=agent.key,
            started_at=started_at,
            topic=talk.topic,
            title=f"{_TOPIC_TITLES[talk.topic]} ({customer_id})" if titled else None,
            summary=talk.summary if described else None,
            customer_id=customer_id,
            priority=priority,
            channel=channel,
            phone_number=number,
            tags=tuple(talk.tags),
            facts=tuple(talk.parameters.items()),
            going_on=cut,
            still_open=cut or self._still_open(now - started_at),
            tti_minutes=self.rng.choice([30, 60, 240, 1440]),
            messages=messages,
            tool_runs=tool_runs,
            asides=asides,
        )

    def _still_open(self, age: timedelta) -> bool:
        """Recent chats are mostly left open, older ones mostly closed, none past a month."""
        for younger_than, share in _OPEN_SHARE_BY_AGE:
            if age < younger_than:
                return self.rng.random() < share
        return False

    def _conversation(
        self, talk: Conversation, started_at: datetime, now: datetime
    ) -> tuple[tuple[Message, ...], tuple[ToolRun, ...], tuple[Aside, ...], bool]:
        """What was said, which tools ran and what else happened, as far as the chat got by
        `now`; and whether some of it is still to come (the chat is going on)."""
        at = started_at + timedelta(seconds=self.rng.randint(1, 20))
        messages: list[Message] = []
        runs: list[ToolRun] = []
        asides: list[Aside] = []
        fields: Json  # an aside's own fields, drawn before its event id
        for index, turn in enumerate(talk.turns):
            if turn.role == "user":
                messages.append(Message(self._token("aev_", 16), at, "user", turn.text))
                if index == 1 and self.rng.random() < 0.05:
                    fields = {"artifact_id": self._token("art_", 10)}
                    moment = at + timedelta(seconds=1)
                    asides.append(Aside(self._token("aev_", 16), moment, "image_read", fields))
            else:
                if self.rng.random() < 0.3:
                    moment = at - timedelta(seconds=1)
                    fields = {"content": _THINKING}
                    asides.append(Aside(self._token("aev_", 16), moment, "thinking", fields))
                messages.append(Message(self._token("aev_", 16), at, "agent", turn.text))
            for tool in (tool for tool in talk.tools if tool.after_turn == index):
                run = self._tool_run(tool, at)
                runs.append(run)
                at = run.at + timedelta(milliseconds=run.duration_ms)
            at += timedelta(seconds=self.rng.randint(3, 45))
        if self.rng.random() < 0.05:
            fields = {"artifacts": [self._artifact()]}
            asides.append(Aside(self._token("aev_", 16), at, "artifact_upload", fields))
        if self.rng.random() < 0.03:
            fields = {"content": _CONTEXT_SUMMARY}
            asides.append(Aside(self._token("aev_", 16), at, "context_limit_exceeded", fields))
        # What the anchor has not reached yet did not happen: a tool called but not back yet
        # has no output so far.
        done = [run for run in runs if run.at <= now]
        late = [run.answered and _ended(run) > now for run in done]
        cut = (
            len(done) < len(runs)
            or any(late)
            or any(m.at > now for m in messages)
            or any(a.at > now for a in asides)
        )
        return (
            tuple(m for m in messages if m.at <= now),
            tuple(
                replace(run, answered=False) if unanswered else run
                for run, unanswered in zip(done, late, strict=True)
            ),
            tuple(a for a in asides if a.at <= now),
            cut,
        )

    def _tool_run(self, tool: ToolUse, after: datetime) -> ToolRun:
        """A tool called a second after `after`; its output gets lost one time in twenty."""
        call_id = self._token("tc_", 10)
        input_event_id = self._token("aev_", 16)
        answered = self.rng.random() >= 0.05
        output: Json | None = None
        error: str | None = None
        output_event_id = ""
        if answered:
            output, error = self._tool_output(tool)
            output_event_id = self._token("aev_", 16)
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

    def _tool_output(self, tool: ToolUse) -> tuple[Json | None, str | None]:
        """The tool's result; a failure is an `error` inside the output object, as a string or,
        when the tool service itself broke, as an object."""
        if tool.error is not None:
            return {"error": tool.error}, tool.error
        if self.rng.random() < 0.05:
            message = f"{tool.name} returned 500"
            return {"error": {"type": "tool_execution_error", "message": message}}, message
        return tool.result, None

    def _token(self, prefix: str, length: int) -> str:
        """A seeded vendor id: `ase_…` sessions, `aev_…` events, `tc_…` tool calls."""
        return prefix + "".join(self.rng.choices(_KEY_ALPHABET, k=length))

    def _artifact(self) -> Json:
        artifact_id = self._token("art_", 10)
        return {
            "artifact_id": artifact_id,
            "filename": "receipt.pdf",
            "mime_type": "application/pdf",
            "size_bytes": self.rng.randint(20_000, 400_000),
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

    def agent_dates(self, agent_key: str) -> tuple[datetime, datetime]:
        """When the agent was created and last updated."""
        return self._agent_dates[agent_key]

    # --- what the tests, the benchmark and demo mode ask ----------------------------------------

    def session_keys(self) -> list[SessionKey]:
        return [SessionKey(s.key, s.agent_key, s.started_at) for s in self._model.values()]

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(agent.key for agent in AGENTS)

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
        return JSONResponse(self._agents_json[self._agent(request)])

    async def _list_sessions(self, request: Request) -> Response:
        agent_key = self._agent(request)
        limit = self._limit(request)
        wanted = self._session_filter(request)
        selected = [
            self._sessions_json[(agent_key, key)]
            for key in self._served[agent_key]
            if wanted(self._model[(agent_key, key)])
        ]
        after = self._page_start(request, scope=agent_key)
        remaining = [s for s in selected if self._ranks[(agent_key, s["key"])] >= after]
        page = remaining[:limit]
        metadata: Json = {"total_count": len(selected)}
        if len(remaining) > limit:
            next_rank = self._ranks[(agent_key, page[-1]["key"])] + 1
            metadata["page_key"] = self._page_key(agent_key, next_rank)
        return JSONResponse({"sessions": page, "metadata": metadata})

    async def _get_session(self, request: Request) -> Response:
        return JSONResponse(self._sessions_json[self._session(request)])

    async def _delete_session(self, request: Request) -> Response:
        place = self._session(request)
        agent_key, key = place
        self._served[agent_key].remove(key)
        del self._model[place], self._sessions_json[place], self._events_json[place]
        return Response(status_code=204)

    async def _list_events(self, request: Request) -> Response:
        agent_key, key = place = self._session(request)
        scope = f"{agent_key}/{key}"
        limit = self._limit(request)
        start = self._page_start(request, scope=scope)
        events = self._events_json[place]
        metadata: Json = {}
        if start + limit < len(events):
            metadata["page_key"] = self._page_key(scope, start + limit)
        return JSONResponse({"events": events[start : start + limit], "metadata": metadata})

    # --- request parts ---------------------------------------------------------------------------

    def _agent(self, request: Request) -> str:
        agent_key: str = request.path_params["agent_key"]
        if agent_key not in self._served:
            detail = f"Agent with key '{agent_key}' does not exist"
            raise _Rejected(self._error(404, "agent_not_found", detail, id=agent_key))
        return agent_key

    def _session(self, request: Request) -> tuple[str, str]:
        agent_key = self._agent(request)
        session_key: str = request.path_params["session_key"]
        if (agent_key, session_key) not in self._model:
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

    def _session_filter(self, request: Request) -> Callable[[ChatSession], bool]:
        """The `enabled` and `filter` parameters as one test of a session."""
        enabled = request.query_params.get("enabled")
        if enabled not in (None, "true", "false"):
            raise self._invalid("enabled", "must be true or false")
        pattern = request.query_params.get("filter") or ""
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise self._invalid("filter", "must be a valid regular expression") from exc

        def selected(session: ChatSession) -> bool:
            if enabled is not None and session.still_open != (enabled == "true"):
                return False
            described = f"{session.title or ''}\n{session.summary or ''}"
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


# --- the vendor's JSON, rendered from the model ----------------------------------------------


def _session_json(session: ChatSession) -> Json:
    """The AgentSession document of `session` (vendors.md §3): `key` and `id` equal, no name
    sent as `""`, no description as null, the rest in the free `metadata` object."""
    metadata: Json = {
        "customer_id": session.customer_id,
        "priority": session.priority,
        "issue_category": session.topic,
        "tags": list(session.tags),
        **dict(session.facts),
    }
    if session.channel is not None:
        metadata["channel"] = session.channel
    if session.phone_number is not None:
        metadata["phone_number"] = session.phone_number
    return {
        "key": session.key,
        "id": session.key,
        "agent_key": session.agent_key,
        "name": session.title or "",
        "description": session.summary,
        "metadata": metadata,
        "enabled": session.still_open,
        "tti_minutes": session.tti_minutes,
        "created_at": _iso(session.started_at),
    }


def _events_json(session: ChatSession) -> list[Json]:
    """The session's event stream, chronological (ties in the order they happened)."""
    timed: list[tuple[datetime, int, Json]] = []

    def add(event_id: str, kind: str, at: datetime, fields: Mapping[str, Any]) -> None:
        head = {"id": event_id, "session_key": session.key, "type": kind, "created_at": _iso(at)}
        timed.append((at, len(timed), head | dict(fields)))

    for message in session.messages:
        if message.by == "user":
            parts = [{"type": "text", "content": message.text}]
            add(message.event_id, "input_message", message.at, {"messages": parts})
        else:
            add(message.event_id, "agent_output", message.at, {"content": message.text})
    for run in session.tool_runs:
        ids = {
            "tool_call_id": run.call_id,
            "tool_configuration_name": f"tcfg_{run.name}",
            "tool_name": run.name,
        }
        add(run.input_event_id, "tool_input", run.at, ids | {"tool_input": run.arguments})
        if run.answered:
            add(run.output_event_id, "tool_output", _ended(run), ids | {"tool_output": run.output})
    for aside in session.asides:
        add(aside.event_id, aside.kind, aside.at, aside.fields)
    return [event for _, _, event in sorted(timed, key=lambda entry: entry[:2])]


def _ended(run: ToolRun) -> datetime:
    return run.at + timedelta(milliseconds=run.duration_ms)


def _to_ms(moment: datetime) -> datetime:
    """`moment` in UTC, cut to the millisecond: what the vendor's timestamps carry."""
    moment = moment.astimezone(UTC)
    return moment - timedelta(microseconds=moment.microsecond % 1000)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
