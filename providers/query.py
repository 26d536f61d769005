"""What the resolvers ask an adapter for: one `SessionQuery` (filters, window, order) and a page
of it, resumed from an adapter-defined `Position`.

`matches` is the meaning of every filter. Adapters push what their vendor can answer down to
the vendor and apply `matches` to what comes back, so a pushed-down filter and a local one can
never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from providers.records import Channel, SessionRecord, SessionStatus, SortKey

__all__ = [
    "DEFAULT_SCAN_CAP",
    "Criteria",
    "PagedSession",
    "Position",
    "SessionPage",
    "SessionQuery",
    "SortOrder",
    "digits",
    "matches",
    "words",
]

# Most sessions one unordered scan may read before it is truncated (SESSIONGRAPH_SCAN_CAP).
DEFAULT_SCAN_CAP = 2000

# An adapter's place in its vendor's list, stored in the client's cursor. JSON values only.
Position = Mapping[str, Any]


class SortOrder(StrEnum):
    NEWEST_FIRST = "desc"
    OLDEST_FIRST = "asc"


@dataclass(frozen=True, slots=True, kw_only=True)
class Criteria:
    """The filters of a sessions query besides its window and agents, declared once: the
    resolvers' validated filter and every vendor's `SessionQuery` carry these fields, and
    `matches` gives them their meaning. `None` means "no filter"."""

    statuses: frozenset[SessionStatus] | None = None
    text: str | None = None
    tags: tuple[str, ...] = ()
    phone_number: str | None = None
    channels: frozenset[Channel] | None = None
    vehicle_ids: tuple[str, ...] | None = None
    driver_ids: tuple[str, ...] | None = None

    def criteria(self) -> dict[str, Any]:
        """These fields by name, to build another `Criteria` subclass from this one."""
        return {field.name: getattr(self, field.name) for field in fields(Criteria)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionQuery(Criteria):
    """One provider's share of a `sessions` query. Times are aware UTC; the window is
    [started_after, started_before); `agent_ids` None means the configured agents."""

    started_after: datetime
    started_before: datetime
    order: SortOrder = SortOrder.NEWEST_FIRST
    agent_ids: tuple[str, ...] | None = None
    scan_cap: int = DEFAULT_SCAN_CAP
    # The caller will read details (transcript, tool calls, flow steps, recording). False lets
    # a vendor whose list can carry them ask for less (Vonage `project_fields`).
    with_details: bool = True
    # The caller reads the total. False lets a lister that must count apart (the index: a
    # count is O(sessions)) leave `SessionPage.total` out; live vendors' totals come free.
    counts: bool = True

    @property
    def fleet_scoped(self) -> bool:
        """Vehicle and driver filters: only a vendor whose sessions belong to vehicles can
        answer them (pushed down; `matches` cannot check them), the others match nothing."""
        return self.vehicle_ids is not None or self.driver_ids is not None

    @property
    def needs_details(self) -> bool:
        """A text filter reads transcripts: vendors that list without them need details."""
        return self.text is not None


@dataclass(frozen=True, slots=True)
class PagedSession:
    record: SessionRecord
    resume: Position  # list_sessions(query, after=resume) continues right after this record


@dataclass(frozen=True, slots=True)
class SessionPage:
    """A page of one vendor's list. Full (`limit` items), or shorter only because the list is
    `exhausted`, its scan `truncated`, or its walk `stopped`.

    A walk stops when it has made the vendor calls its bound allows (`Adapter.list_call_bound`)
    before the page is full: the page is then neither full nor exhausted, possibly empty, and
    `resume` continues exactly where the walk stopped (past `items`, and past the sessions it
    read that did not match). `frontier` is how far the walk read, in the query's order: every
    matching session up to that sort key is in `items` (or was before `after`), so a merge may
    show other vendors' sessions up to it; None means nothing is known past the last item."""

    items: tuple[PagedSession, ...]
    exhausted: bool  # True: nothing matches after the last item
    truncated: bool = False  # an unordered scan stopped at scan_cap: results may be missing
    total: int | None = None  # matching sessions in the whole query, when the vendor can say
    stopped: bool = False  # the walk reached its call bound: `resume` goes on from there
    resume: Position | None = None  # set when stopped
    frontier: SortKey | None = None  # when stopped: the walk read every session up to this key
    # The session index's word on this page (vendors without order): its state for the query's
    # lists ("ready", "stale": answered from it; "building", "failed", "off": asked live) and
    # when they were last synced. None: the vendor is always asked live.
    index_state: str | None = None
    indexed_at: datetime | None = None

    @property
    def next_after(self) -> Position | None:
        """Where `list_sessions` goes on after this page (None: after nothing read yet)."""
        if self.stopped:
            return self.resume
        return self.items[-1].resume if self.items else None


_WORD = re.compile(r"[\w']+", re.UNICODE)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def matches(record: SessionRecord, query: SessionQuery) -> bool:
    """True when `record` satisfies every filter of `query` but the fleet filters (see
    `fleet_scoped`). A text filter needs details: a record without them does not match."""
    if not (query.started_after <= record.started_at < query.started_before):
        return False
    if query.agent_ids is not None and record.agent_id not in query.agent_ids:
        return False
    if query.statuses is not None and record.status not in query.statuses:
        return False
    if query.channels is not None and record.channel not in query.channels:
        return False
    if query.tags:
        names = {tag.name.lower() for tag in record.tags}
        if not all(tag.lower() in names for tag in query.tags):
            return False
    if query.phone_number is not None:
        wanted = digits(query.phone_number)
        if wanted not in {digits(record.caller or ""), digits(record.callee or "")}:
            return False
    if query.text is not None:
        if record.details is None:
            return False
        spoken: set[str] = set()
        for turn in record.details.transcript:
            spoken.update(words(turn.text))
        if not all(word in spoken for word in words(query.text)):
            return False
    return True
