"""The simulator's sessions spelled as Insights conversation documents, shaped like seed 003's
example: a flow path of node executions, a transcription of one-key objects, tags and parameters
in their three spellings (`tags_list`/`tags`/`flow_data.collected_tags`,
`params_list`/`params`/`collected_parameters`), numbers as bare digits, a naive start time with
microseconds, and `channel_data` whose `audio_url` stays null until the recording is published.

A document is spelled field by field (`FIELDS`): the light fields from what the model draws up
front, the heavy ones (`HEAVY_FIELDS`) from the session's talk, generated when first read. A
search reads the paths its clauses name straight from the model where it can (`LIGHT_PATHS`),
never building the document, and renders only the hits it serves."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from providers.simulators.vonage.model import Agent, Session, Step

__all__ = [
    "ENDED",
    "FIELDS",
    "HEAVY_FIELDS",
    "IN_PROGRESS",
    "LIGHT_PATHS",
    "USER_KEY",
    "Document",
    "format_time",
    "render",
]

Document = dict[str, Any]

IN_PROGRESS = "in_progress"  # `status` and `channel_data.call_status`
ENDED = "ended"
USER_KEY = "user"  # the caller's transcription key; the agent speaks under its version id


def format_time(moment: datetime) -> str:
    """Insights' own time format: naive UTC, always with microseconds."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _digits(number: str | None) -> str:
    """Insights stores numbers as bare digits, and `""` when there is none."""
    return number.lstrip("+") if number is not None else ""


def _params_list(session: Session) -> list[Document]:
    return [
        {
            "value_text": param.value,
            "name": param.name,
            "completed": True,
            "type": param.type,
            "value": param.value,
        }
        for param in session.parameters
    ]


def _tags_by_category(session: Session) -> dict[str, dict[str, int]]:
    tags: dict[str, dict[str, int]] = {}
    for tag in session.tags:
        tags.setdefault(tag.category, {})[tag.tag] = tag.count
    return tags


def _status(session: Session) -> str:
    return IN_PROGRESS if session.running else ENDED


def _flow_data(session: Session) -> Document:
    return {
        "injected_parameters": [],
        "collected_tags": [
            {"tag": hit.tag, "category": hit.category}
            for step in session.steps
            for hit in step.tags
        ],
        "collected_parameters": _params_list(session),
    }


def _transcription(session: Session) -> list[dict[str, str]]:
    version_id = session.agent.version_id
    return [{USER_KEY if turn.role == "user" else version_id: turn.text} for turn in session.turns]


_Spelling = Callable[[Session, str], Any]  # (session, account id) → the field's value

# Every field of a document, in the seed's order; a heavy field reads the session's talk.
FIELDS: Mapping[str, _Spelling] = {
    "flow_path": lambda s, _: [_node(s, step) for step in s.steps],
    "transcription": lambda s, _: _transcription(s),
    "tags_list": lambda s, _: [
        {"count": tag.count, "tag": tag.tag, "category": tag.category} for tag in s.tags
    ],
    "channel_data": lambda s, _: _channel_data(s, _status(s)),
    "params_list": lambda s, _: _params_list(s),
    "destination": lambda s, _: _digits(s.callee),
    "channel": lambda s, _: s.channel,
    "session_start_time": lambda s, _: format_time(s.started_at),
    "language": lambda s, _: s.agent.language,
    "flow_data": lambda s, _: _flow_data(s),
    "source": lambda s, _: _digits(s.caller),
    "params": lambda s, _: {
        param.name: {"completed": True, "value": param.value} for param in s.parameters
    },
    "tags": lambda s, _: _tags_by_category(s),
    "account_id": lambda _, account_id: account_id,
    "api_key": lambda _, __: "N/A",
    "request_ids": lambda s, _: list(dict.fromkeys(step.request_id for step in s.steps)),
    "id": lambda s, _: s.id,
    "agent_information": lambda s, _: _information(s.agent),
    "status": lambda s, _: _status(s),
}
HEAVY_FIELDS = frozenset(
    {"flow_path", "transcription", "params_list", "flow_data", "params", "request_ids"}
)


# What searches filter and sort on, read from the model: every value `elastic.values` finds at
# the path of the rendered document (a test holds the two to that), in a fraction of the time.
LIGHT_PATHS: Mapping[tuple[str, ...], Callable[[Session], list[Any]]] = {
    ("id",): lambda s: [s.id],
    ("status",): lambda s: [_status(s)],
    ("channel",): lambda s: [s.channel],
    ("source",): lambda s: [_digits(s.caller)],
    ("destination",): lambda s: [_digits(s.callee)],
    ("language",): lambda s: [s.agent.language],
    ("session_start_time",): lambda s: [format_time(s.started_at)],
    ("agent_information", "id"): lambda s: [s.agent.id],
    ("agent_information", "version_id"): lambda s: [s.agent.version_id],
    ("agent_information", "name"): lambda s: [s.agent.name],
    ("channel_data", "call_status"): lambda s: [_status(s)],
    ("channel_data", "status_code"): lambda s: [s.status_code],
    ("channel_data", "duration"): lambda s: [] if s.duration_ms is None else [s.duration_ms],
    ("tags_list", "tag"): lambda s: [tag.tag for tag in s.tags],
    ("tags_list", "category"): lambda s: [tag.category for tag in s.tags],
}


def render(session: Session, account_id: str) -> Document:
    return {name: spell(session, account_id) for name, spell in FIELDS.items()}


def _information(agent: Agent) -> dict[str, str]:
    return {
        "version_id": agent.version_id,
        "id": agent.id,
        "name": agent.name,
        "voice": agent.voice,
        "language": agent.language,
    }


def _channel_data(session: Session, status: str) -> Document:
    data: Document = {"call_status": status, "status_code": session.status_code}
    if session.duration_ms is None:
        return data
    data["duration"] = session.duration_ms
    if session.channel == "telephony":
        data["audio_url"] = session.recording  # null until published
    return data


def _payloads(session: Session, step: Step) -> tuple[str, str, str]:
    """What the node sent, what it got back, and the status message of its context."""
    if step.webhook is not None:
        call = step.webhook
        return json.dumps(call.arguments), json.dumps(call.answer), call.error or ""
    if step.kind == "speak":
        payload = {"session_id": session.id, "action_id": step.node_id, "type": "speak"}
        payload["text"] = step.said or ""
        if session.channel == "telephony":
            payload |= {"voice_id": session.agent.voice, "language_code": session.agent.language}
        answer = {"message": f"Successfully registered action for session_id: {session.id}"}
        return json.dumps(payload), json.dumps(answer), ""
    return "", "", ""


def _node(session: Session, step: Step) -> Document:
    url = step.url or ""
    payload, answer, message = _payloads(session, step)
    headers = json.dumps({"Content-Type": "application/json"}) if url else ""
    return {
        "synchronized": True,
        "request": {"headers": headers, "payload": payload, "verb": "POST", "url": url},
        "response": {"code": step.response_code, "payload": answer},
        "context": {
            "output": None,
            "user_input": step.said if step.kind == "collect_input" and step.said else "",
            "execution_parameters": [],
            "url": url,
            "status": {"code": step.response_code, "message": message},
        },
        "type": step.kind,
        "request_id": step.request_id,
        "node_id": step.node_id,
        "tags": [{"tag": hit.tag, "category": hit.category} for hit in step.tags],
        "execution_time": step.execution_time_ms,
    }
