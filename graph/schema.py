"""The schema: Query, the validation limits and caches, error translation; a Federation 2
subgraph (graph/federation.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Protocol

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.federation.schema import FederationAny
from strawberry.types import ExecutionContext, Info

from graph.audit import AUDIT_DESCRIPTION, AuditRecord, resolve_audit_records
from graph.connection import (
    AgentConnection,
    SessionConnection,
    resolve_agents,
    resolve_sessions,
)
from graph.cost import cost_extensions
from graph.enums import BreakerState, IndexState, Provider, ProviderMode, SessionOrder
from graph.errors import PartialErrors, is_expected
from graph.fastpath import FastExecutionContext
from graph.federation import FEDERATION_VERSION, MAX_IDS, representation_ids, self_contained
from graph.hooks import CachedHooksRunner
from graph.inputs import SessionFilter
from graph.introspection import EVERYONE, IntrospectionPolicy, SchemaDisclosure
from graph.lookahead import DETAIL_FIELDS, selects_any
from graph.mutations import Mutation
from graph.observability import OperationObserved
from graph.quota import KeyLimits
from graph.settings import Settings
from graph.types import Agent, Session
from providers import records
from providers.adapter import Adapter
from providers.errors import ProviderError, UserInputError
from resolvers.context import RequestContext
from resolvers.nodes import parse_agent_node_id, parse_session_node_id
from resolvers.sources import Sources

__all__ = ["ProviderHealth", "Query", "build_schema", "schema"]

Ctx = Info[RequestContext, None]
log = logging.getLogger("sessiongraph")


class _Health(Protocol):
    """What `VendorClient.health()` returns, as read here: its state by name."""

    @property
    def state(self) -> Enum: ...
    @property
    def failures(self) -> int: ...
    @property
    def since(self) -> datetime | None: ...


@strawberry.type(description="A vendor's circuit breaker, as this server process sees it.")
class ProviderHealth:
    state: BreakerState
    failures: int = strawberry.field(
        description="Failures and timeouts counted towards opening the breaker."
    )
    since: datetime | None = strawberry.field(
        description="When the breaker entered `state`; null when it has never left CLOSED."
    )

    @classmethod
    def of(cls, health: _Health) -> ProviderHealth:
        # By name: the breaker's own enum stays in providers/, unknown to GraphQL.
        return cls(
            state=BreakerState[health.state.name], failures=health.failures, since=health.since
        )


@strawberry.type(description="A vendor this server can query.")
class ProviderInfo:
    name: Provider
    mode: ProviderMode
    enabled: bool
    sources: strawberry.Private[Sources]
    adapter: strawberry.Private[Adapter | None]

    # Resolvers, not values: read only when selected (`{ providers { name } }` is the
    # commonest query; a health snapshot per vendor was built for it every time).
    @strawberry.field(
        description="The agent ids (Samsara) or keys (Vectara) this server queries by default."
    )
    def agent_ids(self) -> list[str]:
        return list(self.adapter.default_agent_ids()) if self.adapter else []

    @strawberry.field(description="Its circuit breaker; null when the vendor is not configured.")
    def health(self) -> ProviderHealth | None:
        return ProviderHealth.of(self.adapter.client.health()) if self.adapter else None

    @strawberry.field(
        description="Its session index (vendors that promise no order); state OFF for the others."
    )
    async def index(self) -> ProviderIndex:
        # Read from the index store only when asked (a count per vendor).
        return await ProviderIndex.of(self.sources, self.adapter)


@strawberry.type(description="A vendor's session index: how fresh, how complete.")
class ProviderIndex:
    state: IndexState
    sessions: int | None = strawberry.field(
        description="Sessions the index holds for this vendor; null when OFF."
    )
    synced_at: datetime | None = strawberry.field(
        description="The last successful sync (of the least recently synced list)."
    )
    lag_seconds: float | None = strawberry.field(
        description="Seconds since `syncedAt`: how old the freshest answer may be."
    )
    build_progress: int | None = strawberry.field(
        description="Sessions read so far by a build under way."
    )
    error: str | None = strawberry.field(
        description="Why the last sync failed (STALE, FAILED), or why there is no index."
    )

    @classmethod
    async def of(cls, sources: Sources, adapter: Adapter | None) -> ProviderIndex:
        if adapter is None or not adapter.indexed:
            return cls.without(IndexState.OFF)
        if sources.index is None:
            failed = sources.index_error is not None
            return cls.without(IndexState.FAILED if failed else IndexState.OFF, sources.index_error)
        summary = await sources.index.reader.summary(adapter)
        lag = None
        if summary.synced_at is not None:
            lag = round((sources.clock.now() - summary.synced_at).total_seconds(), 3)
        building = summary.state is IndexState.BUILDING
        return cls(
            state=summary.state,
            sessions=summary.sessions,
            synced_at=summary.synced_at,
            lag_seconds=lag,
            build_progress=summary.progress if building else None,
            error=summary.error,
        )

    @classmethod
    def without(cls, state: IndexState, error: str | None = None) -> ProviderIndex:
        return cls(
            state=state,
            sessions=None,
            synced_at=None,
            lag_seconds=None,
            build_progress=None,
            error=error,
        )


_NodeRef = records.SessionRef | tuple[records.Provider, str]  # a session, or an agent


def _node_ref(info: Ctx, global_id: str) -> _NodeRef:
    """What the id names, checked (BAD_USER_INPUT) before any vendor call."""
    tag = info.context.audience.tag
    try:
        parsed = relay.GlobalID.from_id(global_id)
    except Exception:
        raise UserInputError(f"{global_id[:60]!r} is not an id of this API") from None
    if parsed.type_name == "Session":
        return parse_session_node_id(parsed.node_id, tag)
    if parsed.type_name == "Agent":
        return parse_agent_node_id(parsed.node_id, tag)
    raise UserInputError(f"{global_id[:60]!r} is not an id of this API")


async def _load(info: Ctx, ref: _NodeRef, details: bool) -> Session | Agent | None:
    audience = info.context.audience
    loaders = info.context.loaders
    if isinstance(ref, records.SessionRef):
        record = await (loaders.session(ref) if details else loaders.summary(ref))
        return Session.make(record, audience) if record is not None else None
    provider, agent_id = ref
    agent = await loaders.agent(provider, agent_id)
    if agent is None:
        return None
    return Agent.make(provider, agent_id, record=agent, tag=audience.tag)


async def _node(info: Ctx, global_id: str, details: bool = True) -> Session | Agent | None:
    return await _load(info, _node_ref(info, global_id), details)


async def _nodes(info: Ctx, ids: Sequence[str]) -> list[Session | Agent | None]:
    """`nodes` and `_entities`: every id checked first (one malformed id refuses the field
    before any vendor call), then all loaded at once, so each vendor gets one batch."""
    refs = [_node_ref(info, global_id) for global_id in ids]
    details = selects_any(info, DETAIL_FIELDS)
    # Gathered, so every load is queued before the loaders dispatch: one batch per vendor.
    found = await asyncio.gather(
        *(_load(info, ref, details) for ref in refs), return_exceptions=True
    )
    nodes: list[Session | Agent | None] = []
    for item in found:
        if isinstance(item, ProviderError) and item.provider is not None:
            # One vendor failing costs only its own nodes: null, with one error per
            # failed vendor call (a failed batch gives each of its ids the same error).
            info.context.report_detail_failure(info, item, item.provider)
            nodes.append(None)
        elif isinstance(item, BaseException):
            raise item
        else:
            nodes.append(item)
    return nodes


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its `id`; null when it does not exist.")
    async def node(self, info: Ctx, id: strawberry.ID) -> relay.Node | None:
        return await _node(info, id, selects_any(info, DETAIL_FIELDS))

    @strawberry.field(description="Objects by `id`, in order; null for those that do not exist.")
    async def nodes(self, info: Ctx, ids: list[strawberry.ID]) -> list[relay.Node | None]:
        if len(ids) > MAX_IDS:
            raise UserInputError(f"`ids`: at most {MAX_IDS} at once")
        return list(await _nodes(info, ids))

    @strawberry.field(description="One session by its `id`; null when it does not exist.")
    async def session(self, info: Ctx, id: strawberry.ID) -> Session | None:
        node = await _node(info, id, selects_any(info, DETAIL_FIELDS))
        if node is not None and not isinstance(node, Session):
            raise UserInputError("that id is not a Session id")
        return node

    @strawberry.field(description="One agent by its `id`; null when it does not exist.")
    async def agent(self, info: Ctx, id: strawberry.ID) -> Agent | None:
        node = await _node(info, id, selects_any(info, DETAIL_FIELDS))
        if node is not None and not isinstance(node, Agent):
            raise UserInputError("that id is not an Agent id")
        return node

    @strawberry.field(description="Every vendor and whether this server queries it.")
    def providers(self, info: Ctx) -> list[ProviderInfo]:
        sources = info.context.sources
        mode = ProviderMode.DEMO if sources.demo else ProviderMode.LIVE
        return [
            ProviderInfo(
                name=provider,
                mode=mode,
                enabled=(adapter := sources.adapter(provider)) is not None,
                sources=sources,
                adapter=adapter,
            )
            for provider in records.Provider
        ]

    @strawberry.field(
        description="Sessions of every vendor (or those in `filter.providers`) "
        "in one order with one cursor. Default: newest first, 20 a page, the "
        "last 90 days."
    )
    async def sessions(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: SessionFilter | None = None,
        order_by: SessionOrder | None = None,
    ) -> SessionConnection:
        return await resolve_sessions(info, first, after, last, before, filter, order_by)

    @strawberry.field(
        description="Agents: the configured ones and those seen on sessions of the default window."
    )
    async def agents(
        self,
        info: Ctx,
        providers: list[Provider] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AgentConnection:
        return await resolve_agents(info, providers, first, after)

    @strawberry.field(description=AUDIT_DESCRIPTION)
    async def audit_records(
        self, info: Ctx, first: int = 50, after: str | None = None
    ) -> list[AuditRecord]:
        return await resolve_audit_records(info, first, after)


class SessionGraphSchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log bugs with their traceback; client mistakes not at all; vendor failures as one
        warning line each (Strawberry's default logs a traceback for every error)."""
        for error in errors:
            if is_expected(error):
                original = error.original_error
                if isinstance(original, ProviderError):
                    # The client reads the message; what broke inside is for the log only.
                    cause = original.__cause__
                    detail = f" ({type(cause).__name__}: {str(cause)[:200]})" if cause else ""
                    log.warning("vendor failure: %s%s", error.message, detail)
                continue
            log.error("unexpected error at %s", error.path, exc_info=error.original_error)

    # Strawberry's federation schema adds `_entities` with this resolver: references are
    # loaded as `nodes` loads ids. Async, where the base's is sync (it resolves each
    # reference on its own), hence the ignore.
    async def entities_resolver(  # type: ignore[override]
        self, info: Ctx, representations: list[FederationAny]
    ) -> list[Session | Agent | None]:
        return await _nodes(info, representation_ids(representations))

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        # Hooks wrapped once per hook function, not per request (graph/hooks.py).
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)

    def as_str(self) -> str:
        """The SDL of `schema.graphql`: the subgraph's (`_service { sdl }`) with the federation
        directives' definitions, for tools that know no federation (graph/federation.py)."""
        return self_contained(super().as_str())

    # The base binds `__str__` to its own `as_str`: printing the schema object gives this SDL too.
    __str__ = as_str


