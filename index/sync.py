"""The sync: keeps the index of each unordered vendor's lists, costing what changed.

Per scope (StateSet's one list, each Vectara agent's list), one replica at a time (a lease):

- **build**: the first full read, page by page, in the background; queries scan live meanwhile.
- **tick**, every `interval_s`: the list's first page (its total says whether anything changed,
  and a newest-first list shows new sessions there); when the total moved, more pages at the end
  where the list was seen to put new sessions (the tail too, for a list read by offset); the
  vendor's own active filter, read whole, so completions and new calls show at once; an active
  session that left it is fetched again (completed, or gone).
- **reconcile**, every `reconcile_interval_s`, or sooner when a tick saw the total move without
  finding what moved: a full re-read, a slice per tick, so ticks go on meanwhile; what it did not
  see (a generation older than its own) is deleted.

Where new sessions go is learned, never assumed: each full read checks whether the list runs
newest first (HEAD), oldest first (TAIL) or neither (NONE), and each tick re-checks it.

Every loop has a bound that depends on settings, not on the vendor's data: pages of a full read
(`max_sessions`), pages probed and active pages read per tick, sessions fetched again per tick.
Every call is a background call (`providers.budget.background_calls`): it leaves a share of the
vendor's rate limit to queries and waits for a token no longer than the pacing says.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from index.state import DEFAULT_TENANT, IndexState, ListOrder, ScopeKey, ScopeStatus
from index.store import IndexStore
from providers.adapter import Adapter
from providers.budget import BackgroundPacing, background_calls
from providers.clock import SYSTEM_CLOCK, Clock
from providers.feed import FEED_PAGE_SIZE, FeedPosition
from providers.records import SessionRecord
from providers.telemetry import index_synced

__all__ = ["ScopeSync", "SyncLimits", "Syncer"]

log = logging.getLogger("sessiongraph.index")
_RELEASE_S = 2.0  # at shutdown: how long releasing a lease may take
# Audit records a page's store reads for deletions (`ScopeSync._forgotten`); past that (a
# burst of deletions), the next page's store reads on.
_AUDIT_BATCH = 2000


@dataclass(frozen=True, slots=True)
class SyncLimits:
    """The sync's settings (defaults: `graph.settings.Settings`) and its per-run bounds."""

    interval_s: float = 30.0
    reconcile_interval_s: float = 3600.0
    retention_days: int = 97
    max_sessions: int = 1_000_000  # per scope: a full read ends (FAILED/STALE) past this
    probe_pages: int = 10  # pages read at one end of the list per tick, past the first
    active_pages: int = 20  # pages of the active filter read per tick
    refetches: int = 100  # active sessions that left the active filter, fetched per tick
    reconcile_pages: int = 50  # pages a reconcile reads per tick
    lease_ttl_s: float = 120.0
    pacing: BackgroundPacing = field(default_factory=BackgroundPacing)

    @property
    def full_read_pages(self) -> int:
        return math.ceil(self.max_sessions / FEED_PAGE_SIZE) + 1


class ListTooLong(Exception):
    """A full read reached `max_sessions`: the list is longer than the index is set to hold."""


@dataclass(slots=True)
class _FullRead:
    """A full read under way (in memory: a replica that takes over starts a new one)."""

    generation: int
    at: FeedPosition = None
    pages: int = 0
    sessions: int = 0
    first_total: int | None = None
    tokens: set[str] = field(default_factory=set)
    last_start: datetime | None = None
    ascending: bool = True  # every start so far >= the one before it, in list order
    descending: bool = True

    def observe(self, records: Sequence[SessionRecord]) -> None:
        for record in records:
            if self.last_start is not None:
                self.ascending &= record.started_at >= self.last_start
                self.descending &= record.started_at <= self.last_start
            self.last_start = record.started_at

    @property
    def order(self) -> ListOrder:
        if self.sessions < 2 or (self.ascending and self.descending):
            return ListOrder.UNKNOWN
        if self.descending:
            return ListOrder.HEAD
        return ListOrder.TAIL if self.ascending else ListOrder.NONE


