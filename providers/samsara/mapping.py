"""Samsara Agent Studio JSON → records. Pure functions; call them inside
`providers.transport.reading(Provider.SAMSARA)` so a body we cannot read becomes one typed error.

Summaries (the stream) and details (the batch endpoint) share their summary fields, so both map
through `session_from_summary`; a detail adds transcript, tool calls and recording.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.records import (
    Channel,
    Provider,
    Recording,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    Speaker,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
    evolve,
)
from providers.values import json_or_text, text_or_none, time_or_none

__all__ = [
    "RAW_STATUSES",
    "details_from",
    "format_time",
    "session_from_detail",
    "session_from_summary",
    "status_of",
    "tool_call_from",
    "turn_from",
]

Json = Mapping[str, Any]

# The vendor's `sessionStatus` values, by the status each one means.
RAW_STATUSES: Mapping[SessionStatus, str] = {
    SessionStatus.COMPLETED: "completed",
    SessionStatus.ACTIVE: "running",
    SessionStatus.FAILED: "failed",
    SessionStatus.UNKNOWN: "unknown",
}
_STATUSES = {raw: status for status, raw in RAW_STATUSES.items()}

# Drivers and dashboard users are the humans the agent talks to.
_SPEAKERS = {"agent": Speaker.AGENT, "driver": Speaker.USER, "admin": Speaker.USER}

_TOOL_STATUSES = {"success": ToolCallStatus.SUCCESS, "error": ToolCallStatus.ERROR}


def int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return int(value)


def format_time(moment: datetime) -> str:
    """Aware datetime → the vendor's RFC 3339 form, UTC to the millisecond (its precision:
    truncating never drops a session the vendor would list)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_of(raw: str) -> SessionStatus:
    return _STATUSES.get(raw, SessionStatus.UNKNOWN)


def turn_from(turn: Json) -> TranscriptTurn:
    raw_speaker = text_or_none(turn.get("speakerType")) or "unknown"
    # Positional: the hottest constructor of a page (keywords cost twice as much).
    return TranscriptTurn(
        _SPEAKERS.get(raw_speaker, Speaker.UNKNOWN),  # speaker
        text_or_none(turn.get("text")) or "",  # text
        raw_speaker,
        int_or_none(turn.get("startMilliseconds")),  # offset_ms
    )


def tool_call_from(call: Json) -> ToolCall:
    status = _TOOL_STATUSES.get(text_or_none(call.get("status")) or "", ToolCallStatus.UNKNOWN)
    output = text_or_none(call.get("output"))
    failed = status is ToolCallStatus.ERROR
    return ToolCall(
        name=text_or_none(call.get("name")) or "",
        arguments=json_or_text(text_or_none(call.get("arguments"))),
        # A failed call's output is the vendor's error text, not a result.
        output=None if failed else json_or_text(output),
        status=status,
        error=output if failed else None,
        offset_ms=int_or_none(call.get("startMilliseconds")),
        duration_ms=int_or_none(call.get("durationMilliseconds")),
    )


def recording_from(detail: Json) -> Recording | None:
    url = text_or_none(detail.get("recordingUrl"))
    if url is None:
        return None
    return Recording(url=url, expires_at=time_or_none(detail.get("recordingUrlExpiresAtTime")))


def details_from(detail: Json) -> SessionDetails:
    # Lists, not generators, into tuple(): a generator costs a frame switch per turn.
    turns = [turn_from(turn) for turn in detail.get("transcript") or ()]
    calls = [tool_call_from(call) for call in detail.get("toolCalls") or ()]
    return SessionDetails(tuple(turns), tuple(calls), recording=recording_from(detail))


def session_from_summary(summary: Json) -> SessionRecord:
    """One stream entry (or the summary part of a detail); `details` stays None."""
    started_at = time_or_none(summary["happenedAtTime"])
    if started_at is None:
        raise ValueError("a session without happenedAtTime")
    raw_status = text_or_none(summary.get("sessionStatus")) or "unknown"
    status = status_of(raw_status)
    duration_ms = int_or_none(summary.get("durationMilliseconds"))
    ended = duration_ms is not None and status is not SessionStatus.ACTIVE
    return SessionRecord(
        provider=Provider.SAMSARA,
        id=str(summary["id"]),
        status=status,
        raw_status=raw_status,
        started_at=started_at,
        agent_id=text_or_none(summary.get("agentId")),
        agent_name=text_or_none(summary.get("agentName")),
        ended_at=started_at + timedelta(milliseconds=duration_ms or 0) if ended else None,
        duration_ms=duration_ms,
        channel=Channel.VOICE,
        caller=text_or_none(summary.get("recipient")),
        metadata=_metadata(summary),
    )


def session_from_detail(detail: Json) -> SessionRecord:
    return evolve(session_from_summary(detail), details=details_from(detail))


def _metadata(summary: Json) -> dict[str, str]:
    """The summary fields no record field holds, when the vendor filled them."""
    kept = {key: text_or_none(summary.get(key)) for key in ("triggerType", "updatedAtTime")}
    return {key: value for key, value in kept.items() if value is not None}
