"""The fault matrix, through real loopback servers: each vendor x each fault x {list call,
detail call}. Whatever one vendor does, the other vendors' data is complete and exact, the
failing vendor's error is coded, its retries are bounded (counted at the simulator), the
gateway answers 200, and nothing is logged as a bug.

The simulators serve on 127.0.0.1 (`sessiongraph simulate`'s servers, in a thread) and take
their faults over HTTP (`POST /__faults`); a fresh live gateway per case talks to them through
real sockets. Times are scaled down from the issue's (a hang is 2.5 s, past the 1 s attempt
deadline; "slow" is 0.3 s a call, well inside it even on a loaded machine): the outcome, not
the duration, is what is checked."""

from __future__ import annotations

import asyncio
import heapq
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.cli import SimulatorServers, simulator_servers
from graph.settings import load_settings
from providers.query import SessionQuery
from providers.records import Provider, SessionRecord
from providers.simulators import Simulator
from providers.simulators.control import CONTROL_PATH
from resolvers.sources import build_simulators
from tests.conftest import ANCHOR
from tests.oracles import expected_records
from tests.oracles.select import select

SIZE = 40
AFTER, BEFORE = ANCHOR - timedelta(days=30), ANCHOR
WINDOW = {"startedAfter": AFTER.isoformat(), "startedBefore": BEFORE.isoformat()}
FIRST = 30

PAGE = f"""query($filter: SessionFilter) {{
  sessions(first: {FIRST}, filter: $filter) {{
    edges {{ node {{ provider providerSessionId transcript {{ turns {{ text }} }} }} }}
    sources {{ provider ok errorCode }}
  }}
}}"""
NODES = """query($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Session { provider transcript { turns { text } } } }
}"""

# The vendor paths of a list call and of a detail call (None: the list carries the details,
# so a detail fault is a `node` refetch on the same path).
LIST_PATHS = {
    Provider.SAMSARA: "/voice-sessions/stream$",
    Provider.STATESET: "/voice-sessions$",
    Provider.VECTARA: "/sessions$",
    Provider.VONAGE: "/insights/sessions$",
}
DETAIL_PATHS = {
    Provider.SAMSARA: "/agent-studio/voice-sessions$",
    Provider.STATESET: "/voice-sessions$",
    Provider.VECTARA: "/events$",
    Provider.VONAGE: "/parameters$",
}


@dataclass(frozen=True)
class Fault:
    knobs: dict[str, Any]  # POST /__faults body (without `path`); empty: refused
    codes: frozenset[str]  # the codes the failing vendor may answer; empty: no error


FAULTS = {
    "500": Fault({"status": 500}, frozenset({"UPSTREAM_UNAVAILABLE"})),
    "503-retry-after": Fault(
        {"status": 503, "retry_after": "0.2"}, frozenset({"UPSTREAM_UNAVAILABLE"})
    ),
    "429-fractional": Fault(
        {"status": 429, "retry_after": "0.35"}, frozenset({"UPSTREAM_RATE_LIMITED"})
    ),
    "hang": Fault({"hang_rate": 1.0, "hang_s": 2.5}, frozenset({"UPSTREAM_TIMEOUT"})),
    "refused": Fault({}, frozenset({"UPSTREAM_UNAVAILABLE"})),
    "malformed": Fault({"malformed_rate": 1.0}, frozenset({"UPSTREAM_BAD_RESPONSE"})),
    "wrong-shape": Fault({"wrong_shape_rate": 1.0}, frozenset({"UPSTREAM_BAD_RESPONSE"})),
    "slow": Fault({"latency_ms": 300}, frozenset()),
}
MAX_TRIES = 3  # the retry policy: at most three tries of one request


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[dict[Provider, Simulator], SimulatorServers]]:
    simulators = build_simulators(size=SIZE, seed=11, anchor=ANCHOR)
    servers = simulator_servers(simulators, "127.0.0.1")
    thread = threading.Thread(target=lambda: asyncio.run(servers.serve()), daemon=True)
    thread.start()
    try:
        for _ in range(300):  # 30 s at most, never reached when all is well
            if all(server.started for server, _ in servers.servers):
                break
            threading.Event().wait(0.1)
        else:
            raise AssertionError("the simulators did not start")
        yield simulators, servers
    finally:
        servers.stop()
        thread.join(timeout=10)


@asynccontextmanager
async def gateway(
    urls: dict[Provider, str], simulators: dict[Provider, Simulator]
) -> AsyncIterator[httpx.AsyncClient]:
    env = {
        "SESSIONGRAPH_CURSOR_SECRET": "faults",
        "SESSIONGRAPH_AUTH": "off",
        "SESSIONGRAPH_TIMEOUT_S": "1.0",
        "SESSIONGRAPH_INDEX_URL": "off",  # the live scans are what this matrix tests
        "SAMSARA_API_TOKEN": simulators[Provider.SAMSARA].api_key,
        "SAMSARA_BASE_URL": urls[Provider.SAMSARA],
        "SAMSARA_AGENT_IDS": ",".join(simulators[Provider.SAMSARA].agent_ids()),
        "STATESET_VOICE_API_KEY": simulators[Provider.STATESET].api_key,
        "STATESET_VOICE_BASE_URL": urls[Provider.STATESET],
        "VECTARA_API_KEY": simulators[Provider.VECTARA].api_key,
        "VECTARA_BASE_URL": urls[Provider.VECTARA],
        "VECTARA_AGENT_KEYS": ",".join(simulators[Provider.VECTARA].agent_ids()),
        "VONAGE_AI_STUDIO_API_KEY": simulators[Provider.VONAGE].api_key,
        "VONAGE_AI_STUDIO_BASE_URL": urls[Provider.VONAGE],
    }
    app = create_app(load_settings(env))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
    ):
        yield client


