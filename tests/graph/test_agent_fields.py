"""Agent fields (name, description, model, enabled), agents given to a filter as `Agent.id`
values, and agent discovery when a vendor fails or the scan cap stops it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from providers.query import SessionQuery
from providers.records import Provider
from providers.simulators.vectara import AGENTS
from tests.conftest import ANCHOR, Gateway, running_gateway
from tests.oracles import expected_records
from tests.oracles.select import select

AGENT = """query($id: ID!) { agent(id: $id) { ... on Agent {
  id provider providerAgentId name description model enabled } } }"""
AGENTS_QUERY = """query($providers: [Provider!]) { agents(first: 100, providers: $providers) {
  nodes { provider providerAgentId } totalCount sources { provider queried ok errorCode } } }"""
WINDOW = {
    "startedAfter": (ANCHOR - timedelta(days=100)).isoformat(),
    "startedBefore": ANCHOR.isoformat(),
}


async def agent_ids(gateway: Gateway, provider: Provider) -> dict[str, str]:
    """providerAgentId -> Agent.id, as the agents connection lists them."""
    body = await gateway.query(
        """query($p: [Provider!]) { agents(first: 100, providers: $p) {
        nodes { id providerAgentId } } }""",
        p=[provider.name],
    )
    return {n["providerAgentId"]: n["id"] for n in body["data"]["agents"]["nodes"]}


async def test_a_vectara_agents_fields_are_the_vendors(gateway: Gateway) -> None:
    ids = await agent_ids(gateway, Provider.VECTARA)
    assert set(ids) == {spec.key for spec in AGENTS}
    for spec in AGENTS:
        body = await gateway.query(AGENT, id=ids[spec.key])
        body.pop("extensions")  # the query's cost (test_query_cost.py)
        assert body == {
            "data": {
                "agent": {
                    "id": ids[spec.key],
                    "provider": "VECTARA",
                    "providerAgentId": spec.key,
                    "name": spec.name,
                    "description": spec.description,
                    "model": spec.model,
                    "enabled": spec.enabled,
                }
            }
        }


async def test_agent_fields_on_a_page_fetch_each_agent_once(gateway: Gateway) -> None:
    gateway.clear_logs()
    body = await gateway.query(
        """query($f: SessionFilter) { sessions(first: 40, filter: $f) {
        nodes { agent { providerAgentId name description model enabled } } } }""",
        f={**WINDOW, "providers": ["VECTARA"]},
    )
    agents = [node["agent"] for node in body["data"]["sessions"]["nodes"]]
    specs = {spec.key: spec for spec in AGENTS}
    assert len(agents) == 40
    for agent in agents:
        spec = specs[agent["providerAgentId"]]
        assert (agent["name"], agent["description"], agent["model"], agent["enabled"]) == (
            spec.name,
            spec.description,
            spec.model,
            spec.enabled,
        )
    fetched = [
        e.path
        for e in gateway.simulators[Provider.VECTARA].log.entries
        if e.path.count("/") == 3 and e.path.startswith("/v2/agents/")
    ]
    # One GET /v2/agents/{key} per agent on the page, however many of its sessions are there.
    assert sorted(fetched) == sorted({f"/v2/agents/{a['providerAgentId']}" for a in agents})


async def test_an_agent_without_a_vendor_record_has_null_details(gateway: Gateway) -> None:
    # StateSet has no agent endpoint: its agents are ids and nothing more.
    ids = await agent_ids(gateway, Provider.STATESET)
    key, global_id = sorted(ids.items())[0]
    body = await gateway.query(AGENT, id=global_id)
    assert body["data"]["agent"] == {
        "id": global_id,
        "provider": "STATESET",
        "providerAgentId": key,
        "name": None,
        "description": None,
        "model": None,
        "enabled": None,
    }


async def test_agent_ids_as_agent_node_ids_scope_that_vendor_only(gateway: Gateway) -> None:
    vonage = await agent_ids(gateway, Provider.VONAGE)
    vectara = await agent_ids(gateway, Provider.VECTARA)
    vonage_agent, vectara_agent = sorted(vonage)[0], "agt_billing"
    gateway.clear_logs()
    body = await gateway.query(
        """query($f: SessionFilter) { sessions(first: 100, filter: $f) {
        nodes { provider providerSessionId } sources { provider queried } } }""",
        f={**WINDOW, "agentIds": [vonage[vonage_agent], vectara[vectara_agent]]},
    )
    assert "errors" not in body, body
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=100),
        started_before=ANCHOR,
    )
    truth = select(
        [
            r
            for p, agent in ((Provider.VONAGE, vonage_agent), (Provider.VECTARA, vectara_agent))
            for r in expected_records(gateway.simulators[p])
            if r.agent_id == agent
        ],
        query,
    )
    assert 0 < len(truth) < 100
    assert body["data"]["sessions"]["nodes"] == [
        {"provider": r.provider.name, "providerSessionId": r.id} for r in truth
    ]
    # The other vendors are ruled out by the filter: not asked at all.
    assert {s["provider"]: s["queried"] for s in body["data"]["sessions"]["sources"]} == {
        "SAMSARA": False,
        "STATESET": False,
        "VECTARA": True,
        "VONAGE": True,
    }
    calls = gateway.calls()
    assert calls[Provider.SAMSARA] == calls[Provider.STATESET] == 0


async def test_a_raw_agent_id_applies_to_every_vendor(gateway: Gateway) -> None:
    body = await gateway.query(
        """query($f: SessionFilter) { sessions(first: 100, filter: $f) {
        nodes { provider providerSessionId } sources { provider queried } } }""",
        f={**WINDOW, "agentIds": ["agt_dispatch"]},
    )
    query = SessionQuery(
        started_after=ANCHOR - timedelta(days=100),
        started_before=ANCHOR,
        agent_ids=("agt_dispatch",),
    )
    truth = select([r for s in gateway.simulators.values() for r in expected_records(s)], query)
    assert truth and {r.provider for r in truth} == {Provider.VECTARA}
    assert body["data"]["sessions"]["nodes"] == [
        {"provider": "VECTARA", "providerSessionId": r.id} for r in truth
    ]
    assert all(s["queried"] for s in body["data"]["sessions"]["sources"])


def configured_and_seen(gateway: Gateway, providers: set[Provider]) -> list[dict[str, str]]:
    agents = {
        (p, a)
        for p in providers
        for a in (
            *gateway.simulators[p].agent_ids(),
            *(r.agent_id for r in expected_records(gateway.simulators[p]) if r.agent_id),
        )
    }
    return [
        {"provider": p.name, "providerAgentId": a}
        for p, a in sorted(agents, key=lambda pa: (pa[0].value, pa[1]))
    ]


async def test_a_failing_vendor_costs_only_its_own_agents(gateway: Gateway) -> None:
    gateway.simulators[Provider.VONAGE].faults.error_status = 500
    body = await gateway.query(AGENTS_QUERY, providers=None)
    assert [
        (e["path"], e["extensions"]["code"], e["extensions"]["provider"]) for e in body["errors"]
    ] == [(["agents"], "UPSTREAM_UNAVAILABLE", "VONAGE")]
    connection = body["data"]["agents"]
    others = {Provider.SAMSARA, Provider.STATESET, Provider.VECTARA}
    assert connection["nodes"] == configured_and_seen(gateway, others)
    assert connection["totalCount"] == len(connection["nodes"])
    assert connection["sources"] == [
        {"provider": "SAMSARA", "queried": True, "ok": True, "errorCode": None},
        {"provider": "STATESET", "queried": True, "ok": True, "errorCode": None},
        {"provider": "VECTARA", "queried": True, "ok": True, "errorCode": None},
        {"provider": "VONAGE", "queried": True, "ok": False, "errorCode": "UPSTREAM_UNAVAILABLE"},
    ]


async def test_a_bug_while_discovering_agents_is_masked(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("discovery bug detail")

    monkeypatch.setattr(gateway.sources.adapters[Provider.STATESET], "list_sessions", broken)
    body = await gateway.query(AGENTS_QUERY, providers=["STATESET"])
    assert body["data"] is None
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Internal server error.", {"code": "INTERNAL_SERVER_ERROR"})
    ]
    assert "discovery bug detail" not in str(body)
    assert "discovery bug detail" in caplog.text


async def test_agent_discovery_reads_at_most_the_scan_cap() -> None:
    providers = {Provider.SAMSARA, Provider.VONAGE}
    calls = {}
    for cap in ("100", "2000"):
        async with running_gateway(size=250, environ={"SESSIONGRAPH_SCAN_CAP": cap}) as gateway:
            body = await gateway.query(AGENTS_QUERY, providers=sorted(p.name for p in providers))
            assert "errors" not in body
            assert body["data"]["agents"]["nodes"] == configured_and_seen(gateway, providers)
            calls[cap] = {p: n for p, n in gateway.calls().items() if p in providers}
    # A cap of 100: one page of 100 from each ordered vendor, then discovery stops.
    assert calls["100"] == {Provider.SAMSARA: 1, Provider.VONAGE: 1}
    # Without it, the same discovery walks further: the cap is what stopped it.
    assert all(calls["2000"][p] > 1 for p in providers)
