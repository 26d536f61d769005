"""Records: the plain, frozen values that cross the providers → resolvers boundary.

Adapters map vendor JSON to records exactly once; nothing above `providers/` sees vendor JSON.
Every time is an aware UTC datetime; every duration is in milliseconds; `""` and null from a
vendor both become `None`.

Records are frozen for the type checker, not at run time (see `record`): nothing may assign to
a field (mypy refuses it in every package it checks); `dataclasses.replace` makes a changed copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, Literal, TypedDict, TypeVar, Unpack, dataclass_transform

__all__ = [
    "AgentRecord",
    "Channel",
    "DeferredDetails",
    "DeferredField",
    "FlowStep",
    "Parameter",
    "Provider",
    "RecordChanges",
    "Recording",
    "SessionDetails",
    "SessionRecord",
    "SessionRef",
    "SessionStatus",
    "SortKey",
    "Speaker",
    "Tag",
    "ToolCall",
    "ToolCallStatus",
    "TranscriptTurn",
    "evolve",
]


_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_T]) -> type[_T]:
    """A record class: a slots dataclass, hashed and compared by value, frozen to mypy only.
    A frozen dataclass's `__init__` sets every field through `object.__setattr__`: ~150 ns a
    field, 3.5 µs a `SessionRecord`, 4% of a merged page's CPU. A plain slots `__init__` is
    4-5 times faster (`python -m bench.mapping`); immutability stays a checked rule."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


# The one order of the merged connection: start time, then provider, agent and id.
SortKey = tuple[datetime, str, str, str]


class Provider(StrEnum):
    SAMSARA = "samsara"
    STATESET = "stateset"
    VECTARA = "vectara"
    VONAGE = "vonage"


class SessionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    WHATSAPP = "whatsapp"
    OTHER = "other"


class Speaker(StrEnum):
    AGENT = "agent"
    USER = "user"
    SYSTEM = "system"
    UNKNOWN = "unknown"