def newest(
    simulators: dict[Provider, Simulator], providers: set[Provider]
) -> list[tuple[str, str]]:
    """The first page the healthy vendors' sessions make, merged: from the oracles."""
    query = SessionQuery(started_after=AFTER, started_before=BEFORE)
    lists = [select(expected_records(simulators[p]), query) for p in sorted(providers)]
    merged: list[SessionRecord] = list(
        heapq.merge(
            *lists,
            key=lambda r: (r.started_at, r.provider.value, r.agent_id or "", r.id),
            reverse=True,
        )
    )
    return [(r.provider.name, r.id) for r in merged[:FIRST]]


def tries_per_request(simulator: Simulator, path: str) -> int:
    counts: dict[tuple[str, str], int] = {}
    for entry in simulator.log.entries:
        if entry.path.endswith(path.rstrip("$")) or path.rstrip("$") in entry.path:
            key = (entry.path, entry.raw_query)
            counts[key] = counts.get(key, 0) + 1
    return max(counts.values(), default=0)


@pytest.fixture(scope="module")
def node_ids(served: tuple[dict[Provider, Simulator], SimulatorServers]) -> list[str]:
    """One session of each vendor by node id (in `Provider` order), read while all are healthy:
    refetching them with their transcripts is the detail calls."""
    simulators, servers = served
    query = "query($f: SessionFilter) { sessions(first: 1, filter: $f) { edges { node { id } } } }"

    async def read() -> list[str]:
        ids = []
        async with gateway(dict(servers.urls), simulators) as client:
            for provider in sorted(Provider):
                variables = {"f": {**WINDOW, "providers": [provider.name]}}
                found = await client.post("/graphql", json={"query": query, "variables": variables})
                ids.append(found.json()["data"]["sessions"]["edges"][0]["node"]["id"])
        return ids

    return asyncio.run(read())


@pytest.mark.parametrize("vendor", list(Provider), ids=lambda p: p.value)
@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest.mark.parametrize("call", ["list", "detail"])
async def test_one_vendor_faulty_costs_only_its_own_data(
    served: tuple[dict[Provider, Simulator], SimulatorServers],
    node_ids: list[str],
    vendor: Provider,
    fault_name: str,
    call: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulators, servers = served
    fault = FAULTS[fault_name]
    path = (LIST_PATHS if call == "list" else DETAIL_PATHS)[vendor]
    urls = dict(servers.urls)
    for simulator in simulators.values():
        simulator.log.clear()
    async with httpx.AsyncClient(base_url=servers.urls[vendor]) as control:
        if fault.knobs:
            knobs = (
                {**fault.knobs, "path": path} if "latency_ms" not in fault.knobs else fault.knobs
            )
            assert (await control.post(CONTROL_PATH, json=knobs)).status_code == 200
        else:
            urls[vendor] = "http://127.0.0.1:9"  # the discard port: nothing listens there
        try:
            with caplog.at_level(logging.WARNING, logger="sessiongraph"):
                async with gateway(urls, simulators) as client:
                    if call == "list":
                        answer = await client.post(
                            "/graphql", json={"query": PAGE, "variables": {"filter": WINDOW}}
                        )
                    else:
                        answer = await client.post(
                            "/graphql", json={"query": NODES, "variables": {"ids": node_ids}}
                        )
        finally:
            await control.delete(CONTROL_PATH)
    assert answer.status_code == 200
    body = answer.json()
    errors = body.get("errors", [])
    if not fault.codes:
        assert errors == []
    else:
        assert errors, "the failing vendor says so"
        assert {e["extensions"]["provider"] for e in errors} == {vendor.name}
        assert {e["extensions"]["code"] for e in errors} <= fault.codes
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "nothing logged as a bug"
    if fault.knobs and "latency_ms" not in fault.knobs:
        assert tries_per_request(simulators[vendor], path) <= MAX_TRIES
    healthy = set(Provider) - ({vendor} if fault.codes else set())
    if call == "list":
        got = [
            (e["node"]["provider"], e["node"]["providerSessionId"])
            for e in body["data"]["sessions"]["edges"]
        ]
        assert got == newest(simulators, healthy)
    else:
        nodes = body["data"]["nodes"]
        for provider, node in zip(sorted(Provider), nodes, strict=True):
            if provider in healthy:
                assert node is not None and node["transcript"]["turns"], provider
