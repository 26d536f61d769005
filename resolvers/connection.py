"""One Relay connection over many vendors: a k-way merge by `SessionRecord.sort_key`.

Forward pages (`first`/`after`) ask every vendor for `first + 1` sessions after its position in
the cursor and merge them; the extra one decides `hasNextPage` exactly. Each edge's cursor holds,
per vendor, the adapter's `resume` of the last session taken from it up to that edge (or DONE).

Backward pages (`last`/`before`) and a cursor used against the direction it was made in resume by
keyset: the window is narrowed at the cursor's start time and sessions up to and including the
cursor's sort key are skipped. Native positions only run forward.

A vendor that fails does not fail the page: its outcome says so, and the cursors keep its old
position, so the next page resumes it (its sessions then arrive late and are flagged `late`).

Each vendor is asked once per page, so a page costs at most each adapter's `list_call_bound`.
A vendor whose walk stopped at that bound (or whose page the keyset skip shortened) is known
only up to its frontier: the page ends there, short or even empty, `hasNextPage` stays true and
the cursors resume that vendor where its walk stopped. An empty page still has an end cursor.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from providers.adapter import SessionLister
from providers.errors import (
    ProviderNotConfiguredError,
    SessionGraphError,
    UpstreamProtocolError,
    UserInputError,
)
from providers.keyset import beyond, is_keyset, keyset_after
from providers.query import (
    DEFAULT_SCAN_CAP,
    PagedSession,
    Position,
    SessionPage,
    SessionQuery,
    SortOrder,
)
from providers.records import Provider, SessionRecord, SortKey
from resolvers.cursor import DONE, VENDOR_WINDOW, Cursor, CursorCodec, filter_hash
from resolvers.filters import SessionFilterSpec, resolve_window

__all__ = [
    "Edge",
    "MergedPage",
    "OnListed",
    "PageArgs",
    "PagingLimits",
    "SourceOutcome",
    "fetch_sessions",
]

log = logging.getLogger("sessiongraph")

# Called with a vendor's candidates for the page as soon as its list is in, before the other
# vendors answer and the page is merged: what can start early (a batched detail fetch) starts.
OnListed = Callable[[Provider, Sequence[SessionRecord]], None]


@dataclass(frozen=True, slots=True)
class PagingLimits:
    """The paging settings (defaults: `graph.settings.Settings`)."""

    default_window_days: int
    default_page_size: int
    max_page_size: int
    scan_cap: int = DEFAULT_SCAN_CAP


@dataclass(frozen=True, slots=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(slots=True)
class SourceOutcome:
    provider: Provider
    ok: bool = True
    error: SessionGraphError | None = None
    truncated: bool = False
    exhausted: bool = False
    queried: bool = True
    total: int | None = None
    index_state: str | None = None  # see `SessionPage.index_state`
    indexed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Edge:
    record: SessionRecord
    # Where the connection goes on after this edge, made when read: a query that selects
    # no edge cursor (most select `pageInfo.endCursor` only) pays for none but the ends'.
    _position: Callable[[], Cursor]
    codec: CursorCodec
    late: bool = False

    @property
    def cursor(self) -> str:
        """Signed and packed when read (~40 µs)."""
        return self.codec.encode(self._position())


@dataclass(slots=True)
class MergedPage:
    edges: list[Edge]
    has_next: bool
    has_previous: bool
    total: int | None
    sources: list[SourceOutcome] = field(default_factory=list)
    # Where a page without edges goes on, either way: a walk stopped at its call bound before
    # any session could be shown. None when the page has edges (their cursors say it).
    resume_cursor: str | None = None

    @property
    def start_cursor(self) -> str | None:
        return self.edges[0].cursor if self.edges else self.resume_cursor

    @property
    def end_cursor(self) -> str | None:
        return self.edges[-1].cursor if self.edges else self.resume_cursor


@dataclass(slots=True)
class _Stream:
    """One vendor's answer to this page."""

    items: list[PagedSession]  # in the plan's order, strictly after its starting point
    page: SessionPage
    # The vendor's list is known only up to `frontier` (its walk stopped, or the keyset skip
    # left the page short): nothing after it may be shown yet. None then: nothing at all.
    bounded: bool
    frontier: SortKey | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything one page needs, decided before any vendor is called."""

    spec: SessionFilterSpec
    order: SortOrder  # the order the page is walked in (reversed for backward pages)
    count: int
    window: tuple[datetime, datetime]  # the client's resolved window: travels in the cursors
    filter_hash: str
    positions: dict[str, Position | str | None]
    after_key: SortKey | None  # keyset: skip sessions up to and including this key
    resumed_key: SortKey | None  # the incoming cursor's key, to flag late sessions
    fetch_window: tuple[datetime, datetime] | None = None  # narrowed for a keyset resume

    @property
    def vendor_window(self) -> tuple[datetime, datetime]:
        return self.fetch_window or self.window


async def fetch_sessions(
    adapters: Mapping[Provider, SessionLister],
    spec: SessionFilterSpec,
    order: SortOrder,
    args: PageArgs,
    codec: CursorCodec,
    limits: PagingLimits,
    now: datetime,
    with_details: bool = True,
    with_total: bool = True,
    on_listed: OnListed | None = None,
) -> MergedPage:
    """One page of the merged connection; `now` ends the default window. `on_listed` gets each
    vendor's candidates as its list comes in (the merge waits for every vendor; it need not)."""
    default_window_days = limits.default_window_days
    backward = _check_args(args, limits.max_page_size)
    # Every configured vendor by default; a vendor asked for by name but not configured is
    # reported (PROVIDER_NOT_CONFIGURED), one merely not configured is not.
    wanted = spec.providers or frozenset(adapters)
    fhash = filter_hash({"filter": spec.canonical(), "order": order.value})
    outcomes = {
        p: SourceOutcome(
            p,
            ok=False,
            queried=False,
            error=ProviderNotConfiguredError(
                f"{p.name} is not configured on this server", provider=p
            ),
        )
        for p in sorted(wanted - adapters.keys())
    }
    if backward:
        plan = _backward_plan(spec, order, args, codec, fhash, default_window_days, now)
    else:
        count = limits.default_page_size if args.first is None else args.first
        plan = _forward_plan(spec, order, args, codec, fhash, default_window_days, now, count)
    queries = {
        p: q
        for p in sorted(wanted & adapters.keys())
        if (q := spec.query_for(p, plan.vendor_window, plan.order, limits.scan_cap, with_details))
        is not None
    }
    if not with_total:
        queries = {p: replace(q, counts=False) for p, q in queries.items()}
    for provider in sorted(wanted & adapters.keys()):
        if provider not in queries:
            outcomes[provider] = SourceOutcome(provider, queried=False, exhausted=True)
    candidates = _Candidates(plan, on_listed) if on_listed is not None else None
    streams = await _fetch_all(adapters, queries, plan, outcomes, candidates)
    page = _merge(streams, plan, codec, outcomes)
    page.sources = [outcomes[p] for p in sorted(outcomes)]
    if backward:
        page.edges.reverse()
        page.has_next, page.has_previous = args.before is not None, page.has_next
    else:
        page.has_previous = args.after is not None
    return page


