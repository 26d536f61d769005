"""A faithful fake of Samsara Agent Studio's voice-session endpoints (vendors.md §1).

What it keeps of the vendor's awkward parts: `startTime` and `agentIds` required, `sessionStatus`
defaulting to `completed` only, `endTime` inclusive, an opaque cursor bound to the other
parameters and expiring after 30 days, short and empty pages while `hasNextPage` is true,
`endCursor` `""` on the last page, details leaving unknown ids out, tool arguments as JSON-encoded
strings, presigned recording URLs expiring an hour after the request, plain-text 5xx bodies and a
fractional Retry-After on 429.

What it generated is kept as a model in its own terms (`VoiceSession` and the values it holds:
who the agent talked to, when, for how long, what was said and run), and the vendor JSON is
rendered from it on each request. Tests state what a client should see from that model; nothing
here reads or imports the adapter.

Built for 100,000 sessions in about a second: what the stream filters on (agent, start, status,
recipient and fleet ids, trigger, recording) is drawn for every session up front, and what was
said and run (`CallContent`, which also fixes the duration) the first time it is read, from the
session's own seeded RNG, so it is the same whatever order sessions are read in. A stream page
reads the content of the sessions it serves (their durations), never more; a page is found by
scanning from where the last one stopped, not from the start.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import itertools
import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from providers.simulators.base import JSONResponse, SessionKey, Simulator
from providers.simulators.fake_data import (
    Conversation,
    Turn,
    conversation,
    generating,
    person_name,
    phone_number,
    spread_start_times,
)
from providers.simulators.faults import Faults

__all__ = [
    "DETAILS_PATH",
    "STREAM_PATH",
    "CallContent",
    "CallEvent",
    "Contents",
    "Driver",
    "PresignedRecording",
    "Recipient",
    "SamsaraFaults",
    "SamsaraSimulator",
    "SpokenTurn",
    "StudioAgent",
    "ToolRun",
    "VoiceSession",
]

STREAM_PATH = "/agent-studio/voice-sessions/stream"
DETAILS_PATH = "/agent-studio/voice-sessions"

MAX_IDS = 100  # agentIds, vehicleIds, driverIds and details ids per call
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
CURSOR_LIFETIME = timedelta(days=30)
RECORDING_LIFETIME = timedelta(hours=1)
RAW_STATUSES = ("completed", "running", "failed", "unknown")
DEFAULT_STATUSES = frozenset({"completed"})  # the vendor's default: others silently left out

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")

# (name, conversation topics) of the organisation's voice agents.
_AGENTS = (
    ("Dispatch Assistant", ("roadside",)),
    ("Delivery Line", ("order_status",)),
    ("Maintenance Scheduler", ("appointment",)),
    ("Billing Desk", ("billing",)),
    ("Help Line", ("faq", "order_status")),
    ("Safety Coach", ("roadside", "faq")),
)
# What the agent says as a call drops (a failed session's last turn).
_DROPPING = (
    "Sorry, you're breaking up. Hello? Are you still there?",
    "I'm losing you. I'll try to call you back.",
    "Hello? I can't hear you anymore. The line seems to have dropped.",
)
_DRIVER_TRIGGERS = ("harshEvent", "outboundCall", "scheduled", "")


# --- the model: what the simulator generated, in its own terms ------------------------------------


@dataclass(frozen=True, slots=True)
class StudioAgent:
    id: str
    name: str
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Driver:
    id: str
    name: str
    vehicle_id: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """The person the agent talked to."""

    text: str  # how the vendor names them (`recipient`): driver, dashboard user, phone; "" unknown
    speaker_type: str  # how the transcript labels their turns: driver | admin | unknown
    vehicle_id: str | None  # the target device's vehicle and driver: filters only, never served
    driver_id: str | None


@dataclass(frozen=True, slots=True)
class SpokenTurn:
    speaker_type: str  # agent | driver | admin | unknown
    text: str
    start_ms: int  # from the session's start
    end_ms: int


@dataclass(frozen=True, slots=True)
class ToolRun:
    name: str
    arguments: dict[str, Any]
    result: Any | None  # what a successful run returned; None: nothing
    error: str | None  # why it failed; None: it did not fail
    pending: bool  # still running when the session was captured (a running session's last)
    start_ms: int  # from the session's start
    duration_ms: int

    @property
    def status(self) -> str:
        if self.pending:
            return "unknown"
        return "error" if self.error is not None else "success"


@dataclass(frozen=True, slots=True)
class CallEvent:
    offset_ms: int  # from the session's start
    type: str


@dataclass(frozen=True, slots=True)
class CallContent:
    """What was said and run during one session, and so how long it lasted."""

    duration_ms: int | None  # None while running
    updated_at: datetime  # aware UTC, to the millisecond
    turns: tuple[SpokenTurn, ...]
    tool_runs: tuple[ToolRun, ...]
    call_events: tuple[CallEvent, ...]


@dataclass(frozen=True, slots=True)
class VoiceSession:
    id: str
    agent: StudioAgent
    started_at: datetime  # aware UTC, to the millisecond (the vendor's precision)
    status: str  # completed | running | failed | unknown
    trigger_type: str  # "" when none
    recipient: Recipient
    recording_key: str | None  # the object a presigned URL points at; None: no recording
    # Where the content comes from on first read: not part of what the session is.
    contents: Contents = field(compare=False, repr=False)

    @property
    def content(self) -> CallContent:
        return self.contents.of(self)

    @property
    def duration_ms(self) -> int | None:
        return self.content.duration_ms

    @property
    def updated_at(self) -> datetime:
        return self.content.updated_at

    @property
    def turns(self) -> tuple[SpokenTurn, ...]:
        return self.content.turns

    @property
    def tool_runs(self) -> tuple[ToolRun, ...]:
        return self.content.tool_runs

    @property
    def call_events(self) -> tuple[CallEvent, ...]:
        return self.content.call_events

    @property
    def vehicle_id(self) -> str | None:
        return self.recipient.vehicle_id

    @property
    def driver_id(self) -> str | None:
        return self.recipient.driver_id


class Contents:
    """Every session's content, generated on first read from an RNG seeded with the simulator's
    seed and the session's id, and kept (`cache`: those generated so far)."""

    def __init__(self, seed: int, anchor: datetime) -> None:
        self.seed = seed
        self.anchor = anchor
        self.cache: dict[str, CallContent] = {}

    def of(self, session: VoiceSession) -> CallContent:
        content = self.cache.get(session.id)
        if content is None:
            content = self.cache[session.id] = self._generate(session)
        return content

    def _generate(self, session: VoiceSession) -> CallContent:
        rng = random.Random(f"samsara:{self.seed}:{session.id}")
        talk = conversation(rng, list(session.agent.topics))
        turns = _timed_turns(rng, talk, session.recipient.speaker_type, session.status)
        running = session.status == "running"
        said_until = turns[-1].end_ms
        duration = None if running else said_until + rng.randint(500, 3000)
        last_heard = session.started_at + timedelta(milliseconds=duration or said_until)
        return CallContent(
            duration_ms=duration,
            updated_at=_to_ms(min(self.anchor, last_heard)),
            turns=turns,
            tool_runs=_tool_runs(talk, turns, running, session.status == "failed"),
            call_events=_call_events(session.status, duration),
        )


