"""Tenants: each key's tenant reads its own vendors through its own clients, caches and index
rows; a cursor or node id minted for one tenant is BAD_USER_INPUT for another. Two tenants
here: simulators with different data (seeds), one shared SQLite index, every cache warm."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from graph.app import create_app
from graph.auth import ApiKey, AuthPolicy
from graph.settings import load_settings
from providers.records import Provider
from providers.simulators import Simulator
from resolvers.principal import Role
from resolvers.sources import Sources, build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.oracles import expected_records
from tests.support import FakeClock

KEYS = {"default": "key-of-default", "acme": "key-of-acme"}
PAGE = """query($after: String, $p: [Provider!]) {
  sessions(first: 100, after: $after, filter: {providers: $p}) {
    edges { cursor node { id provider providerSessionId caller
      transcript { text } agent { id } } }
    pageInfo { endCursor }
  }
}"""


@dataclass
class Tenants:
    client: httpx.AsyncClient
    sources: dict[str, Sources]
    simulators: dict[str, dict[Provider, Simulator]]

    async def ask(self, tenant: str, query: str, **variables: Any) -> dict[str, Any]:
        answer = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {KEYS[tenant]}"},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def truth(self, tenant: str) -> set[tuple[str, str, str | None]]:
        """Every session the tenant's own vendors hold (from the simulators' models)."""
        return {
            (record.provider.name, record.id, record.caller)
            for simulator in self.simulators[tenant].values()
            for record in expected_records(simulator)
        }

    def calls(self, tenant: str) -> int:
        return sum(len(s.log) for s in self.simulators[tenant].values())


@asynccontextmanager
async def two_tenants(tmp_path: Path) -> AsyncIterator[Tenants]:
    clock = FakeClock(ANCHOR)
    simulators = {
        tenant: build_simulators(size=12, seed=seed, anchor=ANCHOR, clock=clock)
        for tenant, seed in (("default", 1), ("acme", 2))
    }
    sources = {
        tenant: demo_sources(simulators=sims, clock=clock, tenant=tenant)
        for tenant, sims in simulators.items()
    }
    settings = load_settings(
        {
            "SESSIONGRAPH_CURSOR_SECRET": "tenants",
            "SESSIONGRAPH_INDEX_URL": f"sqlite:///{tmp_path}/index.db",  # one, shared
        }
    )
    keys = {
        hashlib.sha256(key.encode()).hexdigest(): ApiKey(
            f"{tenant}-key", hashlib.sha256(key.encode()).hexdigest(), tenant, Role.ADMIN
        )
        for tenant, key in KEYS.items()
    }
    settings = replace(settings, auth=AuthPolicy(required=True, keys=keys))
    app = create_app(settings, sources=sources, start_sync=False)
    async with app.router.lifespan_context(app):
        for opened in sources.values():
            assert opened.index is not None
            await opened.index.syncer.run_once()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Tenants(client, sources, simulators)


def seen(body: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    assert "errors" not in body, body["errors"]
    return {
        (e["node"]["provider"], e["node"]["providerSessionId"], e["node"]["caller"])
        for e in body["data"]["sessions"]["edges"]
    }


def code(body: dict[str, Any]) -> str:
    (error,) = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return str(extensions["code"])


async def test_each_tenant_reads_only_its_own_vendors_with_every_cache_warm(
    tmp_path: Path,
) -> None:
    async with two_tenants(tmp_path) as tenants:
        default, acme = tenants.sources["default"], tenants.sources["acme"]
        assert default.index is not None and acme.index is not None
        assert default.index.store is acme.index.store  # one index, rows keyed by tenant
        truth = {tenant: tenants.truth(tenant) for tenant in KEYS}
        assert truth["default"] != truth["acme"]

        first = {tenant: seen(await tenants.ask(tenant, PAGE)) for tenant in KEYS}
        # Again, every cache and the index warm from both tenants' first pages.
        again = {tenant: seen(await tenants.ask(tenant, PAGE)) for tenant in ("acme", "default")}
        for tenant in KEYS:
            assert first[tenant] and first[tenant] <= truth[tenant]
            assert again[tenant] == first[tenant]
        assert first["default"] != first["acme"]


async def test_a_cursor_or_an_id_of_another_tenant_is_bad_user_input(tmp_path: Path) -> None:
    async with two_tenants(tmp_path) as tenants:
        page = await tenants.ask("default", PAGE, p=["VONAGE"])
        edge = page["data"]["sessions"]["edges"][0]
        session_id, agent_id = edge["node"]["id"], edge["node"]["agent"]["id"]
        mine = await tenants.ask(
            "default", "query($id: ID!) { node(id: $id) { id } }", id=session_id
        )
        assert mine["data"]["node"]["id"] == session_id

        before = tenants.calls("acme")
        asked = [
            await tenants.ask("acme", PAGE, after=edge["cursor"], p=["VONAGE"]),
            await tenants.ask("acme", "query($id: ID!) { node(id: $id) { id } }", id=session_id),
            await tenants.ask("acme", "query($id: ID!) { session(id: $id) { id } }", id=session_id),
            await tenants.ask("acme", "query($id: ID!) { node(id: $id) { id } }", id=agent_id),
            await tenants.ask(
                "acme",
                "query($a: [ID!]) { sessions(filter: {agentIds: $a}) { nodes { id } } }",
                a=[agent_id],
            ),
        ]
        for body in asked:
            assert code(body) == "BAD_USER_INPUT", body
            assert body["data"] is None or not any(body["data"].values())
        assert tenants.calls("acme") == before  # refused before any vendor call

        # And the other way: acme's ids are acme's only.
        theirs = await tenants.ask("acme", PAGE, p=["VONAGE"])
        acme_id = theirs["data"]["sessions"]["edges"][0]["node"]["id"]
        assert acme_id != session_id
        refused = await tenants.ask(
            "default", "query($id: ID!) { node(id: $id) { id } }", id=acme_id
        )
        assert code(refused) == "BAD_USER_INPUT"
        found = await tenants.ask("acme", "query($id: ID!) { node(id: $id) { id } }", id=acme_id)
        assert found["data"]["node"]["id"] == acme_id


async def test_one_tenants_failing_vendor_opens_its_breaker_only(tmp_path: Path) -> None:
    """Each tenant's vendor client has its own breaker (and rate limit, and single flight):
    acme's Vonage failing until its breaker opens costs the default tenant's Vonage nothing."""
    async with two_tenants(tmp_path) as tenants:
        failing = tenants.simulators["acme"][Provider.VONAGE]
        failing.faults.error_status = 503
        breaker = tenants.sources["acme"].adapters[Provider.VONAGE].client
        for _ in range(20):  # bounded: the policy opens after a handful of failed calls
            if breaker.health().state.name == "OPEN":
                break
            body = await tenants.ask("acme", PAGE, p=["VONAGE"])
            assert code(body) == "UPSTREAM_UNAVAILABLE"
        assert breaker.health().state.name == "OPEN"
        calls = len(failing.log)
        refused = await tenants.ask("acme", PAGE, p=["VONAGE"])
        assert code(refused) == "UPSTREAM_UNAVAILABLE" and len(failing.log) == calls

        served = await tenants.ask("default", PAGE, p=["VONAGE"])
        assert seen(served) and seen(served) <= tenants.truth("default")
        own = tenants.sources["default"].adapters[Provider.VONAGE].client
        assert own.health().state.name == "CLOSED"
