"""The fewest vendor calls each benchmark query can cost, from the vendors' API contracts, and
the dependent rounds of those calls (the critical path the floor ratio divides by).

A merged page (`sessions(first: n)`) asks every vendor at once for its `n + 1` newest sessions
in the window: which of them make the page is known only once every vendor has answered, and
the extra one makes `hasNextPage` exact. So the minimum is per vendor "the calls that yield
`n + 1` sessions in order" and, when detail fields are selected, "the detail calls of the
vendor's sessions that made the page". Detail calls depend on the merged page, hence on every
vendor's list: the critical path is

    max over vendors of the list rounds  +  max over vendors of the detail rounds

(one round = one vendor latency; calls of one round go out together; calls whose parameters
come from an earlier answer — a cursor, a page key, a total, the merged page — are a new round).

The call kinds are those `bench.counting.call_kind` gives the calls the simulators logged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from providers.records import Provider

__all__ = [
    "DataShape",
    "PageShape",
    "VendorMinimum",
    "critical_rounds",
    "merged_minimums",
    "nodes_minimums",
]

PAGE = 100  # every vendor's largest page (list, details ids, events)


@dataclass(frozen=True, slots=True)
class VendorMinimum:
    calls: Mapping[str, int]  # by kind of call
    list_rounds: int  # dependent rounds before the merged page is known
    detail_rounds: int  # dependent rounds after it (0: no detail call)
    why: str

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass(frozen=True, slots=True)
class DataShape:
    """What the list minimums depend on: the vendors' data for the query (from the simulators)."""

    first: int  # the page size asked for
    samsara_stream_sizes: Sequence[int]  # sessions in the window, per stream (≤100 agent ids)
    stateset_total: int  # sessions StateSet lists for the query's push-downs (none here)
    vectara_agent_sizes: Sequence[int]  # sessions per configured agent key
    vonage_slice_sizes: Sequence[int]  # sessions in each 60-day slice, newest slice first
    scan_cap: int = 2000  # most sessions an unordered scan reads (SESSIONGRAPH_SCAN_CAP)


@dataclass(frozen=True, slots=True)
class PageShape:
    """The sessions a page (or a `nodes` list) holds, per vendor, as their detail calls see
    them."""

    samsara: int = 0
    stateset_streams: int = 0  # distinct StateSet stream ids (`nodes`: one lookup each)
    vectara_event_pages: Sequence[int] = field(default_factory=tuple)  # per Vectara session
    vonage: int = 0


def _pages(items: int) -> int:
    """Pages of 100 that hold `items`: at least one (an empty answer is a call too)."""
    return max(1, math.ceil(items / PAGE))


def merged_minimums(
    data: DataShape, page: PageShape, details: bool
) -> dict[Provider, VendorMinimum]:
    wanted = data.first + 1
    return {
        Provider.SAMSARA: _samsara(data.samsara_stream_sizes, wanted, page.samsara, details),
        Provider.STATESET: _stateset(data.stateset_total, data.scan_cap),
        Provider.VECTARA: _vectara(data.vectara_agent_sizes, page.vectara_event_pages, details),
        Provider.VONAGE: _vonage(data.vonage_slice_sizes, wanted),
    }


def _samsara(streams: Sequence[int], wanted: int, on_page: int, details: bool) -> VendorMinimum:
    # Samsara sorts newest first and pages by cursor: per stream (≤100 agent ids each), the
    # pages of `limit` ≤ 100 that hold its first `wanted` sessions, one after another (each
    # needs the previous page's cursor). The stream carries no transcript or tool calls: one
    # `GET /voice-sessions?ids=` per 100 of its sessions on the page, after the merge.
    pages = [_pages(min(wanted, size)) for size in streams] or [0]
    detail_calls = math.ceil(on_page / PAGE) if details else 0
    return VendorMinimum(
        calls={"stream": sum(pages), "details": detail_calls},
        list_rounds=max(pages),
        detail_rounds=1 if detail_calls else 0,
        why="stream pages for n+1 sessions; details: ceil(on page/100)",
    )


