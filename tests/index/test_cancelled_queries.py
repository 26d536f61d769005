"""A query cancelled while it runs inside SQLite (a request whose client went away, or the sync
stopped at shutdown) leaves nothing behind: no pooled connection checked out, no write lock (a
writer, such as the other worker's `take_lease`, would wait SQLite's 10 s busy timeout for it),
no read snapshot (until one ends, the WAL cannot be reset). A read also keeps its connection:
cut short inside aiosqlite, it cost its connection (opened again, with a new thread, by the
next query) and left its statement unfinalized, its snapshot open until the garbage collector
freed it.

The query is held inside SQLite by a progress handler (SQLite calls it from the statement's own
thread while the statement runs) until the task has been cancelled; what is left is then read
through a second, plain sqlite3 connection that never waits for a lock (timeout 0). Nothing
here waits on time."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from index.store import IndexStore
from tests.index.factory import STATESET, at, query, record

Query = Callable[[IndexStore], Coroutine[Any, Any, Any]]


class HeldStatement:
    """A progress handler that, once armed, holds a statement inside SQLite until released,
    and says when it holds one: at its second call inside a transaction (a read's snapshot is
    taken past its statement's first instructions; the test checks that it is)."""

    def __init__(self) -> None:
        self.armed = False
        self.calls_in_transaction = 0
        self.holding = asyncio.Event()
        self.release = threading.Event()
        self._loop = asyncio.get_running_loop()

    def handler(self, connection: Any) -> Callable[[], int]:
        return lambda: self._hold(connection.in_transaction)

    def _hold(self, in_transaction: bool) -> int:  # in the connection's own thread
        if not (self.armed and in_transaction):
            return 0
        self.calls_in_transaction += 1
        if self.calls_in_transaction >= 2 and not self.release.is_set():
            self._loop.call_soon_threadsafe(self.holding.set)
            self.release.wait()
        return 0  # go on


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[tuple[IndexStore, Path]]:
    path = tmp_path / "index.db"
    store = await IndexStore.open(f"sqlite:///{path}")
    await store.upsert(STATESET, [record(f"s-{n}", at(n)) for n in range(50)], generation=1)
    yield store, path
    await store.aclose()


async def held_on_every_connection(engine: AsyncEngine, held: HeldStatement) -> None:
    """Installs `held` on every connection the pool holds (all of them idle), so whichever
    one the next query checks out holds its statement."""
    pool = engine.pool
    idle = pool.checkedin()  # type: ignore[attr-defined]
    assert idle >= 1
    connections = [await engine.connect() for _ in range(idle)]
    for conn in connections:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection  # aiosqlite's connection
        await driver.set_progress_handler(held.handler(driver), 1)
    for conn in connections:
        await conn.close()
    assert pool.checkedin() == idle  # type: ignore[attr-defined]


def lock_and_snapshot_free(path: Path) -> tuple[bool, bool]:
    """(no write lock held: BEGIN IMMEDIATE succeeds at once; no reader holds a snapshot: a
    TRUNCATE checkpoint is not busy), seen from a connection of this test's own."""
    plain = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        try:
            plain.execute("BEGIN IMMEDIATE")
            plain.execute("ROLLBACK")
            writable = True
        except sqlite3.OperationalError:  # "database is locked"
            writable = False
        busy, _, _ = plain.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return writable, busy == 0
    finally:
        plain.close()


async def read_page(store: IndexStore) -> Any:
    return await store.page([STATESET], query(), None, 10)


async def read_active(store: IndexStore) -> Any:
    # A read through the engine (pages and counts of a SQLite file have their reader threads).
    return await store.active(STATESET)


async def write_rows(store: IndexStore) -> Any:
    return await store.upsert(STATESET, [record(f"n-{n}", at(100 + n)) for n in range(20)], 2)


async def renew_lease(store: IndexStore) -> Any:
    return await store.take_lease(STATESET, "worker-a", at(0), 60.0)


# A write's connection may be discarded: the sync's writes are cancelled at shutdown only.
@pytest.mark.parametrize(
    ("cancelled", "keeps_its_connection"),
    [(read_active, True), (write_rows, False), (renew_lease, False)],
)
async def test_a_query_cancelled_inside_sqlite_leaves_no_connection_lock_or_snapshot(
    sqlite_store: tuple[IndexStore, Path], cancelled: Query, keeps_its_connection: bool
) -> None:
    store, path = sqlite_store
    engine: AsyncEngine = store._engine
    held = HeldStatement()
    await held_on_every_connection(engine, held)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda connection, _: opened.append(connection))
    try:
        async with asyncio.timeout(10):  # a hang fails the test instead of stalling the suite
            held.armed = True
            task = asyncio.create_task(cancelled(store))
            await held.holding.wait()
            # Held inside SQLite: the statement's transaction is open right now (so what the
            # test checks afterwards is not true by itself).
            assert lock_and_snapshot_free(path) != (True, True)
            task.cancel()  # before the statement can end: the cancellation lands mid-statement
            held.release.set()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        held.armed = False
        held.release.set()  # never leave the connection's thread held, even on a failure
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert lock_and_snapshot_free(path) == (True, True)
    # And the store goes on: a read, a write and the lease, on whatever connection is next.
    async with asyncio.timeout(10):
        assert len(await read_page(store)) == 10
        await write_rows(store)
        assert await renew_lease(store)
    if keeps_its_connection:
        assert opened == []  # every query after it ran on the pool's connection
