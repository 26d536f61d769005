"""GraphiQL's default document (graph/static/graphiql/default.graphql) runs in demo mode:
every operation is named, needs no variables, and answers data, as tests/test_readme_examples.py
asks of the README's examples (its demo app and its idea of "answers data", imported).
"""

from __future__ import annotations

from typing import Any

import httpx
from graphql import OperationDefinitionNode, parse

from graph.graphiql import DEFAULT_DOCUMENT
from tests.test_readme_examples import demo, emptiness

__all__ = ["demo"]  # the fixture, used by name below

ALL_PROVIDERS = {"SAMSARA", "STATESET", "VECTARA", "VONAGE"}


def document() -> str:
    return DEFAULT_DOCUMENT.read_text(encoding="utf-8")


def operations() -> list[OperationDefinitionNode]:
    return [d for d in parse(document()).definitions if isinstance(d, OperationDefinitionNode)]


def test_the_document_opens_with_what_a_newcomer_needs() -> None:
    text = document()
    header = text[: text.index("\nquery ")]
    assert all(line.startswith("#") or not line for line in header.splitlines())
    assert "sessiongraph" in header
    assert "Demo mode" in header and "simulated" in header
    # Readable without scrolling sideways in GraphiQL's editor beside the result pane.
    assert max(len(line) for line in text.splitlines()) <= 62
    assert '{"Authorization": "Bearer <your key>"}' in header and "Headers tab" in header


def test_every_operation_is_named_and_needs_no_variables() -> None:
    found = operations()
    assert [op.name.value if op.name else None for op in found] == [
        "NewestSessions",
        "AgentWithSessions",
        "FailedSessions",
        "ProviderHealth",
    ]
    assert all(not op.variable_definitions for op in found)
    assert all(op.operation.value == "query" for op in found)


async def run(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": document(), "operationName": name})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, (name, body["errors"])
    return body


async def test_every_operation_answers_data_in_demo_mode(demo: httpx.AsyncClient) -> None:
    for operation in operations():
        assert operation.name is not None
        name = operation.name.value
        data = (await run(demo, name))["data"]
        assert data and all(value is not None for value in data.values()), (name, data)
        assert list(emptiness(data)) == [], name


async def test_the_first_operation_shows_sessions_with_transcripts_and_tool_calls(
    demo: httpx.AsyncClient,
) -> None:
    sessions = (await run(demo, "NewestSessions"))["data"]["sessions"]
    nodes = [edge["node"] for edge in sessions["edges"]]
    assert len(nodes) == 5
    assert {source["provider"] for source in sessions["sources"]} == ALL_PROVIDERS
    assert all(source["ok"] for source in sessions["sources"])
    assert all(node["transcript"]["turns"] for node in nodes)
    assert any(node["toolCalls"] for node in nodes)
    started = [node["startedAt"] for node in nodes]
    assert started == sorted(started, reverse=True)  # newest first


async def test_failed_sessions_are_failed_and_providers_are_the_four_simulators(
    demo: httpx.AsyncClient,
) -> None:
    failed = (await run(demo, "FailedSessions"))["data"]["sessions"]
    assert len(failed["nodes"]) == 10 and failed["pageInfo"]["hasNextPage"]
    statuses = await demo.post(
        "/graphql",
        json={
            "query": "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Session { status } } }",
            "variables": {"ids": [node["id"] for node in failed["nodes"]]},
        },
    )
    assert {node["status"] for node in statuses.json()["data"]["nodes"]} == {"FAILED"}
    providers = (await run(demo, "ProviderHealth"))["data"]["providers"]
    assert {p["name"] for p in providers} == ALL_PROVIDERS
    assert {(p["mode"], p["enabled"]) for p in providers} == {("DEMO", True)}
