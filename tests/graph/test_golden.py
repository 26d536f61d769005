"""Golden fixtures: for every vendor, hand-written vendor JSON in, hand-written GraphQL JSON out,
over every `Session` field (tests/golden/README.md). Neither side comes from our simulators or
our mappers, so a mapping bug cannot move the expected answer."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    FieldNode,
    GraphQLObjectType,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    parse,
)

from graph.app import create_app
from graph.schema import schema
from graph.settings import load_settings
from providers.records import Provider
from providers.settings import ProviderSettings, Secret
from providers.vendors import adapter_class
from resolvers.sources import Sources

GOLDEN = Path(__file__).parent.parent / "golden"
QUERY = (GOLDEN / "session_fields.graphql").read_text()
VENDORS = sorted(p.name for p in GOLDEN.iterdir() if (p / "vendor.json").is_file())


class FixtureVendor:
    """Answers each request with the first route that matches it; remembers what did not."""

    def __init__(self, routes: list[dict[str, Any]]) -> None:
        self.routes = routes
        self.unmatched: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        for route in self.routes:
            if (
                route.get("method", "GET") == request.method
                and route["path"] == request.url.path
                and route.get("query", {}).items() <= params.items()
            ):
                return httpx.Response(route.get("status", 200), json=route["body"])
        self.unmatched.append(f"{request.method} {request.url}")
        return httpx.Response(599, text="no golden route for this request")


def decoded_ids(value: Any) -> Any:
    """The same JSON with every `id` a Relay id decoded, so the fixtures stay readable."""
    if isinstance(value, list):
        return [decoded_ids(item) for item in value]
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).decode() if key == "id" else decoded_ids(item)
            for key, item in value.items()
        }
    return value


@pytest.fixture(params=VENDORS)
async def golden(request: pytest.FixtureRequest) -> AsyncIterator[tuple[dict[str, Any], Any]]:
    folder = GOLDEN / request.param
    fixture = json.loads((folder / "vendor.json").read_text())
    expected = json.loads((folder / "expected.json").read_text())
    provider = Provider(request.param)
    vendor = FixtureVendor(fixture["routes"])
    settings = ProviderSettings(
        provider=provider,
        base_url=f"https://{provider.value}.golden",
        credential=Secret("golden-key"),
        agent_ids=tuple(fixture.get("agent_ids", ())),
    )
    adapter = adapter_class(provider).connect(settings, httpx.MockTransport(vendor))
    app = create_app(
        load_settings({"SESSIONGRAPH_CURSOR_SECRET": "golden", "SESSIONGRAPH_INDEX_URL": "off"}),
        sources=Sources(adapters={provider: adapter}, demo=False),
    )
    variables = {"filter": {**fixture["filter"], "providers": [provider.name]}}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
    ):
        response = await client.post("/graphql", json={"query": QUERY, "variables": variables})
    assert vendor.unmatched == [], "requests no golden route answers"
    yield response.json(), expected


def selected_leaves(selection: SelectionSetNode | None, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for node in selection.selections if selection else ():
        assert isinstance(node, FieldNode)
        found.add(prefix + node.name.value)
        found |= selected_leaves(node.selection_set, f"{prefix}{node.name.value}.")
    return found


def schema_fields(type_name: str, prefix: str = "", depth: int = 0) -> set[str]:
    """Every field of the type and of the object types under it (agents' own sessions aside)."""
    kind = get_named_type(schema._schema.type_map[type_name])
    assert isinstance(kind, GraphQLObjectType)
    found: set[str] = set()
    for name, field in kind.fields.items():
        found.add(prefix + name)
        inner = get_named_type(field.type)
        if isinstance(inner, GraphQLObjectType) and name != "sessions" and depth < 2:
            found |= schema_fields(inner.name, f"{prefix}{name}.", depth + 1)
    return found


def test_the_golden_query_selects_every_session_field() -> None:
    operation = parse(QUERY).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    node = next(
        leaf for leaf in selected_leaves(operation.selection_set) if leaf.endswith("edges.node")
    )
    selected = {
        leaf.removeprefix(node + ".")
        for leaf in selected_leaves(operation.selection_set)
        if leaf.startswith(node + ".")
    }
    # Agent's own fields beyond the ones a session fills are checked by the agent tests.
    expected = {f for f in schema_fields("Session") if not f.startswith("agent.")} | {
        "agent.id",
        "agent.provider",
        "agent.providerAgentId",
        "agent.name",
    }
    assert selected == expected


def test_every_vendor_has_a_golden_fixture() -> None:
    assert sorted(provider.value for provider in Provider) == VENDORS


async def test_every_session_field_matches_the_hand_written_answer(
    golden: tuple[dict[str, Any], Any],
) -> None:
    body, expected = golden
    assert "errors" not in body, body.get("errors")
    sessions = body["data"]["sessions"]
    for edge in sessions["edges"]:
        edge.pop("cursor", None)  # signed, opaque: checked by the cursor tests
    assert decoded_ids(body["data"]) == expected