def _check_args(args: PageArgs, max_page_size: int) -> bool:
    if args.first is not None and args.last is not None:
        raise UserInputError("pass `first` or `last`, not both")
    for name, value in (("first", args.first), ("last", args.last)):
        if value is not None and value < 0:
            raise UserInputError(f"`{name}` cannot be negative")
        if value is not None and value > max_page_size:
            raise UserInputError(f"`{name}` is at most {max_page_size}")
    if args.first is not None and args.before is not None:
        raise UserInputError("`before` goes with `last`; page forward with `first` and `after`")
    if args.last is not None and args.after is not None:
        raise UserInputError("`after` goes with `first`; page backward with `last` and `before`")
    if args.before is not None and args.last is None:
        raise UserInputError("`before` needs `last`")
    return args.last is not None


def _forward_plan(
    spec: SessionFilterSpec,
    order: SortOrder,
    args: PageArgs,
    codec: CursorCodec,
    fhash: str,
    default_days: int,
    now: datetime,
    count: int,
) -> _Plan:
    if args.after is None:
        window = resolve_window(spec, default_days, now)
        return _Plan(spec, order, count, window, fhash, {}, None, None)
    cursor = codec.decode(args.after, expected_filter=fhash, argument="after")
    if cursor.order is order:
        positions = dict(cursor.positions)
        return _Plan(
            spec,
            order,
            count,
            cursor.window,
            fhash,
            positions,
            None,
            cursor.key,
            _read_vendor_window(positions.get(VENDOR_WINDOW)),
        )
    return _keyset_plan(spec, order, count, cursor, fhash)