class ToolCallStatus(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    UNKNOWN = "unknown"


@record
class TranscriptTurn:
    speaker: Speaker
    text: str
    raw_speaker: str
    offset_ms: int | None = None  # from the session's start, where the vendor says
    at: datetime | None = None  # wall-clock time, where the vendor says


@record
class ToolCall:
    name: str
    arguments: Any  # decoded JSON (Samsara sends a JSON-encoded string: decoded once, here)
    output: Any
    status: ToolCallStatus
    error: str | None = None
    call_id: str | None = None
    offset_ms: int | None = None
    at: datetime | None = None
    duration_ms: int | None = None


@record
class Tag:
    name: str
    category: str | None = None
    count: int = 1


@record
class Parameter:
    name: str
    value: str | None
    type: str | None = None


@record
class FlowStep:
    node_id: str
    type: str
    request_id: str | None = None
    execution_time_ms: int | None = None
    response_code: int | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()


@record
class Recording:
    url: str
    expires_at: datetime | None = None  # never serve or cache the URL past this


@record
class SessionDetails:
    """What a vendor's detail call adds to a list entry (some vendors send it in the list)."""

    transcript: tuple[TranscriptTurn, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    flow_steps: tuple[FlowStep, ...] = ()
    recording: Recording | None = None


class _MappedOnRead:
    """A field of `DeferredDetails`: its slot's value, mapped by the field's pending mapper
    on first read (a mapper that fails stays pending: the next read tries again)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._slot = SessionDetails.__dict__[name]

    def __get__(self, details: DeferredDetails | None, owner: type | None = None) -> Any:
        if details is None:
            return self
        pending = details._pending
        if self._name in pending:
            self._slot.__set__(details, pending[self._name]())
            del pending[self._name]
        return self._slot.__get__(details, owner)

    def __set__(self, details: DeferredDetails, value: Any) -> None:  # the base __init__ only
        self._slot.__set__(details, value)


# A field of SessionDetails a `DeferredDetails` may map on first read.
DeferredField = Literal["transcript", "tool_calls", "flow_steps"]


class DeferredDetails(SessionDetails):
    """`SessionDetails` whose named fields are mapped when first read, each by its mapper: a
    Vonage search hit is a whole document (transcript, webhook calls, flow path), a list page
    maps fifty or more of them, and a page shows a few and selects fewer fields. Otherwise it
    is a `SessionDetails` with the mapped values: it compares equal, hashes, prints, copies (as
    a plain `SessionDetails`) and encodes the same, and `dataclasses.replace` works on it."""

    __slots__ = ("_pending",)

    transcript = _MappedOnRead("transcript")
    tool_calls = _MappedOnRead("tool_calls")
    flow_steps = _MappedOnRead("flow_steps")

    def __init__(
        self,
        transcript: tuple[TranscriptTurn, ...] = (),
        tool_calls: tuple[ToolCall, ...] = (),
        flow_steps: tuple[FlowStep, ...] = (),
        recording: Recording | None = None,
        *,
        mappers: Mapping[DeferredField, Callable[[], tuple[Any, ...]]] | None = None,
    ) -> None:
        # Set first: the base __init__ sets through the fields. None: what `replace` passes.
        self._pending = dict(mappers or {})
        super().__init__(transcript, tool_calls, flow_steps, recording)

    def __eq__(self, other: object) -> bool:
        # The dataclass __eq__ compares instances of the very same class only.
        if not isinstance(other, SessionDetails):
            return NotImplemented
        return _details_values(self) == _details_values(other)

    __hash__ = SessionDetails.__hash__

    def __reduce__(self) -> tuple[type[SessionDetails], tuple[Any, ...]]:
        return SessionDetails, _details_values(self)


def _details_values(details: SessionDetails) -> tuple[Any, ...]:
    return (details.transcript, details.tool_calls, details.flow_steps, details.recording)


@record
class SessionRef:
    """Everything needed to fetch one session again: Vectara needs the agent key (session keys
    are unique per agent only), Vonage the start day (its get-by-id is scoped to a day)."""

    provider: Provider
    id: str
    agent_id: str | None = None
    started_at: datetime | None = None
    lookup_key: str | None = None  # another vendor key the fetch needs (StateSet stream_id)


@record
class SessionRecord:
    provider: Provider
    id: str
    status: SessionStatus
    raw_status: str
    started_at: datetime
    agent_id: str | None = None
    agent_name: str | None = None
    ended_at: datetime | None = None
    duration_ms: int | None = None
    channel: Channel | None = None
    raw_channel: str | None = None
    direction: str | None = None  # "inbound" / "outbound" where the vendor says
    caller: str | None = None  # phone number, user or driver who talked to the agent
    callee: str | None = None  # number the agent answered on
    title: str | None = None
    summary: str | None = None
    tags: tuple[Tag, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    lookup_key: str | None = None  # see SessionRef.lookup_key
    details: SessionDetails | None = None  # None: not fetched yet (ask the adapter's getter)

    @property
    def ref(self) -> SessionRef:
        return SessionRef(self.provider, self.id, self.agent_id, self.started_at, self.lookup_key)

    @property
    def sort_key(self) -> SortKey:
        """The one order of the merged connection: start time, then provider, agent and id
        (Vectara keys are unique per agent only), so ties are broken the same way everywhere."""
        # `_value_`, the member's plain str: `.value` is a Python-level descriptor on Enum, and
        # a merged page reads sort keys ~460 times (~0.2 ms of `.value` calls).
        return (self.started_at, self.provider._value_, self.agent_id or "", self.id)


class RecordChanges(TypedDict, total=False):
    """The fields of `SessionRecord`, for `evolve` (a test keeps the two the same)."""

    provider: Provider
    id: str
    status: SessionStatus
    raw_status: str
    started_at: datetime
    agent_id: str | None
    agent_name: str | None
    ended_at: datetime | None
    duration_ms: int | None
    channel: Channel | None
    raw_channel: str | None
    direction: str | None
    caller: str | None
    callee: str | None
    title: str | None
    summary: str | None
    tags: tuple[Tag, ...]
    parameters: tuple[Parameter, ...]
    metadata: Mapping[str, Any]
    lookup_key: str | None
    details: SessionDetails | None


_RECORD_FIELDS = {f.name: index for index, f in enumerate(fields(SessionRecord))}
_read_record = attrgetter(*_RECORD_FIELDS)


def evolve(record: SessionRecord, **changes: Unpack[RecordChanges]) -> SessionRecord:
    """`dataclasses.replace(record, **changes)` for the mapping hot paths (details added to
    every listed record): the fields read in one call and passed by position, about a fourth
    of `replace`'s work."""
    values = list(_read_record(record))
    for name, value in changes.items():
        values[_RECORD_FIELDS[name]] = value
    return SessionRecord(*values)


@record
class AgentRecord:
    provider: Provider
    id: str
    name: str | None = None
    description: str | None = None
    model: str | None = None
    enabled: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
