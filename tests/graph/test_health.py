"""Each vendor's circuit breaker as clients and orchestrators see it: `providers { health }` and
`GET /readyz` (200 while at least one configured vendor is not OPEN, else 503, with each vendor's
breaker in the body); `/healthz` stays a liveness check whatever the vendors' state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import pytest

from providers.records import Provider
from tests.conftest import ANCHOR, Gateway
from tests.graph.test_app_modes import client_of
from tests.support import sans_cost

HEALTH = "{ providers { name enabled health { state failures since } } }"
CLOSED = {"state": "CLOSED", "failures": 0, "since": None}


class State(Enum):
    """A breaker's states as the breaker names them: the gateway reads them by name."""

    CLOSED = 1
    OPEN = 2
    HALF_OPEN = 3


@dataclass(frozen=True)
class Health:
    state: State
    failures: int
    since: datetime | None


def set_health(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, health: dict[Provider, Health]
) -> None:
    for provider, value in health.items():
        monkeypatch.setattr(gateway.sources.adapters[provider].client, "health", lambda v=value: v)


async def test_a_fresh_gateway_is_ready_with_every_breaker_closed(gateway: Gateway) -> None:
    body = await gateway.query(HEALTH)
    assert sans_cost(body) == {
        "data": {
            "providers": [
                {"name": p.name, "enabled": True, "health": CLOSED} for p in sorted(Provider)
            ]
        }
    }
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "providers": {p.value: CLOSED for p in sorted(Provider)},
    }
    assert sum(gateway.calls().values()) == 0  # health is what the gateway knows: no vendor call


async def test_ready_while_one_vendor_is_not_open(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = ANCHOR - timedelta(seconds=30)
    set_health(
        gateway,
        monkeypatch,
        {
            Provider.SAMSARA: Health(State.OPEN, 5, opened),
            Provider.STATESET: Health(State.OPEN, 7, opened),
            Provider.VECTARA: Health(State.HALF_OPEN, 5, ANCHOR),
            Provider.VONAGE: Health(State.OPEN, 5, opened),
        },
    )
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["providers"]["vectara"] == {
        "state": "HALF_OPEN",
        "failures": 5,
        "since": "2026-11-01T00:00:00+00:00",
    }
    body = await gateway.query(HEALTH)
    health = {p["name"]: p["health"] for p in body["data"]["providers"]}
    assert health == {
        "SAMSARA": {"state": "OPEN", "failures": 5, "since": "2026-10-31T23:59:30+00:00"},
        "STATESET": {"state": "OPEN", "failures": 7, "since": "2026-10-31T23:59:30+00:00"},
        "VECTARA": {"state": "HALF_OPEN", "failures": 5, "since": "2026-11-01T00:00:00+00:00"},
        "VONAGE": {"state": "OPEN", "failures": 5, "since": "2026-10-31T23:59:30+00:00"},
    }


async def test_not_ready_when_every_vendor_is_open_yet_alive(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_health(gateway, monkeypatch, {p: Health(State.OPEN, 3, ANCHOR) for p in Provider})
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "providers": {
            p.value: {"state": "OPEN", "failures": 3, "since": "2026-11-01T00:00:00+00:00"}
            for p in sorted(Provider)
        },
    }
    alive = await gateway.client.get("/healthz")
    assert alive.status_code == 200
    assert alive.json()["status"] == "ok"


async def test_readiness_counts_only_configured_vendors() -> None:
    environ = {
        "STATESET_VOICE_API_KEY": "k",  # live, one vendor; nothing listens and nothing is called
        "STATESET_VOICE_BASE_URL": "http://127.0.0.1:9",
        "SESSIONGRAPH_CURSOR_SECRET": "s",
        "SESSIONGRAPH_AUTH": "off",
    }
    async with client_of(environ) as client:
        ready = await client.get("/readyz")
        body = (await client.post("/graphql", json={"query": HEALTH})).json()
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "providers": {"stateset": CLOSED}}
    assert sans_cost(body) == {
        "data": {
            "providers": [
                {
                    "name": p.name,
                    "enabled": p is Provider.STATESET,
                    "health": CLOSED if p is Provider.STATESET else None,
                }
                for p in sorted(Provider)
            ]
        }
    }
