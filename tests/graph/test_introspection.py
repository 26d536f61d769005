"""Introspection and "Did you mean" suggestions (graph/introspection.py): on in demo mode; in
live mode on only with SESSIONGRAPH_INTROSPECTION=on and an API key; refused introspection is
INTROSPECTION_DISABLED; `__typename` always allowed.

Live mode here: a StateSet credential pointing nowhere, with the app's sources replaced by
simulators (nothing is contacted)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.settings import ConfigError, Settings, load_settings
from resolvers.sources import build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.support import FakeClock

KEY = "sg_live_introspection_0123456789"
BEARER = {"Authorization": f"Bearer {KEY}"}
LIVE = {"STATESET_VOICE_API_KEY": "k", "STATESET_VOICE_BASE_URL": "http://127.0.0.1:9"}
SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Session") { name } }'
TYPENAME = "{ __typename providers { __typename name } }"
TYPO = "{ sesions { nodes { id } } }"
ENUM_VARIABLE = {
    "query": "query($p: [Provider!]) { sessions(filter: {providers: $p}) { nodes { id } } }",
    "variables": {"p": ["SAMSARAX"]},
}
ENUM_LITERAL = "{ sessions(filter: {providers: [SAMSARAX]}) { nodes { id } } }"


def settings(**env: str) -> Settings:
    return load_settings({"SESSIONGRAPH_INDEX_URL": "off", **env})


def demo() -> Settings:
    return settings()


def live(introspection: str | None = None, auth: bool = True) -> Settings:
    env = dict(LIVE)
    if introspection is not None:
        env["SESSIONGRAPH_INTROSPECTION"] = introspection
    if auth:
        env["SESSIONGRAPH_API_KEY"] = KEY
    else:
        env["SESSIONGRAPH_AUTH"] = "off"
    return settings(**env)


async def ask(
    settings: Settings, *bodies: dict[str, Any], headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """Each body POSTed to /graphql of one app, with the key (ignored when auth is off)."""
    sources = demo_sources(
        simulators=build_simulators(size=5, anchor=ANCHOR, clock=FakeClock(ANCHOR))
    )
    app = create_app(settings, sources=sources)
    answers = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for body in bodies:
                sent = {**BEARER, **(headers or {})}
                answers.append(await client.post("/graphql", json=body, headers=sent))
    return answers


def introspected(answers: list[httpx.Response]) -> None:
    by_schema, by_type = answers
    assert by_schema.json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    assert by_type.json()["data"] == {"__type": {"name": "Session"}}


def refused(answers: list[httpx.Response]) -> None:
    for answer, field in zip(answers, ("__schema", "__type"), strict=True):
        body = answer.json()
        assert body["data"] is None
        assert len(body["errors"]) == 1, body  # once, not for every field below it
        error = body["errors"][0]
        assert error["extensions"] == {"code": "INTROSPECTION_DISABLED"}
        assert field in error["message"]
        assert "SESSIONGRAPH_INTROSPECTION" in error["message"]


async def test_demo_mode_introspects() -> None:
    introspected(await ask(demo(), {"query": SCHEMA}, {"query": TYPE}))


async def test_demo_mode_with_introspection_off_does_not() -> None:
    refused(
        await ask(settings(SESSIONGRAPH_INTROSPECTION="off"), {"query": SCHEMA}, {"query": TYPE})
    )


async def test_live_mode_without_the_setting_refuses_introspection_even_with_a_key() -> None:
    refused(await ask(live(), {"query": SCHEMA}, {"query": TYPE}))


async def test_live_mode_with_the_setting_introspects_for_a_key() -> None:
    introspected(await ask(live("on"), {"query": SCHEMA}, {"query": TYPE}))


async def test_live_mode_with_the_setting_but_no_key_auth_off_refuses() -> None:
    # "Authenticated keys": with SESSIONGRAPH_AUTH=off nobody has one.
    refused(await ask(live("on", auth=False), {"query": SCHEMA}, {"query": TYPE}))


async def test_typename_is_always_allowed() -> None:
    (answer,) = await ask(live(), {"query": TYPENAME})
    body = answer.json()
    assert "errors" not in body, body
    assert body["data"]["__typename"] == "Query"
    assert body["data"]["providers"][0] == {"__typename": "ProviderInfo", "name": "SAMSARA"}


async def test_refused_introspection_is_a_400_with_the_graphql_response_media_type() -> None:
    strict = {"Accept": "application/graphql-response+json"}
    (answer,) = await ask(live(), {"query": SCHEMA}, headers=strict)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"


async def test_the_validation_cache_keeps_each_policys_answer_apart() -> None:
    # The same document, validated for one policy and then the other (one shared cache).
    introspected(await ask(demo(), {"query": SCHEMA}, {"query": TYPE}))
    refused(await ask(live(), {"query": SCHEMA}, {"query": TYPE}))
    introspected(await ask(live("on"), {"query": SCHEMA}, {"query": TYPE}))


def messages(answer: httpx.Response) -> list[str]:
    return [error["message"] for error in answer.json()["errors"]]


async def test_suggestions_when_introspection_is_on() -> None:
    typo, variable, literal = await ask(
        live("on"), {"query": TYPO}, ENUM_VARIABLE, {"query": ENUM_LITERAL}
    )
    assert "Did you mean 'sessions'" in messages(typo)[0]
    assert "Did you mean the enum value 'SAMSARA'?" in messages(variable)[0]
    assert "Did you mean the enum value 'SAMSARA'?" in messages(literal)[0]


async def test_no_suggestions_when_introspection_is_off() -> None:
    typo, variable, literal = await ask(
        live(), {"query": TYPO}, ENUM_VARIABLE, {"query": ENUM_LITERAL}
    )
    assert messages(typo) == ["Cannot query field 'sesions' on type 'Query'."]
    assert messages(variable) == [
        "Variable '$p' has invalid value at [0]: Value 'SAMSARAX' does not exist in "
        "'Provider' enum."
    ]
    assert messages(literal) == ["Value 'SAMSARAX' does not exist in 'Provider' enum."]
    for answer in (typo, variable, literal):
        assert "SAMSARA'" not in answer.text and "'sessions'" not in answer.text
        assert answer.json()["errors"][0]["extensions"]["code"] in (
            "GRAPHQL_VALIDATION_FAILED",
            "BAD_USER_INPUT",
        )


async def test_graphiql_still_loads_in_live_mode_without_introspection() -> None:
    sources = demo_sources(
        simulators=build_simulators(size=5, anchor=ANCHOR, clock=FakeClock(ANCHOR))
    )
    app = create_app(live(), sources=sources)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


def test_the_setting_is_on_or_off() -> None:
    with pytest.raises(ConfigError, match="SESSIONGRAPH_INTROSPECTION must be on or off"):
        settings(SESSIONGRAPH_INTROSPECTION="yes")


async def test_the_setting_may_come_from_toml(tmp_path: Any) -> None:
    config = tmp_path / "sessiongraph.toml"
    config.write_text('[sessiongraph]\nintrospection = "on"\n')
    on = settings(**LIVE, SESSIONGRAPH_API_KEY=KEY, SESSIONGRAPH_CONFIG=str(config))
    introspected(await ask(on, {"query": SCHEMA}, {"query": TYPE}))
