"""The session index's storage: SQLite (embedded, the default) or PostgreSQL (several replicas),
through SQLAlchemy Core on async drivers (aiosqlite, asyncpg), one code path for both.

Rows are keyed by (tenant, provider, scope, id) and carry the whole record plus the columns that
ordering and filters read (see `index.codec`), so a page is one indexed, ordered query whose
result equals `sorted(filter(matches, records))`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    Executable,
    Row,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

from index import codec
from index.audit import AuditEntry, forgets
from index.pages import PageSql, count_sql, held_sql, page_sql
from index.schema import (
    INDEX_TABLES,
    SCHEMA_VERSION,
    IndexVersionError,
    audit,
    leases,
    meta,
    metadata,
    scopes,
    sessions,
)
from index.sqlite_reads import SqliteReads
from index.state import IndexState, ListOrder, ScopeKey, ScopeStatus
from providers.query import SessionQuery
from providers.records import Provider, SessionRecord, SessionStatus, SortKey

__all__ = ["URL_SETTING", "IndexStore", "IndexVersionError"]

log = logging.getLogger(__name__)

URL_SETTING = "SESSIONGRAPH_INDEX_URL"
# Rows per upsert transaction, ids per IN list: far below both backends' parameter limits, and
# a few MB per SQLite transaction (fewer checkpoints) while other writers wait at most ~1 s.
_BATCH = 5000
_BULK = 5000  # new rows from one upsert after which PostgreSQL's statistics are refreshed
_BUSY_TIMEOUT_MS = 10_000  # SQLite: how long a writer waits for another one
# PostgreSQL: one advisory lock serializes creating and migrating the tables across processes.
_SCHEMA_LOCK = 0x53_47_49_4E_44_58  # "SGINDX"
_WRITE = "sessiongraph_write"  # execution option: this SQLite transaction will write
_KEY_COLUMNS = ("tenant", "provider", "scope")
_SESSION_KEY = (*_KEY_COLUMNS, "id")

S = sessions.c
A = audit.c
T = TypeVar("T")


class IndexStore:
    """One index database. Build with `await IndexStore.open(url)`, end with `aclose()`."""

    def __init__(self, engine: AsyncEngine, shown_url: str) -> None:
        self._engine = engine
        self._shown_url = shown_url
        self._postgres = engine.dialect.name == "postgresql"
        path = engine.url.database
        self._reads = None
        if not self._postgres and path not in (None, "", ":memory:"):
            self._reads = SqliteReads(str(Path(path).expanduser()), _BUSY_TIMEOUT_MS)

    @classmethod
    async def open(cls, url: str, clock_now: Callable[[], datetime] | None = None) -> IndexStore:
        """Connect, create the tables when missing and rebuild an index of an older schema
        version. Raises ValueError for a URL that is neither SQLite nor PostgreSQL, and
        `IndexVersionError` (touching nothing) for an index written by a newer server."""
        target, shown = _read_url(url)
        store = cls(_create_engine(target), shown)
        try:
            await store._prepare((clock_now or _utc_now)())
        except BaseException:
            await store.aclose()
            raise
        return store

    async def aclose(self) -> None:
        if self._reads is not None:
            await self._reads.close()
        await self._engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for logs."""
        return self._shown_url

    # -- sessions ------------------------------------------------------------------------

    async def upsert(self, key: ScopeKey, records: Sequence[SessionRecord], generation: int) -> int:
        """Insert or replace `records` in `key`'s scope, marked with `generation`; returns how
        many were not held before. One transaction per batch of rows, so that other writers
        (on SQLite, they wait for the one writer) get their turn during a large upsert."""
        latest = list({record.id: record for record in records}.values())  # the last one wins
        statement = self._upsert_statement(sessions, _SESSION_KEY)
        new = 0
        for batch in _batches(latest):
            # Deriving the columns (the transcript's words) takes ~0.1 ms a record: in a thread,
            # so that a large upsert does not hold up the requests this process serves.
            rows = await asyncio.to_thread(_session_rows, key, batch, generation)
            async with self._writing() as conn:
                held = await self._held(conn, key, [row["id"] for row in rows])
                new += len(rows) - len(held)
                await conn.execute(statement, rows)
        if new >= _BULK:
            await self.analyze()
        return new

    async def known_ids(self, key: ScopeKey, ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        for batch in _batches(list(set(ids))):
            found |= {row[0] for row in await self._read(self._held_statement(key, batch))}
        return found

    async def active(self, key: ScopeKey) -> list[SessionRecord]:
        statement = (
            select(S.record)
            .where(_scope_is(key), S.status == SessionStatus.ACTIVE.value)
            .order_by(S.started_at, S.agent_id, S.id)
        )
        return await self._records(statement)

    async def delete(self, key: ScopeKey, ids: Collection[str]) -> int:
        deleted = 0
        async with self._writing() as conn:
            for batch in _batches(list(set(ids))):
                statement = delete(sessions).where(_scope_is(key), self._among(S.id, batch))
                result = await conn.execute(statement)
                deleted += result.rowcount
        return deleted

    async def forget_session(
        self, tenant: str, provider: Provider, session_id: str, agent_id: str | None
    ) -> int:
        """Delete one session's row in whichever of its vendor's scopes holds it (a session
        deleted at the vendor). The agent is part of the key: Vectara's session keys are
        unique per agent only."""
        statement = delete(sessions).where(
            S.tenant == tenant,
            S.provider == provider.value,
            S.id == session_id,
            S.agent_id == (agent_id or ""),
        )
        async with self._writing() as conn:
            return (await conn.execute(statement)).rowcount

    async def delete_unseen(self, key: ScopeKey, generation: int) -> int:
        """Delete the rows the full read of `generation` did not see (older generations)."""
        statement = delete(sessions).where(_scope_is(key), S.generation < generation)
        async with self._writing() as conn:
            return (await conn.execute(statement)).rowcount

    async def purge_before(self, tenant: str, cutoff: datetime) -> int:
        """Delete `tenant`'s sessions started before `cutoff`, in every vendor and scope."""
        statement = delete(sessions).where(S.tenant == tenant, S.started_at < codec.micros(cutoff))
        async with self._writing() as conn:
            return (await conn.execute(statement)).rowcount

    async def analyze(self) -> None:
        """Refresh PostgreSQL's statistics of the sessions table. Until autovacuum has
        analyzed a freshly loaded table (within a minute or so), the planner knows nothing of
        it and may sort a whole scope for one page (250 ms at 100k rows instead of 4 ms).
        Called by `upsert` after a bulk load; a sync may call it after a full read. SQLite
        has no statistics unless asked, and its planner then keeps to the ordered index."""
        if self._postgres:
            async with self._writing() as conn:
                await conn.execute(text("ANALYZE sessions"))

    async def sessions_held(self, key: ScopeKey) -> int:
        return int((await self._column(held_sql(key)))[0])

    # -- queries -------------------------------------------------------------------------

    async def page(
        self,
        keys: Sequence[ScopeKey],
        query: SessionQuery,
        after: SortKey | None,
        limit: int,
    ) -> list[SessionRecord]:
        """Up to `limit` records of `keys`' scopes (one tenant and vendor) that match `query`,
        in `query.order` by (started_at, agent or "", id), strictly after `after` (whose
        provider is ignored: it is the keys' own)."""
        sql = page_sql(keys, query, after, limit)
        if sql is None:
            return []
        return [codec.decode_record(item) for item in await self._column(sql)]

    async def count(self, keys: Sequence[ScopeKey], query: SessionQuery) -> int:
        sql = count_sql(keys, query)
        return 0 if sql is None else int((await self._column(sql))[0])

    # -- scope statuses ------------------------------------------------------------------

    async def status(self, key: ScopeKey) -> ScopeStatus | None:
        statement = select(scopes).where(*_key_is(scopes, key))
        rows = await self._read(statement)
        return _status_from(rows[0]._mapping) if rows else None

    async def save_status(self, status: ScopeStatus) -> None:
        statement = self._upsert_statement(scopes, _KEY_COLUMNS)
        async with self._writing() as conn:
            await conn.execute(statement, [_status_row(status)])

    async def statuses(self, tenant: str, provider: Provider) -> list[ScopeStatus]:
        statement = (
            select(scopes)
            .where(scopes.c.tenant == tenant, scopes.c.provider == provider.value)
            .order_by(scopes.c.scope)
        )
        return [_status_from(row._mapping) for row in await self._read(statement)]

    # -- audit records -------------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> int:
        """Store `entry`; returns its `seq` (increasing: newer records have larger ones)."""
        row = {name: value for name, value in entry.as_log().items() if name != "at"}
        statement = audit.insert().values(**row, at=codec.micros(entry.at)).returning(A.seq)
        async with self._writing() as conn:
            return int((await conn.execute(statement)).scalar_one())

    async def audit_records(self, tenant: str, before: int | None, limit: int) -> list[AuditEntry]:
        """`tenant`'s records, newest first, those with a `seq` below `before` (all: None),
        at most `limit`."""
        statement = select(audit).where(A.tenant == tenant)
        if before is not None:
            statement = statement.where(A.seq < before)
        rows = await self._read(statement.order_by(A.seq.desc()).limit(limit))
        return [_audit_from(row._mapping) for row in rows]

    async def audit_after(self, tenant: str, after: int, limit: int) -> list[AuditEntry]:
        """`tenant`'s records with a `seq` above `after`, oldest first, at most `limit`: what
        was written since a reader last looked (another process included)."""
        statement = select(audit).where(A.tenant == tenant, A.seq > after)
        rows = await self._read(statement.order_by(A.seq).limit(limit))
        return [_audit_from(row._mapping) for row in rows]

    async def forgotten_after(
        self, tenant: str, after: int, limit: int
    ) -> tuple[int, list[AuditEntry]]:
        """The records of `tenant`'s sessions forgotten (`index.audit.forgets`) among the next
        `limit` after record `after`, and the last record read (`after` when none is new).
        Asked often by every process: the cheap read first, the records only when new."""
        if await self.last_audit_seq(tenant) <= after:
            return after, []
        entries = await self.audit_after(tenant, after, limit)
        last = max((e.seq for e in entries if e.seq is not None), default=after)
        return last, [entry for entry in entries if forgets(entry)]

    async def last_audit_seq(self, tenant: str) -> int:
        """The `seq` of `tenant`'s newest record; 0 when there is none. Asked every second by
        each process (`resolvers.deletions_elsewhere`): on a SQLite file through the reader
        threads, a fifth of the CPU of a read through the engine."""
        sql = PageSql("SELECT max(seq) FROM audit WHERE tenant = :tenant", {"tenant": tenant})
        found = await self._column(sql)
        return int(found[0] or 0) if found else 0

    # -- leases --------------------------------------------------------------------------

    async def take_lease(self, key: ScopeKey, holder: str, now: datetime, ttl_s: float) -> bool:
        """Take `key`'s lease until now + ttl_s when it is free or expired, or extend it when
        `holder` has it. One INSERT .. ON CONFLICT DO UPDATE .. WHERE: atomic on both backends
        (PostgreSQL re-checks the WHERE on the row it locked), so two replicas never both win."""
        now_us = codec.micros(now)
        row = {**_key_row(key), "holder": holder, "expires_at": now_us + round(ttl_s * 1e6)}
        insert = postgresql.insert(leases) if self._postgres else sqlite.insert(leases)
        taken = leases.c.holder == holder
        free = leases.c.expires_at <= now_us
        changes = {"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at}
        statement = (
            insert.values(row)
            .on_conflict_do_update(index_elements=_KEY_COLUMNS, set_=changes, where=taken | free)
            .returning(leases.c.holder)
        )
        async with self._writing() as conn:
            won = (await conn.execute(statement)).first()
        return won is not None

    async def release_lease(self, key: ScopeKey, holder: str) -> None:
        statement = delete(leases).where(*_key_is(leases, key), leases.c.holder == holder)
        async with self._writing() as conn:
            await conn.execute(statement)

    # -- plumbing ------------------------------------------------------------------------

    async def _prepare(self, now: datetime) -> None:
        async with self._writing() as conn:
            if self._postgres:
                # Held until this transaction ends: a second process waits, then sees the tables.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK}
                )
            found = await conn.run_sync(_found_version)
            if found is not None and found > SCHEMA_VERSION:
                raise IndexVersionError(
                    f"the index at {self._shown_url} has schema version {found}, this server"
                    f" reads version {SCHEMA_VERSION}: it is left as it is"
                )
            if found is not None and found < SCHEMA_VERSION:
                log.warning(
                    "the index at %s has schema version %s, this server reads version %s:"
                    " rebuilding it (empty until the next sync)",
                    self._shown_url,
                    found,
                    SCHEMA_VERSION,
                )
            await conn.run_sync(_create, found, now)
        if not self._postgres:
            await self._use_wal()

    async def _use_wal(self) -> None:
        """SQLite's write-ahead log: readers go on while one writer writes. Set only once the
        version is known (it rewrites the file's header), outside a transaction, and retried:
        the switch needs the file to itself and does not wait for other connections."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            while True:
                try:
                    await conn.exec_driver_sql("PRAGMA journal_mode = WAL")
                    return
                except OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.02)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: on SQLite `BEGIN IMMEDIATE`, so a writer takes the write lock
        before it reads (a deferred one could fail to upgrade without waiting)."""
        async with self._engine.connect() as conn:
            await conn.execution_options(**{_WRITE: True})
            async with conn.begin():
                yield conn

    async def _read(self, statement: Executable) -> Sequence[Row[Any]]:
        """The rows of one query, outside any write transaction. On SQLite, read to the end
        even when the caller is cancelled meanwhile (a request whose client went away): a
        statement cut short inside aiosqlite costs its pooled connection (discarded, then
        opened again with a thread of its own) and leaves the statement unfinalized, its read
        snapshot open until the garbage collector happens to free it, and the WAL meanwhile
        cannot be reset. A read takes milliseconds; the cancellation is raised after it.
        PostgreSQL's reads stay cancellable: a server that does not answer must not keep a
        cancelled request's task waiting, and cancelling there leaves nothing open."""

        async def rows() -> Sequence[Row[Any]]:
            async with self._engine.connect() as conn:
                return (await conn.execute(statement)).all()

        return await (rows() if self._postgres else _to_the_end(rows()))

    async def _held(self, conn: AsyncConnection, key: ScopeKey, ids: Sequence[str]) -> set[str]:
        return set((await conn.execute(self._held_statement(key, ids))).scalars())

    def _held_statement(self, key: ScopeKey, ids: Sequence[str]) -> Executable:
        return select(S.id).where(_scope_is(key), self._among(S.id, ids))

    def _among(self, column: ColumnElement[str], values: Sequence[str]) -> ColumnElement[bool]:
        """`column IN values`; on PostgreSQL one array parameter (`= ANY`), since a statement
        with thousands of parameters costs more to build than to run."""
        if self._postgres:
            return column == any_(bindparam(None, list(values), type_=ARRAY(Text)))
        return column.in_(values)

    async def _records(self, statement: Executable) -> list[SessionRecord]:
        return [codec.decode_record(row[0]) for row in await self._read(statement)]

    async def _column(self, sql: PageSql) -> list[Any]:
        """The first column of the rows `sql` selects: on a SQLite file through the reader
        threads (`index.sqlite_reads`), else through the engine."""
        if self._reads is not None:
            return await self._reads.column(sql.text, sql.params)
        return [row[0] for row in await self._read(text(sql.text).bindparams(**sql.params))]

    def _upsert_statement(self, table: Table, key: Sequence[str]) -> Insert:
        """INSERT .. ON CONFLICT (key) DO UPDATE every other column (run with many rows)."""
        others = [column.name for column in table.columns if column.name not in key]
        if self._postgres:
            pg = postgresql.insert(table)
            return pg.on_conflict_do_update(
                index_elements=key, set_={name: pg.excluded[name] for name in others}
            )
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=key, set_={name: lite.excluded[name] for name in others}
        )