def build_schema(
    max_depth: int = 12,
    max_aliases: int = 30,
    max_tokens: int = 5000,
    max_cost: int = Settings.max_cost,
    fast_execution: bool = True,
    quota: KeyLimits | None = None,
    introspection: IntrospectionPolicy = EVERYONE,
) -> strawberry.Schema:
    """`fast_execution`: graph.fastpath's compiled subtrees (off: graphql-core's executor
    alone, which the differential tests compare it with). `quota`: the limits per API key
    the cost is charged to (graph/quota.py). `introspection`: who may read the schema
    (default: everyone)."""
    # The rule classes are built once: a limiter made per request would build new rule classes
    # every time and the validation cache (keyed by rules) would never hit (strawberry #4635).
    rules = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    return SessionGraphSchema(
        query=Query,
        mutation=Mutation,
        types=[Session, Agent],
        extensions=[
            OperationObserved,  # first: its time and span hold every other extension's work
            PartialErrors,
            lambda: MaxTokensLimiter(max_token_count=max_tokens),
            lambda: AddValidationRules(rules),
            lambda: ParserCache(maxsize=256),
            # Validation, cached, under the request's introspection policy.
            lambda: SchemaDisclosure(introspection),
            *cost_extensions(max_cost, quota),
        ],
        execution_context_class=FastExecutionContext if fast_execution else None,
        federation_version=FEDERATION_VERSION,
    )


schema = build_schema()