def _vendor_window(window: tuple[datetime, datetime]) -> Position:
    return {"after": window[0].isoformat(), "before": window[1].isoformat()}


def _read_vendor_window(value: Position | str | None) -> tuple[datetime, datetime] | None:
    """The narrowed window a keyset page's native positions belong to (see `_merge`)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        try:
            return datetime.fromisoformat(value["after"]), datetime.fromisoformat(value["before"])
        except (KeyError, TypeError, ValueError):
            pass
    raise UserInputError("`after` is not a cursor of this query")


def _backward_plan(
    spec: SessionFilterSpec,
    order: SortOrder,
    args: PageArgs,
    codec: CursorCodec,
    fhash: str,
    default_days: int,
    now: datetime,
) -> _Plan:
    assert args.last is not None
    reverse = SortOrder.OLDEST_FIRST if order is SortOrder.NEWEST_FIRST else SortOrder.NEWEST_FIRST
    if args.before is None:
        window = resolve_window(spec, default_days, now)
        return _Plan(spec, reverse, args.last, window, fhash, {}, None, None)
    cursor = codec.decode(args.before, expected_filter=fhash, argument="before")
    return _keyset_plan(spec, reverse, args.last, cursor, fhash)


def _keyset_plan(
    spec: SessionFilterSpec, order: SortOrder, count: int, cursor: Cursor, fhash: str
) -> _Plan:
    """Resume after `cursor.key` walking `order`: narrow the window at the key's start time
    (inclusive) and let `_take` skip what is not strictly after the key."""
    after, before = cursor.window
    moment = cursor.key[0]
    if order is SortOrder.NEWEST_FIRST:
        before = min(before, moment + timedelta(microseconds=1))
    else:
        after = max(after, moment)
    return _Plan(spec, order, count, cursor.window, fhash, {}, cursor.key, None, (after, before))


async def _fetch_all(
    adapters: Mapping[Provider, SessionLister],
    queries: dict[Provider, SessionQuery],
    plan: _Plan,
    outcomes: dict[Provider, SourceOutcome],
    candidates: _Candidates | None,
) -> dict[Provider, _Stream]:
    active = [p for p in queries if plan.positions.get(p.value) != DONE]
    # Vendors that are called first, lists read from the index after: a task runs until its
    # first wait, so an index read started first would hold back the vendors' requests (each
    # of which waits a network round trip anyway).
    active.sort(key=lambda p: adapters[p].list_call_bound(queries[p], plan.count + 1) == 0)
    for provider in queries:
        if provider not in active:
            outcomes[provider] = SourceOutcome(provider, exhausted=True)
    results = await asyncio.gather(
        *(_take(adapters[p], queries[p], plan, candidates) for p in active),
        return_exceptions=True,
    )
    streams: dict[Provider, _Stream] = {}
    for provider, result in zip(active, results, strict=True):
        if isinstance(result, SessionGraphError):
            outcomes[provider] = SourceOutcome(provider, ok=False, error=result)
        elif isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            # A bug in one adapter must not blank the page: log it, report the vendor failed.
            log.error("adapter %s failed", provider.value, exc_info=result)
            outcomes[provider] = SourceOutcome(
                provider,
                ok=False,
                error=UpstreamProtocolError(
                    f"{provider.name} could not be read", provider=provider
                ),
            )
        else:
            streams[provider] = result
            page = result.page
            outcomes[provider] = SourceOutcome(
                provider,
                truncated=page.truncated,
                exhausted=(page.exhausted or page.truncated) and not page.stopped,
                total=page.total,
                index_state=page.index_state,
                indexed_at=page.indexed_at,
            )
    return streams


class _Candidates:
    """Which listed sessions can still make the page, as the vendors' lists come in: those
    among the first `count` of everything listed so far (a list that comes later only pushes
    sessions down). Each vendor's are handed to `on_listed` when its own list is in."""

    def __init__(self, plan: _Plan, on_listed: OnListed) -> None:
        self.plan = plan
        self.on_listed = on_listed
        self.first: list[SortKey] = []  # the first `count` sort keys listed so far, in order

    def listed(self, provider: Provider, records: Sequence[SessionRecord]) -> None:
        order, count = self.plan.order, self.plan.count
        keys = [r.sort_key for r in records]
        self.first = sorted([*self.first, *keys], reverse=order is SortOrder.NEWEST_FIRST)[:count]
        if self.first and len(self.first) == count:  # (empty for a page of none: first: 0)
            last = self.first[-1]
            records = [r for r, k in zip(records, keys, strict=True) if not beyond(k, last, order)]
        if records:
            self.on_listed(provider, records)


