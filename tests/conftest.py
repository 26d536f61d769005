"""Shared fixtures: simulators with a fixed anchor, adapters over them, and the demo app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.settings import load_settings
from providers.adapter import Adapter
from providers.records import Provider
from providers.simulators import Simulator, build
from resolvers.sources import Sources, build_simulators, demo_sources
from tests.support import FakeClock, connect

# The longest test files (`make test`'s --durations in CI's log), run first: `make test` spreads
# whole files over the cores (pytest-xdist, --dist loadfile: a file's tests share one worker,
# its module fixtures and npm installs), and a long file taken last would leave the other cores
# idle while it ends. (Not --dist loadgroup: pytest-xdist 3.8 renames a grouped test through
# an attribute pytest 9 no longer reads, so its groups are silently ignored.)
LONGEST_FIRST = (
    "tests/graph/test_fuzz.py",
    "tests/graph/test_fuzz_shard_1.py",
    "tests/index/test_sync_at_scale.py",
    "tests/index/test_sync.py",
    "tests/index/test_store.py",
    "tests/index/test_sync_bounds.py",
    "tests/faults/test_fault_matrix.py",
    "tests/test_workers.py",
    "tests/providers/test_simulators_at_scale.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


# The simulators' data ends here, and every test clock starts here: the gateway's default
# 90-day window then holds the simulators' 89 days of data, whatever the date the tests run.
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
SIZE = 80


@dataclass
class Vendor:
    simulator: Simulator
    adapter: Adapter


@pytest.fixture(params=list(Provider), ids=lambda p: p.value)
async def vendor(request: pytest.FixtureRequest) -> AsyncIterator[Vendor]:
    clock = FakeClock(ANCHOR)
    simulator = build(request.param.value, size=SIZE, seed=3, anchor=ANCHOR, clock=clock.now)
    adapter = connect(simulator, clock=clock)
    yield Vendor(simulator, adapter)
    await adapter.aclose()


@dataclass
class Gateway:
    """The demo app over simulators the test holds, and a client that posts GraphQL."""

    client: httpx.AsyncClient
    simulators: dict[Provider, Simulator]
    sources: Sources
    clock: FakeClock

    async def query(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def first_session_id(self, provider: Provider) -> str:
        """The node id of `provider`'s newest session (listed, so its ref is complete)."""
        listed = await self.query(
            "query($p: [Provider!]) { sessions(first: 1, filter: {providers: $p})"
            " { nodes { id } } }",
            p=[provider.name],
        )
        node_id: str = listed["data"]["sessions"]["nodes"][0]["id"]
        return node_id

    def calls(self) -> dict[Provider, int]:
        return {p: len(s.log) for p, s in self.simulators.items()}

    def clear_logs(self) -> None:
        for simulator in self.simulators.values():
            simulator.log.clear()

    async def sync(self) -> None:
        """One round of the index's sync (tests drive it: `running_gateway` starts none)."""
        assert self.sources.index is not None, self.sources.index_error
        await self.sources.index.syncer.run_once()


@asynccontextmanager
async def running_gateway(
    size: int = SIZE,
    environ: dict[str, str] | None = None,
    seed: int = 3,
    anchor: datetime = ANCHOR,
    **simulator_options: Any,
) -> AsyncIterator[Gateway]:
    """The app over simulators at `size`, with its index off unless `environ` names one
    (SESSIONGRAPH_INDEX_URL); its sync runs when the test says (`Gateway.sync`)."""
    clock = FakeClock(anchor)
    simulators = build_simulators(
        size=size, seed=seed, anchor=anchor, clock=clock, **simulator_options
    )
    env = {
        "SESSIONGRAPH_CURSOR_SECRET": "test-secret",
        "SESSIONGRAPH_INDEX_URL": "off",
        **(environ or {}),
    }
    settings = load_settings(env)
    # The vendor clients take the attempt timeout from the settings, as `serve` does.
    sources: Sources = demo_sources(
        simulators=simulators, clock=clock, timeout_s=settings.timeout_s
    )
    app = create_app(settings, sources=sources, start_sync=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Gateway(client, simulators, sources, clock)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with running_gateway() as running:
        yield running