@dataclass(frozen=True, slots=True)
class PresignedRecording:
    url: str
    expires_at: datetime


@dataclass
class SamsaraFaults(Faults):
    retry_after: str = "0.40235"  # Samsara's habit: fractional seconds (kept by `reset()`)


class BadRequest(Exception):
    """A parameter the vendor refuses with 400."""


@dataclass(frozen=True, slots=True)
class _Cursor:
    offset: int  # where the next page's scan starts in `sessions` (the next match, if any)
    page: int  # pages served before this one: decides short and empty pages
    fingerprint: str  # of every parameter but `after`: all must stay the same while following it
    end_ms: int  # the resolved endTime (it defaults to "now" on the first page)
    issued_s: int


@dataclass(frozen=True, slots=True)
class _StreamRequest:
    start: datetime
    end: datetime
    agent_ids: frozenset[str]
    vehicle_ids: frozenset[str] | None
    driver_ids: frozenset[str] | None
    statuses: frozenset[str]
    limit: int
    cursor: _Cursor

    def admits(self, session: VoiceSession) -> bool:
        """Everything but the start time, which the scan of `sessions` checks."""
        return (
            session.agent.id in self.agent_ids
            and session.status in self.statuses
            and (self.vehicle_ids is None or session.vehicle_id in self.vehicle_ids)
            and (self.driver_ids is None or session.driver_id in self.driver_ids)
        )


