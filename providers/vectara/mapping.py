"""Vectara JSON → records. Pure functions, no I/O: the adapter and the simulator's ground truth
both run them, so the tests compare exactly what a user sees.

Call sites wrap these in `providers.transport.reading(Provider.VECTARA)`: a body without the
shape below raises KeyError/TypeError/ValueError here and becomes one UpstreamProtocolError.

Vectara has no session status, duration, tags or parameters of its own. Project conventions:
- `enabled` is the status: an enabled session is a chat still open (ACTIVE), a disabled one is
  closed (COMPLETED);
- the session's free `metadata` object carries the rest: `channel`, `tags` (a list of strings),
  the customer (`phone_number`, else `customer_id`); every entry but `tags` is also a Parameter;
- ended_at / duration come from the first and last event of the conversation; an open chat
  has neither.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from providers.records import (
    AgentRecord,
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
    evolve,
)
from providers.values import parse_time, time_or_none

__all__ = [
    "add_parameters",
    "agent_record",
    "session_channel",
    "session_details",
    "session_record",
    "session_status",
    "with_events",
]

Json = Mapping[str, Any]

_CHANNELS = {
    "web_chat": Channel.CHAT,
    "chat": Channel.CHAT,
    "phone": Channel.VOICE,
    "voice": Channel.VOICE,
    "whatsapp": Channel.WHATSAPP,
}
_ONE_MS = timedelta(milliseconds=1)


# --- scalars ---------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A vendor string; `""` and null both mean absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _object(value: Any) -> Json:
    """A JSON object that may be missing or null."""
    if type(value) is dict:  # what JSON decodes to: no ABC check (the slowest isinstance)
        return value
    return value if isinstance(value, Mapping) else {}


def _millis(start: datetime, end: datetime) -> int:
    return (end - start) // _ONE_MS


# --- sessions --------------------------------------------------------------------------------


def _key(raw: Json) -> str:
    """A session's or agent's key: `key` in the API reference, `id` in the seed's example."""
    key = _text(raw.get("key")) or _text(raw.get("id"))
    if key is None:
        raise KeyError("key")
    return key


def session_status(enabled: Any) -> tuple[SessionStatus, str]:
    if enabled is True or enabled == "true":
        return SessionStatus.ACTIVE, "enabled"
    if enabled is False or enabled == "false":
        return SessionStatus.COMPLETED, "disabled"
    return SessionStatus.UNKNOWN, ""


def session_channel(metadata: Json) -> tuple[Channel, str | None]:
    """A Vectara agent is a chat agent: no channel in the metadata means chat."""
    raw = _text(metadata.get("channel"))
    if raw is None:
        return Channel.CHAT, None
    return _CHANNELS.get(raw.lower(), Channel.OTHER), raw


def _tags(metadata: Json) -> tuple[Tag, ...]:
    value = metadata.get("tags")
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return tuple(Tag(name) for name in (_text(n) for n in names) if name is not None)


def _json_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def _parameter(name: str, value: Any) -> Parameter:
    if isinstance(value, Mapping | list):
        return Parameter(name, json.dumps(value, separators=(",", ":")), _json_type(value))
    return Parameter(name, _text(value), _json_type(value))


def _parameters(metadata: Json) -> tuple[Parameter, ...]:
    return tuple(_parameter(name, value) for name, value in metadata.items() if name != "tags")


def session_record(raw: Json, agent_key: str, with_parameters: bool = True) -> SessionRecord:
    """A list entry (or the single-session answer) → a record without details. `agent_key` is
    the agent the session was asked under: session keys are unique per agent only. A scan maps
    parameters only for the sessions it returns (`add_parameters`): they are most of its work."""
    metadata = _object(raw.get("metadata"))
    status, raw_status = session_status(raw.get("enabled"))
    channel, raw_channel = session_channel(metadata)
    return SessionRecord(
        provider=Provider.VECTARA,
        id=_key(raw),
        status=status,
        raw_status=raw_status,
        started_at=parse_time(raw["created_at"]),
        agent_id=agent_key,
        channel=channel,
        raw_channel=raw_channel,
        caller=_text(metadata.get("phone_number")) or _text(metadata.get("customer_id")),
        title=_text(raw.get("name")),
        summary=_text(raw.get("description")),
        tags=_tags(metadata),
        parameters=_parameters(metadata) if with_parameters else (),
        metadata=dict(metadata),
    )


