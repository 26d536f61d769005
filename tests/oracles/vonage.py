"""What a client should see of the Vonage simulator's sessions, stated from its model.

The product's decisions for Vonage AI Studio Insights, restated here apart from the adapter:
- status: a session still running is ACTIVE (raw `in_progress`); an ended one (raw `ended`) is
  FAILED when its `status_code` says erroneous (200), COMPLETED otherwise (0 successful,
  100 warning);
- the start time as generated (Insights sends it naive, meaning UTC); `duration_ms` is the
  call's length in milliseconds as generated and `ended_at` the start plus that length, both
  null while the session runs;
- channel: `telephony` → VOICE, `whatsapp` → WHATSAPP, `http` → CHAT, the vendor's word kept as
  `raw_channel`; no direction, title or summary;
- `caller` is the number that called (Insights' `source`) and `callee` the agent's own number
  (`destination`), both spelled as Insights stores them, bare digits; a chat has neither;
- the agent is named; metadata holds the agent's language and published version id;
- tags once each with their category and count; parameters by name, value and entity type;
- turns: the caller speaks as `user` (USER), the agent under its version id (AGENT), with no
  offsets or times;
- each webhook the flow ran is a tool call named after the endpoint it called: its JSON body as
  arguments, the JSON answered as output, ERROR with the failure's message when it failed,
  SUCCESS otherwise; no call id, offset or time, the node's execution time as its length;
- every node of the flow path is a flow step (the URL it called, the tags it collected);
- the recording is the audio path once published, with no expiry; none before, none for chats.
"""

from __future__ import annotations

from datetime import UTC

from providers.records import (
    Channel,
    FlowStep,
    Parameter,
    Provider,
    Recording,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    Speaker,
    Tag,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
)
from providers.simulators.vonage.model import Session, Step, WebhookCall
from providers.simulators.vonage.server import VonageSimulator

__all__ = ["expected_records"]

_CHANNELS = {"telephony": Channel.VOICE, "whatsapp": Channel.WHATSAPP, "http": Channel.CHAT}
_ERRONEOUS = 200  # channel_data.status_code: 0 successful, 100 warning, 200 erroneous
_CALLER_KEY = "user"  # the caller's key in Insights transcriptions


def expected_records(simulator: VonageSimulator) -> list[SessionRecord]:
    """Every session of `simulator`, details filled, in its storage order."""
    return [_record(session) for session in simulator.sessions]


def _status(session: Session) -> tuple[SessionStatus, str]:
    if session.running:
        return SessionStatus.ACTIVE, "in_progress"
    if session.status_code == _ERRONEOUS:
        return SessionStatus.FAILED, "ended"
    return SessionStatus.COMPLETED, "ended"


def _as_stored(number: str | None) -> str | None:
    """Insights keeps numbers as bare digits: `+14155550123` is `14155550123`."""
    return None if number is None else "".join(ch for ch in number if ch.isdigit())


def _record(session: Session) -> SessionRecord:
    status, raw_status = _status(session)
    agent = session.agent
    return SessionRecord(
        provider=Provider.VONAGE,
        id=session.id,
        status=status,
        raw_status=raw_status,
        started_at=session.started_at.astimezone(UTC),
        agent_id=agent.id,
        agent_name=agent.name,
        ended_at=session.ended_at,
        duration_ms=session.duration_ms,
        channel=_CHANNELS[session.channel],
        raw_channel=session.channel,
        caller=_as_stored(session.caller),
        callee=_as_stored(session.callee),
        tags=tuple(Tag(tag.tag, tag.category, tag.count) for tag in session.tags),
        parameters=tuple(Parameter(p.name, p.value, p.type) for p in session.parameters),
        metadata={"language": agent.language, "agent_version_id": agent.version_id},
        details=SessionDetails(
            transcript=tuple(
                TranscriptTurn(Speaker.USER, turn.text, _CALLER_KEY)
                if turn.role == "user"
                else TranscriptTurn(Speaker.AGENT, turn.text, agent.version_id)
                for turn in session.turns
            ),
            tool_calls=tuple(_tool_call(call) for call in session.webhooks),
            flow_steps=tuple(_flow_step(step) for step in session.steps),
            recording=Recording(session.recording) if session.recording is not None else None,
        ),
    )


def _tool_call(call: WebhookCall) -> ToolCall:
    return ToolCall(
        name=call.name,
        arguments=call.arguments,
        output=call.answer,
        status=ToolCallStatus.SUCCESS if call.error is None else ToolCallStatus.ERROR,
        error=call.error,
        duration_ms=call.duration_ms,
    )


def _flow_step(step: Step) -> FlowStep:
    return FlowStep(
        node_id=step.node_id,
        type=step.kind,
        request_id=step.request_id,
        execution_time_ms=step.execution_time_ms,
        response_code=step.response_code,
        url=step.url,
        tags=tuple(hit.tag for hit in step.tags),
    )
