"""What a client should see of the Vectara simulator's chats, stated from its model.

The model is the data as of the simulator's last `advance` (its `model_time`): sessions that
arrived are in it, deleted ones are not, a chat under way holds what was said so far and an
open one is open until its planned close. Advance the simulator to the moment a test asks
about (a request does it too) before stating what it should see.

The product's decisions for Vectara (vendors.md §3 and §6 say what the vendor sends; where it is
silent, these are sessiongraph's own choices, written here apart from `providers/vectara`):
- a Vectara session has no status of its own: an enabled session is a chat still open
  (ACTIVE, raw "enabled"), a disabled one is closed (COMPLETED, raw "disabled");
- it has no end or duration either: the conversation runs from its first event to its last;
  an open chat has no end yet, and no duration (null while active, as every vendor's);
- the free `metadata` object carries the rest: `channel` (none said: a chat, as Vectara agents
  are chat agents), `tags`, and the customer: the caller is their phone number, else their
  customer id; nobody is the callee (a chat has no number the agent answered on); every
  metadata entry but `tags` is also a parameter, in the order the vendor sent it;
- the session's name is the title, its description the summary;
- the transcript is what the customer wrote (`input_message`) and what the agent answered
  (`agent_output`), with the event type as the raw speaker and the event time as `at`; the
  agent's thinking, images, uploads and context summaries are not part of it;
- a tool call is a `tool_input` and the `tool_output` with the same id, named by the tool; no
  output yet: UNKNOWN; an output holding an `error`: ERROR with the error's words; else SUCCESS.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from providers.records import (
    Channel,
    Parameter,
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
from providers.simulators.vectara import ChatSession, Message, ToolRun, VectaraSimulator

__all__ = ["expected_records", "listed"]

CHANNELS = {
    "web_chat": Channel.CHAT,
    "chat": Channel.CHAT,
    "phone": Channel.VOICE,
    "voice": Channel.VOICE,
    "whatsapp": Channel.WHATSAPP,
}
SPEAKERS = {"user": (Speaker.USER, "input_message"), "agent": (Speaker.AGENT, "agent_output")}


def expected_records(simulator: VectaraSimulator) -> list[SessionRecord]:
    """Every chat the simulator holds now, with its conversation so far, as `get_sessions`
    returns it."""
    return [record(session) for session in simulator.sessions]


def listed(session: ChatSession) -> SessionRecord:
    """A chat as the session listing gives it: no events read yet, so no details, no end and
    no duration."""
    metadata = _metadata(session)
    return SessionRecord(
        provider=Provider.VECTARA,
        id=session.key,
        status=SessionStatus.ACTIVE if session.still_open else SessionStatus.COMPLETED,
        raw_status="enabled" if session.still_open else "disabled",
        started_at=session.started_at,
        agent_id=session.agent_key,
        channel=Channel.CHAT
        if session.channel is None
        else CHANNELS.get(session.channel, Channel.OTHER),
        raw_channel=session.channel,
        caller=session.phone_number or session.customer_id,
        callee=None,
        title=session.title,
        summary=session.summary,
        tags=tuple(Tag(name) for name in session.tags),
        parameters=tuple(
            Parameter(name, value, "string") for name, value in metadata.items() if name != "tags"
        ),
        metadata=metadata,
    )


def record(session: ChatSession) -> SessionRecord:
    listing = listed(session)
    moments = [
        *(message.at for message in session.messages),
        *(run.at for run in session.tool_runs),
        *(_ended(run) for run in session.tool_runs if run.answered),
        *(aside.at for aside in session.asides),
    ]
    first, last = (min(moments), max(moments)) if moments else (None, None)
    return SessionRecord(
        provider=listing.provider,
        id=listing.id,
        status=listing.status,
        raw_status=listing.raw_status,
        started_at=listing.started_at,
        agent_id=listing.agent_id,
        ended_at=None if session.still_open else last,
        duration_ms=(
            None if first is None or last is None or session.still_open else _ms(last - first)
        ),
        channel=listing.channel,
        raw_channel=listing.raw_channel,
        caller=listing.caller,
        callee=listing.callee,
        title=listing.title,
        summary=listing.summary,
        tags=listing.tags,
        parameters=listing.parameters,
        metadata=listing.metadata,
        details=SessionDetails(
            transcript=tuple(_turn(message) for message in session.messages),
            tool_calls=tuple(_tool_call(run) for run in session.tool_runs),
        ),
    )


def _metadata(session: ChatSession) -> dict[str, Any]:
    """The session's free metadata object, in the order the simulator attaches it."""
    metadata: dict[str, Any] = {
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
    return metadata


def _turn(message: Message) -> TranscriptTurn:
    speaker, raw_speaker = SPEAKERS[message.by]
    return TranscriptTurn(speaker, message.text, raw_speaker, at=message.at)


def _tool_call(run: ToolRun) -> ToolCall:
    if not run.answered:
        status, error = ToolCallStatus.UNKNOWN, None
    elif run.error is not None:
        status, error = ToolCallStatus.ERROR, run.error
    else:
        status, error = ToolCallStatus.SUCCESS, None
    return ToolCall(
        name=run.name,
        arguments=run.arguments,
        output=run.output if run.answered else None,
        status=status,
        error=error,
        call_id=run.call_id,
        at=run.at,
        duration_ms=run.duration_ms if run.answered else None,
    )


def _ended(run: ToolRun) -> datetime:
    return run.at + timedelta(milliseconds=run.duration_ms)


def _ms(span: timedelta) -> int:
    return span // timedelta(milliseconds=1)
