"""graph.fastpath against graphql-core's own executor: two gateways over identical simulators,
one compiling sync subtrees and one not, must give the same JSON (data, errors, nulls, paths)
for generated queries with generated arguments (hypothesis-graphql over our schema), for
hand-written ones that reach every type with real ids, and with a vendor's detail calls failing.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

import graph.app
from graph.fastpath import FastExecutionContext
from graph.schema import build_schema, schema
from providers.records import Provider
from tests.conftest import Gateway, running_gateway
from tests.graph.fuzzing import representation_nodes

SIZE = 40
DETAILS_PAGE = """
query Page($first: Int, $details: Boolean!) {
  sessions(first: $first) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor late
      node {
        __typename id provider providerSessionId status rawStatus startedAt endedAt durationMs
        channel rawChannel direction caller callee title summary metadata
        tags { name category count } parameters { name value type }
        agent { id name providerAgentId provider }
        transcript @include(if: $details) { text turns { speaker rawSpeaker text offsetMs at } }
        toolCalls @include(if: $details) {
          name arguments output status error callId offsetMs at durationMs
        }
        flowSteps @skip(if: false) {
          nodeId type requestId executionTimeMs responseCode url tags
        }
        recording { url expiresAt }
        again: provider
      }
    }
    nodes { id }
    sources { provider ok queried errorCode message truncated exhausted fromIndex indexState }
  }
}
"""
NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename id
    ... on Session { provider startedAt transcript { turns { text } } agent { name model } }
    ... on Agent { name enabled sessions(first: 2) { edges { node { id status } } } }
  }
}
"""


@asynccontextmanager
async def gateway_pair() -> AsyncIterator[tuple[Gateway, Gateway]]:
    """The same demo data twice: with the compiled path (the app's default) and without."""
    async with running_gateway(size=SIZE) as fast:
        standard_schema = functools.partial(build_schema, fast_execution=False)
        with _patched(graph.app, "build_schema", standard_schema):
            standard_gateway = running_gateway(size=SIZE)
            standard = await standard_gateway.__aenter__()
        try:
            yield fast, standard
        finally:
            await standard_gateway.__aexit__(None, None, None)


@contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    """What a client reads, less `extensions` (cost figures, the same for both anyway)."""
    return {key: value for key, value in body.items() if key != "extensions"}


async def _same(pair: tuple[Gateway, Gateway], query: str, **variables: Any) -> dict[str, Any]:
    fast, standard = pair
    expected = _answer(await standard.query(query, **variables))
    got = _answer(await fast.query(query, **variables))
    assert got == expected
    return got


@contextmanager
def counting_fallbacks() -> Iterator[list[str]]:
    """The object types graphql-core completed itself while the compiled path was on."""
    seen: list[str] = []
    original = StrawberryGraphQLCoreExecutionContext.complete_object_value

    def spy(self: Any, return_type: graphql.GraphQLObjectType, *args: Any) -> Any:
        seen.append(return_type.name)
        return original(self, return_type, *args)

    StrawberryGraphQLCoreExecutionContext.complete_object_value = spy  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        StrawberryGraphQLCoreExecutionContext.complete_object_value = original  # type: ignore[method-assign]


async def test_a_page_with_every_field_is_the_same_and_compiled_whole() -> None:
    async with gateway_pair() as pair:
        for details in (True, False):
            await _same(pair, DETAILS_PAGE, first=30, details=details)
        with counting_fallbacks() as fallbacks:
            body = await pair[0].query(DETAILS_PAGE, first=30, details=True)
        assert "errors" not in body, body
        # Only the sessions whose agent's name must be read from the vendor (an async field)
        # left their plan, with the objects above them.
        assert set(fallbacks) <= {"SessionConnection", "SessionEdge", "Session", "Agent"}
        assert fallbacks.count("Session") == fallbacks.count("Agent") > 0
        known = DETAILS_PAGE.replace("agent { id name ", "agent { id ")
        with counting_fallbacks() as fallbacks:
            body = await pair[0].query(known, first=30, details=True)
        assert "errors" not in body, body
        # Every object of the page went through a plan, the sessions whose details were still
        # loading too (running sessions are never kept in the record cache): futures while
        # their calls were out, completed by the same plan once in.
        assert fallbacks == []


