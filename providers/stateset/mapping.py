"""StateSet Voice JSON → records. Pure functions; callers wrap them in
`providers.transport.reading` so a body we cannot read becomes one typed error.

The list envelope and the VoiceSession shape are [target] (vendors.md §2): every field but `id`
and `started_at` may be missing, `""` and null both mean absent, unknown fields are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from providers.records import (
    Channel,
    Provider,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    Speaker,
    Tag,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
    evolve,
)
from providers.values import text_or_none, texts_or_none, time_or_none

__all__ = [
    "SESSION_STATUSES",
    "VoiceSessionPage",
    "session_record",
    "vendor_statuses",
    "voice_session_page",
]

# The vendor's `status` values. `reviewed` is a completed call whose QA review is done.
SESSION_STATUSES: Mapping[str, SessionStatus] = {
    "active": SessionStatus.ACTIVE,
    "completed": SessionStatus.COMPLETED,
    "reviewed": SessionStatus.COMPLETED,
    "failed": SessionStatus.FAILED,
}

_SPEAKERS: Mapping[str, Speaker] = {
    "caller": Speaker.USER,
    "agent": Speaker.AGENT,
    "system": Speaker.SYSTEM,
}

# Session fields kept in `SessionRecord.metadata` when present.
_CONTEXT_FIELDS = ("call_sid", "model", "voice", "qa")


@dataclass(frozen=True, slots=True)
class VoiceSessionPage:
    sessions: tuple[SessionRecord, ...]
    total: int | None  # the vendor's count for the pushed-down filters, when it sends one
    docs: tuple[Mapping[str, Any], ...] = ()  # the documents, for details mapped later


def vendor_statuses(status: SessionStatus) -> frozenset[str]:
    """The vendor `status` values that map to `status` (none for UNKNOWN)."""
    return frozenset(raw for raw, mapped in SESSION_STATUSES.items() if mapped is status)


def voice_session_page(body: Any, with_details: bool = True) -> VoiceSessionPage:
    """`{"data": [VoiceSession], "limit", "offset", "total"}` → records, with details unless
    told otherwise (a scan maps the details of the sessions it returns only: `add_details`)."""
    docs = tuple(body["data"])
    sessions = tuple([session_record(doc, with_details) for doc in docs])
    total = body.get("total")
    return VoiceSessionPage(sessions, total if isinstance(total, int) else None, docs)


def add_details(record: SessionRecord, doc: Mapping[str, Any]) -> SessionRecord:
    if record.details is not None:
        return record
    return evolve(record, details=session_details(doc, record.started_at))


def session_details(doc: Mapping[str, Any], started_at: datetime) -> SessionDetails:
    # Lists, not generators, into tuple(): a generator costs a frame switch per turn.
    turns = [_turn(turn, started_at) for turn in doc.get("transcript") or ()]
    calls = [_tool_call(call, started_at) for call in doc.get("function_calls") or ()]
    return SessionDetails(tuple(turns), tuple(calls))


# The optional text fields of a session, read in one call (`texts_or_none`).
_TEXT_FIELDS = ("status", "direction", "from_number", "to_number", "agent_key", "summary")


def session_record(doc: Mapping[str, Any], with_details: bool = True) -> SessionRecord:
    started_at = time_or_none(doc["started_at"])
    if started_at is None:
        raise ValueError("a voice session without started_at")
    status, direction, from_number, to_number, agent_key, summary = texts_or_none(doc, _TEXT_FIELDS)
    raw_status = status or ""
    caller, callee = _parties(direction, from_number, to_number)
    # Every field by position: a scan maps every session it reads, and keywords double the
    # cost of the call (21 of them). The order is SessionRecord's.
    return SessionRecord(
        Provider.STATESET,  # provider
        _required_text(doc["id"]),  # id
        SESSION_STATUSES.get(raw_status, SessionStatus.UNKNOWN),  # status
        raw_status,
        started_at,
        agent_key,  # agent_id
        None,  # agent_name
        time_or_none(doc.get("ended_at")),  # ended_at
        _duration_ms(doc.get("duration_seconds")),  # duration_ms
        Channel.VOICE,  # channel
        None,  # raw_channel
        direction,
        caller,
        callee,
        None,  # title
        summary,
        _tags(doc.get("tags")),  # tags
        (),  # parameters
        _metadata(doc),  # metadata
        text_or_none(doc.get("stream_id")),  # lookup_key
        session_details(doc, started_at) if with_details else None,  # details
    )


def _tags(names: Any) -> tuple[Tag, ...]:
    if not names:
        return ()
    return tuple([Tag(name) for name in names if text_or_none(name)])


def _parties(
    direction: str | None, from_number: str | None, to_number: str | None
) -> tuple[str | None, str | None]:
    """(caller, callee): the person the agent talked to, and the agent's own line. On an
    outbound call the agent dials out, so the person is `to_number`."""
    if direction == "outbound":
        return to_number, from_number
    return from_number, to_number


def _turn(turn: Mapping[str, Any], started_at: datetime) -> TranscriptTurn:
    role = turn.get("role")
    # A string role is the role (text_or_none's `""` → None → `""` comes back to itself).
    raw_speaker = role if isinstance(role, str) else text_or_none(role) or ""
    at = time_or_none(turn.get("timestamp"))
    # Positional: the hottest constructor of a page (keywords cost twice as much).
    return TranscriptTurn(
        _SPEAKERS.get(raw_speaker, Speaker.UNKNOWN),  # speaker
        turn.get("text") or "",  # text
        raw_speaker,
        None if at is None else round((at - started_at).total_seconds() * 1000),  # offset_ms
        at,
    )


def _tool_call(call: Mapping[str, Any], started_at: datetime) -> ToolCall:
    error = _error_text(call.get("error"))
    at = time_or_none(call.get("timestamp"))
    return ToolCall(
        _required_text(call["name"]),  # name
        call.get("arguments"),  # arguments
        call.get("result"),  # output
        # A function may return nothing: only an error makes a call fail.
        ToolCallStatus.SUCCESS if error is None else ToolCallStatus.ERROR,  # status
        error,
        text_or_none(call.get("id")),  # call_id
        _offset_ms(at, started_at),
        at,
        _duration_ms(call.get("duration_ms"), scale=1),
    )


def _error_text(value: Any) -> str | None:
    """A function call's `error`: a message, or an error object we keep as its JSON-ish text."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return text_or_none(value.get("message")) or str(dict(value))
    return text_or_none(value)


def _metadata(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Model and voice context, the Twilio call SID and the QA state, as the vendor sent them."""
    return {name: doc[name] for name in _CONTEXT_FIELDS if doc.get(name) not in (None, "")}


def _offset_ms(at: datetime | None, started_at: datetime) -> int | None:
    return None if at is None else round((at - started_at).total_seconds() * 1000)


def _duration_ms(value: Any, scale: int = 1000) -> int | None:
    """A duration (seconds by default, as `duration_seconds`) → whole ms; bools are not numbers."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    return round(float(value) * scale)


def _required_text(value: Any) -> str:
    text = text_or_none(value)
    if text is None:
        raise ValueError("a required field is empty")
    return text
