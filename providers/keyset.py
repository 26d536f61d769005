"""Keyset positions: for the walks that sort what they read (the vendors that promise no order,
Samsara's oldest-first scan), a page resumes right after the sort key of its last record.

The one place where such a position is written into a cursor, read back from one, and compared:
`{"key": [started_at, agent_id, id]}` (the provider is implied by the adapter that reads it).

`keyset_after` is the position that resumes a vendor right after any merged sort key, of that
vendor or another: the merge uses it whenever it is the vendor's own position in effect, and a
cursor then stores it as a tag, not as a key of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from providers.errors import UserInputError
from providers.query import Position, SortOrder
from providers.records import Provider, SessionRecord, SortKey

__all__ = [
    "after_key",
    "beyond",
    "is_keyset",
    "keyset_after",
    "keyset_position",
    "read_keyset",
]


def keyset_position(record: SessionRecord) -> Position:
    return {"key": [record.started_at.isoformat(), record.agent_id or "", record.id]}


def is_keyset(position: Position) -> bool:
    return set(position) == {"key"}


def keyset_after(key: SortKey, provider: Provider) -> Position:
    """The position of `provider` after which come exactly those of its sessions that come
    after `key` (a merged sort key, of any provider) in either order.

    Of `provider` itself, the key's own position. Of another, the tie at the key's moment is
    broken by the provider: oldest first, that moment's sessions of `provider` come after `key`
    when `provider` sorts after the key's provider; newest first, when it sorts before. The
    position (moment, "", "") keeps that moment's sessions after it oldest first and before it
    newest first ("" sorts below any agent and id: ids are never empty); one microsecond later
    it does the opposite. Both orders then take the moment itself when `provider` sorts after
    the key's provider, and the next microsecond when it sorts before.
    """
    moment, of, agent, session_id = key
    if of == provider.value:
        return {"key": [moment.isoformat(), agent, session_id]}
    if provider.value < of:
        moment += timedelta(microseconds=1)
    return {"key": [moment.isoformat(), "", ""]}


def read_keyset(provider: Provider, position: Position | None) -> SortKey | None:
    """The sort key a position resumes after; None from the start. A position that is not a
    keyset (edited, or made by another walk) is the client's error, never a vendor request."""
    if position is None:
        return None
    match position.get("key"):
        case [str() as started_at, str() as agent_id, str() as session_id]:
            try:
                moment = datetime.fromisoformat(started_at)
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return (moment.astimezone(UTC), provider.value, agent_id, session_id)
    raise UserInputError(f"the cursor does not hold a {provider.name} position")


def beyond(key: SortKey, bound: SortKey, order: SortOrder) -> bool:
    """Whether `key` comes after `bound` in `order`."""
    return key < bound if order is SortOrder.NEWEST_FIRST else key > bound


def after_key(
    records: Iterable[SessionRecord], order: SortOrder, bound: SortKey | None
) -> list[SessionRecord]:
    """`records` sorted in `order`, without those up to and including `bound`."""
    ordered = sorted(records, key=_sort_key, reverse=order is SortOrder.NEWEST_FIRST)
    if bound is None:
        return ordered
    return [record for record in ordered if beyond(record.sort_key, bound, order)]


def _sort_key(record: SessionRecord) -> SortKey:
    return record.sort_key
