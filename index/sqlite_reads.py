"""Reads of a SQLite index file on plain `sqlite3` connections, one thread hop a read.

Through SQLAlchemy's async engine over aiosqlite, a page read is eight hops between the event
loop and aiosqlite's thread (checkout, BEGIN, execute, fetch, cursor close, rollback...) and
~1 ms of CPU; here the whole read (execute and fetch) runs in one call on a reader thread, which
keeps its own connection (statements stay prepared in its cache): ~0.15 ms. Writes keep the
engine: they are the sync's, off the request path.

Each read is one statement in autocommit: under WAL it reads one consistent snapshot and never
waits for the writer. The threads are few and fixed, so are the connections; `close` waits for
a read in flight (one statement: milliseconds) before closing them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["SqliteReads"]

_THREADS = 2  # reads take ~0.05 ms in SQLite: two threads keep up with any request rate here


class SqliteReads:
    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(_THREADS, thread_name_prefix="index-read")
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def column(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        """The first column of every row `sql` selects."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._column, sql, params)

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        with self._lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()

    def _column(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
        return [row[0] for row in connection.execute(sql, params)]

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread off: opened here, closed by `close` from the loop's thread.
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        connection.execute("PRAGMA query_only = ON")
        with self._lock:
            self._opened.append(connection)
        self._local.connection = connection
        return connection
