"""The agents a deployment has: configured ones (Samsara ids, Vectara keys) and those seen on
sessions of the default window (StateSet and Vonage have no agent list endpoint)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from providers.adapter import Adapter
from providers.errors import SessionGraphError
from providers.query import SessionQuery
from providers.records import Provider
from resolvers.cache import RecordCache
from resolvers.cost import DISCOVERY_PAGE

__all__ = ["KnownAgent", "discover_agents"]


@dataclass(frozen=True, slots=True, order=True)
class KnownAgent:
    provider: Provider
    id: str
    name: str | None = None


async def discover_agents(
    adapters: dict[Provider, Adapter],
    window_days: int,
    scan_cap: int,
    cache: RecordCache,
    now: datetime,
) -> tuple[list[KnownAgent], list[SessionGraphError]]:
    """Every vendor's agents; what a vendor answered is kept in `cache` for a while (agents
    change slowly and discovering them scans sessions)."""

    async def agents_of(adapter: Adapter) -> set[KnownAgent]:
        scope = adapter.settings.cache_scope
        known = cache.seen_agents.get(scope)
        if known is None:
            known = cache.seen_agents[scope] = await _agents_of(adapter, window_days, scan_cap, now)
        return known

    results = await asyncio.gather(
        *(agents_of(adapter) for adapter in adapters.values()), return_exceptions=True
    )
    agents: set[KnownAgent] = set()
    errors: list[SessionGraphError] = []
    for result in results:
        if isinstance(result, SessionGraphError):
            errors.append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            agents.update(result)
    return sorted(agents), errors


async def _agents_of(
    adapter: Adapter, window_days: int, scan_cap: int, now: datetime
) -> set[KnownAgent]:
    names: dict[str, str | None] = {agent_id: None for agent_id in adapter.default_agent_ids()}
    query = SessionQuery(
        started_after=now - timedelta(days=window_days), started_before=now, scan_cap=scan_cap
    )
    after = None
    # Pages of 100, at most `scan_cap` sessions' worth: the bound the query cost prices.
    for _ in range(max(1, math.ceil(scan_cap / DISCOVERY_PAGE))):
        page = await adapter.list_sessions(query, after, DISCOVERY_PAGE)
        for item in page.items:
            record = item.record
            if record.agent_id is not None:
                names[record.agent_id] = names.get(record.agent_id) or record.agent_name
        after = page.next_after
        if page.exhausted or page.truncated or after is None:
            break
    return {KnownAgent(adapter.provider, agent_id, name) for agent_id, name in names.items()}
