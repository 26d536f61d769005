"""The agents connection and an agent's own sessions."""

from __future__ import annotations

from typing import Any

from providers.records import Provider
from tests.conftest import Gateway
from tests.oracles import expected_records

AGENTS = """query($first: Int, $after: String, $providers: [Provider!]) {
  agents(first: $first, after: $after, providers: $providers) {
    edges { cursor node { id provider providerAgentId name } }
    pageInfo { hasNextPage endCursor } totalCount sources { provider ok }
  }
}"""


def expected_agents(gateway: Gateway) -> list[tuple[str, str]]:
    agents = set()
    for provider, simulator in gateway.simulators.items():
        agents.update((provider.name, a) for a in simulator.agent_ids())
        agents.update(
            (provider.name, r.agent_id) for r in expected_records(simulator) if r.agent_id
        )
    return sorted(agents, key=lambda a: (Provider[a[0]].value, a[1]))


async def test_agents_are_configured_and_seen_ones_paged_in_order(gateway: Gateway) -> None:
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        body = await gateway.query(AGENTS, first=4, after=after)
        assert "errors" not in body, body
        connection = body["data"]["agents"]
        seen += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert [(a["provider"], a["providerAgentId"]) for a in seen] == expected_agents(gateway)
    assert connection["totalCount"] == len(seen)
    vectara = [a for a in seen if a["provider"] == "VECTARA"]
    assert vectara and all(a["name"] for a in vectara)  # from GET /v2/agents/{key}


async def test_agent_discovery_is_cached_across_requests(gateway: Gateway) -> None:
    await gateway.query(AGENTS, first=100)
    gateway.clear_logs()
    await gateway.query(AGENTS, first=100, providers=["STATESET", "VONAGE", "SAMSARA"])
    assert sum(gateway.calls().values()) == 0


async def test_an_agents_sessions_are_that_agents_only(gateway: Gateway) -> None:
    body = await gateway.query(AGENTS, first=100, providers=["VONAGE"])
    agent = body["data"]["agents"]["edges"][0]["node"]
    sessions = await gateway.query(
        """query($id: ID!) { agent(id: $id) { ... on Agent { sessions(first: 100) {
           nodes { providerSessionId agent { providerAgentId } } } } } }""",
        id=agent["id"],
    )
    nodes = sessions["data"]["agent"]["sessions"]["nodes"]
    truth = [
        r
        for r in expected_records(gateway.simulators[Provider.VONAGE])
        if r.agent_id == agent["providerAgentId"]
    ]
    assert len(nodes) == len(truth) > 0
    assert {n["agent"]["providerAgentId"] for n in nodes} == {agent["providerAgentId"]}


async def test_a_foreign_agents_cursor_is_bad_user_input(gateway: Gateway) -> None:
    body = await gateway.query(AGENTS, first=2, after="nope")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
