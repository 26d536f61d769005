"""GraphQL object types. `Session` and `Agent` wrap a record; the nested types read the records
themselves (a turn, a tool call, a flow step are served as the record holds them, never copied).
Fields are plain attributes or sync resolvers (an `async def` costs 15-25 µs a call). Only fields
that may need a vendor call (details, agents) are async, and they go through the request's
loaders; each also has a getter in `__fast_fields__` that answers from the record when the data
is there (the connection loads a page's details before its fields are read) and bails to the
async resolver when it is not (graph.fastpath)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from graph.enums import Channel, Provider, SessionOrder, SessionStatus, Speaker, ToolCallStatus
from graph.fastpath import Bail
from graph.federation import ENTITY_KEY
from providers import records
from resolvers.context import RequestContext
from resolvers.nodes import agent_node_id, session_node_id
from resolvers.principal import EVERYTHING, Audience

if TYPE_CHECKING:
    from graph.connection import SessionConnection
    from graph.inputs import SessionFilter

__all__ = [
    "Agent",
    "FlowStep",
    "Parameter",
    "Recording",
    "Session",
    "Tag",
    "ToolCall",
    "Transcript",
    "TranscriptTurn",
]


@strawberry.type(description="One thing said in a session.")
class TranscriptTurn:
    speaker: Speaker
    raw_speaker: str = strawberry.field(description="The vendor's own word for the speaker.")
    text: str
    offset_ms: int | None = strawberry.field(description="Milliseconds from the session start.")
    at: datetime | None


@strawberry.type(description="What was said, in order.")
class Transcript:
    turns: list[TranscriptTurn]  # records.TranscriptTurn: the same attributes, read by name

    @classmethod
    def of(cls, turns: Sequence[records.TranscriptTurn]) -> Transcript:
        return cls(turns=cast("list[TranscriptTurn]", turns))

    @strawberry.field(description="The whole transcript as `SPEAKER: text` lines.")
    def text(self) -> str:
        return "\n".join(f"{t.speaker.name}: {t.text}" for t in self.turns)


@strawberry.type(description="A tool (function) the agent called.")
class ToolCall:
    name: str
    arguments: JSON | None
    output: JSON | None
    status: ToolCallStatus
    error: str | None
    call_id: str | None
    offset_ms: int | None
    at: datetime | None
    duration_ms: int | None


@strawberry.type(description="One node the flow executed (Vonage AI Studio flow paths).")
class FlowStep:
    node_id: str
    type: str
    request_id: str | None
    execution_time_ms: int | None
    response_code: int | None
    url: str | None
    tags: list[str]


@strawberry.type
class Tag:
    name: str
    category: str | None
    count: int


@strawberry.type
class Parameter:
    name: str
    value: str | None
    type: str | None


@strawberry.type(
    description="A call recording. The URL may be presigned: use it before `expiresAt`."
)
class Recording:
    # Vonage's own documentation shows `audio_url` as a path with no host and does not name the
    # host; guessing one would give a wrong link, so the value is passed through and said so.
    url: str = strawberry.field(
        description="Where the recording is. Samsara: an absolute, presigned URL (see "
        "`expiresAt`). Vonage: `channel_data.audio_url` exactly as Vonage gives it, a path "
        "relative to Vonage's media host (Vonage documents the path, not the host)."
    )
    expires_at: datetime | None = strawberry.field(
        description="When a presigned `url` stops working; null when the vendor gives no expiry."
    )


@strawberry.type(description="An AI agent on one vendor.", directives=[ENTITY_KEY])
class Agent(relay.Node):
    node_id: relay.NodeID[str]
    provider: Provider
    provider_agent_id: str = strawberry.field(description="The vendor's own id of the agent.")
    known_name: strawberry.Private[str | None] = None
    record: strawberry.Private[records.AgentRecord | None] = None

    # graph.fastpath, by GraphQL field name: the value when it is known, or Bail when the agent
    # must be read.
    __fast_fields__: ClassVar[dict[str, str]] = {
        "id": "_fast_id",
        "name": "_fast_name",
        "description": "_fast_description",
        "model": "_fast_model",
        "enabled": "_fast_enabled",
    }

    def _fast_id(self) -> relay.GlobalID:
        return relay.GlobalID("Agent", self.node_id)

    def _known(self) -> records.AgentRecord:
        if self.record is None:
            raise Bail
        return self.record

    def _fast_name(self) -> str | None:
        return self.known_name if self.known_name is not None else self._known().name

    def _fast_description(self) -> str | None:
        return self._known().description

    def _fast_model(self) -> str | None:
        return self._known().model

    def _fast_enabled(self) -> bool | None:
        return self._known().enabled

    @classmethod
    def make(
        cls,
        provider: records.Provider,
        agent_id: str,
        name: str | None = None,
        record: records.AgentRecord | None = None,
        tag: str = "",
    ) -> Agent:
        return cls(
            node_id=agent_node_id(provider, agent_id, tag),
            provider=provider,
            provider_agent_id=agent_id,
            known_name=name,
            record=record,
        )

    async def _load(self, info: Info[RequestContext, None]) -> records.AgentRecord | None:
        if self.record is None:
            self.record = await info.context.loaders.agent(self.provider, self.provider_agent_id)
        return self.record

    @strawberry.field(
        description="The agent's display name; null when the vendor has none: StateSet Voice "
        "names an agent only by its key (`providerAgentId`) and has no agent endpoint."
    )
    async def name(self, info: Info[RequestContext, None]) -> str | None:
        if self.known_name is not None:
            return self.known_name
        record = await self._load(info)
        return record.name if record else None

    @strawberry.field
    async def description(self, info: Info[RequestContext, None]) -> str | None:
        record = await self._load(info)
        return record.description if record else None

    @strawberry.field
    async def model(self, info: Info[RequestContext, None]) -> str | None:
        record = await self._load(info)
        return record.model if record else None

    @strawberry.field
    async def enabled(self, info: Info[RequestContext, None]) -> bool | None:
        record = await self._load(info)
        return record.enabled if record else None

    @strawberry.field(
        description="This agent's sessions: the same connection as "
        "`Query.sessions`, scoped to the agent."
    )
    async def sessions(
        self,
        info: Info[RequestContext, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: Annotated[SessionFilter, strawberry.lazy("graph.inputs")] | None = None,
        order_by: SessionOrder | None = None,
    ) -> Annotated[SessionConnection, strawberry.lazy("graph.connection")]:
        from graph.connection import resolve_sessions

        return await resolve_sessions(
            info,
            first,
            after,
            last,
            before,
            filter,
            order_by,
            agent=(self.provider, self.provider_agent_id),
        )


@strawberry.type(
    description="One conversation between a user and an AI agent, on any vendor.",
    directives=[ENTITY_KEY],
)
class Session(relay.Node):
    node_id: relay.NodeID[str]
    record: strawberry.Private[records.SessionRecord]  # as `audience` may read it
    audience: strawberry.Private[Audience] = EVERYTHING

    # graph.fastpath, by GraphQL field name: the value from the record, or Bail when a vendor
    # call is needed.
    __fast_fields__: ClassVar[dict[str, str]] = {
        "id": "_fast_id",
        "endedAt": "_fast_ended_at",
        "durationMs": "_fast_duration_ms",
        "transcript": "_fast_transcript",
        "toolCalls": "_fast_tool_calls",
        "flowSteps": "_fast_flow_steps",
        "recording": "_fast_recording",
    }

    @classmethod
    def make(cls, record: records.SessionRecord, audience: Audience = EVERYTHING) -> Session:
        return cls(
            node_id=session_node_id(record, audience.tag),
            record=audience.shown(record),
            audience=audience,
        )

    def _fast_id(self) -> relay.GlobalID:
        return relay.GlobalID("Session", self.node_id)

    def _loaded(self) -> records.SessionDetails:
        details = self.record.details
        if details is None:
            raise Bail
        return details

    def _fast_ended_at(self) -> datetime | None:
        if self.record.ended_at is None and self.record.details is None:
            raise Bail
        return self.record.ended_at

    def _fast_duration_ms(self) -> int | None:
        if self.record.duration_ms is None and self.record.details is None:
            raise Bail
        return self.record.duration_ms

    def _fast_transcript(self) -> Transcript:
        return Transcript.of(self._loaded().transcript)

    def _fast_tool_calls(self) -> Sequence[records.ToolCall]:
        return self._loaded().tool_calls

    def _fast_flow_steps(self) -> Sequence[records.FlowStep]:
        return self._loaded().flow_steps

    def _fast_recording(self) -> Recording | None:
        return cast("Recording | None", self._loaded().recording)  # records.Recording: the same

    async def _full(self, info: Info[RequestContext, None]) -> records.SessionRecord | None:
        """The record with details, fetched through the request's loader when the list endpoint
        did not carry them; None when that fetch failed. The failure is reported once for the
        whole request (the loader hands one exception to every session of a failed batch) and
        nulls only this session's detail fields: never the page, never another vendor's."""
        if self.record.details is None:
            try:
                full = await info.context.loaders.session(self.record.ref, self.record)
            except Exception as exc:  # a bug in an adapter included: reported, logged, contained
                info.context.report_detail_failure(info, exc, self.record.provider)
                return None
            if full is not None:
                self.record = self.audience.shown(full)
        return self.record

    async def _details(self, info: Info[RequestContext, None]) -> records.SessionDetails | None:
        full = await self._full(info)
        if full is None:
            return None
        return full.details or records.SessionDetails()  # a session gone since it was listed

    @strawberry.field
    def provider(self) -> Provider:
        return self.record.provider

    @strawberry.field(description="The vendor's own id of the session.")
    def provider_session_id(self) -> str:
        return self.record.id

    @strawberry.field
    def status(self) -> SessionStatus:
        return self.record.status

    @strawberry.field(description="The vendor's own status value.")
    def raw_status(self) -> str:
        return self.record.raw_status

    @strawberry.field
    def started_at(self) -> datetime:
        return self.record.started_at

    @strawberry.field
    async def ended_at(self, info: Info[RequestContext, None]) -> datetime | None:
        if self.record.ended_at is None and self.record.details is None:
            full = await self._full(info)
            return full.ended_at if full is not None else None
        return self.record.ended_at

    @strawberry.field(description="Length of the session in milliseconds (null while active).")
    async def duration_ms(self, info: Info[RequestContext, None]) -> int | None:
        if self.record.duration_ms is None and self.record.details is None:
            full = await self._full(info)
            return full.duration_ms if full is not None else None
        return self.record.duration_ms

    @strawberry.field
    def channel(self) -> Channel | None:
        return self.record.channel

    @strawberry.field
    def raw_channel(self) -> str | None:
        return self.record.raw_channel

    @strawberry.field(description="inbound or outbound, where the vendor says.")
    def direction(self) -> str | None:
        return self.record.direction

    @strawberry.field(description="Who talked to the agent: a phone number, user or driver.")
    def caller(self) -> str | None:
        return self.record.caller

    @strawberry.field(description="The number or address the agent answered on.")
    def callee(self) -> str | None:
        return self.record.callee

    @strawberry.field
    def title(self) -> str | None:
        return self.record.title

    @strawberry.field
    def summary(self) -> str | None:
        return self.record.summary

    @strawberry.field
    def tags(self) -> list[Tag]:
        return cast("list[Tag]", self.record.tags)  # records.Tag: the same attributes

    @strawberry.field
    def parameters(self) -> list[Parameter]:
        return cast("list[Parameter]", self.record.parameters)  # records.Parameter: the same

    @strawberry.field(description="Vendor-specific extras (e.g. QA state, vehicle, customer).")
    def metadata(self) -> JSON:
        return JSON(dict(self.record.metadata))

    @strawberry.field
    def agent(self) -> Agent | None:
        if self.record.agent_id is None:
            return None
        return Agent.make(
            self.record.provider,
            self.record.agent_id,
            self.record.agent_name,
            tag=self.audience.tag,
        )

    # The detail fields are nullable: null (with one error for the failed vendor call) when the
    # detail fetch failed. An empty list would claim the session had none.

    @strawberry.field(description="Null when the vendor's detail call failed (see `errors`).")
    async def transcript(self, info: Info[RequestContext, None]) -> Transcript | None:
        details = await self._details(info)
        if details is None:
            return None
        return Transcript.of(details.transcript)

    @strawberry.field(description="Null when the vendor's detail call failed (see `errors`).")
    async def tool_calls(self, info: Info[RequestContext, None]) -> list[ToolCall] | None:
        details = await self._details(info)
        if details is None:
            return None
        return cast("list[ToolCall]", details.tool_calls)  # records.ToolCall: the same

    @strawberry.field(
        description="Vonage's flow path; empty for other vendors; null when the vendor's "
        "detail call failed (see `errors`)."
    )
    async def flow_steps(self, info: Info[RequestContext, None]) -> list[FlowStep] | None:
        details = await self._details(info)
        if details is None:
            return None
        return cast("list[FlowStep]", details.flow_steps)  # records.FlowStep: the same

    @strawberry.field(
        description="Null when the session has none, or when the vendor's detail call failed."
    )
    async def recording(self, info: Info[RequestContext, None]) -> Recording | None:
        details = await self._details(info)
        if details is None or details.recording is None:
            return None
        return cast("Recording", details.recording)