def _stateset(total: int, scan_cap: int) -> VendorMinimum:
    # StateSet promises no order and has no time filter: the newest sessions are known only
    # after reading the whole list, ceil(total/100) pages (up to the scan cap). The first page
    # says the total; the other pages can then go out together: 2 rounds past one page. Its
    # list entries carry transcripts and function calls: no detail call.
    pages = _pages(min(total, scan_cap))
    return VendorMinimum(
        calls={"list": pages},
        list_rounds=1 if pages == 1 else 2,
        detail_rounds=0,
        why="full scan: ceil(total/100) pages; list carries details",
    )


def _vectara(
    agent_sizes: Sequence[int], event_pages: Sequence[int], details: bool
) -> VendorMinimum:
    # Vectara lists one agent at a time, in no promised order: every configured agent is read
    # in full (one call per agent, more when it has >100 sessions, following `page_key` one
    # page after another; agents at once). Transcripts and tool calls live in each session's
    # event stream: one events call per Vectara session on the page (more past 100 events),
    # after the merge. The listed session already carries every field the page selects, so a
    # `GET .../sessions/{key}` adds nothing.
    list_pages = [_pages(size) for size in agent_sizes] or [0]
    events = sum(event_pages) if details else 0
    return VendorMinimum(
        calls={"list": sum(list_pages), "events": events},
        list_rounds=max(list_pages),
        detail_rounds=max(event_pages, default=0) if details else 0,
        why="one list per agent (+page_key pages); details: 1 events call per session",
    )


def _vonage(slice_sizes: Sequence[int], wanted: int) -> VendorMinimum:
    # Vonage sorts and filters for us but searches at most 60 days at a time: walk the 60-day
    # slices newest first, one page of ≤100 per slice until `wanted` sessions are found. Whether
    # the next slice is needed is known only from the previous answer: one round per call. The
    # projected list fields include transcript and tool calls: no detail call.
    calls, left = 0, wanted
    for size in slice_sizes:
        calls += _pages(min(left, size))
        left -= min(left, size)
        if left == 0:
            break
    return VendorMinimum(
        calls={"search": calls},
        list_rounds=calls,
        detail_rounds=0,
        why="1 search per 60-day slice touched; list carries details",
    )


def nodes_minimums(page: PageShape, details: bool) -> dict[Provider, VendorMinimum]:
    """`nodes(ids)`: every id carries what its vendor's get call needs (the Vectara agent, the
    Vonage start day, the StateSet stream id), so every call goes out in one round."""
    samsara = math.ceil(page.samsara / PAGE)
    vectara_sessions = len(page.vectara_event_pages)
    events = sum(page.vectara_event_pages) if details else 0
    vectara_rounds = max(page.vectara_event_pages, default=0) if details else 0
    return {
        # Samsara gets up to 100 sessions per `GET /voice-sessions?ids=`.
        Provider.SAMSARA: VendorMinimum(
            calls={"details": samsara},
            list_rounds=0,
            detail_rounds=1 if samsara else 0,
            why="ceil(k/100) batch gets",
        ),
        # StateSet has no get-by-id: one `?stream_id=` list call per session's stream id.
        Provider.STATESET: VendorMinimum(
            calls={"lookup": page.stateset_streams},
            list_rounds=0,
            detail_rounds=1 if page.stateset_streams else 0,
            why="1 stream_id lookup per session",
        ),
        # Vectara: `GET .../sessions/{key}` carries every scalar of a session; its events (the
        # conversation) only when transcript or tool calls are selected, side by side with it
        # (past 100 events the event pages follow one another). With detail fields selected
        # this is the "2 per session" of the adapter's get contract.
        Provider.VECTARA: VendorMinimum(
            calls={"session": vectara_sessions, "events": events},
            list_rounds=0,
            detail_rounds=max(1 if vectara_sessions else 0, vectara_rounds),
            why="1 session get per session (+1 events call when details are selected)",
        ),
        # Vonage: `/insights/sessions/{id}/parameters` with the start day from the id.
        Provider.VONAGE: VendorMinimum(
            calls={"parameters": page.vonage},
            list_rounds=0,
            detail_rounds=1 if page.vonage else 0,
            why="1 get per session",
        ),
    }


def critical_rounds(minimums: Mapping[Provider, VendorMinimum]) -> int:
    """Dependent rounds of the whole query: the merged page waits for the slowest list, the
    detail calls wait for the page."""
    if not minimums:
        return 0
    lists = max(m.list_rounds for m in minimums.values())
    details = max(m.detail_rounds for m in minimums.values())
    return lists + details
