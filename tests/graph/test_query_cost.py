"""A query's cost, known before it runs: every response says `cost { estimated actual }`, a
query over SESSIONGRAPH_MAX_COST is refused with one error and no vendor call, the README's
examples pass under the default, and the estimate bounds what the vendors actually receive
(counted at the simulators' request logs)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import strawberry

from graph.app import GraphContext
from graph.cost import cost_extensions
from graph.federation import FEDERATION_VERSION
from graph.schema import Query, build_schema
from graph.settings import ConfigError, Settings, load_settings
from graph.types import Agent, Session
from providers.adapter import Adapter
from providers.budget import request_budget
from providers.records import Provider
from providers.vendors import adapter_class
from resolvers.connection import PagingLimits
from resolvers.context import Loaders
from resolvers.cursor import CursorCodec
from tests.conftest import Gateway, running_gateway

README = Path(__file__).parent.parent.parent / "README.md"
# After the README's dates (its failed-sessions example starts on 2026-11-14).
LATER = datetime(2026, 11, 21, tzinfo=UTC)
DEFAULT_MAX = 5000  # SESSIONGRAPH_MAX_COST's documented default


def readme_examples() -> list[str]:
    """The queries of the README's "Example queries" section, one per query."""
    text = README.read_text()
    section = text.split("## Example queries", 1)[1].split("\n## ", 1)[0]
    queries: list[str] = []
    for block in re.findall(r"```graphql\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if line.startswith(("{", "query")):
                queries.append(line)
            elif queries:
                queries[-1] += "\n" + line
    return queries


def many_aliases(count: int) -> str:
    one = "sessions(first: 100) { nodes { transcript { text } agent { sessions(first: 100) { nodes { transcript { text } } } } } }"  # noqa: E501
    return "{ " + " ".join(f"a{i}: {one}" for i in range(count)) + " }"


def cost(body: dict[str, Any]) -> dict[str, int]:
    figures: dict[str, int] = body["extensions"]["cost"]
    return figures


@pytest.fixture
async def later() -> AsyncIterator[Gateway]:
    async with running_gateway(anchor=LATER) as running:
        yield running


async def a_session_id(gateway: Gateway, provider: Provider) -> str:
    body = await gateway.query(
        "query($p: [Provider!]) { sessions(first: 1, filter: {providers: $p}) { nodes { id } } }",
        p=[provider.name],
    )
    gateway.clear_logs()
    node_id: str = body["data"]["sessions"]["nodes"][0]["id"]
    return node_id


def test_the_readme_has_its_examples() -> None:
    assert len(readme_examples()) == 7


@pytest.mark.parametrize("index", range(7))
async def test_every_readme_example_passes_under_the_default(later: Gateway, index: int) -> None:
    query = readme_examples()[index]
    node_id = await a_session_id(later, Provider.VECTARA)
    body = await later.query(query, id=node_id)  # `$id` where an example takes one
    assert "errors" not in body, body["errors"]
    assert cost(body)["estimated"] <= DEFAULT_MAX
    assert cost(body)["actual"] == sum(later.calls().values())


def test_the_documented_default() -> None:
    assert Settings.max_cost == DEFAULT_MAX
    assert load_settings({"SESSIONGRAPH_MAX_COST": "300"}).max_cost == 300
    with pytest.raises(ConfigError, match="SESSIONGRAPH_MAX_COST must be positive"):
        load_settings({"SESSIONGRAPH_MAX_COST": "0"})


@pytest.mark.parametrize("aliases", [30, 10])
async def test_many_aliases_of_nested_pages_are_refused_without_a_vendor_call(
    gateway: Gateway, aliases: int
) -> None:
    body = await gateway.query(many_aliases(aliases))
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["maxCost"] == DEFAULT_MAX
    assert error["extensions"]["cost"] > DEFAULT_MAX
    assert body.get("data") is None
    assert cost(body) == {"estimated": error["extensions"]["cost"], "actual": 0}
    assert gateway.calls() == dict.fromkeys(Provider, 0)


async def test_every_response_carries_its_cost(gateway: Gateway) -> None:
    for query, variables in [
        ("{ providers { name } }", {}),  # no vendor call
        ("{ nope }", {}),  # invalid
        ("{ sessions(first: ", {}),  # does not parse
        ("query($n: Int) { sessions(first: $n) { nodes { id } } }", {"n": "ten"}),
        ("{ sessions(first: 500) { nodes { id } } }", {}),  # refused by the resolver
    ]:
        body = await gateway.query(query, **variables)
        assert cost(body) == {"estimated": 0, "actual": 0}, query
    assert gateway.calls() == dict.fromkeys(Provider, 0)


PAGE = """query($n: Int, $f: SessionFilter) { sessions(first: $n, filter: $f) {
  nodes { id transcript { text } } } }"""


async def test_variables_change_the_estimate(gateway: Gateway) -> None:
    async def estimate(**variables: Any) -> int:
        body = await gateway.query(PAGE, **variables)
        assert "errors" not in body
        return cost(body)["estimated"]

    small, large = await estimate(n=5), await estimate(n=50)
    assert small < large
    one_vendor = await estimate(n=50, f={"providers": ["SAMSARA"]})
    assert one_vendor < large
    assert await estimate(f={"providers": ["SAMSARA"]}) == await estimate(
        n=20, f={"providers": ["SAMSARA"]}
    )  # the default page size


async def test_aliases_and_fragments_count(gateway: Gateway) -> None:
    one = await gateway.query("{ sessions(first: 20) { nodes { transcript { text } } } }")
    two = await gateway.query(
        """{ a: sessions(first: 20) { nodes { ...T } } b: sessions(first: 20) { ...N } }
        fragment T on Session { transcript { text } }
        fragment N on SessionConnection { edges { node { ... on Session { toolCalls { name } } } } }
        """
    )
    assert cost(two)["estimated"] == 2 * cost(one)["estimated"]
    bare = await gateway.query("{ sessions(first: 20) { nodes { id } } }")
    assert cost(bare)["estimated"] < cost(one)["estimated"]


async def test_only_the_operation_that_runs_is_priced(gateway: Gateway) -> None:
    document = "query Cheap { providers { name } } query Costly " + many_aliases(30)
    response = await gateway.client.post(
        "/graphql", json={"query": document, "operationName": "Cheap"}
    )
    body = response.json()
    assert "errors" not in body
    assert cost(body) == {"estimated": 0, "actual": 0}


def graph_context(gateway: Gateway) -> GraphContext:
    sources = gateway.sources
    return GraphContext(
        sources=sources,
        codec=CursorCodec("test-secret"),
        limits=PagingLimits(default_window_days=90, default_page_size=20, max_page_size=100),
        loaders=Loaders(sources),
    )


async def test_root_fragments_are_read_and_free_operations_price_nothing(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A priced field behind fragments at the root is priced; an operation with none is free
    without reading the vendors' state (it is most of the small queries)."""
    page = "sessions(first: 20) { nodes { transcript { text } } }"
    direct = cost(await gateway.query(f"{{ {page} }}"))["estimated"]
    through = await gateway.query(
        "{ ...Outer } fragment Outer on Query { ... on Query { ...Inner } } "
        f"fragment Inner on Query {{ {page} }}"
    )
    assert cost(through)["estimated"] == direct > 0

    def unpriceable(*_: Any, **__: Any) -> None:
        raise AssertionError("a free operation was priced")

    monkeypatch.setattr("graph.cost.Pricing", unpriceable)
    for free in [
        "{ providers { name } }",
        "{ __schema { queryType { name } } }",
        "{ ...P } fragment P on Query { providers { name health { state } } }",
    ]:
        body = await gateway.query(free)
        assert "errors" not in body, free
        assert cost(body) == {"estimated": 0, "actual": 0}


async def test_a_lower_limit_refuses_a_smaller_query(gateway: Gateway) -> None:
    schema = build_schema(max_cost=3)
    context = graph_context(gateway)
    result = await schema.execute("{ sessions(first: 5) { nodes { id } } }", context_value=context)
    assert result.errors is not None
    [error] = result.errors
    assert error.extensions == {
        "code": "QUERY_TOO_COSTLY",
        "cost": error.extensions["cost"],
        "maxCost": 3,
    }
    assert gateway.calls() == dict.fromkeys(Provider, 0)


def exact_bounds(details: bool = False) -> bool:
    """Whether every adapter states its own bounds (the base class's are placeholders)."""
    methods = ["list_call_bound"] + (["detail_call_bound"] if details else [])
    return all(
        getattr(adapter_class(p), name) is not getattr(Adapter, name)
        for p in Provider
        for name in methods
    )


def check_bound(body: dict[str, Any], gateway: Gateway, details: bool = False) -> None:
    """`actual` is what the simulators received; the estimate is at least that."""
    assert "errors" not in body, body["errors"]
    received = sum(gateway.calls().values())
    assert cost(body)["actual"] == received > 0
    assert exact_bounds(details), "every adapter states its own call bounds"
    assert cost(body)["estimated"] >= received


VARIED = [
    ("{ sessions { nodes { id status } } }", {}),
    ("{ sessions(first: 50) { nodes { transcript { text } toolCalls { name } } } }", {}),
    (
        "query($f: SessionFilter) { sessions(first: 30, orderBy: OLDEST_FIRST, filter: $f) "
        "{ nodes { id durationMs } } }",
        {"f": {"providers": ["SAMSARA", "VONAGE"]}},
    ),
    ("{ sessions(last: 10) { nodes { id recording { url } } } }", {}),
    (
        '{ sessions(first: 10, filter: {statuses: [FAILED], text: "refund"}) { nodes { id } } }',
        {},
    ),
    ("{ agents(first: 5) { nodes { name sessions(first: 3) { nodes { id } } } } }", {}),
    (
        "{ sessions(first: 5) { nodes { agent { name sessions(first: 2) "
        "{ nodes { transcript { text } } } } } } }",
        {},
    ),
    ("{ sessions(first: 20, filter: {providers: [VECTARA]}) { nodes { endedAt } } }", {}),
]


@pytest.mark.parametrize(("query", "variables"), VARIED, ids=range(len(VARIED)))
async def test_the_estimate_bounds_the_calls_the_vendors_receive(
    gateway: Gateway, query: str, variables: dict[str, Any]
) -> None:
    check_bound(await gateway.query(query, **variables), gateway)


LOOKUPS = [
    "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Session { transcript { text } } } }",
    "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Session { durationMs agent { name } } "
    "... on Agent { name sessions(first: 2) { nodes { id } } } } }",
    "query($id: ID!) { session(id: $id) { endedAt recording { url } } }",
    "query($id: ID!) { agent(id: $id) { sessions(first: 3) { nodes { toolCalls { name } } } } }",
]


@pytest.mark.parametrize("query", LOOKUPS, ids=range(len(LOOKUPS)))
async def test_the_estimate_bounds_the_calls_of_lookups(gateway: Gateway, query: str) -> None:
    listed = await gateway.query("{ sessions(first: 12) { nodes { id agent { id } } } }")
    nodes = listed["data"]["sessions"]["nodes"]
    ids = [n["id"] for n in nodes] + [n["agent"]["id"] for n in nodes if n["agent"]][:3]
    gateway.sources.cache.sessions.clear()
    gateway.sources.cache.agents.clear()
    gateway.clear_logs()
    if "$ids" in query:
        body = await gateway.query(query, ids=ids)
    else:
        agent_first = "agent(" in query
        body = await gateway.query(query, id=ids[-1] if agent_first else ids[0])
    check_bound(body, gateway, details=True)


async def test_what_cannot_run_or_cannot_apply_costs_nothing(gateway: Gateway) -> None:
    session_id = await a_session_id(gateway, Provider.VECTARA)
    session = "... on Session { transcript { text } }"
    agent = "... on Agent { sessions(first: 50) { nodes { transcript { text } } } }"
    detail = f'{{ node(id: "{session_id}") {{ __typename {session} }} }}'
    only = cost(await gateway.query(detail))["estimated"]
    assert only > 0
    # A fragment on another type does not apply to a Session id.
    other = f'{{ node(id: "{session_id}") {{ __typename {session} {agent} }} }}'
    assert cost(await gateway.query(other))["estimated"] == only
    # Ids the resolver refuses, filters it refuses: refused before any call, priced nothing.
    for query in [
        '{ node(id: "bm90IGFuIGlk") { id } }',
        '{ nodes(ids: ["U2Vzc2lvbjp4"]) { id } }',
        "{ sessions(filter: {providers: []}) { nodes { transcript { text } } } }",
        "{ agents(first: 500) { nodes { name } } }",
    ]:
        body = await gateway.query(query)
        assert cost(body)["estimated"] == 0, query
    many = ", ".join(f'"{session_id}"' for _ in range(101))
    body = await gateway.query(f"{{ nodes(ids: [{many}]) {{ id }} }}")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert cost(body) == {"estimated": 0, "actual": 0}


async def test_the_requests_own_budget_is_the_one_counted(gateway: Gateway) -> None:
    """Once the app opens a budget per request, the cost reports its count."""
    context = graph_context(gateway)
    with request_budget(None, gateway.clock) as budget:
        budget.calls = 1000  # as if counted before the operation
        result = await build_schema().execute(
            "{ sessions(first: 2) { nodes { id } } }", context_value=context
        )
    assert result.errors is None
    assert result.extensions is not None
    assert result.extensions["cost"]["actual"] == 1000 + sum(gateway.calls().values())


async def test_without_vendors_to_price_against_nothing_is_priced(gateway: Gateway) -> None:
    result = await build_schema().execute("{ providers { name } }", context_value=None)
    assert result.extensions == {"cost": {"estimated": 0, "actual": 0}}


async def test_the_rule_works_without_a_validation_cache(gateway: Gateway) -> None:
    # A federation schema, as Session and Agent carry @key (a plain one warns about it).
    schema = strawberry.federation.Schema(
        query=Query,
        types=[Session, Agent],
        extensions=cost_extensions(3),
        federation_version=FEDERATION_VERSION,
    )
    context = graph_context(gateway)
    refused = await schema.execute("{ sessions(first: 5) { nodes { id } } }", context_value=context)
    assert [e.extensions for e in refused.errors or []] == [
        {"code": "QUERY_TOO_COSTLY", "cost": cost(refused.__dict__)["estimated"], "maxCost": 3}
    ]
    invalid = await schema.execute("{ nope }", context_value=context)
    assert invalid.errors is not None and "nope" in invalid.errors[0].message
    assert gateway.calls() == dict.fromkeys(Provider, 0)


async def test_the_app_applies_the_configured_limit() -> None:
    """SESSIONGRAPH_MAX_COST reaches the served app, not only `build_schema`'s default."""
    async with running_gateway(environ={"SESSIONGRAPH_MAX_COST": "3"}) as low:
        body = await low.query("{ sessions(first: 5) { nodes { id } } }")
        [error] = body["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["extensions"]["maxCost"] == 3
        assert low.calls() == dict.fromkeys(Provider, 0)
