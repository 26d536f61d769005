"""Gateway limits per API key (graph/quota.py): requests and query cost a minute; over either,
HTTP 429 with Retry-After and `RATE_LIMITED`, before any vendor call (the simulators' logs).

The expected figures come from each test's own statement: a limit of N a minute, a request at
second 0 that frees its place at second 60 (the fake clock moves, nothing sleeps), and a query
priced at E vendor calls (E read once from an unlimited gateway, as the cost tests read it).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.quota import WINDOW_S, Window
from graph.settings import ConfigError, Settings, load_settings
from providers.records import Provider
from tests.conftest import Gateway, running_gateway

KEY = "sg_test_single_key_0123456789"
QUERY = "{ sessions(first: 2) { nodes { id } } }"  # vendor calls on every vendor
FREE = "{ providers { name } }"  # priced 0 (tests/graph/test_query_cost.py)
NONE = dict.fromkeys(Provider, 0)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def post(
    gateway: Gateway, key: str | None = KEY, query: str = QUERY, **headers: str
) -> httpx.Response:
    sent = {**(bearer(key) if key else {}), **headers}
    return await gateway.client.post("/graphql", json={"query": query}, headers=sent)


def served(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    return body


def limited(response: httpx.Response, what: str, per_minute: int, retry_after: int) -> str:
    """Checks a 429 for `what`; returns its message."""
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfter": retry_after,
        "limit": what,
        "perMinute": per_minute,
    }
    message: str = error["message"]
    assert f"{per_minute} " in message and f"{retry_after} s" in message
    return message


def env(**settings: object) -> dict[str, str]:
    return {f"SESSIONGRAPH_{name.upper()}": str(value) for name, value in settings.items()}


def keys_file(tmp_path: Path, entries: Sequence[dict[str, object]]) -> str:
    """A TOML file of `[[keys]]` entries: each `key` hashed, the rest as given."""
    lines: list[str] = []
    for entry in entries:
        lines.append("[[keys]]")
        for name, value in entry.items():
            if name == "key":
                digest = hashlib.sha256(str(value).encode()).hexdigest()
                lines.append(f'sha256 = "{digest}"')
            else:
                lines.append(f"{name} = {toml_value(value)}")
        lines.append('role = "viewer"')
    path = tmp_path / "keys.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


async def priced() -> int:
    """What QUERY is priced at, on a gateway without limits (the same seed and anchor)."""
    async with running_gateway() as gateway:
        estimate: int = (await gateway.query(QUERY))["extensions"]["cost"]["estimated"]
    assert estimate > 0
    return estimate


# --- requests a minute ---------------------------------------------------------------------


async def test_over_the_request_limit_is_429_with_retry_after_and_no_vendor_call() -> None:
    limits = env(api_key=KEY, key_requests_per_min=2, key_cost_per_min=0)
    async with running_gateway(environ=limits) as gateway:
        served(await post(gateway))
        served(await post(gateway))
        gateway.clear_logs()
        refused = await post(gateway)
        message = limited(refused, "requests", 2, 60)
        assert "2 requests a minute" in message
        assert set(refused.json()) == {"errors"}
        # GraphQL-over-HTTP's media type: the same 429, in that media type.
        strict = await post(gateway, accept="application/graphql-response+json")
        limited(strict, "requests", 2, 60)
        assert strict.headers["content-type"].startswith("application/graphql-response+json")
        # A GET operation counts the same way.
        got = await gateway.client.get("/graphql", params={"query": QUERY}, headers=bearer(KEY))
        limited(got, "requests", 2, 60)
        assert gateway.calls() == NONE


async def test_the_window_frees_a_request_sixty_seconds_after_it() -> None:
    async with running_gateway(environ=env(api_key=KEY, key_requests_per_min=1)) as gateway:
        served(await post(gateway))  # second 0
        gateway.clock.advance(30)
        limited(await post(gateway), "requests", 1, 30)
        gateway.clock.advance(29.5)
        limited(await post(gateway), "requests", 1, 1)  # 0.5 s left: a whole second
        gateway.clock.advance(0.5)  # second 60
        served(await post(gateway))
        limited(await post(gateway), "requests", 1, 60)
        # Counted from the next whole second: a request at 120.25 frees its place at 181.
        gateway.clock.advance(60.25)
        served(await post(gateway))
        limited(await post(gateway), "requests", 1, 61)
        gateway.clock.advance(60.5)  # 180.75
        limited(await post(gateway), "requests", 1, 1)
        gateway.clock.advance(0.25)
        served(await post(gateway))


async def test_the_graphiql_page_is_not_counted() -> None:
    async with running_gateway(environ=env(api_key=KEY, key_requests_per_min=1)) as gateway:
        for _ in range(3):
            page = await gateway.client.get(
                "/graphql", headers={"Accept": "text/html", **bearer(KEY)}
            )
            assert page.status_code == 200
        served(await post(gateway))


# --- cost a minute -------------------------------------------------------------------------


async def test_over_the_cost_limit_is_429_before_any_vendor_call() -> None:
    estimate = await priced()
    per_minute = 2 * estimate + estimate // 2  # two fit, a third does not
    limits = env(api_key=KEY, key_cost_per_min=per_minute, key_requests_per_min=0)
    async with running_gateway(environ=limits) as gateway:
        for _ in range(2):
            body = served(await post(gateway))
            assert body["extensions"]["cost"]["estimated"] == estimate
        gateway.clear_logs()
        refused = await post(gateway)
        message = limited(refused, "cost", per_minute, 60)
        assert "vendor calls of query cost a minute" in message
        assert refused.json()["extensions"]["cost"] == {"estimated": estimate, "actual": 0}
        strict = await post(gateway, accept="application/graphql-response+json")
        limited(strict, "cost", per_minute, 60)
        assert "data" not in strict.json()
        assert gateway.calls() == NONE
        served(await post(gateway, query=FREE))  # priced 0: fits a full window
        gateway.clock.advance(WINDOW_S)
        served(await post(gateway))


async def test_a_query_priced_over_the_keys_minute_can_never_run() -> None:
    estimate = await priced()
    async with running_gateway(environ=env(api_key=KEY, key_cost_per_min=estimate - 1)) as gateway:
        answer = await post(gateway)
        assert answer.status_code == 200 and "retry-after" not in answer.headers
        [error] = answer.json()["errors"]
        assert error["extensions"] == {
            "code": "QUERY_TOO_COSTLY",
            "cost": estimate,
            "maxCost": estimate - 1,
        }
        assert "API key" in error["message"]
        assert gateway.calls() == NONE
        served(await post(gateway, query=FREE))  # nothing was charged


async def test_a_refusal_costs_the_other_limit_at_most_its_one_request(tmp_path: Path) -> None:
    """Refused for cost: its request was counted, its cost not. Refused for requests: nothing
    else is counted (it is not even parsed)."""
    estimate = await priced()
    config = keys_file(
        tmp_path,
        [
            {"key": "key-x-0123456789", "id": "x", "requests_per_min": 2, "cost_per_min": estimate},
            {"key": "key-y-0123456789", "id": "y", "requests_per_min": 1, "cost_per_min": estimate},
        ],
    )
    async with running_gateway(environ={"SESSIONGRAPH_CONFIG": config}) as gateway:
        served(await post(gateway, "key-x-0123456789"))
        limited(await post(gateway, "key-x-0123456789"), "cost", estimate, 60)
        limited(await post(gateway, "key-x-0123456789", FREE), "requests", 2, 60)

        served(await post(gateway, "key-y-0123456789"))  # second 0
        gateway.clock.advance(1)
        limited(await post(gateway, "key-y-0123456789"), "requests", 1, 59)
        gateway.clock.advance(WINDOW_S - 1)  # second 60: had second 1 been charged, no room
        served(await post(gateway, "key-y-0123456789"))


# --- whose limits --------------------------------------------------------------------------


async def test_each_key_has_its_own_budget_and_its_own_override(tmp_path: Path) -> None:
    config = keys_file(
        tmp_path,
        [
            {"key": "key-one-0123456789", "id": "one", "requests_per_min": 1},
            {"key": "key-default-0123456789", "id": "default-limits"},
            {"key": "key-unlimited-0123456789", "id": "unlimited", "requests_per_min": 0},
        ],
    )
    limits = {"SESSIONGRAPH_CONFIG": config, **env(key_requests_per_min=3)}
    async with running_gateway(environ=limits) as gateway:
        served(await post(gateway, "key-one-0123456789"))
        limited(await post(gateway, "key-one-0123456789"), "requests", 1, 60)
        for _ in range(3):  # the first key's exhaustion takes nothing from this one
            served(await post(gateway, "key-default-0123456789"))
        limited(await post(gateway, "key-default-0123456789"), "requests", 3, 60)
        for _ in range(8):
            served(await post(gateway, "key-unlimited-0123456789"))


async def test_zero_is_no_limit() -> None:
    limits = env(api_key=KEY, key_requests_per_min=0, key_cost_per_min=0)
    async with running_gateway(environ=limits) as gateway:
        for _ in range(12):
            served(await post(gateway))


async def test_without_authentication_no_limit_applies() -> None:
    """Open (demo without keys): there is no key to count against."""
    async with running_gateway(environ=env(key_requests_per_min=1, key_cost_per_min=1)) as gateway:
        for _ in range(4):
            served(await post(gateway, key=None))


# --- configuration -------------------------------------------------------------------------


def test_the_documented_defaults_and_where_they_are_read(tmp_path: Path) -> None:
    assert (Settings.key_requests_per_min, Settings.key_cost_per_min) == (600, 60_000)
    defaults = load_settings({})
    assert (defaults.key_requests_per_min, defaults.key_cost_per_min) == (600, 60_000)
    toml = tmp_path / "gateway.toml"
    toml.write_text("[sessiongraph]\nkey_requests_per_min = 5\nkey_cost_per_min = 0\n")
    read = load_settings({"SESSIONGRAPH_CONFIG": str(toml)})
    assert (read.key_requests_per_min, read.key_cost_per_min) == (5, 0)
    overridden = load_settings({"SESSIONGRAPH_CONFIG": str(toml), **env(key_requests_per_min=7)})
    assert overridden.key_requests_per_min == 7


@pytest.mark.parametrize("value", ["-1", "ten", "1.5", "1e3"])
@pytest.mark.parametrize("name", ["KEY_REQUESTS_PER_MIN", "KEY_COST_PER_MIN"])
def test_a_limit_that_is_not_a_whole_number_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"SESSIONGRAPH_{name} must be a whole number"):
        load_settings({f"SESSIONGRAPH_{name}": value})


@pytest.mark.parametrize("value", [-1, "many", True, 2.5])
@pytest.mark.parametrize("name", ["requests_per_min", "cost_per_min"])
def test_a_keys_limit_that_is_not_a_whole_number_is_named(
    tmp_path: Path, name: str, value: object
) -> None:
    config = keys_file(tmp_path, [{"key": "some-key-0123456789", name: value}])
    with pytest.raises(ConfigError, match=rf"\[\[keys\]\] entry 1: {name} must be a whole"):
        load_settings({"SESSIONGRAPH_CONFIG": config})


def test_a_keys_own_limits_are_read(tmp_path: Path) -> None:
    config = keys_file(
        tmp_path,
        [{"key": "some-key-0123456789", "id": "k", "requests_per_min": 0, "cost_per_min": 9}],
    )
    [key] = load_settings({"SESSIONGRAPH_CONFIG": config}).auth.keys.values()
    assert (key.requests_per_min, key.cost_per_min) == (0, 9)


# --- the window itself ---------------------------------------------------------------------


def test_no_sixty_seconds_ever_hold_more_than_the_limit_and_retry_after_is_exact() -> None:
    """Random charges at random times: whatever is admitted, every 60 s span holds at most the
    limit; a refusal's wait is exact to the second: one second less would still be refused,
    the wait itself is admitted (nothing else charged meanwhile)."""
    chooser = random.Random(11)
    limit = 50
    window = Window(limit)
    now = 0.0
    admitted: list[tuple[float, int]] = []
    for _ in range(3000):
        now += chooser.choice([0.0, 0.1, 0.37, 1.0, 2.5, 7.9])
        units = chooser.randint(0, 20)
        wait = window.wait(units, now)
        if wait == 0:
            window.charge(units, now)
            admitted.append((now, units))
            span = sum(u for t, u in admitted if now - WINDOW_S < t <= now)
            assert span <= limit
            continue
        assert 1 <= wait <= WINDOW_S + 1
        probe = Window(limit)  # the same history, to look ahead without charging
        for t, u in admitted:
            if t > now - 2 * WINDOW_S:
                probe.charge(u, t)
        assert probe.wait(units, now + wait - 1) > 0  # earlier first: a look expires slots
        assert probe.wait(units, now + wait) == 0
    assert len(admitted) > 500  # the limit was reached often, and freed often
    assert len(window._slots) <= WINDOW_S + 1