async def test_nodes_agents_and_fragments_are_the_same() -> None:
    async with gateway_pair() as pair:
        page = await _same(pair, "{ sessions(first: 12) { nodes { id agent { id } } } }")
        nodes = page["data"]["sessions"]["nodes"]
        ids = [n["id"] for n in nodes] + [n["agent"]["id"] for n in nodes if n["agent"]]
        await _same(pair, NODES, ids=[*ids, "not-an-id"])
        await _same(pair, "{ agents(first: 5) { nodes { id name description model enabled } } }")


async def test_a_vendor_whose_detail_calls_fail_gives_the_same_nulls_and_errors() -> None:
    async with gateway_pair() as pair:
        for gateway in pair:
            faults = gateway.simulators[Provider.VECTARA].faults
            faults.error_status, faults.path_pattern = 503, ".*/events.*"
        body = await _same(pair, DETAILS_PAGE, first=40, details=True)
        assert any(e["extensions"]["provider"] == "VECTARA" for e in body["errors"]), body


_DATES = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
).map(lambda moment: graphql.StringValueNode(value=moment.isoformat()))


# `_Any`: the federation's representations of `_entities`.
_SCALARS = {"DateTime": _DATES, "_Any": representation_nodes()}


@pytest.fixture(scope="module")
def generated() -> list[str]:
    """Generated queries over every root field, drawn once (hypothesis runs synchronously)."""
    found: list[str] = []

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(queries(schema._schema, custom_scalars=_SCALARS, allow_x00=False))
    def draw(query: str) -> None:
        found.append(query)

    draw()
    return found


async def test_generated_queries_give_the_same_answers(generated: list[str]) -> None:
    assert len(generated) >= 100
    async with gateway_pair() as pair:
        with_data = 0
        for query in generated:
            body = await _same(pair, query)
            with_data += bool(body.get("data"))
            # Again, through the plans kept from the first time (when they were kept).
            assert _answer(await pair[0].query(query)) == body
        assert with_data > len(generated) // 4  # not only errors: the executors were compared


@contextmanager
def counting_compiles() -> Iterator[list[str]]:
    """The object types the compiled path made a plan for (not found in any cache)."""
    seen: list[str] = []
    original = FastExecutionContext._compile_object

    def spy(self: Any, object_type: graphql.GraphQLObjectType, *args: Any) -> Any:
        seen.append(object_type.name)
        return original(self, object_type, *args)

    with _patched(FastExecutionContext, "_compile_object", spy):
        yield seen


async def test_the_plans_of_an_operation_without_directives_serve_every_request() -> None:
    plain = DETAILS_PAGE.replace(" @include(if: $details)", "").replace(" @skip(if: false)", "")
    plain = plain.replace(", $details: Boolean!", "")
    async with gateway_pair() as pair:
        with counting_compiles() as compiled:
            await _same(pair, plain, first=30)
        assert {"Session", "SessionEdge", "TranscriptTurn"} <= set(compiled)
        for first in (30, 7):
            with counting_compiles() as compiled:
                await _same(pair, plain, first=first)
            assert compiled == []


async def test_an_operation_with_directives_is_compiled_per_request_by_its_variables() -> None:
    async with gateway_pair() as pair:
        for details in (True, False, True):
            with counting_compiles() as compiled:
                body = await _same(pair, DETAILS_PAGE, first=20, details=details)
            assert "Session" in compiled
            node = body["data"]["sessions"]["edges"][0]["node"]
            assert ("transcript" in node) is details