class ScopeSync:
    """Keeps one scope of one vendor in the index: `run_once` does what is due."""

    def __init__(
        self,
        store: IndexStore,
        adapter: Adapter,
        key: ScopeKey,
        limits: SyncLimits,
        clock: Clock,
        holder: str,
    ) -> None:
        self.store = store
        self.adapter = adapter
        self.key = key
        self.limits = limits
        self.clock = clock
        self.holder = holder
        self._full_read: _FullRead | None = None
        # A pass over the active filter longer than a tick's bound, under way: where it goes
        # on, and what it listed so far.
        self._active_at: FeedPosition = None
        self._active_seen: set[str] = set()
        # The last audit record looked at (`_forgotten`); None until the first round.
        self._audit_seen: int | None = None

    async def run_once(self) -> ScopeStatus | None:
        """One round: the build (whole), or a tick plus a slice of a due reconcile. None when
        another replica holds the scope's lease."""
        if not await self.store.take_lease(
            self.key, self.holder, self.clock.now(), self.limits.lease_ttl_s
        ):
            self._full_read = None  # another replica syncs: ours would be stale when we return
            return None
        if self._audit_seen is None:  # deletions from here on are looked for (`_forgotten`)
            self._audit_seen = await self.store.last_audit_seq(self.key.tenant)
        status = await self.store.status(self.key) or ScopeStatus(self.key)
        due = status.reconcile_due
        if status.state is IndexState.FAILED and due is not None and self.clock.now() < due:
            return status  # a list too long for the index: tried again later, not each tick
        with background_calls(self.limits.pacing):
            try:
                if status.built_at is None:
                    status = await self._build(status)
                else:
                    status = await self._tick(status)
                    if self._reconcile_due(status):
                        status = await self._reconcile_slice(status)
                await self._purge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                status = await self._failed(status, exc)
        if status.synced_at is not None:  # the index's lag, on /metrics
            key = self.key
            index_synced(key.tenant, key.provider.value, key.scope, status.synced_at.timestamp())
        return status

    # --- full reads -----------------------------------------------------------------------------

    async def _build(self, status: ScopeStatus) -> ScopeStatus:
        read = _FullRead(status.generation + 1)
        status = replace(status, state=IndexState.BUILDING, generation=read.generation, progress=0)
        await self.store.save_status(status)
        while not await self._read_pages(read, self.limits.full_read_pages):
            status = replace(status, progress=read.sessions)
            await self.store.save_status(status)
            await self._renew_lease()
        return await self._full_read_done(status, read)

    async def _reconcile_slice(self, status: ScopeStatus) -> ScopeStatus:
        read = self._full_read
        if read is None:
            read = self._full_read = _FullRead(status.generation + 1)
            status = replace(status, generation=read.generation, progress=0)
        if not await self._read_pages(read, self.limits.reconcile_pages):
            status = replace(status, progress=read.sessions)
            await self.store.save_status(status)
            return status
        self._full_read = None
        return await self._full_read_done(status, read)

    async def _read_pages(self, read: _FullRead, pages: int) -> bool:
        """Up to `pages` more pages of the full read: True when it reached the list's end."""
        for _ in range(pages):
            if read.pages >= self.limits.full_read_pages:
                raise ListTooLong(
                    f"{self.adapter.provider.name} lists more than {self.limits.max_sessions}"
                    " sessions in one scope (SESSIONGRAPH_INDEX_MAX_SESSIONS)"
                )
            page = await self.adapter.feed_page(self.key.scope, read.at)
            read.pages += 1
            read.sessions += len(page.records)
            if read.first_total is None:
                read.first_total = page.total
            read.observe(page.records)
            await self._keep(page.records, read.generation)
            if page.next is None:
                return True
            if isinstance(page.next, str):
                if page.next in read.tokens:
                    raise RuntimeError(f"{self.adapter.provider.name} repeated a page key")
                read.tokens.add(page.next)
            read.at = page.next
        return False

    async def _full_read_done(self, status: ScopeStatus, read: _FullRead) -> ScopeStatus:
        await self.store.delete_unseen(self.key, read.generation)
        now = self.clock.now()
        status = replace(
            status,
            state=IndexState.READY,
            generation=read.generation,
            # A build's total is the one it began with: the first tick then looks for what came
            # during the build. A reconcile keeps the ticks' own (they ran meanwhile and found
            # what arrived): the total it began with would look like arrivals not found.
            vendor_total=status.vendor_total if status.built_at else read.first_total,
            order=read.order,
            progress=read.sessions,
            built_at=status.built_at or now,
            synced_at=now,
            reconciled_at=now,
            reconcile_due=None,
            error=None,
        )
        await self.store.save_status(status)
        log.info(
            "index: %s%s read in full (%d sessions, list order %s)",
            self.adapter.provider.value,
            f"/{self.key.scope}" if self.key.scope else "",
            read.sessions,
            read.order.value,
        )
        return status

    def _reconcile_due(self, status: ScopeStatus) -> bool:
        if self._full_read is not None:
            return True
        now = self.clock.now()
        if status.reconcile_due is not None and status.reconcile_due <= now:
            return True
        last = status.reconciled_at or status.built_at
        interval = timedelta(seconds=self.limits.reconcile_interval_s)
        return last is not None and now - last >= interval

    # --- ticks ----------------------------------------------------------------------------------

    async def _tick(self, status: ScopeStatus) -> ScopeStatus:
        generation = status.generation if self._full_read is None else self._full_read.generation
        head = await self.adapter.feed_page(self.key.scope, None)
        found_at_head = await self._keep(head.records, generation)
        total = head.total
        moved = total is not None and total != status.vendor_total
        order = status.order
        found_at_tail = 0
        if found_at_head and head.next is not None:
            found_at_head += await self._probe(head.next, generation, forward=True)
        if (
            moved
            and self.adapter.feed_by_offset
            and total is not None
            and total > len(head.records)
        ):
            found_at_tail = await self._probe(total - FEED_PAGE_SIZE, generation, forward=False)
        found_active, active_read = await self._read_active(generation)
        found = found_at_head + found_at_tail + found_active
        if found_at_head and not found_at_tail:
            order = ListOrder.HEAD if order in (ListOrder.UNKNOWN, ListOrder.HEAD) else order
        elif found_at_tail and not found_at_head:
            order = ListOrder.TAIL if order in (ListOrder.UNKNOWN, ListOrder.TAIL) else order
        reconcile_due = status.reconcile_due
        arrived = (total or 0) - (status.vendor_total or 0)
        # Until a whole pass of the active filter ends, its arrivals may still be ahead.
        if active_read and ((moved and found < arrived) or (moved and found == 0)):
            # The total moved and probing could not account for it: sessions were added where
            # the ends do not show them, or deleted. Only a full read finds them: now.
            reconcile_due = self.clock.now()
            if not found:
                order = ListOrder.NONE if arrived > 0 else order
        status = replace(
            status,
            state=IndexState.READY,
            vendor_total=total,
            order=order,
            synced_at=self.clock.now(),
            reconcile_due=reconcile_due,
            error=None,
        )
        await self.store.save_status(status)
        return status

    async def _probe(self, at: FeedPosition, generation: int, *, forward: bool) -> int:
        """New sessions at one end of the list: pages from `at` (forward from the head, or
        backward from the tail by offset) while every session on them is new."""
        found = 0
        for _ in range(self.limits.probe_pages):
            if isinstance(at, int) and at < 0:
                at = 0
            page = await self.adapter.feed_page(self.key.scope, at)
            new = await self._keep(page.records, generation)
            found += new
            if new < len(page.records) or not page.records:
                break
            if forward:
                if page.next is None:
                    break
                at = page.next
            else:
                if not isinstance(at, int) or at == 0:
                    break
                at = at - FEED_PAGE_SIZE
        return found

    async def _read_active(self, generation: int) -> tuple[int, bool]:
        """The vendor's active filter: new sessions and the current state of the active ones;
        an indexed active session it no longer lists has completed (or is gone): fetched again.
        More pages than a tick's bound are read over several ticks, each going on where the
        last stopped. Returns the sessions new to the index, and whether a pass ended here."""
        at, listed = self._active_at, self._active_seen
        complete, found = False, 0
        for _ in range(self.limits.active_pages):
            page = await self.adapter.feed_page(self.key.scope, at, active_only=True)
            listed.update(record.id for record in page.records)
            found += await self._keep(page.records, generation)
            if page.next is None:
                complete = True
                break
            at = page.next
        if not complete:
            self._active_at = at  # the rest: next tick
            return found, False
        self._active_at, self._active_seen = None, set()
        left = [r for r in await self.store.active(self.key) if r.id not in listed]
        left = left[: self.limits.refetches]
        if left:
            again = await self.adapter.feed_refetch(left)
            gone = [old.id for old, new in zip(left, again, strict=True) if new is None]
            await self._keep([new for new in again if new is not None], generation)
            await self.store.delete(self.key, gone)
        return found, True

    # --- storing --------------------------------------------------------------------------------

    async def _keep(self, records: Sequence[SessionRecord], generation: int) -> int:
        """Stores `records` (those within retention); returns how many were new."""
        horizon = self._horizon()
        kept = [record for record in records if record.started_at >= horizon]
        if kept and (gone := await self._forgotten()):
            kept = [record for record in kept if record.id not in gone]
        if not kept:
            return 0
        return await self.store.upsert(self.key, kept, generation)

    async def _forgotten(self) -> set[str]:
        """This vendor's sessions deleted through the gateway since the last look (its audit
        records, whichever process wrote them). A page read before a delete and stored after
        it would put the row the delete dropped back until the next reconcile. (A Vectara key
        is unique per agent only: another agent's session of the same key waits for the next
        read that finds it.)"""
        if self._audit_seen is None:
            return set()
        self._audit_seen, entries = await self.store.forgotten_after(
            self.key.tenant, self._audit_seen, _AUDIT_BATCH
        )
        provider = self.adapter.provider.name
        return {e.session_id for e in entries if e.provider == provider and e.session_id}

    async def _purge(self) -> None:
        await self.store.purge_before(self.key.tenant, self._horizon())

    def _horizon(self) -> datetime:
        return self.clock.now() - timedelta(days=self.limits.retention_days)

    async def _renew_lease(self) -> None:
        if not await self.store.take_lease(
            self.key, self.holder, self.clock.now(), self.limits.lease_ttl_s
        ):
            raise RuntimeError("the scope's lease was taken over by another replica")

    async def _failed(self, status: ScopeStatus, exc: Exception) -> ScopeStatus:
        self._full_read = None
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        log.warning(
            "index: sync of %s%s failed: %s",
            self.adapter.provider.value,
            f"/{self.key.scope}" if self.key.scope else "",
            message,
        )
        state = IndexState.FAILED if status.built_at is None else IndexState.STALE
        retry = None
        if isinstance(exc, ListTooLong):
            # Reading it again will not make it shorter: wait for the reconcile interval.
            retry = self.clock.now() + timedelta(seconds=self.limits.reconcile_interval_s)
        status = replace(status, state=state, error=message, reconcile_due=retry)
        await self.store.save_status(status)
        return status


