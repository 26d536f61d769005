"""Vonage Insights conversation documents → records. Pure functions, no I/O.

Tolerant by design: unknown fields are ignored, optional ones may be missing, `""` and null both
mean absent. Call sites wrap these in `providers.transport.reading` so that a document of the
wrong shape becomes `UpstreamProtocolError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from providers.records import (
    Channel,
    DeferredDetails,
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
from providers.transport import reading
from providers.values import json_or_text, parse_time

__all__ = [
    "CHANNELS",
    "DETAIL_FIELDS",
    "ENDED",
    "FAILED_STATUS_CODE",
    "IN_PROGRESS",
    "MAPPED_FIELDS",
    "SUMMARY_FIELDS",
    "USER_KEY",
    "WEBHOOK",
    "flow_steps",
    "format_time",
    "parameters",
    "recording",
    "session_details",
    "session_record",
    "session_status",
    "tags",
    "tool_calls",
    "transcript",
]

IN_PROGRESS = "in_progress"
ENDED = "ended"
FAILED_STATUS_CODE = 200  # channel_data.status_code: 0 successful, 100 warning, 200 erroneous
USER_KEY = "user"  # transcription key of the caller; the agent speaks under its version id
WEBHOOK = "webhook"  # the flow node that calls the customer's API: our "tool call"

# Raw `channel` values by the channel they mean (the seed's example says "voice").
CHANNELS: Mapping[Channel, tuple[str, ...]] = {
    Channel.VOICE: ("telephony", "voice"),
    Channel.WHATSAPP: ("whatsapp",),
    Channel.CHAT: ("http",),
}
_CHANNEL_OF_RAW = {raw: channel for channel, raws in CHANNELS.items() for raw in raws}

# Every document path the functions below read: the adapter asks for these (`project_fields`)
# and nothing else, which leaves out the bulky flow contexts, request headers and duplicates.
SUMMARY_FIELDS: tuple[str, ...] = (
    "id",
    "session_start_time",
    "status",
    "channel",
    "source",
    "destination",
    "language",
    "agent_information.id",
    "agent_information.name",
    "agent_information.version_id",
    "channel_data.duration",
    "channel_data.status_code",
    "tags_list",
    "params_list",
)
# What `session_details` reads: asked for only when the client selects details.
DETAIL_FIELDS: tuple[str, ...] = (
    "channel_data.audio_url",
    "transcription",
    "flow_path.node_id",
    "flow_path.type",
    "flow_path.request_id",
    "flow_path.execution_time",
    "flow_path.tags",
    "flow_path.request.url",
    "flow_path.request.payload",
    "flow_path.response",
    "flow_path.context.url",
    "flow_path.context.status",
)
MAPPED_FIELDS = SUMMARY_FIELDS + DETAIL_FIELDS


# --- scalars ---------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A string field: `""` and null are absent; numbers (phone numbers) become text."""
    if type(value) is str:  # nearly always: skip the checks below
        return value or None
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return str(value)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    return round(float(value))