class SamsaraSimulator(Simulator):
    vendor = "samsara"

    agents: list[StudioAgent]
    vehicle_ids: list[str]
    drivers: list[Driver]
    sessions: list[VoiceSession]  # happenedAtTime descending, as the vendor serves them
    by_id: dict[str, VoiceSession]

    def __init__(self, **options: Any) -> None:
        self._request_ids = itertools.count(1)
        super().__init__(**options)
        self.faults = SamsaraFaults()

    # --- data -------------------------------------------------------------------------------------

    def generate(self) -> None:
        rng = self.rng
        self.agents = [StudioAgent(_uuid(rng), name, topics) for name, topics in _AGENTS]
        self.vehicle_ids = [str(rng.randint(10**14, 10**15 - 1)) for _ in range(16)]
        self.drivers = [
            Driver(str(rng.randint(10**7, 10**8 - 1)), person_name(rng), vehicle_id)
            for vehicle_id in self.vehicle_ids + self.vehicle_ids[:8]
        ]
        self.contents = Contents(self.seed, self.anchor)
        self._recipients: dict[tuple[str, str, str | None, str | None], Recipient] = {}
        self._running_since = self.anchor - timedelta(hours=1)  # only these may be running
        with generating():
            starts = spread_start_times(rng, self.size, self.anchor)
            if self.anchor.microsecond % 1000:  # whole milliseconds already, from most anchors
                starts = [_to_ms(started_at) for started_at in starts]
            sessions = [self._session(started_at) for started_at in starts]
            # The vendor's one promise: happenedAtTime descending.
            self.sessions = sorted(sessions, key=lambda s: (s.started_at, s.id), reverse=True)
            self.by_id = {session.id: session for session in self.sessions}

    def _session(self, started_at: datetime) -> VoiceSession:
        """What the stream filters on; the content comes on first read (`Contents`)."""
        rng = self.rng
        agent = rng.choice(self.agents)
        recipient = self._recipient()
        status = self._status(started_at)
        session_id = _uuid(rng)
        trigger_type = self._trigger(recipient)
        recorded = status != "running" and rng.random() < 0.85
        return VoiceSession(
            id=session_id,
            agent=agent,
            started_at=started_at,
            status=status,
            trigger_type=trigger_type,
            recipient=recipient,
            recording_key=f"org-4821/voice-sessions/{session_id}.wav" if recorded else None,
            contents=self.contents,
        )

    def _recipient(self) -> Recipient:
        rng = self.rng
        kind = rng.random()
        if kind < 0.55:
            driver = rng.choice(self.drivers)
            vehicle_id = driver.vehicle_id if rng.random() < 0.9 else rng.choice(self.vehicle_ids)
            return self._shared(driver.name, "driver", vehicle_id, driver.id)
        if kind < 0.7:  # a dashboard user, talking about one vehicle
            return self._shared(person_name(rng), "admin", rng.choice(self.vehicle_ids), None)
        if kind < 0.9:  # a caller from outside the fleet
            return Recipient(phone_number(rng), "unknown", None, None)
        return self._shared("", "unknown", rng.choice(self.vehicle_ids), None)

    def _shared(
        self, text: str, speaker_type: str, vehicle_id: str | None, driver_id: str | None
    ) -> Recipient:
        """One value for each of the few hundred recipients inside the fleet: a hundred
        thousand sessions then hold references, not as many copies."""
        key = (text, speaker_type, vehicle_id, driver_id)
        recipient = self._recipients.get(key)
        if recipient is None:
            recipient = self._recipients[key] = Recipient(*key)
        return recipient

    def _status(self, started_at: datetime) -> str:
        rng = self.rng
        if started_at > self._running_since and rng.random() < 0.6:
            return "running"
        draw = rng.random()
        return "failed" if draw < 0.1 else "unknown" if draw < 0.13 else "completed"

    def _trigger(self, recipient: Recipient) -> str:
        if recipient.speaker_type == "driver":
            return self.rng.choice(_DRIVER_TRIGGERS)
        return self.rng.choice(("inboundCall", "inboundCall", ""))

    # --- what tests and the demo ask --------------------------------------------------------------

    def session_keys(self) -> list[SessionKey]:
        return [SessionKey(s.id, s.agent.id, s.started_at) for s in self.sessions]

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(agent.id for agent in self.agents)

    def recording(self, session: VoiceSession) -> PresignedRecording | None:
        """The recording a details call made now would present (signed to the minute)."""
        if session.recording_key is None:
            return None
        signed_at = self.signing_time()
        return PresignedRecording(
            _presigned_url(session.recording_key, signed_at), signed_at + RECORDING_LIFETIME
        )

    def signing_time(self) -> datetime:
        # Signed to the minute, so that the URL of one session is stable within a minute.
        return self.clock().astimezone(UTC).replace(second=0, microsecond=0)

    # --- rendering the vendor's JSON --------------------------------------------------------------

    @staticmethod
    def summary(session: VoiceSession) -> dict[str, Any]:
        return {
            "agentId": session.agent.id,
            "agentName": session.agent.name,
            "durationMilliseconds": session.duration_ms,
            "happenedAtTime": _format_time(session.started_at),
            "id": session.id,
            "recipient": session.recipient.text,
            "sessionStatus": session.status,
            "triggerType": session.trigger_type,
            "updatedAtTime": _format_time(session.updated_at),
        }

    def detail(self, session: VoiceSession) -> dict[str, Any]:
        recording = self.recording(session)
        return {
            **self.summary(session),
            "transcript": [
                {
                    "speakerType": turn.speaker_type,
                    "text": turn.text,
                    "startMilliseconds": turn.start_ms,
                    "endMilliseconds": turn.end_ms,
                }
                for turn in session.turns
            ],
            "toolCalls": [
                {
                    "name": run.name,
                    "arguments": json.dumps(run.arguments),
                    "output": _tool_output(run),
                    "startMilliseconds": run.start_ms,
                    "durationMilliseconds": run.duration_ms,
                    "status": run.status,
                }
                for run in session.tool_runs
            ],
            "callEvents": [
                {
                    "happenedAtTime": _format_time(
                        session.started_at + timedelta(milliseconds=event.offset_ms)
                    ),
                    "type": event.type,
                }
                for event in session.call_events
            ],
            "recordingUrl": recording.url if recording else "",
            "recordingUrlExpiresAtTime": _format_time(recording.expires_at) if recording else "",
        }

    # --- serving ----------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route(STREAM_PATH, self._serve_stream, methods=["GET"]),
            Route(DETAILS_PATH, self._serve_details, methods=["GET"]),
        ]

    def authorized(self, header_value: str | None) -> bool:
        scheme, _, token = (header_value or "").partition(" ")
        return scheme.lower() == "bearer" and token == self.api_key

    def error_response(self, status: int, message: str) -> Response:
        if status >= 500:  # the vendor's gateways answer 5xx in plain text
            return PlainTextResponse(f"{status} {message}", status_code=status)
        request_id = f"{next(self._request_ids):032x}"
        return JSONResponse({"message": message, "requestId": request_id}, status_code=status)

    async def _serve_stream(self, request: Request) -> Response:
        try:
            asked = self._stream_request(request.query_params)
        except BadRequest as exc:
            return self.error_response(400, str(exc))
        cursor = asked.cursor
        # The first page starts at the newest session within endTime; later ones where the
        # previous page found its look-ahead match.
        first = cursor.offset if cursor.page else self._newest_within(asked.end)
        matches = self._matches(asked, first)
        page = list(itertools.islice(matches, _page_size(cursor.page, asked.limit)))
        following = next(matches, None)  # hasNextPage says exactly whether one more matches
        has_next = following is not None
        next_offset = following[0] if following is not None else len(self.sessions)
        next_cursor = _Cursor(
            next_offset, cursor.page + 1, cursor.fingerprint, cursor.end_ms, self._now_s()
        )
        return JSONResponse(
            {
                "data": [self.summary(session) for _, session in page],
                "pagination": {
                    "endCursor": _encode_cursor(next_cursor) if has_next else "",
                    "hasNextPage": has_next,
                },
            }
        )

    async def _serve_details(self, request: Request) -> Response:
        ids = _id_list(request.query_params, "ids")
        if not ids:
            return self.error_response(400, "ids is required")
        if len(ids) > MAX_IDS:
            return self.error_response(400, f"ids accepts at most {MAX_IDS} values")
        known = [self.by_id[i] for i in dict.fromkeys(ids) if i in self.by_id]
        return JSONResponse({"data": [self.detail(session) for session in known]})

    def _now_s(self) -> int:
        return int(self.clock().timestamp())

    def _newest_within(self, end: datetime) -> int:
        """The index in `sessions` (newest first) of the first session started by `end`."""
        return bisect.bisect_left(self.sessions, -_epoch_ms(end), key=_newest_first)

    def _matches(self, asked: _StreamRequest, first: int) -> Iterator[tuple[int, VoiceSession]]:
        """The sessions `asked` admits from index `first` on, with their index, until the
        start time passes `startTime`."""
        for index in range(first, len(self.sessions)):
            session = self.sessions[index]
            if session.started_at < asked.start:
                return
            if asked.admits(session):
                yield index, session

    # --- parameters -------------------------------------------------------------------------------

    def _stream_request(self, params: Mapping[str, str]) -> _StreamRequest:
        start = _required_time(params, "startTime")
        agent_ids = _bounded_ids(params, "agentIds")
        if not agent_ids:
            raise BadRequest("agentIds is required")
        statuses = _statuses(params)
        limit = _limit(params)
        fingerprint = _fingerprint(params)
        cursor = self._cursor(params.get("after"), fingerprint, params)
        end = _EPOCH + timedelta(milliseconds=cursor.end_ms)
        if end < start:
            raise BadRequest("endTime must not be before startTime")
        vehicle_ids = _bounded_ids(params, "vehicleIds")
        driver_ids = _bounded_ids(params, "driverIds")
        return _StreamRequest(
            start=start,
            end=end,
            agent_ids=frozenset(agent_ids),
            vehicle_ids=frozenset(vehicle_ids) if "vehicleIds" in params else None,
            driver_ids=frozenset(driver_ids) if "driverIds" in params else None,
            statuses=statuses,
            limit=limit,
            cursor=cursor,
        )

    def _cursor(self, after: str | None, fingerprint: str, params: Mapping[str, str]) -> _Cursor:
        if not after:
            end = _optional_time(params, "endTime") or self.clock()
            end_ms = _epoch_ms(end)
            return _Cursor(0, 0, fingerprint, end_ms, self._now_s())
        cursor = _decode_cursor(after)
        if cursor.fingerprint != fingerprint:
            raise BadRequest("after cursor does not match the other request parameters")
        if self._now_s() - cursor.issued_s > CURSOR_LIFETIME.total_seconds():
            raise BadRequest("after cursor has expired")
        return cursor


