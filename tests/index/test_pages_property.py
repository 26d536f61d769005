"""Random records and queries: a walk of pages equals sorted(filter(matches, records)), with
`providers.query.matches` the meaning of every filter, on both backends.

Each example writes under a tenant of its own, so examples share the store and never meet."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.state import ScopeKey
from index.store import IndexStore
from providers.query import SessionQuery, SortOrder, matches
from providers.records import (
    Channel,
    Provider,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    SortKey,
    Speaker,
    Tag,
    TranscriptTurn,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
# Few instants, so that ties on started_at are common; one before the epoch, one 1 µs apart.
INSTANTS = [
    datetime(1969, 7, 20, 20, 17, tzinfo=UTC),
    T0,
    T0 + timedelta(microseconds=1),
    T0 + timedelta(seconds=1),
    T0 + timedelta(days=3),
]
# Code points where a collation other than Python's would differ: case, "_", accents, astral.
AGENTS = [None, "", "A", "a", "b_", "é", "Z"]
ID_CHARS = "aAZ_%'|é😀9"
TAG_NAMES = ["Billing", "billing", "b", "a|b", "50%", "5_%", "X"]
PHONES = [None, "", "+1 555", "1555", "(555)", "٣٣"]  # "٣" is a digit too (isdigit)
TEXT_CHARS = "ab_'% .AéB"
SCOPES = ["", "s1", "s2"]
T = TypeVar("T")

channels = st.one_of(st.none(), st.sampled_from(list(Channel)))
details = st.one_of(
    st.none(),
    st.lists(st.text(TEXT_CHARS, max_size=12), max_size=3).map(
        lambda texts: SessionDetails(
            transcript=tuple(TranscriptTurn(Speaker.USER, t, "user") for t in texts)
        )
    ),
)


@st.composite
def records(draw: st.DrawFn) -> list[tuple[str, SessionRecord]]:
    """(scope, record) pairs; ids are unique, so every record has its own sort key."""
    session_ids = draw(
        st.lists(st.text(ID_CHARS, min_size=1, max_size=3), min_size=4, max_size=16, unique=True)
    )
    found = []
    for session_id in session_ids:
        found.append(
            (
                draw(st.sampled_from(SCOPES)),
                SessionRecord(
                    Provider.VECTARA,
                    session_id,
                    draw(st.sampled_from(list(SessionStatus))),
                    "raw",
                    draw(st.sampled_from(INSTANTS)),
                    agent_id=draw(st.sampled_from(AGENTS)),
                    channel=draw(channels),
                    caller=draw(st.sampled_from(PHONES)),
                    callee=draw(st.sampled_from(PHONES)),
                    tags=tuple(
                        Tag(n) for n in draw(st.lists(st.sampled_from(TAG_NAMES), max_size=3))
                    ),
                    details=draw(details),
                ),
            )
        )
    return found


def sometimes(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    """A filter in one query of three: with all of them at once, little would match."""
    return st.sampled_from([False, False, True]).flatmap(
        lambda present: strategy if present else st.none()
    )


@st.composite
def queries(draw: st.DrawFn) -> SessionQuery:
    bounds = sorted(draw(st.lists(st.sampled_from(INSTANTS), min_size=2, max_size=2)))
    wide = draw(st.booleans())
    tag_names = st.sampled_from([*TAG_NAMES, "BILLING", "%", "_"])
    return SessionQuery(
        started_after=INSTANTS[0] if wide else bounds[0],
        started_before=INSTANTS[-1] + timedelta(days=1) if wide else bounds[1],
        order=draw(st.sampled_from(list(SortOrder))),
        agent_ids=draw(sometimes(st.lists(st.sampled_from(AGENTS[1:])).map(tuple))),
        statuses=draw(sometimes(st.frozensets(st.sampled_from(list(SessionStatus))))),
        channels=draw(sometimes(st.frozensets(st.sampled_from(list(Channel))))),
        tags=draw(sometimes(st.lists(tag_names, min_size=1, max_size=2).map(tuple))) or (),
        phone_number=draw(sometimes(st.sampled_from(PHONES[1:]))),
        text=draw(sometimes(st.text(TEXT_CHARS, max_size=6))),
        vehicle_ids=draw(st.sampled_from([None] * 9 + [("v",)])),
    )


def expected(records: list[SessionRecord], query: SessionQuery) -> list[SessionRecord]:
    """The meaning of a page, from the definitions: `matches`, then the sort key."""
    if query.fleet_scoped:
        return []
    found = [r for r in records if matches(r, query)]
    return sorted(
        found,
        key=lambda r: (r.started_at, r.agent_id or "", r.id),
        reverse=query.order is SortOrder.NEWEST_FIRST,
    )


def beyond(record: SessionRecord, after: SortKey, order: SortOrder) -> bool:
    mine = (record.started_at, record.agent_id or "", record.id)
    theirs = (after[0], after[2], after[3])
    return mine < theirs if order is SortOrder.NEWEST_FIRST else mine > theirs


tenants = itertools.count()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    held=records(),
    query=queries(),
    scopes=st.lists(st.sampled_from(SCOPES), min_size=1, max_size=3, unique=True),
    size=st.integers(1, 5),
    after=st.tuples(
        st.sampled_from(INSTANTS),
        st.just("vectara"),
        st.sampled_from(["", "A", "a", "é"]),
        st.text(ID_CHARS, max_size=2),
    ),
)
async def test_pages_equal_the_sorted_matches(
    store: IndexStore,
    held: list[tuple[str, SessionRecord]],
    query: SessionQuery,
    scopes: list[str],
    size: int,
    after: SortKey,
) -> None:
    tenant = f"t{next(tenants)}"
    for scope in SCOPES:
        mine = [r for s, r in held if s == scope]
        await store.upsert(ScopeKey(tenant, Provider.VECTARA, scope), mine, 1)
    keys = [ScopeKey(tenant, Provider.VECTARA, scope) for scope in scopes]
    wanted = expected([r for s, r in held if s in scopes], query)

    walked: list[SessionRecord] = []
    bound: SortKey | None = None
    for _ in range(len(wanted) + 1):
        page = await store.page(keys, query, bound, size)
        assert len(page) <= size
        if not page:
            break
        walked += page
        bound = page[-1].sort_key
    assert walked == wanted
    assert await store.count(keys, query) == len(wanted)
    resumed = await store.page(keys, query, after, len(held) + 1)
    assert resumed == [r for r in wanted if beyond(r, after, query.order)]
