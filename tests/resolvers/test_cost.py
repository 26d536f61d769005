"""The pricing formula (resolvers.cost) on adapters whose bounds the test states, so every
expected figure is worked out by hand here, not by the code under test."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from providers.adapter import Adapter
from providers.query import SessionQuery, SortOrder
from providers.records import Provider
from resolvers.connection import PagingLimits
from resolvers.cost import (
    AgentAsk,
    AgentsAsk,
    ConnectionAsk,
    LookupAsk,
    Pricing,
    SessionAsk,
    worst_split,
)
from resolvers.filters import AgentScope, SessionFilterSpec

NOW = datetime(2026, 11, 1, tzinfo=UTC)
LIMITS = PagingLimits(default_window_days=90, default_page_size=20, max_page_size=100)


class StubAdapter:
    """States its bounds and remembers what it was asked."""

    def __init__(
        self, provider: Provider, list_calls: int, details: Callable[[int], int] = lambda n: n
    ) -> None:
        self.provider = provider
        self.list_calls = list_calls
        self.details = details
        self.asked: list[tuple[SessionQuery, int]] = []

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        self.asked.append((query, limit))
        return self.list_calls

    def detail_call_bound(self, sessions: int) -> int:
        return self.details(sessions)


def pricing(*stubs: StubAdapter) -> Pricing:
    adapters = {stub.provider: cast(Adapter, stub) for stub in stubs}
    return Pricing(adapters, LIMITS, NOW)


def four(list_calls: int = 3) -> list[StubAdapter]:
    return [StubAdapter(p, list_calls) for p in Provider]


def sessions(
    first: int | None = None,
    last: int | None = None,
    each: SessionAsk | None = None,
    **spec: Any,
) -> ConnectionAsk:
    return ConnectionAsk(
        spec=SessionFilterSpec(**spec),
        order=SortOrder.NEWEST_FIRST,
        first=first,
        last=last,
        lookahead=False,
        each=each or SessionAsk(),
    )


DETAILS = SessionAsk(details=True)


def test_worst_split_puts_the_sessions_where_they_cost_most() -> None:
    # One vendor batches (1 call for any number), the other pays per session: the worst page
    # gives one session to the first and the rest to the second.
    batched = (0, 1, 1, 1)
    per_session = (0, 1, 2, 3)
    assert worst_split((batched, per_session), 3) == 1 + 2
    # Four batching vendors: one session each costs four calls, whatever the page size.
    assert worst_split(((0,) + (1,) * 100,) * 4, 100) == 4
    assert worst_split((), 10) == 0
    assert worst_split(((0, 7),), 0) == 0


def test_a_page_costs_each_vendors_list_bound_and_its_worst_details() -> None:
    stubs = four(list_calls=3)
    price = pricing(*stubs)
    assert price.total([sessions(first=10)]) == 4 * 3
    # Details at one call per session: 10 sessions, wherever they come from.
    assert price.total([sessions(first=10, each=DETAILS)]) == 4 * 3 + 10
    # Every vendor was asked for one more session than the page holds.
    assert {limit for stub in stubs for _, limit in stub.asked} == {11}


def test_the_default_page_size_and_backward_pages() -> None:
    stubs = four(list_calls=1)
    price = pricing(*stubs)
    assert price.total([sessions(each=DETAILS)]) == 4 + 20  # SESSIONGRAPH_DEFAULT_PAGE_SIZE
    assert price.total([sessions(last=5, each=DETAILS)]) == 4 + 5
    # A backward page walks the vendors the other way.
    assert stubs[0].asked[-1][0].order is SortOrder.OLDEST_FIRST


def test_the_filter_narrows_the_vendors_priced() -> None:
    price = pricing(*four(list_calls=3))
    one = sessions(first=10, each=DETAILS, providers=frozenset({Provider.VONAGE}))
    assert price.total([one]) == 3 + 10
    # Agent ids of one vendor rule the others out, without a call.
    scoped = sessions(first=5, agents=AgentScope(by_provider=((Provider.SAMSARA, "a1"),)))
    assert price.total([scoped]) == 3


@pytest.mark.parametrize(
    "ask",
    [
        sessions(first=101),
        sessions(first=-1),
        sessions(first=1, last=1),
        sessions(first=5, started_after=datetime(2027, 1, 1, tzinfo=UTC)),  # after now
    ],
    ids=["over-max", "negative", "first-and-last", "window-in-the-future"],
)
def test_arguments_the_resolver_refuses_cost_nothing(ask: ConnectionAsk) -> None:
    assert pricing(*four()).total([ask]) == 0


def test_nested_agent_sessions_multiply_by_the_page() -> None:
    """Each session's agent runs its own connection, scoped to that agent's vendor: one
    vendor's list bound each (the agent's), at the worst vendor."""
    samsara, stateset = StubAdapter(Provider.SAMSARA, 2), StubAdapter(Provider.STATESET, 7)
    price = pricing(samsara, stateset)
    nested = sessions(first=3)
    each = SessionAsk(agent=AgentAsk(record=True, sessions=(nested,)))
    # The page's list calls, then 4 sessions x (1 agent lookup + the costlier vendor's 7).
    assert price.total([sessions(first=4, each=each)]) == (2 + 7) + 4 * (1 + 7)
    # The nested connection is scoped to one agent of that vendor.
    query, limit = stateset.asked[-1]
    assert (query.agent_ids, limit) == (("agent",), 4)


def test_aliases_count_each_time() -> None:
    price = pricing(*four(list_calls=2))
    one = sessions(first=10, each=DETAILS)
    assert price.total([one, one, one]) == 3 * (4 * 2 + 10)


def test_agent_discovery_reads_the_scan_cap_in_pages_of_a_hundred() -> None:
    stubs = four(list_calls=3)
    price = pricing(*stubs)
    pages = math.ceil(2000 / 100)  # the default scan cap
    ask = AgentsAsk(providers=None, first=5, each=AgentAsk(record=True))
    assert price.total([ask]) == 4 * pages * 3 + 5 * 1
    assert {limit for stub in stubs for _, limit in stub.asked} == {100}
    only = AgentsAsk(providers=frozenset({Provider.VECTARA}), first=None, each=AgentAsk())
    assert price.total([only]) == pages * 3
    assert price.total([AgentsAsk(providers=None, first=500, each=AgentAsk())]) == 0
    assert pricing().total([AgentsAsk(providers=None, first=5, each=AgentAsk())]) == 0


def test_lookups_cost_the_detail_bound_per_vendor_and_one_call_per_agent() -> None:
    batched = StubAdapter(Provider.SAMSARA, 1, details=lambda n: math.ceil(n / 100))
    per_session = StubAdapter(Provider.VECTARA, 1, details=lambda n: 2 * n)
    price = pricing(batched, per_session)
    ids = (Provider.SAMSARA,) * 3 + (Provider.VECTARA,) * 2 + (Provider.VONAGE,)
    with_details = LookupAsk(ids, (), lookahead=True, session=DETAILS, agent=AgentAsk())
    assert price.total([with_details]) == 1 + 2 * 2  # Vonage is not configured: refused
    # Only a lazy time selected: summaries first, then the details for the time.
    lazy = LookupAsk(ids, (), lookahead=False, session=DETAILS, agent=AgentAsk())
    assert price.total([lazy]) == 2 * (1 + 2 * 2)
    agents = LookupAsk(
        (),
        (Provider.VECTARA, Provider.VECTARA),
        lookahead=False,
        session=SessionAsk(),
        agent=AgentAsk(sessions=(sessions(first=5),)),
    )
    assert price.total([agents]) == 2 * (1 + 1)  # the lookup and the agent's connection


def test_a_backward_page_of_the_oldest_first_order_walks_newest_first() -> None:
    stub = StubAdapter(Provider.VONAGE, 1)
    oldest = ConnectionAsk(
        spec=SessionFilterSpec(),
        order=SortOrder.OLDEST_FIRST,
        first=None,
        last=4,
        lookahead=False,
        each=SessionAsk(),
    )
    assert pricing(stub).total([oldest]) == 1
    assert [(query.order, limit) for query, limit in stub.asked] == [(SortOrder.NEWEST_FIRST, 5)]


def test_an_id_of_a_vendor_not_configured_costs_nothing() -> None:
    ask = LookupAsk((), (Provider.VONAGE,), lookahead=False, session=SessionAsk(), agent=AgentAsk())
    assert pricing(StubAdapter(Provider.SAMSARA, 1)).total([ask]) == 0
