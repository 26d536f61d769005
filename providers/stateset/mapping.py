"""StateSet Voice JSON → records. Pure functions; callers wrap them in
`providers.transport.reading` so a body we cannot read becomes one typed error.

The list envelope and the VoiceSession shape are [target] (vendors.md §2): every field but `id`
and `started_at` may be missing, `""` and null both mean absent, unknown fields are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
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
)
from providers.values import text_or_none, time_or_none

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
    sessions = tuple(session_record(doc, with_details) for doc in docs)
    total = body.get("total")
    return VoiceSessionPage(sessions, total if isinstance(total, int) else None, docs)


def add_details(record: SessionRecord, doc: Mapping[str, Any]) -> SessionRecord:
    if record.details is not None:
        return record
    return replace(record, details=session_details(doc, record.started_at))


def session_details(doc: Mapping[str, Any], started_at: datetime) -> SessionDetails:
    return SessionDetails(
        transcript=tuple(_turn(turn, started_at) for turn in doc.get("transcript") or ()),
        tool_calls=tuple(_tool_call(call, started_at) for call in doc.get("function_calls") or ()),
    )


def session_record(doc: Mapping[str, Any], with_details: bool = True) -> SessionRecord:
    started_at = time_or_none(doc["started_at"])
    if started_at is None:
        raise ValueError("a voice session without started_at")
    raw_status = text_or_none(doc.get("status")) or ""
    direction = text_or_none(doc.get("direction"))
    caller, callee = _parties(
        direction, text_or_none(doc.get("from_number")), text_or_none(doc.get("to_number"))
    )
    return SessionRecord(
        provider=Provider.STATESET,
        id=_required_text(doc["id"]),
        status=SESSION_STATUSES.get(raw_status, SessionStatus.UNKNOWN),
        raw_status=raw_status,
        started_at=started_at,
        agent_id=text_or_none(doc.get("agent_key")),
        ended_at=time_or_none(doc.get("ended_at")),
        duration_ms=_duration_ms(doc.get("duration_seconds")),
        channel=Channel.VOICE,
        direction=direction,
        caller=caller,
        callee=callee,
        summary=text_or_none(doc.get("summary")),
        tags=tuple(Tag(name) for name in doc.get("tags") or () if text_or_none(name)),
        metadata=_metadata(doc),
        lookup_key=text_or_none(doc.get("stream_id")),
        details=session_details(doc, started_at) if with_details else None,
    )


def _parties(
    direction: str | None, from_number: str | None, to_number: str | None
) -> tuple[str | None, str | None]:
    """(caller, callee): the person the agent talked to, and the agent's own line. On an
    outbound call the agent dials out, so the person is `to_number`."""
    if direction == "outbound":
        return to_number, from_number
    return from_number, to_number


def _turn(turn: Mapping[str, Any], started_at: datetime) -> TranscriptTurn:
    raw_speaker = text_or_none(turn.get("role")) or ""
    at = time_or_none(turn.get("timestamp"))
    return TranscriptTurn(
        speaker=_SPEAKERS.get(raw_speaker, Speaker.UNKNOWN),
        text=turn.get("text") or "",
        raw_speaker=raw_speaker,
        offset_ms=_offset_ms(at, started_at),
        at=at,
    )


def _tool_call(call: Mapping[str, Any], started_at: datetime) -> ToolCall:
    error = _error_text(call.get("error"))
    at = time_or_none(call.get("timestamp"))
    return ToolCall(
        name=_required_text(call["name"]),
        arguments=call.get("arguments"),
        output=call.get("result"),
        # A function may return nothing: only an error makes a call fail.
        status=ToolCallStatus.SUCCESS if error is None else ToolCallStatus.ERROR,
        error=error,
        call_id=text_or_none(call.get("id")),
        offset_ms=_offset_ms(at, started_at),
        at=at,
        duration_ms=_duration_ms(call.get("duration_ms"), scale=1),
    )


def _error_text(value: Any) -> str | None:
    """A function call's `error`: a message, or an error object we keep as its JSON-ish text."""
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
