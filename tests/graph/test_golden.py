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

from graph.app import create_app
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
        load_settings({"SESSIONGRAPH_CURSOR_SECRET": "golden"}),
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


async def test_every_session_field_matches_the_hand_written_answer(
    golden: tuple[dict[str, Any], Any],
) -> None:
    body, expected = golden
    assert "errors" not in body, body.get("errors")
    sessions = body["data"]["sessions"]
    for edge in sessions["edges"]:
        edge.pop("cursor", None)  # signed, opaque: checked by the cursor tests
    assert decoded_ids(body["data"]) == expected
