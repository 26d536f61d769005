"""The index store on both backends: what it holds, how it pages and filters, its scope statuses
and leases. Expected results are written out by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from index.state import IndexState, ListOrder, ScopeStatus
from index.store import IndexStore
from providers.query import SortOrder
from providers.records import (
    Channel,
    FlowStep,
    Parameter,
    Provider,
    Recording,
    SessionDetails,
    SessionStatus,
    Speaker,
    Tag,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
)
from tests.index.factory import STATESET, T0, at, ids, query, record, said, vectara

OLDEST = SortOrder.OLDEST_FIRST


async def test_a_record_comes_back_whole(store: IndexStore) -> None:
    full = record(
        "s-1",
        datetime(2026, 3, 1, 12, 0, 0, 123457, tzinfo=UTC),
        status=SessionStatus.FAILED,
        agent_id="agent-7",
        agent_name="Ana",
        ended_at=datetime(2026, 3, 1, 12, 5, tzinfo=UTC),
        duration_ms=300_000,
        channel=Channel.VOICE,
        raw_channel="phone",
        direction="inbound",
        caller="+1 (555) 010-2030",
        callee="+44 20 7946 0000",
        title="Refund",
        summary="Wants a refund; it's 'urgent'",
        tags=(Tag("Billing", "topic", 2), Tag("vip")),
        parameters=(Parameter("lang", "en", "string"), Parameter("empty", None)),
        metadata={"nested": {"list": [1, 2.5, None, "x"]}, "flag": True},
        lookup_key="stream-9",
        details=SessionDetails(
            transcript=(
                TranscriptTurn(Speaker.AGENT, "Hello, how can I help?", "assistant", 0),
                TranscriptTurn(Speaker.USER, "Refund please", "user", 1500, at(2)),
            ),
            tool_calls=(
                ToolCall(
                    "refund",
                    {"amount": 12.5, "items": ["a", "b"]},
                    {"ok": True},
                    ToolCallStatus.ERROR,
                    "declined",
                    "call-1",
                    2000,
                    at(3),
                    40,
                ),
            ),
            flow_steps=(FlowStep("n1", "webhook", "r1", 12, 200, "https://x.test/h", ("a",)),),
            recording=Recording("https://rec.test/1.mp3", at(3600)),
        ),
    )
    bare = record("s-2", at(1))  # no details: None stays None, not empty details
    assert await store.upsert(STATESET, [full, bare], generation=1) == 2
    assert await store.page([STATESET], query(order=OLDEST), None, 10) == [full, bare]
    assert await store.active(STATESET) == []


async def test_times_keep_their_microseconds_and_any_offset(store: IndexStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    moments = [
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before the epoch
        datetime(2026, 3, 1, 14, 0, 0, 1, tzinfo=plus_two),  # 12:00:00.000001 UTC
        datetime(2026, 3, 1, 12, 0, 0, 0, tzinfo=UTC),
    ]
    records = [record(f"r{i}", moment) for i, moment in enumerate(moments)]
    await store.upsert(STATESET, records, 1)
    window = query(started_after=datetime(1960, 1, 1, tzinfo=UTC), order=OLDEST)  # 1969 is in
    assert ids(await store.page([STATESET], window, None, 10)) == ["r0", "r2", "r1"]
    assert (await store.page([STATESET], window, None, 10))[2].started_at == moments[1]


# Five sessions started at one instant (ties broken by agent then id, in code point order:
# "" < "A" < "a" < "é"; "Z" < "_" < "a" < "é" < "😀"), two others around them.
TIED = [
    record("late", at(10)),
    record("a", at(5), agent_id="a"),
    record("Z", at(5), agent_id="a"),
    record("é", at(5)),
    record("_", at(5), agent_id="A"),
    record("😀", at(5)),
    record("x", at(5), agent_id="é"),
    record("early", at(0)),
]
OLDEST_ORDER = ["early", "é", "😀", "_", "Z", "a", "x", "late"]


async def test_order_breaks_ties_by_agent_then_id_in_code_points(store: IndexStore) -> None:
    await store.upsert(STATESET, TIED, 1)
    assert ids(await store.page([STATESET], query(order=OLDEST), None, 20)) == OLDEST_ORDER
    newest = await store.page([STATESET], query(), None, 20)
    assert ids(newest) == OLDEST_ORDER[::-1]


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("size", [1, 2, 3])
async def test_keyset_pages_resume_strictly_after(
    store: IndexStore, order: SortOrder, size: int
) -> None:
    await store.upsert(STATESET, TIED, 1)
    expected = OLDEST_ORDER if order is OLDEST else OLDEST_ORDER[::-1]
    seen: list[str] = []
    after = None
    while True:
        page = await store.page([STATESET], query(order=order), after, size)
        assert len(page) <= size
        if not page:
            break
        seen += ids(page)
        after = page[-1].sort_key
    assert seen == expected


async def test_after_a_key_that_is_not_a_row(store: IndexStore) -> None:
    await store.upsert(STATESET, TIED, 1)
    # Between "_" (agent "A") and "Z" (agent "a"): agent "B" sorts between them.
    bound = (at(5), "stateset", "B", "")
    assert ids(await store.page([STATESET], query(order=OLDEST), bound, 20)) == [
        "Z",
        "a",
        "x",
        "late",
    ]
    assert ids(await store.page([STATESET], query(), bound, 20)) == ["_", "😀", "é", "early"]
    # The provider of a sort key is the store's own: another one is ignored.
    other = (at(5), "vectara", "B", "")
    assert ids(await store.page([STATESET], query(), other, 2)) == ["_", "😀"]


async def test_a_page_of_several_scopes_is_merged(store: IndexStore) -> None:
    await store.upsert(
        vectara("ag1"),
        [record("a1", at(1), agent_id="ag1"), record("a3", at(3), agent_id="ag1")],
        1,
    )
    await store.upsert(
        vectara("ag2"),
        [record("b2", at(2), agent_id="ag2"), record("b4", at(4), agent_id="ag2")],
        1,
    )
    await store.upsert(vectara("ag3"), [record("c0", at(0), agent_id="ag3")], 1)
    await store.upsert(vectara("ag1", tenant="other"), [record("z", at(2), agent_id="ag1")], 1)
    two = [vectara("ag1"), vectara("ag2")]
    assert ids(await store.page(two, query(), None, 10)) == ["b4", "a3", "b2", "a1"]
    assert ids(await store.page(two, query(order=OLDEST), None, 3)) == ["a1", "b2", "a3"]
    assert await store.count(two, query()) == 4
    assert await store.page([], query(), None, 10) == []
    assert await store.count([], query()) == 0
    with pytest.raises(ValueError, match="one tenant and vendor"):
        await store.page([vectara("ag1"), STATESET], query(), None, 10)


async def test_limit_zero_is_an_empty_page(store: IndexStore) -> None:
    await store.upsert(STATESET, TIED, 1)
    assert await store.page([STATESET], query(), None, 0) == []


FILTERED = [
    record(
        "voice",
        at(1),
        agent_id="ag1",
        status=SessionStatus.ACTIVE,
        channel=Channel.VOICE,
        caller="+1 (555) 010",
        tags=(Tag("Billing"), Tag("VIP")),
        details=said("I can't log in", "my user_name is Bob"),
    ),
    record(
        "chat",
        at(2),
        agent_id="ag2",
        status=SessionStatus.COMPLETED,
        channel=Channel.CHAT,
        callee="1555010",
        tags=(Tag("billing"), Tag("50%_off"), Tag("a|b")),
        details=said("username bob, users get 50% off?"),
    ),
    record(
        "bare",
        at(3),
        status=SessionStatus.FAILED,
        tags=(Tag("b"),),
    ),  # no agent, channel, phone or details
    record(
        "empty",
        at(4),
        agent_id="",
        status=SessionStatus.UNKNOWN,
        channel=Channel.OTHER,
        caller="n/a",
        details=SessionDetails(),
    ),
]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"voice", "chat", "bare", "empty"}),
        # window: [after, before)
        ({"started_after": at(2), "started_before": at(4)}, {"chat", "bare"}),
        ({"started_after": at(4), "started_before": at(4)}, set()),
        # agents: None is in no list, "" only where the record says ""
        ({"agent_ids": ("ag1", "ag3")}, {"voice"}),
        ({"agent_ids": ("",)}, {"empty"}),
        ({"agent_ids": ()}, set()),
        # statuses, channels (a record without a channel is in no list)
        ({"statuses": frozenset({SessionStatus.ACTIVE, SessionStatus.FAILED})}, {"voice", "bare"}),
        ({"statuses": frozenset()}, set()),
        ({"channels": frozenset({Channel.CHAT, Channel.OTHER})}, {"chat", "empty"}),
        ({"channels": frozenset()}, set()),
        # tags: all of them, whole names, any case; wildcards and the separator are plain text
        ({"tags": ("BILLING",)}, {"voice", "chat"}),
        ({"tags": ("billing", "vip")}, {"voice"}),
        ({"tags": ("bill",)}, set()),
        ({"tags": ("50%_OFF",)}, {"chat"}),
        ({"tags": ("50%",)}, set()),
        ({"tags": ("%",)}, set()),
        ({"tags": ("_",)}, set()),
        ({"tags": ("a|b",)}, {"chat"}),
        ({"tags": ("b",)}, {"bare"}),  # not found inside "a|b"
        ({"tags": ("a",)}, set()),
        # phone: digits equal to the caller's or the callee's
        ({"phone_number": "1-555-010"}, {"voice", "chat"}),
        ({"phone_number": "555010"}, set()),
        # no digits: "" equals the digits of a missing caller or callee, so all four match
        ({"phone_number": "none"}, {"voice", "chat", "bare", "empty"}),
        # text: every word, lowercased, in the transcript's words; no details, no match
        ({"text": "BOB"}, {"voice", "chat"}),
        ({"text": "can't"}, {"voice"}),
        ({"text": "can"}, set()),
        ({"text": "user_name"}, {"voice"}),
        ({"text": "user_"}, set()),  # not "users": "_" is no wildcard
        ({"text": "user%"}, set()),  # "%" is no word character: the word "user" is in neither
        ({"text": "50 off"}, {"chat"}),
        ({"text": "bob log"}, {"voice"}),
        ({"text": "..."}, {"voice", "chat", "empty"}),  # no words: any record with details
        ({"text": ""}, {"voice", "chat", "empty"}),
        # fleet filters: only a fleet vendor can answer them
        ({"vehicle_ids": ("v1",)}, set()),
        ({"driver_ids": ()}, set()),
    ],
)
async def test_every_filter(
    store: IndexStore, filters: dict[str, object], expected: set[str]
) -> None:
    await store.upsert(STATESET, FILTERED, 1)
    q = query(**filters)
    assert set(ids(await store.page([STATESET], q, None, 10))) == expected
    assert await store.count([STATESET], q) == len(expected)


async def test_filters_combine(store: IndexStore) -> None:
    await store.upsert(STATESET, FILTERED, 1)
    q = query(tags=("billing",), text="bob", channels=frozenset({Channel.CHAT}))
    assert ids(await store.page([STATESET], q, None, 10)) == ["chat"]


async def test_upsert_replaces_and_counts_new_rows(store: IndexStore) -> None:
    first = [record("a", at(1), status=SessionStatus.ACTIVE), record("b", at(2))]
    assert await store.upsert(STATESET, first, 1) == 2
    changed = record("a", at(7), status=SessionStatus.COMPLETED, tags=(Tag("done"),))
    assert await store.upsert(STATESET, [changed, record("c", at(3))], 1) == 1
    # Twice in one batch: the last one wins, counted once.
    twice = [record("d", at(4)), record("d", at(5), title="second")]
    assert await store.upsert(STATESET, twice, 1) == 1
    assert await store.upsert(STATESET, [], 1) == 0
    page = await store.page([STATESET], query(), None, 10)
    assert ids(page) == ["a", "d", "c", "b"]
    assert page[0] == changed and page[1].title == "second"
    assert await store.active(STATESET) == []
    assert await store.page([STATESET], query(tags=("done",)), None, 10) == [changed]
    assert await store.sessions_held(STATESET) == 4


async def test_scopes_and_tenants_are_apart(store: IndexStore) -> None:
    same_id = record("s", at(1), agent_id="ag1")
    await store.upsert(vectara("ag1"), [same_id], 1)
    assert await store.upsert(vectara("ag2"), [record("s", at(1), agent_id="ag2")], 1) == 1
    assert await store.upsert(vectara("ag1", tenant="t2"), [same_id], 1) == 1
    assert await store.known_ids(vectara("ag1"), ["s", "t"]) == {"s"}
    assert await store.known_ids(vectara("ag3"), ["s"]) == set()
    assert await store.delete(vectara("ag1"), ["s"]) == 1
    assert await store.sessions_held(vectara("ag2")) == 1
    assert await store.sessions_held(vectara("ag1", tenant="t2")) == 1


async def test_many_ids_at_once(store: IndexStore) -> None:
    records = [record(f"id{n:05}", at(n)) for n in range(2500)]  # several batches
    assert await store.upsert(STATESET, records, 1) == 2500
    asked = [f"id{n:05}" for n in range(0, 5000, 2)]
    assert await store.known_ids(STATESET, asked) == {f"id{n:05}" for n in range(0, 2500, 2)}
    assert await store.delete(STATESET, asked) == 1250
    assert await store.sessions_held(STATESET) == 1250
    assert await store.count([STATESET], query()) == 1250


async def test_a_bulk_load(store: IndexStore) -> None:
    """One upsert of many new rows (after which PostgreSQL's statistics are refreshed)."""
    records = [record(f"id{n:05}", at(n // 2)) for n in range(6000)]
    assert await store.upsert(STATESET, records, 1) == 6000
    assert ids(await store.page([STATESET], query(), None, 3)) == ["id05999", "id05998", "id05997"]
    await store.analyze()
    assert await store.count([STATESET], query(started_before=at(10))) == 20


async def test_active_sessions(store: IndexStore) -> None:
    live = [
        record("b", at(2), status=SessionStatus.ACTIVE),
        record("a", at(1), status=SessionStatus.ACTIVE),
    ]
    await store.upsert(STATESET, [*live, record("c", at(3))], 1)
    await store.upsert(vectara("ag"), [record("v", at(1), status=SessionStatus.ACTIVE)], 1)
    assert ids(await store.active(STATESET)) == ["a", "b"]


async def test_generations_delete_what_a_full_read_did_not_see(store: IndexStore) -> None:
    await store.upsert(STATESET, [record("a", at(1)), record("b", at(2)), record("c", at(3))], 1)
    await store.upsert(vectara("ag"), [record("v", at(1))], 1)
    await store.upsert(STATESET, [record("a", at(1)), record("c", at(3))], 2)  # b is gone
    assert await store.delete_unseen(STATESET, 2) == 1
    assert ids(await store.page([STATESET], query(), None, 10)) == ["c", "a"]
    assert await store.delete_unseen(STATESET, 2) == 0
    assert await store.sessions_held(vectara("ag")) == 1  # another scope keeps its rows


async def test_purge_before_a_cutoff_in_every_scope(store: IndexStore) -> None:
    await store.upsert(STATESET, [record("old", at(-10)), record("new", at(10))], 1)
    await store.upsert(vectara("ag"), [record("v-old", at(-1)), record("v-at", at(0))], 1)
    await store.upsert(vectara("ag", tenant="t2"), [record("t2-old", at(-10))], 1)
    assert await store.purge_before("default", T0) == 2
    assert ids(await store.page([STATESET], query(), None, 10)) == ["new"]
    assert ids(await store.page([vectara("ag")], query(), None, 10)) == ["v-at"]
    assert await store.sessions_held(vectara("ag", tenant="t2")) == 1


async def test_statuses_round_trip(store: IndexStore) -> None:
    key = vectara("ag1")
    assert await store.status(key) is None
    full = ScopeStatus(
        key,
        state=IndexState.STALE,
        generation=7,
        vendor_total=1234,
        active_total=3,
        order=ListOrder.TAIL,
        progress=900,
        built_at=at(1),
        synced_at=datetime(2026, 3, 1, 12, 0, 0, 999999, tzinfo=UTC),
        reconciled_at=at(3),
        reconcile_due=at(4),
        error="429 from the vendor",
    )
    await store.save_status(full)
    assert await store.status(key) == full
    fresh = ScopeStatus(key)  # every optional field empty again
    await store.save_status(fresh)
    assert await store.status(key) == fresh
    other = ScopeStatus(vectara("ag0"), state=IndexState.READY)
    await store.save_status(other)
    await store.save_status(ScopeStatus(STATESET))
    await store.save_status(ScopeStatus(vectara("ag1", tenant="t2")))
    assert await store.statuses("default", Provider.VECTARA) == [other, fresh]
    assert await store.statuses("default", Provider.SAMSARA) == []


async def test_leases_one_holder_at_a_time(store: IndexStore) -> None:
    key, other = vectara("ag1"), vectara("ag2")
    assert await store.take_lease(key, "replica-1", T0, 30)
    assert not await store.take_lease(key, "replica-2", at(10), 30)
    assert await store.take_lease(other, "replica-2", at(10), 30)  # another scope is free
    # The holder extends its lease: until 20 + 30 now, no longer 0 + 30.
    assert await store.take_lease(key, "replica-1", at(20), 30)
    assert not await store.take_lease(key, "replica-2", at(40), 30)
    # Expired: anyone takes it, and the old holder has lost it.
    assert await store.take_lease(key, "replica-2", at(50), 0.5)
    assert not await store.take_lease(key, "replica-1", at(50.4), 30)
    assert await store.take_lease(key, "replica-1", at(50.5), 30)


async def test_released_leases(store: IndexStore) -> None:
    key = vectara("ag1")
    assert await store.take_lease(key, "replica-1", T0, 30)
    await store.release_lease(key, "replica-2")  # not its lease: nothing happens
    assert not await store.take_lease(key, "replica-2", at(1), 30)
    await store.release_lease(key, "replica-1")
    assert await store.take_lease(key, "replica-2", at(1), 30)


async def test_concurrent_takers_one_wins(index_url: str) -> None:
    stores = [await IndexStore.open(index_url) for _ in range(3)]
    try:
        attempts = [stores[n % 3].take_lease(STATESET, f"replica-{n}", T0, 30) for n in range(12)]
        won = await asyncio.gather(*attempts)
        assert sum(won) == 1
    finally:
        for store in stores:
            await store.aclose()


async def test_an_in_memory_index_pages_and_counts_as_a_file_does() -> None:
    """`sqlite://` is read through the engine (one connection: the reader threads could not
    see it), a file through `index.sqlite_reads`: the same SQL either way."""
    store = await IndexStore.open("sqlite://")
    try:
        await store.upsert(STATESET, FILTERED, 1)
        q = query(tags=("billing",), text="bob")
        assert ids(await store.page([STATESET], q, None, 10)) == ["chat", "voice"]
        assert await store.count([STATESET], q) == 2
        newest = await store.page([STATESET], query(), None, 1)
        after = await store.page([STATESET], query(), newest[0].sort_key, 10)
        assert ids(newest + after) == ["empty", "bare", "chat", "voice"]
    finally:
        await store.aclose()
