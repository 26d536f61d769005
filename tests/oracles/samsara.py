"""What a client should see of the Samsara simulator's sessions, stated from its model.

The product's decisions for Samsara Agent Studio, restated here (vendors.md §1 and the records'
docstrings), not read from the adapter:
- every session is a voice call; the person the agent talked to (`recipient`: a driver, a
  dashboard user or a phone number) is the caller; Samsara never says the number the agent
  answered on, nor a direction, title, summary, tags or parameters;
- statuses: completed → COMPLETED, running → ACTIVE, failed → FAILED, unknown → UNKNOWN, the raw
  word kept; a session ends `durationMilliseconds` after it started, unless it is still running;
- transcript speakers: agent → AGENT, drivers and dashboard users → USER, anyone else → UNKNOWN;
  turn offsets are milliseconds from the start, no wall-clock time;
- tool calls: arguments and outputs decoded from their JSON strings; a failed call's output is its
  error text, not an output; a pending one has neither; no call id or wall-clock time;
- metadata keeps the summary fields no record field holds (`triggerType`, `updatedAtTime`) as the
  vendor wrote them, when filled; `""` and null are absent everywhere;
- the recording is the presigned URL a details call makes now, with its expiry.
"""

from __future__ import annotations

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
)
from providers.simulators.samsara import SamsaraSimulator, SpokenTurn, ToolRun, VoiceSession

__all__ = ["expected_records"]

STATUSES = {
    "completed": SessionStatus.COMPLETED,
    "running": SessionStatus.ACTIVE,
    "failed": SessionStatus.FAILED,
    "unknown": SessionStatus.UNKNOWN,
}
SPEAKERS = {"agent": Speaker.AGENT, "driver": Speaker.USER, "admin": Speaker.USER}
TOOL_STATUSES = {"success": ToolCallStatus.SUCCESS, "error": ToolCallStatus.ERROR}


def expected_records(simulator: Any) -> list[SessionRecord]:
    assert isinstance(simulator, SamsaraSimulator)
    return [record(simulator, session) for session in simulator.sessions]


def record(simulator: SamsaraSimulator, session: VoiceSession) -> SessionRecord:
    status = STATUSES[session.status]
    ended = session.duration_ms is not None and status is not SessionStatus.ACTIVE
    metadata = {"updatedAtTime": vendor_time(session.updated_at)}
    if session.trigger_type:
        metadata["triggerType"] = session.trigger_type
    return SessionRecord(
        provider=Provider.SAMSARA,
        id=session.id,
        status=status,
        raw_status=session.status,
        started_at=session.started_at,
        agent_id=session.agent.id,
        agent_name=session.agent.name or None,
        ended_at=(
            session.started_at + timedelta(milliseconds=session.duration_ms or 0) if ended else None
        ),
        duration_ms=session.duration_ms,
        channel=Channel.VOICE,
        caller=session.recipient.text or None,
        callee=None,
        metadata=metadata,
        details=details(simulator, session),
    )


def details(simulator: SamsaraSimulator, session: VoiceSession) -> SessionDetails:
    presigned = simulator.recording(session)
    return SessionDetails(
        transcript=tuple(turn(said) for said in session.turns),
        tool_calls=tuple(tool_call(run) for run in session.tool_runs),
        recording=Recording(presigned.url, presigned.expires_at) if presigned else None,
    )


def turn(said: SpokenTurn) -> TranscriptTurn:
    return TranscriptTurn(
        speaker=SPEAKERS.get(said.speaker_type, Speaker.UNKNOWN),
        text=said.text,
        raw_speaker=said.speaker_type,
        offset_ms=said.start_ms,
    )


def tool_call(run: ToolRun) -> ToolCall:
    return ToolCall(
        name=run.name,
        arguments=run.arguments,
        output=run.result,
        status=TOOL_STATUSES.get(run.status, ToolCallStatus.UNKNOWN),
        error=run.error,
        offset_ms=run.start_ms,
        duration_ms=run.duration_ms,
    )


def vendor_time(moment: datetime) -> str:
    """How Samsara writes a time (RFC 3339, UTC, milliseconds, `Z`): metadata keeps it so."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
