"""The simulator's sessions spelled as Insights conversation documents, shaped like seed 003's
example: a flow path of node executions, a transcription of one-key objects, tags and parameters
in their three spellings (`tags_list`/`tags`/`flow_data.collected_tags`,
`params_list`/`params`/`collected_parameters`), numbers as bare digits, a naive start time with
microseconds, and `channel_data` whose `audio_url` stays null until the recording is published."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from providers.simulators.vonage.model import Agent, Session, Step

__all__ = ["ENDED", "IN_PROGRESS", "USER_KEY", "Document", "format_time", "render"]

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


def render(session: Session, account_id: str) -> Document:
    agent = session.agent
    flow_path = [_node(session, step) for step in session.steps]
    params_list = [
        {
            "value_text": param.value,
            "name": param.name,
            "completed": True,
            "type": param.type,
            "value": param.value,
        }
        for param in session.parameters
    ]
    tags_by_category: dict[str, dict[str, int]] = {}
    for tag in session.tags:
        tags_by_category.setdefault(tag.category, {})[tag.tag] = tag.count
    status = IN_PROGRESS if session.running else ENDED
    return {
        "flow_path": flow_path,
        "transcription": [
            {USER_KEY if turn.role == "user" else agent.version_id: turn.text}
            for turn in session.turns
        ],
        "tags_list": [
            {"count": tag.count, "tag": tag.tag, "category": tag.category} for tag in session.tags
        ],
        "channel_data": _channel_data(session, status),
        "params_list": params_list,
        "destination": _digits(session.callee),
        "channel": session.channel,
        "session_start_time": format_time(session.started_at),
        "language": agent.language,
        "flow_data": {
            "injected_parameters": [],
            "collected_tags": [
                {"tag": hit.tag, "category": hit.category}
                for step in session.steps
                for hit in step.tags
            ],
            "collected_parameters": params_list,
        },
        "source": _digits(session.caller),
        "params": {
            param.name: {"completed": True, "value": param.value} for param in session.parameters
        },
        "tags": tags_by_category,
        "account_id": account_id,
        "api_key": "N/A",
        "request_ids": list(dict.fromkeys(step.request_id for step in session.steps)),
        "id": session.id,
        "agent_information": _information(agent),
        "status": status,
    }


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
