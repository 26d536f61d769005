"""End to end through the HTTP app in demo mode: GraphQL in, JSON out."""

from __future__ import annotations

from typing import Any

import pytest

from providers.records import Provider
from tests.conftest import SIZE, Gateway
from tests.oracles import expected_records

SESSIONS = """
query Sessions($first: Int, $after: String, $filter: SessionFilter, $order: SessionOrder) {
  sessions(first: $first, after: $after, filter: $filter, orderBy: $order) {
    edges { cursor node { id provider providerSessionId status startedAt
      transcript { turns { speaker text } } toolCalls { name arguments status } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
    sources { provider queried ok errorCode truncated }
  }
}
"""


async def walk(gateway: Gateway, first: int, **filter_: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    for _ in range(500):
        body = await gateway.query(SESSIONS, first=first, after=after, filter=filter_)
        assert "errors" not in body, body
        connection = body["data"]["sessions"]
        nodes.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("no end")


async def test_healthz_says_demo_mode(gateway: Gateway) -> None:
    response = await gateway.client.get("/healthz")
    assert response.json() == {
        "status": "ok",
        "mode": "demo",
        "providers": ["samsara", "stateset", "vectara", "vonage"],
    }


async def test_providers_are_the_four_simulators(gateway: Gateway) -> None:
    body = await gateway.query("{ providers { name mode enabled } }")
    assert body["data"]["providers"] == [
        {"name": p.name, "mode": "DEMO", "enabled": True} for p in Provider
    ]


async def test_first_page_mixes_every_vendor_newest_first(gateway: Gateway) -> None:
    body = await gateway.query(SESSIONS, first=40)
    connection = body["data"]["sessions"]
    starts = [edge["node"]["startedAt"] for edge in connection["edges"]]
    assert len(starts) == 40
    assert starts == sorted(starts, reverse=True)
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["pageInfo"]["hasPreviousPage"] is False
    assert [s["ok"] for s in connection["sources"]] == [True] * 4


async def test_paging_one_vendor_to_the_end_returns_every_session_once(gateway: Gateway) -> None:
    for provider in Provider:
        nodes = await walk(gateway, 10, providers=[provider.name])
        ids = [node["providerSessionId"] for node in nodes]
        truth = expected_records(gateway.simulators[provider])
        assert len(nodes) == SIZE
        assert sorted(n["id"] for n in nodes) == sorted(set(n["id"] for n in nodes))
        expected = sorted(truth, key=lambda r: r.sort_key, reverse=True)
        assert ids == [r.id for r in expected]
        with_turns = [n for n in nodes if n["transcript"]["turns"]]
        assert len(with_turns) == len([r for r in truth if r.details and r.details.transcript])
        tools = sum(len(n["toolCalls"]) for n in nodes)
        assert tools == sum(len(r.details.tool_calls) for r in truth if r.details)


async def test_a_session_refetches_by_its_node_id(gateway: Gateway) -> None:
    body = await gateway.query(SESSIONS, first=30)
    for edge in body["data"]["sessions"]["edges"]:
        node = edge["node"]
        again = await gateway.query(
            "query($id: ID!) { node(id: $id) { ... on Session { id providerSessionId status "
            "transcript { turns { text } } } } }",
            id=node["id"],
        )
        assert again["data"]["node"]["providerSessionId"] == node["providerSessionId"]
        assert again["data"]["node"]["status"] == node["status"]
        assert again["data"]["node"]["transcript"]["turns"] == [
            {"text": t["text"]} for t in node["transcript"]["turns"]
        ]


async def test_bad_input_is_typed_never_a_traceback(gateway: Gateway) -> None:
    cases = {
        "{ sessions(first: -1) { totalCount } }": "BAD_USER_INPUT",
        "{ sessions(first: 101) { totalCount } }": "BAD_USER_INPUT",
        '{ sessions(after: "garbage") { totalCount } }': "BAD_USER_INPUT",
        '{ node(id: "nope") { id } }': "BAD_USER_INPUT",
        '{ sessions(filter: {agentIds: ["a,b"]}) { totalCount } }': "BAD_USER_INPUT",
        "{ sessions { nope } }": "GRAPHQL_VALIDATION_FAILED",
        "{ sessions ": "GRAPHQL_PARSE_FAILED",
    }
    for query, code in cases.items():
        body = await gateway.query(query)
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], (query, body)
        assert "Traceback" not in str(body)
    assert all(e.status != 0 for s in gateway.simulators.values() for e in s.log.entries)


async def test_a_bug_is_masked_as_internal_server_error(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    listed = await gateway.query(
        "{ sessions(first: 1, filter: {providers: [VONAGE]}) { edges { node { id } } } }"
    )
    node_id = listed["data"]["sessions"]["edges"][0]["node"]["id"]
    adapter = gateway.sources.adapters[Provider.VONAGE]

    async def broken(*_: Any) -> None:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(adapter, "get_sessions", broken)
    body = await gateway.query(
        "query($id: ID!) { node(id: $id) { ... on Session { transcript { text } } } }", id=node_id
    )
    assert body["errors"] == [
        {
            "message": "Internal server error.",
            "locations": [{"line": 1, "column": 19}],
            "path": ["node"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert "secret detail" not in str(body)
    assert "secret detail of a bug" in caplog.text  # logged for us, with its traceback