def _object(value: Any) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON decodes to: no ABC check (the slowest isinstance)
        return value
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def format_time(moment: datetime) -> str:
    """The vendor's own time format: naive UTC, always with microseconds."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


# --- the session -----------------------------------------------------------------------------


def session_status(status: str | None, status_code: int | None) -> SessionStatus:
    if status == IN_PROGRESS:
        return SessionStatus.ACTIVE
    if status == ENDED:
        return (
            SessionStatus.FAILED if status_code == FAILED_STATUS_CODE else SessionStatus.COMPLETED
        )
    return SessionStatus.UNKNOWN


def _channel(raw: str | None) -> Channel | None:
    if raw is None:
        return None
    return _CHANNEL_OF_RAW.get(raw.lower(), Channel.OTHER)


def session_record(doc: Mapping[str, Any], with_details: bool = True) -> SessionRecord:
    agent = _object(doc.get("agent_information"))
    channel_data = _object(doc.get("channel_data"))
    raw_status = _text(doc.get("status"))
    started_at = parse_time(doc["session_start_time"])
    duration_ms = _int(channel_data.get("duration"))
    ended_at = None
    if raw_status == ENDED and duration_ms is not None:
        ended_at = started_at + timedelta(milliseconds=duration_ms)
    raw_channel = _text(doc.get("channel"))
    metadata = {
        "language": _text(doc.get("language")),
        "agent_version_id": _text(agent.get("version_id")),
    }
    # By position (keywords double the cost of the call); the order is SessionRecord's.
    return SessionRecord(
        Provider.VONAGE,  # provider
        str(doc["id"]),  # id
        session_status(raw_status, _int(channel_data.get("status_code"))),  # status
        raw_status or "",  # raw_status
        started_at,
        _text(agent.get("id")),  # agent_id
        _text(agent.get("name")),  # agent_name
        ended_at,
        duration_ms,
        _channel(raw_channel),  # channel
        raw_channel,
        None,  # direction
        _text(doc.get("source")),  # caller
        _text(doc.get("destination")),  # callee
        None,  # title
        None,  # summary
        tags(doc.get("tags_list")),
        parameters(doc.get("params_list")),
        {key: value for key, value in metadata.items() if value is not None},  # metadata
        None,  # lookup_key
        session_details(doc) if with_details else None,  # details
    )


def session_details(doc: Mapping[str, Any]) -> SessionDetails:
    """Search hits are whole documents: a listed session carries its details already. They are
    mapped when first read: a page lists fifty or more hits and shows a few of them, and most
    queries select one or two detail fields (the flow path alone is most of a document)."""
    flow_path = doc.get("flow_path")
    return DeferredDetails(
        recording=recording(doc.get("channel_data")),
        mappers={
            "transcript": partial(_read, transcript, doc.get("transcription")),
            "tool_calls": partial(_read, tool_calls, flow_path),
            "flow_steps": partial(_read, flow_steps, flow_path),
        },
    )


def _read(mapping: Callable[[Any], tuple[Any, ...]], raw: Any) -> tuple[Any, ...]:
    # Read outside the adapter (whoever reads the field): a document of the wrong shape is
    # still the one typed error it is everywhere else.
    with reading(Provider.VONAGE):
        return mapping(raw)


def transcript(transcription: Any) -> tuple[TranscriptTurn, ...]:
    """`[{"user": text}, {<agent version id>: text}, …]`: the key says who spoke."""
    turns: list[TranscriptTurn] = []
    for entry in _list(transcription):
        for key, said in _object(entry).items():
            text = _text(said)
            if text is None:
                continue
            speaker = Speaker.USER if key == USER_KEY else Speaker.AGENT
            turns.append(TranscriptTurn(speaker, text, key))  # speaker, text, raw_speaker
    return tuple(turns)


def tags(tags_list: Any) -> tuple[Tag, ...]:
    found: list[Tag] = []
    for entry in _list(tags_list):
        item = _object(entry)
        name = _text(item.get("tag"))
        if name is not None:
            count = _int(item.get("count"))
            found.append(Tag(name, _text(item.get("category")), 1 if count is None else count))
    return tuple(found)


def parameters(params_list: Any) -> tuple[Parameter, ...]:
    found: list[Parameter] = []
    for entry in _list(params_list):
        item = _object(entry)
        name = _text(item.get("name"))
        if name is not None:
            value = _text(item.get("value"))
            found.append(Parameter(name, value, _text(item.get("type"))))
    return tuple(found)


def recording(channel_data: Any) -> Recording | None:
    """`audio_url` stays null for a while after a call ends, and for chats."""
    url = _text(_object(channel_data).get("audio_url"))
    return Recording(url) if url is not None else None


# --- the flow --------------------------------------------------------------------------------


def _node_url(node: Mapping[str, Any]) -> str | None:
    return _text(_object(node.get("context")).get("url")) or _text(
        _object(node.get("request")).get("url")
    )


def flow_steps(flow_path: Any) -> tuple[FlowStep, ...]:
    steps: list[FlowStep] = []
    for entry in _list(flow_path):
        node = _object(entry)
        node_tags = (_text(_object(tag).get("tag")) for tag in _list(node.get("tags")))
        steps.append(
            FlowStep(
                node_id=str(node["node_id"]),
                type=_text(node.get("type")) or "unknown",
                request_id=_text(node.get("request_id")),
                execution_time_ms=_int(node.get("execution_time")),
                response_code=_int(_object(node.get("response")).get("code")),
                url=_node_url(node),
                tags=tuple(tag for tag in node_tags if tag is not None),
            )
        )
    return tuple(steps)


def _tool_status(code: int | None) -> ToolCallStatus:
    if code is None:
        return ToolCallStatus.UNKNOWN
    return ToolCallStatus.SUCCESS if 200 <= code < 400 else ToolCallStatus.ERROR


def _tool_name(node: Mapping[str, Any], url: str | None) -> str:
    """Insights does not name a webhook node: the last segment of the URL it called is the
    closest thing to a tool name (`…/lookup_order`), the node id otherwise."""
    segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] if url else ""
    return segment or str(node["node_id"])


def _tool_call(node: Mapping[str, Any]) -> ToolCall:
    response = _object(node.get("response"))
    url = _node_url(node)
    status = _tool_status(_int(response.get("code")))
    error = None
    if status is ToolCallStatus.ERROR:
        error = _text(_object(_object(node.get("context")).get("status")).get("message"))
        error = error or _text(response.get("payload"))
    return ToolCall(
        name=_tool_name(node, url),
        # Webhook payloads are JSON sent as strings; the text is kept when it is not JSON.
        arguments=json_or_text(_text(_object(node.get("request")).get("payload"))),
        output=json_or_text(_text(response.get("payload"))),
        status=status,
        error=error,
        duration_ms=_int(node.get("execution_time")),
    )


def tool_calls(flow_path: Any) -> tuple[ToolCall, ...]:
    """Webhook nodes are where an AI Studio agent calls out to an API: one tool call each."""
    calls = []
    for entry in _list(flow_path):
        node = _object(entry)  # every node, webhook or not: a path of the wrong shape fails here
        if node.get("type") == WEBHOOK:
            calls.append(_tool_call(node))
    return tuple(calls)
