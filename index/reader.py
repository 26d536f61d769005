"""Queries read order from the index: an `IndexedLister` pages an unordered vendor's sessions
from the index once every list the query needs is READY (or STALE: the last sync failed, the
index still answers, flagged), with no vendor list call. Until then, and for windows reaching
past the retention horizon (the index holds nothing older), it asks the adapter's bounded live
scan and says so. Positions are the same keysets either way, so a cursor made by one is read by
the other: a client paging while a build finishes loses and repeats nothing.
"""

from __future__ import annotations

import logging
import sqlite3  # the store reads SQLite files with it (index.sqlite_reads)
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from index.codec import CorruptRecordError
from index.state import DEFAULT_TENANT, IndexState, ScopeKey, ScopeStatus
from index.store import IndexStore
from providers.adapter import Adapter
from providers.clock import SYSTEM_CLOCK, Clock
from providers.keyset import keyset_position, read_keyset
from providers.query import PagedSession, Position, SessionPage, SessionQuery
from providers.records import Provider

log = logging.getLogger("sessiongraph.index")

__all__ = ["IndexReader", "IndexSummary", "IndexedLister", "UnindexedLister"]

_ANSWERS = (IndexState.READY, IndexState.STALE)
# When one of several lists is in a state, the vendor's: the worst first.
_WORST_FIRST = (
    IndexState.FAILED,
    IndexState.BUILDING,
    IndexState.STALE,
    IndexState.READY,
    IndexState.OFF,
)


@dataclass(frozen=True, slots=True)
class IndexSummary:
    """One vendor's index, over its lists."""

    state: IndexState
    sessions: int
    synced_at: datetime | None  # the least recently synced list's last sync
    progress: int  # sessions read by builds under way
    error: str | None


class IndexReader:
    """The index as queries see it: scope states (read again at most every `status_ttl_s`, so a
    replica that does not sync sees another's progress) and pages."""

    def __init__(
        self,
        store: IndexStore,
        retention_days: int,
        clock: Clock = SYSTEM_CLOCK,
        tenant: str = DEFAULT_TENANT,
        status_ttl_s: float = 1.0,
    ) -> None:
        self.store = store
        self.retention_days = retention_days
        self.clock = clock
        self.tenant = tenant
        self.status_ttl_s = status_ttl_s
        self._statuses: dict[Provider, tuple[float, dict[str, ScopeStatus]]] = {}

    def lister(self, adapter: Adapter) -> IndexedLister:
        return IndexedLister(self, adapter)

    def horizon(self) -> datetime:
        return self.clock.now() - timedelta(days=self.retention_days)

    async def statuses(self, provider: Provider) -> dict[str, ScopeStatus]:
        now = self.clock.monotonic()
        cached = self._statuses.get(provider)
        if cached is not None and now - cached[0] < self.status_ttl_s:
            return cached[1]
        found = {s.key.scope: s for s in await self.store.statuses(self.tenant, provider)}
        self._statuses[provider] = (now, found)
        return found

    def note(self, status: ScopeStatus) -> None:
        """A status this process's own sync just saved: seen at once, without a read."""
        cached = self._statuses.get(status.key.provider)
        if cached is not None and status.key.tenant == self.tenant:
            cached[1][status.key.scope] = status

    def answers_now(self, keys: Sequence[ScopeKey], query: SessionQuery) -> bool:
        """Whether the index answers `query` over `keys`, by the states last read (no read of
        its own: query pricing calls it, synchronously). Conservative: unknown means no."""
        cached = self._statuses.get(keys[0].provider) if keys else None
        if cached is None or query.started_after < self.horizon():
            return False
        statuses = cached[1]
        return all(k.scope in statuses and statuses[k.scope].state in _ANSWERS for k in keys)

    async def summary(self, adapter: Adapter) -> IndexSummary:
        statuses = await self.statuses(adapter.provider)
        scopes = adapter.feed_scopes()
        known = [statuses[scope] for scope in scopes if scope in statuses]
        held = [await self.store.sessions_held(s.key) for s in known]
        state = _worst(
            [s.state for s in known] + [IndexState.BUILDING] * (len(scopes) - len(known))
        )
        synced = [s.synced_at for s in known]
        return IndexSummary(
            state=state,
            sessions=sum(held),
            synced_at=None if None in synced or not synced else min(s for s in synced if s),
            progress=sum(s.progress for s in known if s.state is IndexState.BUILDING),
            error=next((s.error for s in known if s.error), None),
        )