# --- time -----------------------------------------------------------------------------------------


def _format_time(moment: datetime) -> str:
    """The vendor's RFC 3339 form: UTC, to the millisecond, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _newest_first(session: VoiceSession) -> int:
    """A key that grows along `sessions` (newest first): the negated start, in milliseconds."""
    return -_epoch_ms(session.started_at)


def _to_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _parse_time(text: str) -> datetime:
    """RFC 3339 (already matched by `_RFC3339`) → aware UTC; digits past microseconds dropped."""
    return datetime.fromisoformat(text.upper()).astimezone(UTC)


# --- generation helpers ---------------------------------------------------------------------------


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def _uuid(rng: random.Random) -> str:
    """`str(uuid.UUID(int=rng.getrandbits(128), version=4))`, in half the time."""
    digits = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _timed_turns(
    rng: random.Random, talk: Conversation, human: str, status: str
) -> tuple[SpokenTurn, ...]:
    """The turns with offsets from the session's start; a running or failed session stops
    part-way (the call is still on, or dropped). A dropped call never gets to the end of its
    conversation, and the agent's last words are it losing the line: a failed session reads
    as one."""
    turns = talk.turns
    if status == "running":
        turns = turns[: rng.randint(1, len(turns) - 1)]
    elif status == "failed":
        turns = [*turns[: rng.randint(2, len(turns) - 1)], Turn("agent", rng.choice(_DROPPING))]
    timed = []
    at = rng.randint(400, 2500)
    for turn in turns:
        length = 40 * len(turn.text) + rng.randint(200, 900)
        speaker = "agent" if turn.role == "agent" else human
        timed.append(SpokenTurn(speaker, turn.text, at, at + length))
        at += length + rng.randint(250, 1500)
    return tuple(timed)


def _tool_runs(
    talk: Conversation, turns: tuple[SpokenTurn, ...], running: bool, dropped: bool
) -> tuple[ToolRun, ...]:
    """The tools run during the turns said so far; in a running session, one run after the last
    turn said is still pending; in a dropped call, none runs after the agent lost the line."""
    said = len(turns) - 1 if dropped else len(turns)  # the conversation's turns, not the drop
    runs = []
    for tool in talk.tools:
        if tool.after_turn >= said:
            continue
        pending = running and tool.after_turn == len(turns) - 1
        failed = not pending and tool.error is not None
        runs.append(
            ToolRun(
                name=tool.name,
                arguments=dict(tool.arguments),
                result=None if pending or failed else tool.result or None,
                error=tool.error if failed else None,
                pending=pending,
                start_ms=turns[tool.after_turn].end_ms + 120,
                duration_ms=tool.duration_ms,
            )
        )
    return tuple(runs)


def _tool_output(run: ToolRun) -> str:
    """`output`: the result as JSON, the error text of a failed run, `""` when none."""
    if run.error is not None:
        return run.error
    return "" if run.result is None else json.dumps(run.result)


def _call_events(status: str, duration_ms: int | None) -> tuple[CallEvent, ...]:
    events = [CallEvent(0, "Call initiated"), CallEvent(1800, "Call answered")]
    if duration_ms is not None:
        ending = "Call dropped" if status == "failed" else "Call ended"
        events.append(CallEvent(duration_ms, ending))
    return tuple(events)


def _presigned_url(key: str, signed_at: datetime) -> str:
    stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
    signature = hashlib.sha256(f"{key}:{stamp}".encode()).hexdigest()
    return (
        f"https://agent-studio-recordings.s3.us-west-2.amazonaws.com/{key}"
        f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={stamp}"
        f"&X-Amz-Expires={int(RECORDING_LIFETIME.total_seconds())}"
        f"&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
    )


# --- request parsing ------------------------------------------------------------------------------


def _page_size(page: int, limit: int) -> int:
    """The vendor's pages are not always full: every fourth page is empty and every second of
    four is half size, whatever is left."""
    if page % 4 == 3:
        return 0
    if page % 4 == 1:
        return max(1, limit // 2)
    return limit


def _optional_time(params: Mapping[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    if not _RFC3339.match(value):
        raise BadRequest(f"{name} must be an RFC 3339 time, got {value!r}")
    return _parse_time(value)


def _required_time(params: Mapping[str, str], name: str) -> datetime:
    moment = _optional_time(params, name)
    if moment is None:
        raise BadRequest(f"{name} is required")
    return moment


def _id_list(params: Mapping[str, str], name: str) -> list[str]:
    return [part for part in params.get(name, "").split(",") if part]


def _bounded_ids(params: Mapping[str, str], name: str) -> list[str]:
    ids = _id_list(params, name)
    if len(ids) > MAX_IDS:
        raise BadRequest(f"{name} accepts at most {MAX_IDS} values")
    return ids


def _statuses(params: Mapping[str, str]) -> frozenset[str]:
    if "sessionStatus" not in params:
        return DEFAULT_STATUSES
    statuses = frozenset(_id_list(params, "sessionStatus"))
    unknown = sorted(statuses.difference(RAW_STATUSES))
    if unknown or not statuses:
        raise BadRequest(f"sessionStatus must be among {', '.join(RAW_STATUSES)}")
    return statuses


def _limit(params: Mapping[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _fingerprint(params: Mapping[str, str]) -> str:
    names = (
        "startTime",
        "endTime",
        "agentIds",
        "vehicleIds",
        "driverIds",
        "sessionStatus",
        "limit",
    )
    joined = "\n".join(f"{name}={params.get(name)}" for name in names)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def _encode_cursor(cursor: _Cursor) -> str:
    payload = [cursor.offset, cursor.page, cursor.fingerprint, cursor.end_ms, cursor.issued_s]
    text = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> _Cursor:
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        offset, page, fingerprint, end_ms, issued_s = payload
        cursor = _Cursor(int(offset), int(page), str(fingerprint), int(end_ms), int(issued_s))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadRequest("after is not a valid cursor") from exc
    if cursor.offset < 0 or cursor.page < 0:
        raise BadRequest("after is not a valid cursor")
    return cursor
