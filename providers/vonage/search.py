"""How a `SessionQuery` becomes `/insights/sessions` requests: 60-day window slices, the
`filter_by` push-downs, the sort, the page geometry and the resume position. Pure, no I/O.

Vonage sorts for us, so a page of sessions is read in the query's order and an item's place is
native: (slice, page_number, page_size, index in that page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from providers.errors import UserInputError
from providers.query import Position, SessionQuery, SortOrder, digits, words
from providers.records import Channel, SessionStatus
from providers.vonage.mapping import CHANNELS, ENDED, FAILED_STATUS_CODE, IN_PROGRESS, format_time

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_WINDOW",
    "PageGeometry",
    "Place",
    "Search",
    "Slice",
    "Slices",
    "build_search",
    "page_geometry",
    "read_resume",
    "sort_by",
    "stop_position",
]

MAX_PAGE_SIZE = 100
MAX_WINDOW = timedelta(days=60)  # from_date and to_date may be at most 60 days apart

Clause = dict[str, Any]


# --- windows ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slice:
    """A part of the query window, [start, end), at most 60 days long."""

    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return format_time(self.start)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def range_clause(self) -> Clause:
        """`to_date` is inclusive: the range keeps slices from sharing their boundary."""
        window = {"gte": format_time(self.start), "lt": format_time(self.end)}
        return {"range": {"session_start_time": window}}


@dataclass(frozen=True, slots=True)
class Slices:
    """The query window in 60-day slices, numbered in the query's order: oldest slice first for
    OLDEST_FIRST, newest first for NEWEST_FIRST. Each slice is computed when it is walked: a
    window from year 1 has 12,332 of them, and a page walks only a few."""

    start: datetime
    end: datetime
    order: SortOrder

    @classmethod
    def of(cls, query: SessionQuery) -> Slices:
        return cls(query.started_after, query.started_before, query.order)

    def __len__(self) -> int:
        if self.end <= self.start:
            return 0
        return -(-(self.end - self.start) // MAX_WINDOW)

    def __getitem__(self, number: int) -> Slice:
        if not 0 <= number < len(self):
            raise IndexError(number)
        if self.order is SortOrder.OLDEST_FIRST:
            start = self.start + number * MAX_WINDOW
            return Slice(start, start + min(MAX_WINDOW, self.end - start))
        end = self.end - number * MAX_WINDOW
        return Slice(end - min(MAX_WINDOW, end - self.start), end)

    def number_of(self, key: str) -> int:
        """The number of the slice whose `key` this is; a key of another window is the
        client's error (a cursor made for another query)."""
        try:
            start = datetime.fromisoformat(key).replace(tzinfo=UTC)
        except ValueError:
            start = None
        if start is not None and self.start <= start < self.end:
            if self.order is SortOrder.OLDEST_FIRST:
                number, rest = divmod(start - self.start, MAX_WINDOW)
            elif start == self.start:  # the oldest slice may be shorter than 60 days
                number, rest = len(self) - 1, timedelta(0)
            else:
                number, rest = divmod(self.end - start, MAX_WINDOW)
                number -= 1
            if not rest and 0 <= number < len(self) and self[number].key == key:
                return number
        raise UserInputError("this Vonage position belongs to another query window")