def add_parameters(record: SessionRecord) -> SessionRecord:
    return evolve(record, parameters=_parameters(record.metadata))


# --- events ----------------------------------------------------------------------------------


def _turn(event: Json) -> TranscriptTurn | None:
    kind = event.get("type")
    if kind == "input_message":
        parts = [_object(part) for part in event.get("messages") or []]
        texts = [_text(p.get("content")) for p in parts if p.get("type") == "text"]
        text = "\n".join(t for t in texts if t is not None)
        speaker = Speaker.USER
    elif kind == "agent_output":
        text = _text(event.get("content")) or ""
        speaker = Speaker.AGENT
    else:  # thinking, tool and artifact events are not part of what was said
        return None
    if not text:
        return None
    return TranscriptTurn(speaker, text, kind, at=time_or_none(event.get("created_at")))


def _transcript(events: Sequence[Json]) -> tuple[TranscriptTurn, ...]:
    return tuple(turn for turn in map(_turn, events) if turn is not None)


def _tool_outcome(output_event: Json | None) -> tuple[ToolCallStatus, str | None]:
    """No output event yet: unknown. An output object with an `error`: failed."""
    if output_event is None:
        return ToolCallStatus.UNKNOWN, None
    error = _object(output_event.get("tool_output")).get("error")
    if error is None or error == "":
        return ToolCallStatus.SUCCESS, None
    if isinstance(error, Mapping) and _text(error.get("message")):
        return ToolCallStatus.ERROR, _text(error.get("message"))
    return ToolCallStatus.ERROR, _text(error) or json.dumps(error, separators=(",", ":"))


def _tool_call(call_id: str | None, started: Json | None, finished: Json | None) -> ToolCall:
    first = _object(started or finished)
    status, error = _tool_outcome(finished)
    at = time_or_none(started.get("created_at")) if started else None
    done = time_or_none(finished.get("created_at")) if finished else None
    return ToolCall(
        name=_text(first.get("tool_name")) or _text(first.get("tool_configuration_name")) or "",
        arguments=started.get("tool_input") if started else None,
        output=finished.get("tool_output") if finished else None,
        status=status,
        error=error,
        call_id=call_id,
        at=at,
        duration_ms=_millis(at, done) if at and done else None,
    )


def _tool_calls(events: Sequence[Json]) -> tuple[ToolCall, ...]:
    """tool_input/tool_output pairs sharing `tool_call_id`, in the order the calls began; an
    event without an id pairs with nothing."""
    pairs: dict[tuple[str | None, int], dict[str, Json]] = {}
    for index, event in enumerate(events):
        kind = event.get("type")
        if kind not in ("tool_input", "tool_output"):
            continue
        call_id = _text(event.get("tool_call_id"))
        slot = pairs.setdefault((call_id, -1 if call_id else index), {})
        slot.setdefault(kind, event)
    return tuple(
        _tool_call(call_id, slot.get("tool_input"), slot.get("tool_output"))
        for (call_id, _), slot in pairs.items()
    )


def session_details(events: Sequence[Json]) -> SessionDetails:
    return SessionDetails(transcript=_transcript(events), tool_calls=_tool_calls(events))


def with_events(record: SessionRecord, events: Sequence[Json]) -> SessionRecord:
    """`record` with its conversation: details, and the time it took from the first event to
    the last. An open (enabled) chat has no end yet, so no duration either (as every vendor's
    active session: the time so far would read as a length that keeps changing)."""
    times = [t for t in (time_or_none(e.get("created_at")) for e in events) if t is not None]
    first, last = (min(times), max(times)) if times else (None, None)
    still_open = record.status is SessionStatus.ACTIVE
    return evolve(
        record,
        details=session_details(events),
        ended_at=None if still_open else last,
        duration_ms=_millis(first, last) if first and last and not still_open else None,
    )


# --- agents ----------------------------------------------------------------------------------


def agent_record(raw: Json) -> AgentRecord:
    model = raw.get("model")
    enabled = raw.get("enabled")
    return AgentRecord(
        provider=Provider.VECTARA,
        id=_key(raw),
        name=_text(raw.get("name")),
        description=_text(raw.get("description")),
        model=_text(model) or _text(_object(model).get("name")),
        enabled=enabled if isinstance(enabled, bool) else None,
        created_at=time_or_none(raw.get("created_at")),
        updated_at=time_or_none(raw.get("updated_at")),
        metadata=dict(_object(raw.get("metadata"))),
    )
