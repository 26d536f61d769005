"""The merged `SessionConnection` (Relay Cursor Connections spec) and its resolver."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import cast

import strawberry
from strawberry.relay import PageInfo
from strawberry.types import Info

from graph.enums import IndexState, Provider, SessionOrder
from graph.inputs import SessionFilter
from graph.lookahead import DETAIL_FIELDS, selected_names
from graph.types import Agent, Session
from providers import records
from providers.errors import UserInputError
from providers.query import SortOrder
from resolvers.agents import discover_agents
from resolvers.connection import Edge, PageArgs, SourceOutcome, fetch_sessions
from resolvers.context import RequestContext
from resolvers.filters import SessionFilterSpec
from resolvers.nodes import agent_node_id
from resolvers.redaction import Redactor

__all__ = [
    "AgentConnection",
    "SessionConnection",
    "SessionEdge",
    "SourceStatus",
    "resolve_agents",
    "resolve_sessions",
]


_TOTAL = "totalCount"
_START = "startCursor"
# Turns of the event loop given to a page's started detail calls before its whole nodes are
# completed. Measured (in-process timeline of the bench's merged page, Vectara's five event
# calls): 0 turns sent them 3.0 ms after the merge, 6 turns 1.5 ms, 8 turns 1.0-1.2 ms, as
# when the resolver awaited them. A turn with nothing else ready costs microseconds.
_TURNS_TO_SEND = 8


@strawberry.type
class SessionEdge:
    edge: strawberry.Private[Edge]
    node: Session
    late: bool = strawberry.field(
        description="True when this session sorts before the cursor it was asked after: its "
        "vendor failed on an earlier page and was resumed, so nothing is lost."
    )

    @strawberry.field
    def cursor(self) -> str:
        return self.edge.cursor


@strawberry.type(description="How one vendor answered this page.")
class SourceStatus:
    provider: Provider
    queried: bool = strawberry.field(
        description="False when the filter ruled the vendor out or the vendor is not configured."
    )
    ok: bool
    error_code: str | None
    message: str | None
    truncated: bool = strawberry.field(
        description="The vendor promises no order, so sessionGraph scans and sorts; the scan "
        "stopped at the configured cap and sessions may be missing."
    )
    exhausted: bool = strawberry.field(description="Nothing more from this vendor.")
    from_index: bool = strawberry.field(
        default=False,
        description="Answered from the session index, without a vendor list call (vendors "
        "that promise no order, once their index is READY or STALE).",
    )
    index_state: IndexState | None = strawberry.field(
        default=None,
        description="The session index's state for this vendor's lists in this query; null "
        "for vendors always asked live (they order and filter by time themselves).",
    )
    indexed_at: datetime | None = strawberry.field(
        default=None,
        description="When the index answered: the time of its last sync (the oldest of the "
        "lists read).",
    )

    @classmethod
    def from_outcome(cls, outcome: SourceOutcome) -> SourceStatus:
        return cls(
            provider=outcome.provider,
            queried=outcome.queried,
            ok=outcome.ok,
            error_code=outcome.error.code if outcome.error else None,
            message=outcome.error.message if outcome.error else None,
            truncated=outcome.truncated,
            exhausted=outcome.exhausted,
            from_index=outcome.indexed_at is not None,
            index_state=IndexState(outcome.index_state) if outcome.index_state else None,
            indexed_at=outcome.indexed_at,
        )


@strawberry.type(description="Sessions from every vendor in one order, with one cursor.")
class SessionConnection:
    edges: list[SessionEdge]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        description="Sessions matching the query, when every vendor can count them; else null."
    )
    sources: list[SourceStatus]
    # Some nodes are futures (their details are loading): graph.fastpath completes the others
    # at once and each of those when it is done (`graph.fastpath.WAITING`).
    fastpath_waiting: strawberry.Private[bool] = False

    @strawberry.field(description="The edges' nodes, for clients that need no cursors.")
    def nodes(self) -> list[Session]:
        return [edge.node for edge in self.edges]


async def resolve_sessions(
    info: Info[RequestContext, None],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: SessionFilter | None,
    order_by: SessionOrder | None,
    agent: tuple[records.Provider, str] | None = None,
) -> SessionConnection:
    context = info.context
    audience = context.audience
    spec = filter.to_spec(audience.tag) if filter is not None else SessionFilterSpec()
    if isinstance(audience.redact, Redactor):  # a viewer: no filter may probe for a number
        audience.redact.refuse_probes(spec)
    if agent is not None:
        spec = spec.with_agent(*agent)
    order = order_by.sort_order if order_by is not None else SortOrder.NEWEST_FIRST
    selected = selected_names(info)
    with_details = not DETAIL_FIELDS.isdisjoint(selected)
    page = await fetch_sessions(
        context.sources.listers,
        spec,
        order,
        PageArgs(first, after, last, before),
        context.codec,
        context.limits,
        now=context.sources.clock.now(),
        with_details=with_details,
        with_total=_TOTAL in selected,
        on_listed=context.loaders.prefetch if with_details else None,
    )
    for outcome in page.sources:
        if outcome.error is not None:
            context.report(info, outcome.error)
    if with_details:
        nodes = [_node_with_details(e.record, context) for e in page.edges]
    else:
        nodes = [Session.make(e.record, audience) for e in page.edges]
    waiting = any(not isinstance(node, Session) for node in nodes)
    if waiting:
        # The started calls go out before graphql-core completes the whole nodes, which holds
        # the loop for a few milliseconds: they need some turns of it to reach the network
        # (the loader's dispatch, its batch, one task per call, the adapter's own fan-out).
        for _ in range(_TURNS_TO_SEND):
            await asyncio.sleep(0)
    edges = [
        # A node still loading is a future of it (see `_node_with_details`).
        SessionEdge(edge=e, node=cast("Session", node), late=e.late)
        for e, node in zip(page.edges, nodes, strict=True)
    ]
    return SessionConnection(
        fastpath_waiting=waiting,
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            # Signed when selected only (most clients read `endCursor` alone).
            start_cursor=page.start_cursor if _START in selected else None,
            end_cursor=page.end_cursor,  # on a page without edges too, when a walk stopped
        ),
        total_count=page.total,
        sources=[SourceStatus.from_outcome(o) for o in page.sources],
    )


def _node_with_details(
    record: records.SessionRecord, context: RequestContext
) -> Session | asyncio.Future[Session]:
    """A node of a page whose details are selected. When its list entry has none, their
    fetch starts now (every such session of the page at once; a batched vendor's may already
    be under way, `Loaders.prefetch`) and the node is a future of the session with them: the
    resolver returns at once and graphql-core completes the nodes that are whole while the
    others' vendor calls are out, then each of those as its details come in. A failed fetch
    gives the listed session: its detail fields meet the failure (the loader keeps it) and
    null only themselves, with their own path."""
    audience = context.audience
    if record.details is not None:
        return Session.make(record, audience)
    loading = context.loaders.start(record)
    if loading.done():
        return Session.make(_loaded(loading) or record, audience)
    node: asyncio.Future[Session] = asyncio.get_running_loop().create_future()

    def settle(loading: asyncio.Future[records.SessionRecord | None]) -> None:
        if node.done():  # cancelled with the request that awaited it: nobody reads it now
            return
        try:
            node.set_result(Session.make(_loaded(loading) or record, audience))
        except Exception as exc:  # a bug: the node's error, not a request left waiting
            node.set_exception(exc)

    loading.add_done_callback(settle)
    return node


def _loaded(loading: asyncio.Future[records.SessionRecord | None]) -> records.SessionRecord | None:
    """The fetched record; None when the fetch failed or the session is gone."""
    if loading.cancelled() or loading.exception() is not None:
        return None
    return loading.result()


@strawberry.type
class AgentEdge:
    cursor: str
    node: Agent


@strawberry.type(
    description="Agents of every vendor, by provider then id: the configured ones "
    "and those seen on sessions of the default window."
)
class AgentConnection:
    edges: list[AgentEdge]
    page_info: PageInfo
    total_count: int
    sources: list[SourceStatus]

    @strawberry.field
    def nodes(self) -> list[Agent]:
        return [edge.node for edge in self.edges]


async def resolve_agents(
    info: Info[RequestContext, None],
    providers: list[Provider] | None,
    first: int | None,
    after: str | None,
) -> AgentConnection:
    context = info.context
    count = context.limits.default_page_size if first is None else first
    if not 0 <= count <= context.limits.max_page_size:
        raise UserInputError(f"`first` must be 0 to {context.limits.max_page_size}")
    wanted = set(providers) if providers else set(records.Provider)
    adapters = {p: a for p, a in context.sources.adapters.items() if p in wanted}
    agents, errors = await discover_agents(
        adapters,
        context.limits.default_window_days,
        context.limits.scan_cap,
        context.sources.cache,
        now=context.sources.clock.now(),
    )
    failed = {error.provider: error for error in errors}
    for error in errors:
        context.report(info, error)
    sources = [
        SourceStatus.from_outcome(
            SourceOutcome(
                p, ok=p not in failed, error=failed.get(p), queried=p in adapters, exhausted=True
            )
        )
        for p in sorted(wanted)
    ]
    # Keyset on (provider, id): the cursor is the agent's node id, found again in the list.
    tag = info.context.audience.tag
    cursors = [agent_node_id(a.provider, a.id, tag) for a in agents]
    start = 0
    if after is not None:
        if after not in cursors:
            raise UserInputError("`after` is not a cursor of this agent list")
        start = cursors.index(after) + 1
    edges = [
        AgentEdge(
            cursor=cursors[i],
            node=Agent.make(agents[i].provider, agents[i].id, agents[i].name, tag=tag),
        )
        for i in range(start, min(start + count, len(agents)))
    ]
    return AgentConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=start + count < len(agents),
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=len(agents),
        sources=sources,
    )
