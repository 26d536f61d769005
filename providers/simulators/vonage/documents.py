"""Seeded Insights conversation documents, shaped like seed 003's example: a flow path of node
executions, a transcription of one-key objects, tags and parameters in their three spellings
(`tags_list`/`tags`/`flow_data.collected_tags`, `params_list`/`params`/`collected_parameters`),
and `channel_data` whose recording stays null for a while after a call ends."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from providers.simulators.fake_data import (
    Conversation,
    ToolUse,
    Turn,
    conversation,
    phone_number,
    spread_start_times,
)
from providers.vonage.mapping import (
    ENDED,
    FAILED_STATUS_CODE,
    IN_PROGRESS,
    USER_KEY,
    WEBHOOK,
    format_time,
)

__all__ = ["Agent", "Dataset", "build_dataset"]

Document = dict[str, Any]

# name, voice, language, topics of `fake_data.conversation`
_PROFILES = (
    ("Order Desk", "Salli", "en-US", ("order_status", "faq")),
    ("Clinic Scheduler", "Joanna", "en-US", ("appointment", "faq")),
    ("Billing Assistant", "Brian", "en-GB", ("billing", "faq")),
    ("Fleet Dispatch", "Matthew", "en-US", ("roadside",)),
)
_CHANNELS = ("telephony", "whatsapp", "http")
_CHANNEL_WEIGHTS = (6, 3, 2)
_CONNECTORS = {
    "telephony": "http://telephony-connector.ai.vonage.com/api/actions/speak",
    "whatsapp": "http://whatsapp-connector.ai.vonage.com/api/actions/send",
    "http": "http://http-connector.ai.vonage.com/api/actions/reply",
}
_PARAMETER_TYPES = {
    "order_id": "sys.number",
    "slot": "sys.datetime",
    "amount": "sys.money",
    "route_id": "sys.any",
}
_TIE_EVERY = 20  # every 20th session starts at the very same microsecond as the one before
_RUNNING_WITHIN = timedelta(hours=1)  # only sessions this recent may still be running
_AUDIO_DELAY = timedelta(hours=1)  # a recording is published this long after the call ends


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    version_id: str
    name: str
    voice: str
    language: str
    topics: tuple[str, ...]
    number: str  # the number it answers on

    @property
    def information(self) -> dict[str, str]:
        return {
            "version_id": self.version_id,
            "id": self.id,
            "name": self.name,
            "voice": self.voice,
            "language": self.language,
        }

    @property
    def hooks(self) -> str:
        return f"https://api.{self.name.lower().replace(' ', '-')}.example.com/hooks"


@dataclass(frozen=True, slots=True)
class Dataset:
    account_id: str
    agents: tuple[Agent, ...]
    documents: list[Document]  # storage order: what a search without sort_by returns


def _object_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _digits_only(number: str) -> str:
    return number.lstrip("+")  # Insights stores numbers as bare digits


def _start_times(rng: random.Random, size: int, anchor: datetime) -> list[datetime]:
    starts = [
        moment + timedelta(microseconds=rng.randint(0, 999))
        for moment in spread_start_times(rng, size, anchor)
    ]
    for index in range(_TIE_EVERY, size, _TIE_EVERY):
        starts[index] = starts[index - 1]
    return starts


def build_dataset(rng: random.Random, size: int, anchor: datetime) -> Dataset:
    account_id = _object_id(rng)
    agents = tuple(
        Agent(_object_id(rng), _object_id(rng), name, voice, language, topics, phone_number(rng))
        for name, voice, language, topics in _PROFILES
    )
    builder = _DocumentBuilder(rng, account_id, anchor)
    documents = [
        builder.build(rng.choice(agents), start) for start in _start_times(rng, size, anchor)
    ]
    rng.shuffle(documents)
    return Dataset(account_id, agents, documents)


@dataclass(frozen=True, slots=True)
class _Call:
    """What one session amounts to before it is spelled as a document."""

    id: str
    agent: Agent
    channel: str
    start: datetime
    turns: list[Turn]
    tools: list[ToolUse]
    running: bool


class _DocumentBuilder:
    def __init__(self, rng: random.Random, account_id: str, anchor: datetime) -> None:
        self.rng = rng
        self.account_id = account_id
        self.anchor = anchor
        self.categories: dict[str, str] = {}  # tag → its category id, stable across sessions

    def build(self, agent: Agent, start: datetime) -> Document:
        rng = self.rng
        talk = conversation(rng, list(agent.topics))
        running = self.anchor - start < _RUNNING_WITHIN and rng.random() < 0.5
        heard = len(talk.turns) // 2 + 1 if running else len(talk.turns)
        call = _Call(
            id=_uuid(rng),
            agent=agent,
            channel=rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0],
            start=start,
            turns=talk.turns[:heard],
            tools=[tool for tool in talk.tools if tool.after_turn < heard],
            running=running,
        )
        flow_path = self._flow_path(call, talk.tags)
        params_list = _params_list(talk)
        tag_counts = Counter(tag["tag"] for node in flow_path for tag in node["tags"])
        return {
            "flow_path": flow_path,
            "transcription": [_utterance(turn, agent) for turn in call.turns],
            "tags_list": [
                {"count": count, "tag": tag, "category": self.categories[tag]}
                for tag, count in tag_counts.items()
            ],
            "channel_data": self._channel_data(call),
            "params_list": params_list,
            "destination": _digits_only(agent.number) if call.channel != "http" else "",
            "channel": call.channel,
            "session_start_time": format_time(start),
            "language": agent.language,
            "flow_data": {
                "injected_parameters": [],
                "collected_tags": [
                    {"tag": tag["tag"], "category": tag["category"]}
                    for node in flow_path
                    for tag in node["tags"]
                ],
                "collected_parameters": params_list,
            },
            "source": _digits_only(phone_number(rng)) if call.channel != "http" else "",
            "params": {
                param["name"]: {"completed": True, "value": param["value"]} for param in params_list
            },
            "tags": _tags_by_category(tag_counts, self.categories),
            "account_id": self.account_id,
            "api_key": "N/A",
            "request_ids": list(dict.fromkeys(node["request_id"] for node in flow_path)),
            "id": call.id,
            "agent_information": agent.information,
            "status": IN_PROGRESS if running else ENDED,
        }

    def _channel_data(self, call: _Call) -> dict[str, Any]:
        erroneous = any(tool.error for tool in call.tools) or self.rng.random() < 0.08
        data: dict[str, Any] = {
            "call_status": IN_PROGRESS if call.running else ENDED,
            "status_code": FAILED_STATUS_CODE if erroneous else self.rng.choice([0] * 9 + [100]),
        }
        if call.running:
            return data
        room_ms = int((self.anchor - call.start) / timedelta(milliseconds=1)) - 1000
        duration_ms = min(self.rng.randint(15_000, 360_000), room_ms)
        data["duration"] = duration_ms
        if call.channel == "telephony":
            ended = call.start + timedelta(milliseconds=duration_ms)
            published = self.anchor - ended > _AUDIO_DELAY
            audio = f"{self.account_id}/{call.agent.version_id}/{call.id}.mp3"
            data["audio_url"] = audio if published else None
        return data

    def _category(self, tag: str) -> str:
        return self.categories.setdefault(tag, f"{self.rng.getrandbits(128):032x}")

    def _flow_path(self, call: _Call, tags: list[str]) -> list[Document]:
        rng = self.rng
        request_id = _uuid(rng)
        nodes = [_node(_object_id(rng), "start", request_id)]
        for index, turn in enumerate(call.turns):
            if turn.role == "user":
                request_id = _uuid(rng)  # every caller input opens a new request
                nodes.append(
                    _node(_object_id(rng), "collect_input", request_id, user_input=turn.text)
                )
            else:
                nodes.append(self._speak_node(call, turn, request_id))
            nodes.extend(
                self._webhook_node(call, tool, request_id)
                for tool in call.tools
                if tool.after_turn == index
            )
        if not call.running:
            nodes.append(_node(_object_id(rng), "end_call", request_id))
        for tag in tags:
            for _ in range(2 if rng.random() < 0.15 else 1):
                rng.choice(nodes[1:])["tags"].append({"tag": tag, "category": self._category(tag)})
        return nodes

    def _speak_node(self, call: _Call, turn: Turn, request_id: str) -> Document:
        node_id = _object_id(self.rng)
        payload = {"session_id": call.id, "action_id": node_id, "type": "speak", "text": turn.text}
        if call.channel == "telephony":
            payload |= {"voice_id": call.agent.voice, "language_code": call.agent.language}
        answer = json.dumps(
            {"message": f"Successfully registered action for session_id: {call.id}"}
        )
        return _node(
            node_id,
            "speak",
            request_id,
            url=_CONNECTORS[call.channel],
            payload=json.dumps(payload),
            code=201,
            answer=answer,
            execution_time=self.rng.randint(80, 5000),
        )

    def _webhook_node(self, call: _Call, tool: ToolUse, request_id: str) -> Document:
        failed = tool.error is not None
        answer = {"error": tool.error} if failed else tool.result
        return _node(
            _object_id(self.rng),
            WEBHOOK,
            request_id,
            url=f"{call.agent.hooks}/{tool.name}",
            payload=json.dumps(tool.arguments),
            code=504 if failed else 200,
            answer=json.dumps(answer),
            message=tool.error or "",
            execution_time=tool.duration_ms,
        )


def _node(
    node_id: str,
    kind: str,
    request_id: str,
    *,
    url: str = "",
    payload: str = "",
    code: int = 200,
    answer: str = "",
    message: str = "",
    user_input: str = "",
    execution_time: int = 0,
) -> Document:
    headers = json.dumps({"Content-Type": "application/json"}) if url else ""
    return {
        "synchronized": True,
        "request": {"headers": headers, "payload": payload, "verb": "POST", "url": url},
        "response": {"code": code, "payload": answer},
        "context": {
            "output": None,
            "user_input": user_input,
            "execution_parameters": [],
            "url": url,
            "status": {"code": code, "message": message},
        },
        "type": kind,
        "request_id": request_id,
        "node_id": node_id,
        "tags": [],
        "execution_time": execution_time,
    }


def _utterance(turn: Turn, agent: Agent) -> dict[str, str]:
    """The caller speaks as "user", the agent under its published version id."""
    return {USER_KEY if turn.role == "user" else agent.version_id: turn.text}


def _params_list(talk: Conversation) -> list[Document]:
    return [
        {
            "value_text": value,
            "name": name,
            "completed": True,
            "type": _PARAMETER_TYPES.get(name, "sys.any"),
            "value": value,
        }
        for name, value in talk.parameters.items()
    ]


def _tags_by_category(counts: Counter[str], categories: dict[str, str]) -> dict[str, Any]:
    grouped: dict[str, dict[str, int]] = {}
    for tag, count in counts.items():
        grouped.setdefault(categories[tag], {})[tag] = count
    return grouped
