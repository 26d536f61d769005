"""The index store's audit table and its one-session delete, on both backends: records come
back newest first per tenant, page before a `seq`, survive a rebuild of the cached data, and
appear in an index of this version that lacked the table; `forget_session` deletes one row in
whichever scope holds it, and only that agent's. Expected values are written out by hand."""

from __future__ import annotations

from dataclasses import replace

from index.audit import AuditEntry
from index.store import IndexStore
from providers.records import Provider
from tests.index import raw
from tests.index.factory import STATESET, T0, at, ids, query, record, vectara


def entry(n: int, tenant: str = "default", outcome: str = "DELETED") -> AuditEntry:
    return AuditEntry(
        at=at(n),
        tenant=tenant,
        key_id=f"key-{n}",
        action="deleteSession",
        target=f"U2Vzc2lvbj{n}",
        provider="VONAGE",
        session_id=f"s{n}",
        outcome=outcome,
        message=None if outcome == "DELETED" else "no",
    )


async def test_audit_records_newest_first_per_tenant(store: IndexStore) -> None:
    seqs = [await store.add_audit(entry(n)) for n in range(5)]
    other = await store.add_audit(entry(9, tenant="acme", outcome="FORBIDDEN"))
    assert seqs == sorted(seqs) and len(set([*seqs, other])) == 6
    newest = await store.audit_records("default", None, 3)
    assert [e.session_id for e in newest] == ["s4", "s3", "s2"]
    assert newest[0] == replace(entry(4), seq=seqs[4])  # every field back as it was
    rest = await store.audit_records("default", newest[-1].seq, 3)
    assert [e.session_id for e in rest] == ["s1", "s0"]
    assert await store.audit_records("default", rest[-1].seq, 3) == []
    (theirs,) = await store.audit_records("acme", None, 10)
    assert (theirs.outcome, theirs.message, theirs.key_id) == ("FORBIDDEN", "no", "key-9")
    assert await store.audit_records("nobody", None, 10) == []


async def test_forget_session_deletes_one_row_in_any_scope(store: IndexStore) -> None:
    # Vectara keys are unique per agent only: two agents share "s".
    await store.upsert(vectara("ag1"), [record("s", at(1), agent_id="ag1")], 1)
    await store.upsert(vectara("ag2"), [record("s", at(2), agent_id="ag2")], 1)
    await store.upsert(vectara("ag1", tenant="t2"), [record("s", at(1), agent_id="ag1")], 1)
    await store.upsert(STATESET, [record("s", at(3)), record("k", at(4))], 1)
    assert await store.forget_session("default", Provider.VECTARA, "s", "ag1") == 1
    assert await store.sessions_held(vectara("ag1")) == 0
    assert await store.sessions_held(vectara("ag2")) == 1
    assert await store.sessions_held(vectara("ag1", tenant="t2")) == 1
    assert await store.forget_session("default", Provider.VECTARA, "s", "ag1") == 0
    assert await store.forget_session("default", Provider.STATESET, "s", None) == 1
    assert ids(await store.page([STATESET], query(), None, 10)) == ["k"]


async def test_an_index_without_the_audit_table_gets_it_and_keeps_its_sessions(
    index_url: str,
) -> None:
    store = await IndexStore.open(index_url)
    await store.upsert(STATESET, [record("a", at(1))], 1)
    await store.aclose()
    await raw.execute(index_url, "DROP TABLE audit")  # as an index written before audit
    store = await IndexStore.open(index_url)
    try:
        assert await store.sessions_held(STATESET) == 1
        seq = await store.add_audit(entry(1))
        assert [e.seq for e in await store.audit_records("default", None, 5)] == [seq]
    finally:
        await store.aclose()


async def test_a_rebuild_of_an_older_index_keeps_the_audit_records(index_url: str) -> None:
    store = await IndexStore.open(index_url)
    await store.upsert(STATESET, [record("a", at(1))], 1)
    await store.add_audit(entry(1))
    await store.aclose()
    await raw.execute(index_url, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = await IndexStore.open(index_url)
    try:
        assert await store.sessions_held(STATESET) == 0  # the cached sessions were dropped
        (kept,) = await store.audit_records("default", None, 5)
        assert (kept.session_id, kept.at) == ("s1", at(1))
        assert kept.at > T0
    finally:
        await store.aclose()