class IndexedLister:
    """`list_sessions` of one indexed vendor, from the index when it can answer."""

    def __init__(self, reader: IndexReader, adapter: Adapter) -> None:
        self.reader = reader
        self.adapter = adapter

    @property
    def provider(self) -> Provider:
        return self.adapter.provider

    async def list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        if query.fleet_scoped:  # nothing to read: the adapter answers without a call
            return await self.adapter.list_sessions(query, after, limit)
        keys = self._keys(query)
        statuses = await self.reader.statuses(self.provider)
        states = [
            statuses[k.scope].state if k.scope in statuses else IndexState.BUILDING for k in keys
        ]
        if (
            not keys
            or any(state not in _ANSWERS for state in states)
            or (query.started_after < self.reader.horizon())
        ):
            page = await self.adapter.list_sessions(query, after, limit)
            state = _worst(states) if keys else IndexState.READY
            if query.started_after < self.reader.horizon() and state in _ANSWERS:
                state = IndexState.OFF  # past retention: the index holds none of it
            return replace(page, index_state=state.value)
        synced = [statuses[k.scope].synced_at for k in keys]
        as_of = None if None in synced else min(s for s in synced if s is not None)
        try:
            page = await self._from_index(keys, query, after, limit)
        except (CorruptRecordError, SQLAlchemyError, sqlite3.Error, OSError) as exc:
            # An index that cannot be read costs the query its speed, never its answer.
            log.warning("index: %s could not be read (%s): scanning live", self.provider, exc)
            page = await self.adapter.list_sessions(query, after, limit)
            return replace(page, index_state=IndexState.FAILED.value)
        return replace(page, index_state=_worst(states).value, indexed_at=as_of)

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        """No list call when the index answers (a Vectara text filter still reads events);
        else the live scan's bound."""
        if query.fleet_scoped or not self.reader.answers_now(self._keys(query), query):
            return self.adapter.list_call_bound(query, limit)
        if query.needs_details and not self.adapter.lists_transcripts:
            return self.adapter.text_call_bound(limit)
        return 0

    def _keys(self, query: SessionQuery) -> list[ScopeKey]:
        """The lists the query reads: StateSet's one list; the wanted Vectara agents' lists
        (the index keeps the configured agents: others have no sessions here)."""
        scopes = self.adapter.feed_scopes()
        if scopes != ("",) and query.agent_ids is not None:
            wanted = set(query.agent_ids)
            scopes = tuple(scope for scope in scopes if scope in wanted)
        return [ScopeKey(self.reader.tenant, self.provider, scope) for scope in scopes]

    async def _from_index(
        self, keys: Sequence[ScopeKey], query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        store = self.reader.store
        after_key = read_keyset(self.provider, after)
        if query.agent_ids is None and keys == [ScopeKey(keys[0].tenant, self.provider, "")]:
            # One list for every agent: by default the configured ones, as the live scan does.
            query = replace(query, agent_ids=self.adapter.default_agent_ids() or None)
        if query.needs_details and not self.adapter.lists_transcripts:
            # The index orders and filters; the text is in the vendor's conversations.
            candidates = await store.page(
                keys, replace(query, text=None), after_key, query.scan_cap
            )
            page = await self.adapter.take_by_text(candidates, query, limit)
            if page.exhausted and len(candidates) == query.scan_cap:
                last = candidates[-1]
                return replace(
                    page,
                    exhausted=False,
                    stopped=True,
                    resume=keyset_position(last),
                    frontier=last.sort_key,
                )
            return page
        rows = await store.page(keys, query, after_key, limit + 1)
        return SessionPage(
            items=tuple(PagedSession(r, keyset_position(r)) for r in rows[:limit]),
            exhausted=len(rows) <= limit,
            total=await store.count(keys, query) if query.counts else None,
        )


class UnindexedLister:
    """An indexed vendor's live scan when the server has no index (`off`, or it could not be
    opened): its pages say so (`OFF`, `FAILED`)."""

    def __init__(self, adapter: Adapter, state: IndexState) -> None:
        self.adapter = adapter
        self.state = state

    @property
    def provider(self) -> Provider:
        return self.adapter.provider

    async def list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        page = await self.adapter.list_sessions(query, after, limit)
        return replace(page, index_state=self.state.value)

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        return self.adapter.list_call_bound(query, limit)


def _worst(states: Sequence[IndexState]) -> IndexState:
    return next((state for state in _WORST_FIRST if state in states), IndexState.OFF)
