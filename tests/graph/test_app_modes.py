"""The app's two modes as a client sees them: demo (the built-in simulators) and live (only the
vendors whose credential is set), and a cursor secret made up per process."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.settings import load_settings
from providers.records import Provider
from resolvers.sources import Sources, build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.support import FakeClock

PAGE = """query($after: String) { sessions(first: 3, after: $after) {
  edges { node { id } } pageInfo { endCursor } } }"""


@asynccontextmanager
async def client_of(
    environ: dict[str, str], sources: Sources | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings({"SESSIONGRAPH_INDEX_URL": "off", **environ}), sources=sources)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client


async def ask(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def demo(clock: FakeClock) -> Sources:
    simulators = build_simulators(size=10, seed=3, anchor=ANCHOR, clock=clock)
    return demo_sources(simulators=simulators, clock=clock)


def relay_id(type_name: str, node: str) -> str:
    return base64.b64encode(f"{type_name}:{node}".encode()).decode()


async def test_demo_mode_from_settings_alone(caplog: pytest.LogCaptureFixture) -> None:
    environ = {
        "SESSIONGRAPH_DEMO_SIZE": "6",
        "SESSIONGRAPH_DEMO_SEED": "4",
        "SESSIONGRAPH_DEMO_ANCHOR": ANCHOR.isoformat(),
        "SESSIONGRAPH_CURSOR_SECRET": "modes",
    }
    with caplog.at_level(logging.WARNING, logger="sessiongraph"):
        async with client_of(environ) as client:
            health = (await client.get("/healthz")).json()
            providers = await ask(client, "{ providers { name mode enabled } }")
    assert health == {"status": "ok", "mode": "demo", "providers": [p.value for p in Provider]}
    assert providers["data"]["providers"] == [
        {"name": p.name, "mode": "DEMO", "enabled": True} for p in Provider
    ]
    assert (
        "demo mode: no vendor credential is set, serving the four built-in simulators "
        "(6 sessions each)" in caplog.text
    )
    assert "SESSIONGRAPH_CURSOR_SECRET is not set" not in caplog.text


async def test_live_mode_serves_only_the_vendors_with_a_credential() -> None:
    environ = {
        # Nothing listens there: this test must not need a vendor.
        "VONAGE_AI_STUDIO_API_KEY": "a-key",
        "VONAGE_AI_STUDIO_BASE_URL": "http://127.0.0.1:9",
        "SAMSARA_API_TOKEN": "a-token",
        "SAMSARA_BASE_URL": "http://127.0.0.1:9",
        "SAMSARA_AGENT_IDS": "fleet-1, fleet-2",
        "SESSIONGRAPH_CURSOR_SECRET": "modes",
        "SESSIONGRAPH_AUTH": "off",
    }
    async with client_of(environ) as client:
        health = (await client.get("/healthz")).json()
        providers = await ask(client, "{ providers { name mode enabled agentIds } }")
        stateset = await ask(
            client,
            "query($id: ID!) { node(id: $id) { id } }",
            id=relay_id("Session", "stateset|sess-1|support_primary||stream-1"),
        )
        vectara = await ask(
            client,
            "query($id: ID!) { agent(id: $id) { ... on Agent { name } } }",
            id=relay_id("Agent", "vectara|agt_billing"),
        )
    assert health == {"status": "ok", "mode": "live", "providers": ["samsara", "vonage"]}
    assert providers["data"]["providers"] == [
        {"name": "SAMSARA", "mode": "LIVE", "enabled": True, "agentIds": ["fleet-1", "fleet-2"]},
        {"name": "STATESET", "mode": "LIVE", "enabled": False, "agentIds": []},
        {"name": "VECTARA", "mode": "LIVE", "enabled": False, "agentIds": []},
        {"name": "VONAGE", "mode": "LIVE", "enabled": True, "agentIds": []},
    ]
    # An id of a vendor this server does not query: said so, with the vendor named.
    for body, path, provider in ((stateset, "node", "STATESET"), (vectara, "agent", "VECTARA")):
        assert body["data"] == {path: None}
        assert [(e["path"], e["extensions"]) for e in body["errors"]] == [
            ([path], {"code": "PROVIDER_NOT_CONFIGURED", "provider": provider, "retryable": False})
        ]
        assert body["errors"][0]["message"] == f"{provider} is not configured on this server"


async def test_without_a_cursor_secret_cursors_work_only_in_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(ANCHOR)
    with caplog.at_level(logging.WARNING, logger="sessiongraph"):
        async with client_of({}, sources=demo(clock)) as one:
            first = await ask(one, PAGE)
            cursor = first["data"]["sessions"]["pageInfo"]["endCursor"]
            same_process = await ask(one, PAGE, after=cursor)
    assert "SESSIONGRAPH_CURSOR_SECRET is not set" in caplog.text
    assert "errors" not in same_process
    assert same_process["data"]["sessions"]["edges"]
    async with client_of({}, sources=demo(clock)) as restarted:
        other_process = await ask(restarted, PAGE, after=cursor)
    assert [e["extensions"]["code"] for e in other_process["errors"]] == ["BAD_USER_INPUT"]