async def _take(
    adapter: SessionLister, query: SessionQuery, plan: _Plan, candidates: _Candidates | None
) -> _Stream:
    """`plan.count + 1` sessions strictly after the plan's starting point, from one vendor, in
    one `list_sessions` call: the page's cost is that call's bound, never a loop of them."""
    wanted = plan.count + 1
    position = plan.positions.get(adapter.provider.value)
    after: Position | None = position if isinstance(position, dict) else None
    page = await adapter.list_sessions(query, after, wanted)
    fresh = [
        item
        for item in page.items
        if plan.after_key is None or beyond(item.record.sort_key, plan.after_key, plan.order)
    ]
    ended = (page.exhausted or page.truncated) and not page.stopped
    bounded = not ended and len(fresh) < wanted
    frontier = page.frontier if page.stopped else None
    if frontier is None and page.items:
        frontier = page.items[-1].record.sort_key
    if candidates is not None and fresh:
        candidates.listed(adapter.provider, [item.record for item in fresh[: plan.count]])
    return _Stream(fresh, page, bounded, frontier)


def _merge(
    streams: dict[Provider, _Stream],
    plan: _Plan,
    codec: CursorCodec,
    outcomes: dict[Provider, SourceOutcome],
) -> MergedPage:
    reverse = plan.order is SortOrder.NEWEST_FIRST
    merged: Iterator[tuple[Provider, int, PagedSession]] = heapq.merge(
        *([(p, i, item) for i, item in enumerate(s.items)] for p, s in streams.items()),
        key=lambda entry: entry[2].record.sort_key,
        reverse=reverse,
    )
    bounded = [s for s in streams.values() if s.bounded]
    # The page ends at the nearest frontier of a vendor known only that far (at once when one
    # is known not at all): what lies past it may still be preceded by that vendor's sessions.
    frontiers = [s.frontier for s in bounded if s.frontier is not None]
    blocked = any(s.frontier is None for s in bounded)
    stop_at = (max if reverse else min)(frontiers) if frontiers else None
    positions: dict[str, Position | str | None] = dict(plan.positions)
    if plan.fetch_window is not None:
        # The vendors' native positions on this page belong to the window a keyset resume
        # narrowed: the next page must ask that window again, or they would mean other places.
        positions[VENDOR_WINDOW] = _vendor_window(plan.fetch_window)
    # A stopped vendor goes on from where its walk stopped once its sessions are all shown.
    resumes = {p: s.page.resume for p, s in streams.items() if s.page.stopped and s.page.resume}
    for provider, stream in streams.items():
        if not stream.items and outcomes[provider].exhausted:
            positions[provider.value] = DONE
        elif not stream.items and provider in resumes:
            positions[provider.value] = dict(resumes[provider])
    taken: list[Edge] = []
    remaining = {p: len(s.items) for p, s in streams.items()}
    for provider, _, item in merged:
        key = item.record.sort_key
        if (
            len(taken) == plan.count
            or blocked
            or (stop_at is not None and beyond(key, stop_at, plan.order))
        ):
            break
        remaining[provider] -= 1
        if remaining[provider] == 0 and outcomes[provider].exhausted:
            positions[provider.value] = DONE
        elif remaining[provider] == 0 and provider in resumes:
            positions[provider.value] = resumes[provider]
        else:
            positions[provider.value] = item.resume
        late = plan.resumed_key is not None and not beyond(key, plan.resumed_key, plan.order)
        at = partial(_cursor_at, plan, key, dict(positions), streams, dict(remaining))
        taken.append(Edge(item.record, at, codec, late))
    for provider, left in remaining.items():
        # The vendor's list may be at its end, but sessions it gave wait for a later page.
        outcomes[provider].exhausted = outcomes[provider].exhausted and left == 0
    has_next = any(remaining.values()) or bool(bounded)
    page = MergedPage(taken, has_next, False, _total(plan, outcomes))
    if not taken and bounded:
        key = stop_at or plan.resumed_key or plan.after_key or _start_key(plan)
        page.resume_cursor = codec.encode(_cursor_at(plan, key, positions, streams, remaining))
    return page


