"""CORS (graph/cors.py): which browser origins may read answers, and preflights answered.
Live mode allows none unless configured; demo mode the loopback origins."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from graph.app import create_app
from graph.settings import ConfigError, load_settings
from resolvers.sources import build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.support import FakeClock

LIVE = {
    "STATESET_VOICE_API_KEY": "k",
    "STATESET_VOICE_BASE_URL": "http://127.0.0.1:9",
    "SESSIONGRAPH_AUTH": "off",
}
QUERY = {"query": "{ providers { name } }"}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def ask(environ: dict[str, str], origin: str) -> tuple[httpx.Response, httpx.Response]:
    """(the preflight's answer, a POST's answer) from `origin`, over demo simulators."""
    settings = load_settings({"SESSIONGRAPH_INDEX_URL": "off", **environ})
    sources = demo_sources(
        simulators=build_simulators(size=5, anchor=ANCHOR, clock=FakeClock(ANCHOR))
    )
    app = create_app(settings, sources=sources)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            preflight = await client.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
            answer = await client.post("/graphql", json=QUERY, headers={"Origin": origin})
    return preflight, answer


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000"])
async def test_demo_mode_lets_loopback_frontends_read_answers(origin: str) -> None:
    preflight, answer = await ask({}, origin)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert answer.status_code == 200 and answer.json()["data"]["providers"]
    assert answer.headers["access-control-allow-origin"] == origin


async def test_demo_mode_refuses_other_origins() -> None:
    preflight, answer = await ask({}, "https://evil.example")
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


async def test_configured_origins_are_allowed_and_only_they() -> None:
    environ = {"SESSIONGRAPH_CORS_ORIGINS": "https://app.example.com, https://admin.example.com"}
    preflight, answer = await ask(environ, "https://admin.example.com")
    assert preflight.headers["access-control-allow-origin"] == "https://admin.example.com"
    assert answer.headers["access-control-allow-origin"] == "https://admin.example.com"
    _, other = await ask(environ, "http://localhost:5173")  # not loopback once configured
    assert "access-control-allow-origin" not in other.headers


async def test_a_star_allows_any_origin() -> None:
    _, answer = await ask({"SESSIONGRAPH_CORS_ORIGINS": "*"}, "https://anyone.example")
    assert answer.headers["access-control-allow-origin"] == "*"


def test_live_mode_allows_no_origin_by_default() -> None:
    assert not load_settings(LIVE).cors.enabled
    assert load_settings({}).cors.enabled  # demo


@pytest.mark.parametrize(
    "origins",
    ["https://app.example.com/", "app.example.com", "https://*.example.com", "ftp://x.example"],
)
def test_an_origin_that_could_never_match_is_a_configuration_error(origins: str) -> None:
    with pytest.raises(ConfigError, match=r"SESSIONGRAPH_CORS_ORIGINS: .* is not an origin"):
        load_settings({**LIVE, "SESSIONGRAPH_CORS_ORIGINS": origins})


def test_the_config_file_takes_a_list_of_origins(tmp_path: Path) -> None:
    config = tmp_path / "sessiongraph.toml"
    config.write_text(
        '[sessiongraph]\ncors_origins = ["https://a.example", "http://b.example:8080"]\n'
    )
    policy = load_settings({**LIVE, "SESSIONGRAPH_CONFIG": str(config)}).cors
    assert policy.origins == ("https://a.example", "http://b.example:8080")
