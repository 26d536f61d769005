"""Vendor calls per query, counted in-process: the demo app over simulators built with the
benchmark's size, seed and anchor (so the same data as the HTTP simulators), one query sent
twice (cold, then warm), the simulators' request logs read after each. Also reads from those
simulators the data shape the contract minimums depend on (`bench.minimums`).

Two regimes. `indexed=True` (the gateway as served): the app has an SQLite index of its own,
and its sync is run to READY before the query; the sync's calls are not the query's, so the
logs are cleared after it. `indexed=False`: the index off, StateSet and Vectara scanned live.
No client-side rate limit in either (as the served gateway in the benchmark): the simulators
enforce none.

The simulators answer with the benchmark's latency here too, and the start of every call is
timed: the calls fall in waves (a wave starts a latency or more after the one before), and
the number of waves is the dependent rounds the gateway took, to set against the minimum.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry import relay

from bench.minimums import (
    DataShape,
    PageShape,
    VendorMinimum,
    cross_vendor_rounds,
    merged_minimums,
    nodes_minimums,
    per_vendor_rounds,
)
from bench.queries import PAGE_SIZE, BenchQuery
from graph.app import create_app
from graph.settings import load_settings
from providers.records import Provider, SessionRef
from providers.simulators import Simulator
from providers.simulators.request_log import LoggedRequest
from resolvers.nodes import parse_session_node_id
from resolvers.sources import Sources, build_simulators, demo_sources

__all__ = ["CallCount", "call_kind", "count_calls", "waves"]

VONAGE_SLICE = timedelta(days=60)
INDEXED = (Provider.STATESET, Provider.VECTARA)  # the vendors `serve` keeps in its index
SYNC_ROUNDS = 20  # sync rounds a build may take before counting gives up


@dataclass(frozen=True, slots=True)
class CallCount:
    query: str
    cold: Mapping[Provider, Mapping[str, int]]  # calls by kind, first request of a fresh app
    warm: Mapping[Provider, Mapping[str, int]]  # the same request again on the same app
    failed: Mapping[str, int]  # calls answered ≥ 400, per run ("cold", "warm")
    waves: Mapping[str, int]  # dependent rounds the gateway took, per run
    minimum: Mapping[Provider, VendorMinimum]
    rounds: int  # dependent rounds of the minimum, per vendor (issue 10's critical path)
    cross_rounds: int  # the same with the waits between vendors (`bench.minimums`)
    answer: Mapping[str, Any]  # the cold answer, to compare with the HTTP gateway's
    indexed: bool = True  # StateSet's and Vectara's lists from a READY index


def call_kind(provider: Provider, entry: LoggedRequest) -> str:
    """What a logged vendor call was for, in the words of `bench.minimums`."""
    parts = entry.path.strip("/").split("/")
    if provider is Provider.SAMSARA:
        return "stream" if parts[-1] == "stream" else "details"
    if provider is Provider.STATESET:
        return "lookup" if "stream_id" in entry.query else "list"
    if provider is Provider.VECTARA:
        kinds = {3: "agent", 4: "list", 5: "session", 6: "events"}
        return kinds.get(len(parts), "other")
    if parts[-1] == "parameters":
        return "parameters"
    return "search_by_id" if "search" in parts else "search"


def _by_kind(simulators: Mapping[Provider, Simulator]) -> dict[Provider, dict[str, int]]:
    return {
        p: dict(Counter(call_kind(p, entry) for entry in sim.log.entries))
        for p, sim in simulators.items()
    }


def _timed(app: ASGIApp, starts: list[float]) -> ASGIApp:
    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        starts.append(time.perf_counter())
        await app(scope, receive, send)

    return timed


def waves(starts: Sequence[float], latency_s: float) -> int:
    """Groups of calls that went out together: a call opens a new group when it starts at
    least 0.8 latency after the first call of the current group."""
    count, opened = 0, float("-inf")
    for start in sorted(starts):
        if start - opened >= 0.8 * latency_s:
            count, opened = count + 1, start
    return count


def _failed(simulators: Mapping[Provider, Simulator]) -> int:
    return sum(1 for sim in simulators.values() for e in sim.log.entries if e.status >= 400)


async def count_calls(
    query: BenchQuery,
    body: Mapping[str, Any],
    *,
    size: int,
    seed: int,
    anchor: datetime,
    secret: str,
    latency_s: float,
    indexed: bool = True,
) -> CallCount:
    simulators = build_simulators(size, seed, anchor)
    starts: list[float] = []
    for simulator in simulators.values():
        simulator.app = _timed(simulator.app, starts)
    with tempfile.TemporaryDirectory(prefix="bench-index-") as folder:
        index_url = f"sqlite:///{folder}/index.db" if indexed else "off"
        settings = load_settings(
            {
                "SESSIONGRAPH_CURSOR_SECRET": secret,
                "SESSIONGRAPH_INDEX_URL": index_url,
                "SESSIONGRAPH_AUTH": "off",
            }
        )
        sources = demo_sources(simulators=simulators, rate_limit_per_min=0)
        # The test harness's way: no background sync, this function runs it (`_sync`).
        app = create_app(settings, sources=sources, start_sync=False)
        runs: list[dict[Provider, dict[str, int]]] = []
        failed: dict[str, int] = {}
        rounds: dict[str, int] = {}
        answers: list[dict[str, Any]] = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                if indexed:
                    await _sync(sources, client)
                # After the sync: its calls go out without the benchmark's latency.
                for simulator in simulators.values():
                    simulator.faults.latency_s = latency_s
                for run in ("cold", "warm"):
                    for simulator in simulators.values():
                        simulator.log.clear()
                    starts.clear()
                    response = await client.post("/graphql", json=dict(body))
                    response.raise_for_status()
                    answers.append(response.json())
                    runs.append(_by_kind(simulators))
                    failed[run] = _failed(simulators)
                    rounds[run] = waves(starts, latency_s) if latency_s > 0 else 0
    now = datetime.now(UTC)
    window = (now - timedelta(days=settings.default_window_days), now)
    minimum = await _minimum(query, answers[0], simulators, window, settings.scan_cap, indexed)
    return CallCount(
        query=query.name,
        cold=runs[0],
        warm=runs[1],
        failed=failed,
        waves=rounds,
        minimum=minimum,
        rounds=per_vendor_rounds(minimum),
        cross_rounds=cross_vendor_rounds(minimum),
        answer=answers[0],
        indexed=indexed,
    )


INDEX_QUERY = "{ providers { name index { state } } }"


async def index_states(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/graphql", json={"query": INDEX_QUERY})
    response.raise_for_status()
    return {p["name"]: p["index"]["state"] for p in response.json()["data"]["providers"]}


async def _sync(sources: Sources, client: httpx.AsyncClient) -> None:
    """Sync rounds until StateSet's and Vectara's lists are READY (one round builds them at the
    benchmark's sizes; a larger list may take several)."""
    if sources.index is None:
        raise RuntimeError(f"the in-process index did not open: {sources.index_error}")
    states: dict[str, str] = {}
    for _ in range(SYNC_ROUNDS):
        await sources.index.syncer.run_once()
        states = await index_states(client)
        if all(states.get(p.name) == "READY" for p in INDEXED):
            return
    raise RuntimeError(f"the in-process index is not READY after {SYNC_ROUNDS} rounds: {states}")


async def _minimum(
    query: BenchQuery,
    answer: Mapping[str, Any],
    simulators: Mapping[Provider, Simulator],
    window: tuple[datetime, datetime],
    scan_cap: int,
    indexed: bool,
) -> dict[Provider, VendorMinimum]:
    if query.kind == "local":
        return {}
    data = answer.get("data") or {}
    if query.kind == "nodes":
        ids = [node["id"] for node in data.get("nodes") or [] if node]
    else:
        nodes = [edge["node"] for edge in (data.get("sessions") or {}).get("edges", [])]
        ids = [node["id"] for node in nodes if "id" in node]
        # The page's ids matter for Samsara's and Vectara's detail calls only.
        asked = query.providers or set(Provider)
        if len(ids) < len(nodes) and query.details and asked - {Provider.STATESET}:
            raise ValueError(f"{query.name}: select `id` to count the page's detail calls")
    page = await _page_shape([_ref(i) for i in ids], simulators[Provider.VECTARA])
    if query.kind == "nodes":
        return nodes_minimums(page, query.details)
    return merged_minimums(
        _data_shape(simulators, window, scan_cap),
        page,
        query.details,
        indexed=indexed,
        providers=query.providers,
    )


def _ref(global_id: str) -> SessionRef:
    return parse_session_node_id(relay.GlobalID.from_id(global_id).node_id)


async def _page_shape(refs: Sequence[SessionRef], vectara: Simulator) -> PageShape:
    def of(provider: Provider) -> list[SessionRef]:
        return [ref for ref in refs if ref.provider is provider]

    event_pages = [
        await _vectara_event_pages(vectara, ref.agent_id or "", ref.id)
        for ref in of(Provider.VECTARA)
    ]
    return PageShape(
        samsara=len(of(Provider.SAMSARA)),
        stateset_streams=len({ref.lookup_key or ref.id for ref in of(Provider.STATESET)}),
        vectara_event_pages=tuple(event_pages),
        vonage=len(of(Provider.VONAGE)),
    )


async def _vectara_event_pages(vectara: Simulator, agent_key: str, session_key: str) -> int:
    """Pages of 100 events the session's event stream has: asked of the simulator itself."""
    path = f"/v2/agents/{agent_key}/sessions/{session_key}/events"
    pages, page_key = 0, ""
    async with httpx.AsyncClient(
        transport=vectara.transport(),
        base_url=vectara.base_url,
        headers={"x-api-key": vectara.api_key},
    ) as client:
        for _ in range(1000):  # bounded: a simulator bug must not loop forever
            params = {"limit": "100", **({"page_key": page_key} if page_key else {})}
            response = await client.get(path, params=params)
            response.raise_for_status()
            pages += 1
            page_key = (response.json().get("metadata") or {}).get("page_key") or ""
            if not page_key:
                break
    return pages


def _data_shape(
    simulators: Mapping[Provider, Simulator], window: tuple[datetime, datetime], scan_cap: int
) -> DataShape:
    start, end = window
    truth = {p: sim.session_keys() for p, sim in simulators.items()}

    def in_window(provider: Provider) -> list[datetime]:
        return [r.started_at for r in truth[provider] if start <= r.started_at < end]

    # Samsara: one stream per chunk of ≤100 agent ids, sorted as the adapter sorts them.
    agents = sorted(set(simulators[Provider.SAMSARA].agent_ids()))
    chunks = [set(agents[i : i + 100]) for i in range(0, len(agents), 100)]
    samsara = [
        sum(
            1
            for r in truth[Provider.SAMSARA]
            if r.agent_id in chunk and start <= r.started_at < end
        )
        for chunk in chunks
    ]
    # Vonage: 60-day slices from the window's end back to its start.
    slices: list[int] = []
    slice_end = end
    vonage = in_window(Provider.VONAGE)
    for _ in range(math.ceil((end - start) / VONAGE_SLICE)):
        slice_start = max(start, slice_end - VONAGE_SLICE)
        slices.append(sum(1 for moment in vonage if slice_start <= moment < slice_end))
        slice_end = slice_start
    vectara_agents = simulators[Provider.VECTARA].agent_ids()
    return DataShape(
        first=PAGE_SIZE,
        samsara_stream_sizes=tuple(samsara),
        # No push-down applies to these queries: StateSet lists every session it holds.
        stateset_total=len(truth[Provider.STATESET]),
        vectara_agent_sizes=tuple(
            sum(1 for r in truth[Provider.VECTARA] if r.agent_id == key) for key in vectara_agents
        ),
        vonage_slice_sizes=tuple(slices),
        scan_cap=scan_cap,
    )