async def _to_the_end(work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result, waiting for it to end even when this task is cancelled meanwhile;
    the cancellation is then raised (its first one: cancelled again, it still waits)."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.done():
                raise
            cancelled = cancelled or exc
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result


# -- URLs and engines --------------------------------------------------------------------


def _read_url(url: str) -> tuple[URL, str]:
    """The async engine's URL for what the user wrote (plain `sqlite:///` or `postgresql://`),
    and that URL without its password, for logs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    drivers = {
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }
    if parsed is None or parsed.drivername not in drivers:
        shown = url if parsed is None else _without_password(parsed)
        raise ValueError(
            f"{URL_SETTING} must be sqlite:///path/to/index.db or"
            f" postgresql://user@host:port/database, not {shown!r}"
        )
    shown = url if parsed.password is None else _without_password(parsed)
    return parsed.set(drivername=drivers[parsed.drivername]), shown


def _without_password(url: URL) -> str:
    return url._replace(password=None).render_as_string(hide_password=False)


def _create_engine(url: URL) -> AsyncEngine:
    if url.get_backend_name() != "sqlite":
        # asyncpg prepares every statement: after five runs PostgreSQL may switch to a generic
        # plan, blind to the values (`id = ANY($1)` then compares each row with the whole
        # array: minutes for 100k upserts); a plan for the values costs well under 1 ms.
        settings = {"plan_cache_mode": "force_custom_plan"}
        return create_async_engine(url, connect_args={"server_settings": settings})
    memory = url.database in (None, "", ":memory:")
    if memory:
        # One connection, or each would see its own empty database.
        engine = create_async_engine(url, poolclass=StaticPool)
    else:
        Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transactions begin late and not before DDL: `_sqlite_begin` emits them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable enough for a cache
    # 64 MiB of pages instead of 2: the indexes of 100k sessions stay in memory while writing.
    cursor.execute("PRAGMA cache_size = -65536")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    immediate = options.get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# -- schema versions ---------------------------------------------------------------------


def _found_version(conn: Connection) -> int | None:
    """The schema version of the index in this database: None when there is none, 0 when its
    tables predate the version or the meta table."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if meta.name not in tables:
        return 0 if tables & set(INDEX_TABLES) else None
    columns = {column["name"] for column in inspector.get_columns(meta.name)}
    if not {"key", "value"} <= columns:
        return 0
    statement = select(meta.c.value).where(meta.c.key == "schema_version")
    value = conn.execute(statement).scalar_one_or_none()
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        raise IndexVersionError(f"the index's schema version {value!r} is not a number") from None


def _create(conn: Connection, found: int | None, now: datetime) -> None:
    """Create the tables; when `found` is an older version, drop that index's tables first."""
    if found == SCHEMA_VERSION:
        metadata.create_all(conn, checkfirst=True)  # a table dropped by hand comes back empty
        return
    for name in INDEX_TABLES:
        conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    metadata.create_all(conn)
    conn.execute(
        meta.insert(),
        [
            {"key": "schema_version", "value": str(SCHEMA_VERSION)},
            {"key": "created_at", "value": now.isoformat()},
        ],
    )


# -- rows --------------------------------------------------------------------------------


def _session_rows(
    key: ScopeKey, records: Sequence[SessionRecord], generation: int
) -> list[dict[str, Any]]:
    return [_session_row(key, record, generation) for record in records]


def _session_row(key: ScopeKey, record: SessionRecord, generation: int) -> dict[str, Any]:
    return {
        **_key_row(key),
        "id": record.id,
        "agent_id": record.agent_id or "",
        "has_agent": record.agent_id is not None,
        "started_at": codec.micros(record.started_at),
        "status": record.status.value,
        "channel": None if record.channel is None else record.channel.value,
        "caller_digits": codec.phone_field(record.caller),
        "callee_digits": codec.phone_field(record.callee),
        "tags": codec.tags_field(record),
        "words": codec.words_field(record),
        "generation": generation,
        "record": codec.encode_record(record),
    }


def _key_row(key: ScopeKey) -> dict[str, Any]:
    return {"tenant": key.tenant, "provider": key.provider.value, "scope": key.scope}


def _key_is(table: Table, key: ScopeKey) -> list[ColumnElement[bool]]:
    return [table.c[name] == value for name, value in _key_row(key).items()]


def _scope_is(key: ScopeKey) -> ColumnElement[bool]:
    return and_(*_key_is(sessions, key))


def _status_row(status: ScopeStatus) -> dict[str, Any]:
    return {
        **_key_row(status.key),
        "state": status.state.value,
        "generation": status.generation,
        "vendor_total": status.vendor_total,
        "active_total": status.active_total,
        "list_order": status.order.value,
        "progress": status.progress,
        "built_at": _micros_or_none(status.built_at),
        "synced_at": _micros_or_none(status.synced_at),
        "reconciled_at": _micros_or_none(status.reconciled_at),
        "reconcile_due": _micros_or_none(status.reconcile_due),
        "error": status.error,
    }


def _status_from(row: Any) -> ScopeStatus:
    return ScopeStatus(
        key=ScopeKey(row["tenant"], Provider(row["provider"]), row["scope"]),
        state=IndexState(row["state"]),
        generation=row["generation"],
        vendor_total=row["vendor_total"],
        active_total=row["active_total"],
        order=ListOrder(row["list_order"]),
        progress=row["progress"],
        built_at=_moment_or_none(row["built_at"]),
        synced_at=_moment_or_none(row["synced_at"]),
        reconciled_at=_moment_or_none(row["reconciled_at"]),
        reconcile_due=_moment_or_none(row["reconcile_due"]),
        error=row["error"],
    )


def _audit_from(row: Any) -> AuditEntry:
    return AuditEntry(
        at=codec.from_micros(row["at"]),
        tenant=row["tenant"],
        key_id=row["key_id"],
        action=row["action"],
        target=row["target"],
        provider=row["provider"],
        session_id=row["session_id"],
        outcome=row["outcome"],
        message=row["message"],
        seq=row["seq"],
    )


def _micros_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else codec.micros(moment)


def _moment_or_none(value: int | None) -> datetime | None:
    return None if value is None else codec.from_micros(value)


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _utc_now() -> datetime:
    return datetime.now(UTC)