def _cursor_at(
    plan: _Plan,
    key: SortKey,
    positions: dict[str, Position | str | None],
    streams: dict[Provider, _Stream],
    remaining: dict[Provider, int],
) -> Cursor:
    at_key = _at_key(positions, streams, remaining, key, plan.order)
    return Cursor(plan.order, plan.filter_hash, plan.window, key, at_key)


def _at_key(
    positions: dict[str, Position | str | None],
    streams: dict[Provider, _Stream],
    remaining: dict[Provider, int],
    key: SortKey,
    order: SortOrder,
) -> dict[str, Position | str | None]:
    """The positions of a cursor at `key`, where a keyset vendor resumes right after `key`
    (`keyset_after`, stored as a tag: a cursor stays short) instead of after its own last
    session. The same place: the vendor's answer on this page is its list from its position,
    and its next session in it, not yet taken, comes after `key`, so nothing of that vendor lies
    between its position and `key`. A vendor that did not answer, or has nothing left on this
    page (done, or its walk stopped), keeps its own position."""
    edge = dict(positions)
    for provider, stream in streams.items():
        left = remaining[provider]
        if left == 0:
            continue
        following = stream.items[len(stream.items) - left]
        if is_keyset(following.resume) and beyond(following.record.sort_key, key, order):
            edge[provider.value] = keyset_after(key, provider)
    return edge


def _start_key(plan: _Plan) -> SortKey:
    """A sort key before every session of the plan's window, in its order."""
    after, before = plan.vendor_window
    return (before if plan.order is SortOrder.NEWEST_FIRST else after, "", "", "")


def _total(plan: _Plan, outcomes: dict[Provider, SourceOutcome]) -> int | None:
    """The count of the whole query: only when every vendor answered with an exact count (a
    keyset-narrowed page counts a narrowed window, so it has none)."""
    narrowed = plan.after_key is not None or plan.fetch_window is not None
    if narrowed or not all(o.ok for o in outcomes.values()):
        return None
    totals = [o.total for o in outcomes.values() if o.queried]
    return None if None in totals else sum(t for t in totals if t is not None)
