"""What a client should see of the StateSet simulator's calls, stated from its model.

The product's decisions for StateSet Voice, restated here apart from the adapter:
- status: `active` → ACTIVE, `completed` and `reviewed` (a completed call whose QA review is
  done) → COMPLETED, `failed` → FAILED; the vendor's word is kept as `raw_status`;
- every session is a VOICE call with no raw channel, title or agent name;
- `caller` is the person the agent talked to and `callee` the agent's own line, whoever dialled;
  `direction` is the vendor's `inbound`/`outbound`;
- times to the second as generated; `duration_ms` is the call's length in milliseconds, null
  (with `ended_at` and `summary`) while the call is on the line; an empty summary is absent;
- turns: the vendor's roles `caller`/`agent`/`system` as raw speakers (USER/AGENT/SYSTEM), the
  offset from the start in ms and the wall-clock time;
- function calls: the result as output, an error makes the call ERROR, anything else SUCCESS;
  the vendor gives no call id; offset, time and length as generated;
- tags by name; metadata holds the Twilio call SID, model, voice and the QA object as sent;
- `lookup_key` is the stream id (the only way to fetch one session again).

The simulator's data changes with its clock (calls arrive, end, are deleted): the records are
stated from its model as of its last `advance`, which every request to it runs first, so read
them after the requests whose answers they check.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
from providers.simulators.stateset import (
    FunctionUse,
    StateSetSimulator,
    Utterance,
    VoiceCall,
)

__all__ = ["expected_records"]

_STATUSES = {
    "active": SessionStatus.ACTIVE,
    "completed": SessionStatus.COMPLETED,
    "reviewed": SessionStatus.COMPLETED,
    "failed": SessionStatus.FAILED,
}
# The simulator's speaker → (the unified speaker, the vendor's `role` for it).
_SPEAKERS = {
    "person": (Speaker.USER, "caller"),
    "agent": (Speaker.AGENT, "agent"),
    "system": (Speaker.SYSTEM, "system"),
}


def expected_records(simulator: StateSetSimulator) -> list[SessionRecord]:
    """Every call of `simulator` as of its last `advance`, details filled, in its served order."""
    return [_record(call) for call in simulator.calls]


def _record(call: VoiceCall) -> SessionRecord:
    return SessionRecord(
        provider=Provider.STATESET,
        id=call.id,
        status=_STATUSES[call.status],
        raw_status=call.status,
        started_at=call.started_at,
        agent_id=call.agent_key,
        ended_at=call.ended_at,
        duration_ms=call.duration_ms,
        channel=Channel.VOICE,
        direction="outbound" if call.agent_dialled else "inbound",
        caller=call.person_number,
        callee=call.agent_number,
        summary=call.summary or None,
        tags=tuple(Tag(name) for name in call.tags),
        metadata={
            "call_sid": call.call_sid,
            "model": call.model,
            "voice": call.voice,
            "qa": {
                "state": "reviewed" if call.review.done else "pending",
                "score": call.review.score,
                "notes": call.review.notes,
            },
        },
        lookup_key=call.stream_id,
        details=SessionDetails(
            transcript=tuple(_turn(line, call.started_at) for line in call.utterances),
            tool_calls=tuple(_tool_call(use, call.started_at) for use in call.function_uses),
        ),
    )


def _turn(line: Utterance, started_at: datetime) -> TranscriptTurn:
    speaker, role = _SPEAKERS[line.speaker]
    return TranscriptTurn(speaker, line.text, role, _offset_ms(line.at, started_at), line.at)


def _tool_call(use: FunctionUse, started_at: datetime) -> ToolCall:
    return ToolCall(
        name=use.name,
        arguments=use.arguments,
        output=use.result,
        status=ToolCallStatus.SUCCESS if use.error is None else ToolCallStatus.ERROR,
        error=use.error,
        offset_ms=_offset_ms(use.at, started_at),
        at=use.at,
        duration_ms=use.duration_ms,
    )


def _offset_ms(at: datetime, started_at: datetime) -> int:
    return (at - started_at) // timedelta(milliseconds=1)