class Syncer:
    """Every indexed vendor's scopes, synced in the background: one task per vendor, its scopes
    one after the other each round, so a vendor's sync makes one call at a time."""

    def __init__(
        self,
        store: IndexStore,
        adapters: Sequence[Adapter],
        limits: SyncLimits,
        clock: Clock = SYSTEM_CLOCK,
        tenant: str = DEFAULT_TENANT,
        on_status: Callable[[ScopeStatus], None] | None = None,
    ) -> None:
        self.store = store
        self.on_status = on_status  # told each scope's status after each round
        self.limits = limits
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.scopes = {
            adapter.provider: [
                ScopeSync(
                    store,
                    adapter,
                    ScopeKey(tenant, adapter.provider, scope),
                    limits,
                    clock,
                    self.holder,
                )
                for scope in adapter.feed_scopes()
            ]
            for adapter in adapters
            if adapter.indexed
        }
        self._tasks: list[asyncio.Task[None]] = []

    async def run_once(self) -> None:
        """One round of every scope (vendors concurrently): what tests and the loop call."""
        await asyncio.gather(*(self._round(scopes) for scopes in self.scopes.values()))

    async def _round(self, scopes: Sequence[ScopeSync]) -> None:
        for scope in scopes:
            status = await scope.run_once()
            if status is not None and self.on_status is not None:
                self.on_status(status)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(scopes), name=f"index-sync-{provider.value}")
            for provider, scopes in self.scopes.items()
        ]

    async def _loop(self, scopes: Sequence[ScopeSync]) -> None:
        while True:
            started = self.clock.monotonic()
            await self._round(scopes)
            spent = self.clock.monotonic() - started
            await self.clock.sleep(max(0.0, self.limits.interval_s - spent))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        keys = [scope.key for scopes in self.scopes.values() for scope in scopes]
        try:
            # One deadline for them all: when one cannot be released (the store is locked),
            # the next would wait the same way.
            await asyncio.wait_for(self._release(keys), _RELEASE_S)
        except (SQLAlchemyError, TimeoutError) as exc:
            # A write cancelled mid-transaction can hold SQLite's lock until its connection
            # is dropped; the leases expire by themselves: shutdown goes on.
            log.info("index: leases left to expire (%s)", exc or "no answer in time")

    async def _release(self, keys: list[ScopeKey]) -> None:
        for key in keys:
            await self.store.release_lease(key, self.holder)
