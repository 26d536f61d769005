"""Authentication (graph/auth.py): API keys as `Authorization: Bearer <key>`, known by their
SHA-256; 401 UNAUTHENTICATED without one; demo mode open on loopback only; live vendors refuse
to start without keys unless SESSIONGRAPH_AUTH=off."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.auth import ApiKey, AuthPolicy
from graph.serving import check_open_host
from graph.settings import ConfigError, Settings, load_settings
from resolvers.principal import Role
from resolvers.sources import build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.support import FakeClock

KEY = "sg_live_0123456789abcdef"
LIVE = {"STATESET_VOICE_API_KEY": "k", "STATESET_VOICE_BASE_URL": "http://127.0.0.1:9"}
QUERY = {"query": "{ sessions(first: 2) { nodes { id } } }"}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def ask(
    settings: Settings, *requests: tuple[str, str, dict[str, Any]]
) -> list[httpx.Response]:
    """Each (method, path, httpx options) asked of a demo app with `settings`, in order."""
    sources = demo_sources(
        simulators=build_simulators(size=5, anchor=ANCHOR, clock=FakeClock(ANCHOR))
    )
    app = create_app(settings, sources=sources)
    answers = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for method, path, options in requests:
                answers.append(await client.request(method, path, **options))
    return answers


def demo_with_key() -> Settings:
    return load_settings({"SESSIONGRAPH_INDEX_URL": "off", "SESSIONGRAPH_API_KEY": KEY})


async def test_a_known_key_reads_and_anything_else_is_401_unauthenticated() -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    answers = await ask(
        demo_with_key(),
        ("POST", "/graphql", {"json": QUERY, "headers": bearer}),
        ("POST", "/graphql", {"json": QUERY, "headers": {"Authorization": f"bearer  {KEY} "}}),
        ("POST", "/graphql", {"json": QUERY}),
        ("POST", "/graphql", {"json": QUERY, "headers": {"Authorization": "Bearer nope"}}),
        ("POST", "/graphql", {"json": QUERY, "headers": {"Authorization": f"Basic {KEY}"}}),
        ("POST", "/graphql", {"json": QUERY, "headers": {"Authorization": "Bearer " + "x" * 600}}),
        ("GET", "/graphql", {"params": QUERY}),
        ("GET", "/graphql", {"params": QUERY, "headers": bearer}),
    )
    ok, ok_case, missing, unknown, basic, huge, get_missing, get_ok = answers
    for answer in (ok, ok_case, get_ok):
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["data"]["sessions"]["nodes"]) == 2
    for answer in (missing, unknown, basic, huge, get_missing):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Bearer realm="sessiongraph"'
        body = answer.json()
        assert set(body) == {"errors"}
        assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
        assert KEY not in answer.text
    assert "Bearer <key>" in missing.json()["errors"][0]["message"]
    assert "not known" in unknown.json()["errors"][0]["message"]


async def test_graphiql_page_and_preflight_need_no_key() -> None:
    """A browser loads the page and asks the preflight without the key; it sends the key
    with each operation (GraphiQL's headers tab)."""
    settings = replace(demo_with_key(), cors=load_settings({}).cors)
    page, preflight = await ask(
        settings,
        ("GET", "/graphql", {"headers": {"Accept": "text/html"}}),
        (
            "OPTIONS",
            "/graphql",
            {
                "headers": {
                    "Origin": "http://localhost:5173",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                }
            },
        ),
    )
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


async def test_demo_mode_without_keys_is_open() -> None:
    settings = load_settings({"SESSIONGRAPH_INDEX_URL": "off"})
    assert settings.auth.required is False
    (answer,) = await ask(settings, ("POST", "/graphql", {"json": QUERY}))
    assert answer.status_code == 200 and answer.json()["data"]["sessions"]["nodes"]


def test_live_vendors_without_keys_refuse_to_start_and_say_why() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(LIVE)
    assert "SESSIONGRAPH_API_KEY" in str(refused.value)
    assert "SESSIONGRAPH_AUTH=off" in str(refused.value)
    opened = load_settings({**LIVE, "SESSIONGRAPH_AUTH": "off"})
    assert opened.auth.required is False and opened.auth_off
    keyed = load_settings({**LIVE, "SESSIONGRAPH_API_KEY": KEY})
    assert keyed.auth.required
    (only,) = keyed.auth.keys.values()
    assert only == ApiKey(f"key-{sha(KEY)[:8]}", sha(KEY), "default", Role.ADMIN)
    # Off wins over keys: said on purpose.
    assert not load_settings(
        {**LIVE, "SESSIONGRAPH_API_KEY": KEY, "SESSIONGRAPH_AUTH": "off"}
    ).auth.required
    with pytest.raises(ConfigError, match="SESSIONGRAPH_AUTH must be on or off"):
        load_settings({**LIVE, "SESSIONGRAPH_AUTH": "maybe"})


@pytest.mark.parametrize(
    ("host", "open_ok"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("gateway.example", False),
    ],
)
def test_open_demo_serves_loopback_only(host: str, open_ok: bool) -> None:
    demo = load_settings({})
    if open_ok:
        check_open_host(demo, host)
    else:
        with pytest.raises(ConfigError, match="loopback only"):
            check_open_host(demo, host)
    # A key, or auth off on purpose, serves any interface.
    check_open_host(load_settings({"SESSIONGRAPH_API_KEY": KEY}), host)
    check_open_host(load_settings({"SESSIONGRAPH_AUTH": "off"}), host)


def write(tmp_path: Path, text: str) -> dict[str, str]:
    config = tmp_path / "sessiongraph.toml"
    config.write_text(text)
    return {"SESSIONGRAPH_CONFIG": str(config)}


def test_keys_and_tenants_from_toml(tmp_path: Path) -> None:
    env = write(
        tmp_path,
        '[vonage]\napi_key = "default-vonage"\n'
        '[tenants.acme.vonage]\napi_key = "acme-vonage"\n'
        '[tenants.acme.stateset]\napi_key = "acme-stateset"\n'
        f'[[keys]]\nsha256 = "{sha("viewer-key").upper()}"\ntenant = "acme"\nrole = "viewer"\n'
        f'[[keys]]\nsha256 = "{sha("admin-key")}"\nrole = "admin"\nid = "ops"\n',
    )
    settings = load_settings(env)
    assert set(settings.tenants) == {"default", "acme"}
    acme = settings.other_tenants["acme"]
    assert {p.value for p in acme} == {"vonage", "stateset"}
    assert {v.tenant for v in acme.values()} == {"acme"}
    assert {v.credential.reveal() for v in acme.values()} == {"acme-vonage", "acme-stateset"}
    assert settings.auth.keys[sha("viewer-key")].principal().tenant == "acme"
    assert settings.auth.keys[sha("viewer-key")].role is Role.VIEWER
    assert settings.auth.keys[sha("admin-key")].key_id == "ops"
    # The same vendor and credential in two tenants: two cache scopes.
    assert (
        settings.providers[next(iter(settings.providers))].cache_scope
        != next(iter(acme.values())).cache_scope
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[keys]]\nsha256 = "abc"\nrole = "admin"\n', "64 hex digits"),
        (f'[[keys]]\nsha256 = "{sha("k")}"\nrole = "root"\n', "viewer, reviewer or admin"),
        (f'[[keys]]\nsha256 = "{sha("k")}"\nrole = "admin"\ntenant = "ghost"\n', "not configured"),
        (f'[[keys]]\nsha256 = "{sha("k")}"\nrole = "admin"\nkey = "k"\n', "unknown setting"),
        (
            f'[[keys]]\nsha256 = "{sha("k")}"\nrole = "admin"\n'
            f'[[keys]]\nsha256 = "{sha("k")}"\nrole = "viewer"\n',
            "same sha256",
        ),
        ('keys = "abc"\n', "list of tables"),
        ('[tenants.default.vonage]\napi_key = "x"\n', "top-level vendor tables"),
        ('[tenants.Acme.vonage]\napi_key = "x"\n', "lower-case"),
        ('[tenants.acme.zendesk]\napi_key = "x"\n', "is not a vendor"),
        ('[tenants.acme.vonage]\nregion = "eu"\n', "no vendor credential"),
        ('[tenants.acme]\nvonage = "x"\n', "must be a table"),
    ],
)
def test_configuration_errors_name_the_setting(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**write(tmp_path, toml), "SESSIONGRAPH_AUTH": "on"})


def test_a_policy_without_requirement_lets_every_request_in_as_the_default_admin() -> None:
    principal = AuthPolicy().authenticate(None)
    assert (principal.tenant, principal.role, principal.key_id) == ("default", Role.ADMIN, None)
