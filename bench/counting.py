"""Vendor calls per query, counted in-process: the demo app over simulators built with the
benchmark's size, seed and anchor (so the same data as the HTTP simulators), one query sent
twice (cold, then warm), the simulators' request logs read after each. Also reads from those
simulators the data shape the contract minimums depend on (`bench.minimums`).

The simulators answer with the benchmark's latency here too, and the start of every call is
timed: the calls fall in waves (a wave starts a latency or more after the one before), and
the number of waves is the dependent rounds the gateway took, to set against the minimum.
"""

from __future__ import annotations

import math
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
    critical_rounds,
    merged_minimums,
    nodes_minimums,
)
from bench.queries import PAGE_SIZE, BenchQuery
from graph.app import create_app
from graph.settings import load_settings
from providers.records import Provider, SessionRef
from providers.simulators import Simulator
from providers.simulators.request_log import LoggedRequest
from resolvers.nodes import parse_session_node_id
from resolvers.sources import build_simulators, demo_sources

__all__ = ["CallCount", "call_kind", "count_calls", "waves"]

VONAGE_SLICE = timedelta(days=60)


@dataclass(frozen=True, slots=True)
class CallCount:
    query: str
    cold: Mapping[Provider, Mapping[str, int]]  # calls by kind, first request of a fresh app
    warm: Mapping[Provider, Mapping[str, int]]  # the same request again on the same app
    failed: Mapping[str, int]  # calls answered ≥ 400, per run ("cold", "warm")
    waves: Mapping[str, int]  # dependent rounds the gateway took, per run
    minimum: Mapping[Provider, VendorMinimum]
    rounds: int  # dependent rounds of the minimum (the critical path, in latencies)
    answer: Mapping[str, Any]  # the cold answer, to compare with the HTTP gateway's


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
) -> CallCount:
    simulators = build_simulators(size, seed, anchor)
    starts: list[float] = []
    for simulator in simulators.values():
        simulator.faults.latency_s = latency_s
        simulator.app = _timed(simulator.app, starts)
    # The live walks' minimums: the index (bench/index.py measures it) is left off here.
    settings = load_settings(
        {"SESSIONGRAPH_CURSOR_SECRET": secret, "SESSIONGRAPH_INDEX_URL": "off"}
    )
    app = create_app(settings, sources=demo_sources(simulators=simulators))
    runs: list[dict[Provider, dict[str, int]]] = []
    failed: dict[str, int] = {}
    rounds: dict[str, int] = {}
    answers: list[dict[str, Any]] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
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
    minimum = await _minimum(query, answers[0], simulators, window, settings.scan_cap)
    return CallCount(
        query=query.name,
        cold=runs[0],
        warm=runs[1],
        failed=failed,
        waves=rounds,
        minimum=minimum,
        rounds=critical_rounds(minimum),
        answer=answers[0],
    )


async def _minimum(
    query: BenchQuery,
    answer: Mapping[str, Any],
    simulators: Mapping[Provider, Simulator],
    window: tuple[datetime, datetime],
    scan_cap: int,
) -> dict[Provider, VendorMinimum]:
    if query.kind == "local":
        return {}
    data = answer.get("data") or {}
    if query.kind == "nodes":
        ids = [node["id"] for node in data.get("nodes") or [] if node]
    else:
        ids = [edge["node"]["id"] for edge in (data.get("sessions") or {}).get("edges", [])]
    page = await _page_shape([_ref(i) for i in ids], simulators[Provider.VECTARA])
    if query.kind == "nodes":
        return nodes_minimums(page, query.details)
    return merged_minimums(_data_shape(simulators, window, scan_cap), page, query.details)


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