def sort_by(order: SortOrder) -> str:
    """Ties on the start time come out in `SessionRecord.sort_key` order: agent, then id."""
    return ",".join(
        f"{name}:{order.value}" for name in ("session_start_time", "agent_information.id", "id")
    )


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Search:
    """The `filter_by` of a query, less the window. `exact`: the vendor answers exactly what
    `matches` would keep, so its `total` is the query's; otherwise `matches` drops some hits."""

    must: tuple[Clause, ...] = ()
    must_not: tuple[Clause, ...] = ()
    should: tuple[Clause, ...] = ()
    exact: bool = True

    def filter_by(self, window: Slice) -> str:
        clauses: dict[str, list[Clause]] = {"must": [window.range_clause(), *self.must]}
        if self.must_not:
            clauses["must_not"] = list(self.must_not)
        if self.should:
            clauses["should"] = list(self.should)
        return json.dumps(clauses, separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class _Clauses:
    must: list[Clause] = field(default_factory=list)
    must_not: list[Clause] = field(default_factory=list)
    should: list[Clause] = field(default_factory=list)
    exact: bool = True


def _any_of(name: str, values: Sequence[Any]) -> Clause:
    if len(values) == 1:
        return {"term": {name: values[0]}}
    return {"terms": {name: list(values)}}


def _push_agents(agent_ids: tuple[str, ...] | None, out: _Clauses) -> None:
    if agent_ids is not None:
        out.must.append(_any_of("agent_information.id", sorted(agent_ids)))


def _push_statuses(statuses: frozenset[SessionStatus] | None, out: _Clauses) -> None:
    """`status` says running or ended; `channel_data.status_code` 200 tells a failed call from
    a completed one. Sets that would need an OR across the two fields are narrowed to the
    `status` part and finished by `matches`."""
    if statuses is None or statuses >= frozenset(SessionStatus):
        return
    if SessionStatus.UNKNOWN in statuses:  # "any other status" has no term
        out.exact = False
        return
    raw = sorted({IN_PROGRESS if s is SessionStatus.ACTIVE else ENDED for s in statuses})
    out.must.append(_any_of("status", raw))
    ended = statuses & {SessionStatus.COMPLETED, SessionStatus.FAILED}
    if len(ended) == 1 and SessionStatus.ACTIVE in statuses:
        out.exact = False
    elif ended == {SessionStatus.FAILED}:
        out.must.append({"term": {"channel_data.status_code": FAILED_STATUS_CODE}})
    elif ended == {SessionStatus.COMPLETED}:
        out.must_not.append({"term": {"channel_data.status_code": FAILED_STATUS_CODE}})


def _push_channels(channels: frozenset[Channel] | None, out: _Clauses) -> None:
    if channels is None:
        return
    if Channel.OTHER in channels:  # "anything else" has no term: left to `matches`
        out.exact = False
        return
    out.must.append(_any_of("channel", sorted(raw for c in channels for raw in CHANNELS[c])))


def _case_variants(tag: str) -> list[str]:
    return sorted({tag, tag.lower(), tag.upper(), tag.capitalize()})


def _push_tags(tags: tuple[str, ...], out: _Clauses) -> None:
    """`tags_list.tag` is an ID field (term only, case-sensitive) while tag filters ignore case:
    ask for the usual spellings; a tag in odd case would be missed, so no exact total."""
    for tag in tags:
        out.must.append(_any_of("tags_list.tag", _case_variants(tag)))
    out.exact = out.exact and not tags


def _push_phone(phone_number: str | None, out: _Clauses) -> None:
    """Vonage stores numbers as bare digits (`972523656841`); E.164 with `+` is asked too."""
    if phone_number is None:
        return
    number = digits(phone_number)
    if not number:
        out.exact = False
        return
    spellings = [number, f"+{number}"]
    out.should.extend(_any_of(name, spellings) for name in ("source", "destination"))


def _push_text(text: str | None, out: _Clauses) -> None:
    """Every word somewhere in the transcript. The caller speaks under `transcription.user`
    and the agent under its version id, so the field is `transcription.*`; `match` is the
    vendor's analyzer, not ours: `matches` has the last word and the total is not exact."""
    if text is None:
        return
    out.must.extend({"match": {"transcription.*": word}} for word in dict.fromkeys(words(text)))
    out.exact = False


def build_search(query: SessionQuery) -> Search | None:
    """The push-downs of `query`; None when no session can match (an empty set filter)."""
    if query.agent_ids == () or query.statuses == frozenset() or query.channels == frozenset():
        return None
    out = _Clauses()
    _push_agents(query.agent_ids, out)
    _push_statuses(query.statuses, out)
    _push_channels(query.channels, out)
    _push_tags(query.tags, out)
    _push_phone(query.phone_number, out)
    _push_text(query.text, out)
    return Search(tuple(out.must), tuple(out.must_not), tuple(out.should), out.exact)


# --- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageGeometry:
    number: int  # page_number
    size: int  # page_size
    skip: int  # hits of that page already returned

    @property
    def first(self) -> int:
        return self.number * self.size


def page_geometry(offset: int, wanted: int) -> PageGeometry:
    """The page that starts as close to `offset` as pages of the vendor's grid allow and holds
    `wanted` more hits, so a resumed walk costs one call, not a refetch plus a short page."""
    wanted = max(1, min(wanted, MAX_PAGE_SIZE))
    best = PageGeometry(offset // MAX_PAGE_SIZE, MAX_PAGE_SIZE, offset % MAX_PAGE_SIZE)
    for size in range(wanted, MAX_PAGE_SIZE + 1):
        skip = offset % size
        if size - skip >= wanted:
            return PageGeometry(offset // size, size, skip)
        if size - skip > best.size - best.skip:
            best = PageGeometry(offset // size, size, skip)
    return best


@dataclass(frozen=True, slots=True)
class Place:
    """Where an item was served: its slice, the vendor page, and its index in that page."""

    slice_key: str
    page: PageGeometry
    index: int

    @property
    def next_offset(self) -> int:
        return self.page.first + self.index + 1

    def position(self) -> Position:
        return {
            "slice": self.slice_key,
            "page": self.page.number,
            "size": self.page.size,
            "index": self.index,
        }

    @classmethod
    def from_position(cls, position: Any) -> Place:
        if not isinstance(position, Mapping):
            raise UserInputError("not a Vonage position")
        slice_key, number = position.get("slice"), position.get("page")
        size, index = position.get("size"), position.get("index")
        if not (
            isinstance(slice_key, str)
            and _is_count(number)
            and _is_count(size)
            and _is_count(index)
            and 1 <= size <= MAX_PAGE_SIZE
            and index < size
        ):
            raise UserInputError("not a Vonage position")
        return cls(slice_key, PageGeometry(number, size, 0), index)


def stop_position(slice_key: str, offset: int) -> Position:
    """Where a walk that reached its call bound goes on: `offset` hits into that slice. It
    names no hit (the walk may have stopped between two slices, or on hits that did not
    match), so it is not a `Place`."""
    return {"slice": slice_key, "offset": offset}


def read_resume(position: Any) -> tuple[str, int]:
    """The slice and the offset in it that `position` (a `Place` or a `stop_position`)
    resumes at."""
    if isinstance(position, Mapping) and set(position) == {"slice", "offset"}:
        slice_key, offset = position["slice"], position["offset"]
        if isinstance(slice_key, str) and _is_count(offset):
            return slice_key, offset
        raise UserInputError("not a Vonage position")
    place = Place.from_position(position)
    return place.slice_key, place.next_offset


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
