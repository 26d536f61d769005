"""What a query may cost, in vendor calls, known before any vendor is called.

`graph.cost` reads the operation (document and variables) into asks: the connections, agent
lists and id lookups it requests, and what each asks of every session or agent it reaches.
`Pricing` prices them with each adapter's own bounds (`Adapter.list_call_bound`,
`Adapter.detail_call_bound`) and this server's limits:

    sessions(n)   Σ vendors list_call_bound(vendor query, n + 1)
                  + the worst split of the n sessions among those vendors of
                    Σ vendor detail_call_bound(k) (when a field needs details)
                                 + k * per session
    per session   1 agent lookup (when agent name/description/model/enabled is selected)
                  + every Agent.sessions below, scoped to one agent of that vendor
    agents(n)     Σ vendors ⌈scan cap / 100⌉ * list_call_bound(default window, 100)
                  + n * the costliest vendor's per agent
    node(s),      per Session id detail_call_bound(1), twice when only lazy times need the
    _entities     details (a summary first); per Agent id 1 lookup; plus per session / agent
    deleteSession 1 for a vendor that can delete, else 0 (refused before any call)

A figure is a worst case, retries aside: the request's loaders and caches often make fewer
calls, never more.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from providers.adapter import Adapter, SessionLister
from providers.errors import UserInputError
from providers.query import SessionQuery, SortOrder
from providers.records import Provider
from resolvers.connection import PagingLimits
from resolvers.filters import SessionFilterSpec, resolve_window

__all__ = [
    "DISCOVERY_PAGE",
    "AgentAsk",
    "AgentsAsk",
    "Ask",
    "ConnectionAsk",
    "DeleteAsk",
    "LookupAsk",
    "Pricing",
    "SessionAsk",
    "worst_split",
]

# Agent discovery (resolvers.agents) reads sessions in pages of this size, up to the scan cap.
DISCOVERY_PAGE = 100
# A connection under `Session.agent` is scoped to one agent whose id the document cannot know:
# bounds depend on how many agents a query names, never on which.
_ONE_AGENT = "agent"


@dataclass(frozen=True, slots=True)
class AgentAsk:
    """What a selection asks of each agent it reaches."""

    record: bool = False  # a field read from the agent lookup (name, description, …)
    sessions: tuple[ConnectionAsk, ...] = ()  # each `Agent.sessions` selected (aliases count)

    def __or__(self, other: AgentAsk) -> AgentAsk:
        return AgentAsk(self.record or other.record, self.sessions + other.sessions)


@dataclass(frozen=True, slots=True)
class SessionAsk:
    """What a selection asks of each session it reaches."""

    details: bool = False  # a field that needs the vendor's detail call
    agent: AgentAsk = AgentAsk()

    def __or__(self, other: SessionAsk) -> SessionAsk:
        return SessionAsk(self.details or other.details, self.agent | other.agent)


@dataclass(frozen=True, slots=True)
class ConnectionAsk:
    """One `sessions` connection: its validated filter, order and paging arguments."""

    spec: SessionFilterSpec
    order: SortOrder
    first: int | None
    last: int | None
    lookahead: bool  # a detail field anywhere below: the list calls carry details
    each: SessionAsk


@dataclass(frozen=True, slots=True)
class AgentsAsk:
    """One `agents` list: discovery over the vendors, then a page of agents."""

    providers: frozenset[Provider] | None
    first: int | None
    each: AgentAsk


@dataclass(frozen=True, slots=True)
class LookupAsk:
    """`node`, `nodes`, `session`, `agent`, `_entities`: the vendors of the ids asked, one entry
    per id."""

    sessions: tuple[Provider, ...]
    agents: tuple[Provider, ...]
    lookahead: bool  # a detail field below: sessions are fetched with their details
    session: SessionAsk
    agent: AgentAsk


@dataclass(frozen=True, slots=True)
class DeleteAsk:
    """`deleteSession`: the vendor of the id asked; None for an id refused before any call."""

    provider: Provider | None


Ask = ConnectionAsk | AgentsAsk | LookupAsk | DeleteAsk


class Pricing:
    """Prices asks against one request's adapters and limits (see the module's formula)."""

    def __init__(
        self,
        adapters: Mapping[Provider, Adapter],
        limits: PagingLimits,
        now: datetime,
        listers: Mapping[Provider, SessionLister] | None = None,
    ) -> None:
        self.adapters = adapters
        # What pages each vendor: the index's lister prices what it will do (no list call
        # once READY), the adapter otherwise.
        self.listers: Mapping[Provider, SessionLister] = listers or adapters
        self.limits = limits
        self.now = now
        # Aliases repeat the same connection: each distinct one is priced once per request.
        self._connections: dict[tuple[ConnectionAsk, Provider | None], int] = {}

    def total(self, asks: Iterable[Ask]) -> int:
        return sum(self.price(ask) for ask in asks)

    def price(self, ask: Ask) -> int:
        if isinstance(ask, ConnectionAsk):
            return self.connection(ask)
        if isinstance(ask, AgentsAsk):
            return self._agents(ask)
        if isinstance(ask, DeleteAsk):
            return self._delete(ask)
        return self._lookup(ask)

    def _delete(self, ask: DeleteAsk) -> int:
        adapter = self.adapters.get(ask.provider) if ask.provider is not None else None
        return 1 if adapter is not None and adapter.can_delete else 0

    def connection(self, ask: ConnectionAsk, agent_of: Provider | None = None) -> int:
        """One page of `ask`; scoped to one agent of `agent_of` for `Agent.sessions`."""
        key = (ask, agent_of)
        if key not in self._connections:
            self._connections[key] = self._connection(ask, agent_of)
        return self._connections[key]

    def _connection(self, ask: ConnectionAsk, agent_of: Provider | None) -> int:
        count = self._page_size(ask.first, ask.last)
        if count is None:
            return 0  # refused by the resolver before any vendor call
        spec = ask.spec if agent_of is None else ask.spec.with_agent(agent_of, _ONE_AGENT)
        try:
            window = resolve_window(spec, self.limits.default_window_days, self.now)
        except UserInputError:
            return 0
        order = ask.order if ask.last is None else _reversed(ask.order)
        wanted = spec.providers or frozenset(self.adapters)
        list_calls = 0
        per_vendor: list[tuple[int, ...]] = []
        for provider in sorted(wanted & self.adapters.keys()):
            query = spec.query_for(provider, window, order, self.limits.scan_cap, ask.lookahead)
            if query is None:
                continue  # the filter rules the vendor out: no call
            adapter = self.adapters[provider]
            # The resolver asks each vendor for one more session than the page holds.
            list_calls += self.listers[provider].list_call_bound(query, count + 1)
            per_vendor.append(self._sessions_cost(adapter, ask.each, count))
        return list_calls + worst_split(tuple(per_vendor), count)

    def _sessions_cost(self, adapter: Adapter, each: SessionAsk, count: int) -> tuple[int, ...]:
        """What 0 … `count` sessions of one vendor on a page cost beyond its list calls."""
        per_session = self._agent_cost(adapter.provider, each.agent)
        return tuple(
            (adapter.detail_call_bound(n) if each.details else 0) + n * per_session
            for n in range(count + 1)
        )

    def _agent_cost(self, provider: Provider, ask: AgentAsk) -> int:
        """What one agent of `provider` costs: its lookup and its connections."""
        lookup = 1 if ask.record else 0
        return lookup + sum(self.connection(c, agent_of=provider) for c in ask.sessions)

    def _agents(self, ask: AgentsAsk) -> int:
        count = self._page_size(ask.first, None)
        if count is None:
            return 0
        providers = ask.providers or frozenset(self.adapters)
        adapters = [self.adapters[p] for p in sorted(providers & self.adapters.keys())]
        if not adapters:
            return 0
        days = timedelta(days=self.limits.default_window_days)
        query = SessionQuery(
            started_after=self.now - days, started_before=self.now, scan_cap=self.limits.scan_cap
        )
        pages = math.ceil(self.limits.scan_cap / DISCOVERY_PAGE)
        discovery = sum(pages * a.list_call_bound(query, DISCOVERY_PAGE) for a in adapters)
        per_agent = max(self._agent_cost(a.provider, ask.each) for a in adapters)
        return discovery + count * per_agent

    def _lookup(self, ask: LookupAsk) -> int:
        cost = 0
        for provider, count in Counter(ask.sessions).items():
            adapter = self.adapters.get(provider)
            if adapter is None:
                continue  # PROVIDER_NOT_CONFIGURED, before any call
            fetch = adapter.detail_call_bound(count)
            # Without a detail field the sessions come as summaries; a lazy time that needs
            # the details then fetches them too.
            refetch = fetch if ask.session.details and not ask.lookahead else 0
            cost += fetch + refetch + count * self._agent_cost(provider, ask.session.agent)
        for provider, count in Counter(ask.agents).items():
            if provider in self.adapters:
                # The lookup is made whatever the fields: `node` must know the agent exists.
                lookup = self._agent_cost(provider, replace(ask.agent, record=True))
                cost += count * lookup
        return cost

    def _page_size(self, first: int | None, last: int | None) -> int | None:
        """The page's size; None for arguments the resolver refuses."""
        if first is not None and last is not None:
            return None
        count = first if first is not None else last
        if count is None:
            return self.limits.default_page_size
        return count if 0 <= count <= self.limits.max_page_size else None


@lru_cache(maxsize=256)
def worst_split(costs: tuple[tuple[int, ...], ...], count: int) -> int:
    """The most the vendors' costs add up to when at most `count` sessions are shared among
    them in the worst way (`costs[v][k]`: vendor v's cost for k sessions). A page's sessions can
    come from any vendor: pricing each vendor at the full page would count `count` sessions per
    vendor, up to four times the page."""
    best = [0] * (count + 1)  # best[k]: the worst cost of at most k sessions so far
    for cost in costs:
        best = [max(best[k - n] + cost[n] for n in range(k + 1)) for k in range(count + 1)]
    return best[count]


def _reversed(order: SortOrder) -> SortOrder:
    """Backward pages walk the vendors in the opposite order."""
    if order is SortOrder.NEWEST_FIRST:
        return SortOrder.OLDEST_FIRST
    return SortOrder.NEWEST_FIRST
