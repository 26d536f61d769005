"""Sessions deleted through another process sharing this index (a worker of the same `serve`,
another replica), dropped from this process's record cache.

Each process keeps the details it fetched (`RecordCache`, up to 10 minutes). A deletion drops
the session from the index at once and from the record cache of the process that made it;
every other process learns of it from the audit records the deletion wrote to the shared store:
it reads the tenant's new records every `interval_s` (1 s), at most `batch` a read, and drops
each session deleted (or found gone at the vendor) from its own cache. So another process may
show a deleted session's details for about a second, never for the cache's lifetime.

Without an index there is no shared store: see README, Serving."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from index.audit import AuditEntry
from index.store import IndexStore
from providers.clock import Clock
from providers.records import Provider
from resolvers.cache import RecordCache

__all__ = ["DeletionFeed"]

log = logging.getLogger("sessiongraph")


@dataclass
class DeletionFeed:
    """One tenant's deletions, read from the shared store's audit records, applied to this
    process's record cache. `scope_of` gives the cache scope of a configured vendor."""

    store: IndexStore
    cache: RecordCache
    tenant: str
    scope_of: Callable[[Provider], str | None]
    clock: Clock
    interval_s: float = 1.0
    batch: int = 500
    seen: int | None = field(default=None, init=False)  # the last record read; None: not yet
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def run_once(self) -> int:
        """Reads the records written since the last read (the first read only notes where
        the records end: this process's cache is younger than the ones before); how many
        cache entries were dropped."""
        if self.seen is None:
            self.seen = await self.store.last_audit_seq(self.tenant)
            return 0
        self.seen, entries = await self.store.forgotten_after(self.tenant, self.seen, self.batch)
        return sum(self._apply(entry) for entry in entries)

    def _apply(self, entry: AuditEntry) -> int:
        provider = Provider.__members__.get(entry.provider or "")
        scope = self.scope_of(provider) if provider is not None else None
        if provider is None or scope is None or entry.session_id is None:
            return 0
        return self.cache.forget_any(scope, provider, entry.session_id)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"deletions-{self.tenant}")

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except (SQLAlchemyError, sqlite3.Error, OSError) as exc:  # busy or away: next time
                log.info("index: deletions of other processes not read (%s)", exc)
            await self.clock.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
