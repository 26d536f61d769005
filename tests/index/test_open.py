"""Opening an index: which URLs, and the schema version rules (an older index is rebuilt, a
newer one is left untouched), on both backends."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from index.schema import SCHEMA_VERSION, IndexVersionError
from index.store import IndexStore
from tests.index import raw
from tests.index.factory import STATESET, at, ids, query, record, vectara

OLD_TABLES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE sessions (id TEXT PRIMARY KEY, blob TEXT)",
    "INSERT INTO sessions VALUES ('old-1', 'x')",
    "CREATE TABLE scopes (name TEXT)",
)


async def meta_version(url: str) -> list[tuple[object, ...]]:
    return await raw.fetch(url, "SELECT value FROM meta WHERE key = 'schema_version'")


async def works(store: IndexStore) -> None:
    """The store takes rows and pages them."""
    assert await store.upsert(STATESET, [record("a", at(1)), record("b", at(2))], 1) == 2
    assert ids(await store.page([STATESET], query(), None, 10)) == ["b", "a"]


async def test_a_new_index_is_created(index_url: str) -> None:
    store = await IndexStore.open(index_url)
    try:
        await works(store)
    finally:
        await store.aclose()
    assert {"meta", "sessions", "scopes", "leases"} <= await raw.tables(index_url)
    assert await meta_version(index_url) == [(str(SCHEMA_VERSION),)]


async def test_an_index_of_this_version_keeps_its_rows(index_url: str) -> None:
    store = await IndexStore.open(index_url)
    await works(store)
    await store.aclose()
    again = await IndexStore.open(index_url)
    try:
        assert await again.sessions_held(STATESET) == 2
    finally:
        await again.aclose()


async def test_an_older_index_is_rebuilt(index_url: str, caplog: pytest.LogCaptureFixture) -> None:
    await raw.execute(index_url, *OLD_TABLES, "INSERT INTO meta VALUES ('schema_version', '0')")
    with caplog.at_level(logging.WARNING, logger="index.store"):
        store = await IndexStore.open(index_url)
    try:
        assert await store.sessions_held(STATESET) == 0
        await works(store)
    finally:
        await store.aclose()
    assert "schema version 0" in caplog.text and "rebuilding" in caplog.text
    assert await meta_version(index_url) == [(str(SCHEMA_VERSION),)]


async def test_an_index_from_before_versions_is_rebuilt(index_url: str) -> None:
    await raw.execute(index_url, *OLD_TABLES[1:])  # no meta table at all
    store = await IndexStore.open(index_url)
    try:
        assert await store.sessions_held(STATESET) == 0
        await works(store)
    finally:
        await store.aclose()


async def test_a_meta_table_of_another_shape_is_rebuilt(index_url: str) -> None:
    await raw.execute(
        index_url, "CREATE TABLE meta (version INTEGER)", "INSERT INTO meta VALUES (1)"
    )
    store = await IndexStore.open(index_url)
    try:
        await works(store)
    finally:
        await store.aclose()
    assert await meta_version(index_url) == [(str(SCHEMA_VERSION),)]


async def test_a_meta_table_without_a_version_is_rebuilt(index_url: str) -> None:
    await raw.execute(index_url, *OLD_TABLES)
    store = await IndexStore.open(index_url)
    try:
        await works(store)
    finally:
        await store.aclose()


async def test_a_newer_index_is_left_untouched(index_url: str) -> None:
    store = await IndexStore.open(index_url)
    await works(store)
    await store.aclose()
    newer = SCHEMA_VERSION + 1
    await raw.execute(index_url, f"UPDATE meta SET value = '{newer}' WHERE key = 'schema_version'")
    path = raw.sqlite_path(index_url)
    before = path.read_bytes() if path else None
    with pytest.raises(IndexVersionError) as raised:
        await IndexStore.open(index_url)
    message = str(raised.value)
    assert f"version {newer}" in message and f"reads version {SCHEMA_VERSION}" in message
    assert await meta_version(index_url) == [(str(newer),)]
    assert await raw.fetch(index_url, "SELECT id FROM sessions ORDER BY id") == [("a",), ("b",)]
    if path:
        assert path.read_bytes() == before


async def test_a_version_that_is_no_number_is_not_ours(index_url: str) -> None:
    await raw.execute(index_url, *OLD_TABLES, "INSERT INTO meta VALUES ('schema_version', 'two')")
    with pytest.raises(IndexVersionError, match="'two' is not a number"):
        await IndexStore.open(index_url)
    assert await raw.fetch(index_url, "SELECT id FROM sessions") == [("old-1",)]


@pytest.mark.parametrize("older", [False, True])
async def test_stores_opened_at_once_all_work(index_url: str, older: bool) -> None:
    """Processes starting together: one creates (or rebuilds) the tables, the others wait for
    it (an advisory lock on PostgreSQL) and find them."""
    if older:
        await raw.execute(index_url, *OLD_TABLES, "INSERT INTO meta VALUES ('schema_version', '0')")
    stores = await asyncio.gather(*(IndexStore.open(index_url) for _ in range(4)))
    try:
        for n, store in enumerate(stores):
            await store.upsert(vectara(f"ag{n}"), [record(f"s{n}", at(n), agent_id=f"ag{n}")], 1)
        keys = [vectara(f"ag{n}") for n in range(4)]
        for store in stores:
            assert ids(await store.page(keys, query(), None, 10)) == ["s3", "s2", "s1", "s0"]
    finally:
        for store in stores:
            await store.aclose()
    assert await meta_version(index_url) == [(str(SCHEMA_VERSION),)]


async def test_describe_leaves_the_password_out(index_url: str) -> None:
    url = make_url(index_url)
    if url.get_backend_name() == "postgresql" and url.password is None:
        url = url.set(password="s3cret")  # the test cluster trusts loopback: any password
    written = url.render_as_string(hide_password=False)
    store = await IndexStore.open(written)
    try:
        shown = store.describe()
    finally:
        await store.aclose()
    assert shown == url._replace(password=None).render_as_string(hide_password=False)
    assert url.password is None or str(url.password) not in shown


async def test_sqlite_folders_are_created(tmp_path: Path) -> None:
    store = await IndexStore.open(f"sqlite:///{tmp_path}/a/b/index.db")
    try:
        await works(store)
    finally:
        await store.aclose()
    assert (tmp_path / "a" / "b" / "index.db").is_file()
    mode = await raw.fetch(f"sqlite:///{tmp_path}/a/b/index.db", "PRAGMA journal_mode")
    assert mode == [("wal",)]


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_an_index_in_memory(url: str) -> None:
    store = await IndexStore.open(url)
    try:
        await works(store)
        assert store.describe() == url
    finally:
        await store.aclose()


async def test_the_postgres_scheme_is_read_as_postgresql(index_url: str) -> None:
    if not index_url.startswith("postgresql://"):
        return  # only PostgreSQL has two scheme names; SQLite's is covered above
    store = await IndexStore.open(index_url.replace("postgresql://", "postgres://", 1))
    try:
        await works(store)
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    "url",
    ["mysql://root:hunter2@db/index", "index.db", "", "sqlite+pysqlite:///x.db", "redis://x"],
)
async def test_other_urls_are_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(ValueError, match="SESSIONGRAPH_INDEX_URL") as raised:
        await IndexStore.open(url)
    assert "hunter2" not in str(raised.value)
