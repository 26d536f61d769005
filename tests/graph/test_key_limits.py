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
