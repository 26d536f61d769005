"""Helpers every adapter test shares: connect an adapter to a simulator, walk a query page by
page, and what the walk should return (from the tests' oracles, never from the adapter)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from providers.adapter import Adapter
from providers.clock import Clock
from providers.query import Position, SessionPage, SessionQuery
from providers.records import Provider, SessionRecord
from providers.settings import ProviderSettings, Secret
from providers.simulators import Simulator
from providers.vendors import adapter_class
from tests.oracles import expected_records
from tests.oracles.select import select

__all__ = ["FakeClock", "connect", "expected", "ids", "sans_cost", "walk", "walk_pages"]

WALK_BOUND = 2000  # pages: more means the walk does not end


class FakeClock(Clock):
    """Time that moves only when told, or when something sleeps: a back-off of 2 s returns at
    once with the clock 2 s later. Gives the gateway and the simulators one "now"."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.elapsed = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)  # still a point where other tasks run

    def advance(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)


def connect(
    simulator: Simulator,
    *,
    credential: str | None = None,
    agent_ids: tuple[str, ...] | None = None,
    timeout_s: float = 5.0,
    clock: Clock | None = None,
    **settings: Any,
) -> Adapter:
    """An adapter over `simulator` in-process, with its key and agents unless told otherwise."""
    provider = Provider(simulator.vendor)
    config = ProviderSettings(
        provider=provider,
        base_url=simulator.base_url,
        credential=Secret(simulator.api_key if credential is None else credential),
        agent_ids=simulator.agent_ids() if agent_ids is None else agent_ids,
        timeout_s=timeout_s,
        **settings,
    )
    clock = clock or FakeClock(simulator.clock())
    return adapter_class(provider).connect(config, simulator.transport(), clock)


def expected(simulator: Simulator, query: SessionQuery) -> list[SessionRecord]:
    """The records `query` should return from `simulator`, in order."""
    return select(expected_records(simulator), query)


async def walk_pages(
    adapters: Adapter | Iterable[Adapter], query: SessionQuery, page_size: int
) -> tuple[list[SessionRecord], list[SessionPage]]:
    """Every page of `query` (each from the next adapter when several are given: a fresh process
    resuming), each resumed from a JSON round trip of the previous page's last position."""
    chain = [adapters] * WALK_BOUND if isinstance(adapters, Adapter) else list(adapters)
    records: list[SessionRecord] = []
    pages: list[SessionPage] = []
    after: Position | None = None
    for adapter in chain:
        page = await adapter.list_sessions(query, after, page_size)
        pages.append(page)
        assert len(page.items) <= page_size
        records += [item.record for item in page.items]
        assert not page.truncated, "a walk over the simulator's data must not be truncated"
        if page.exhausted:
            return records, pages
        assert len(page.items) == page_size or page.stopped, "a short page must say why"
        after = json.loads(json.dumps(page.next_after))
    raise AssertionError("the walk did not end")


async def walk(
    adapters: Adapter | Iterable[Adapter], query: SessionQuery, page_size: int
) -> list[SessionRecord]:
    records, _ = await walk_pages(adapters, query, page_size)
    return records


def ids(records: Iterable[SessionRecord]) -> list[str]:
    return [record.id for record in records]


def sans_cost(body: Any) -> Any:
    """A GraphQL response without its `extensions.cost` (every response carries one; tests
    about something else compare the rest)."""
    if not isinstance(body, dict) or "extensions" not in body:
        return body
    extensions = {k: v for k, v in body["extensions"].items() if k != "cost"}
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest
