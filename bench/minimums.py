"""The fewest vendor calls each benchmark query can cost, from the vendors' API contracts, and
the dependent rounds of those calls (the critical path the floor ratio divides by).

A merged page (`sessions(first: n)`) asks every vendor at once for its `n + 1` newest sessions
in the window: which of them make the page is known only once every vendor has answered, and
the extra one makes `hasNextPage` exact. So the minimum is per vendor "the calls that yield
`n + 1` sessions in order" and, when detail fields are selected, "the detail calls of the
vendor's sessions that made the page".

Two regimes (`indexed`). The gateway as served keeps StateSet's and Vectara's lists in its
session index: once the index is READY a page reads their order from it, with no list call
(the records hold every list field, StateSet's transcripts and function calls included). With
the index off (`indexed=False`) both are scanned live on every page. Samsara and Vonage sort
for us and are never indexed: the same in both regimes.

The critical path, counted two ways (one round = one vendor latency; calls of one round go out
together; a call whose parameters come from an earlier answer — a cursor, a page key, a total,
the merged page — is a new round):

- per vendor (issue 10's definition, "the longest chain of dependent calls to one vendor"):
  max over vendors of list rounds + detail rounds;
- across vendors: some detail calls must wait for the merged page, which needs every vendor's
  list (Vectara's events calls: one per Vectara session *on the page*; asking before the merge
  means asking for sessions that may not make it, above the minimum). Such a vendor's chain
  starts after the slowest list: max list rounds over vendors + its detail rounds. A vendor
  whose detail calls can go out on its own list's answer (Samsara: one `?ids=` call covers all
  its `n + 1` candidates, no more calls than the page needs) keeps its own chain.

The cross-vendor path is the true floor of a merged page; it is never shorter than the
per-vendor one, and the two differ when a vendor's list takes more rounds than the chain of the
vendor waiting for the page (e.g. Vonage walking two 60-day slices before Vectara's events).

The call kinds are those `bench.counting.call_kind` gives the calls the simulators logged.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from providers.records import Provider

__all__ = [
    "DataShape",
    "PageShape",
    "VendorMinimum",
    "cross_vendor_rounds",
    "merged_minimums",
    "nodes_minimums",
    "per_vendor_rounds",
]

PAGE = 100  # every vendor's largest page (list, details ids, events)


@dataclass(frozen=True, slots=True)
class VendorMinimum:
    calls: Mapping[str, int]  # by kind of call
    list_rounds: int  # dependent rounds of the vendor's list (0: no list call)
    detail_rounds: int  # dependent rounds of its detail calls (0: no detail call)
    why: str
    # The detail calls need the merged page (hence every vendor's list), not only this
    # vendor's own list: see the module's docstring.
    waits_for_page: bool = False

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
    data: DataShape,
    page: PageShape,
    details: bool,
    *,
    indexed: bool = True,
    providers: Collection[Provider] | None = None,
) -> dict[Provider, VendorMinimum]:
    """Per vendor the query asks (`providers`, None: all four); `indexed`: StateSet's and
    Vectara's lists come from a READY index (the gateway as served), else from live scans."""
    wanted = data.first + 1
    minimums = {
        Provider.SAMSARA: _samsara(data.samsara_stream_sizes, wanted, page.samsara, details),
        Provider.STATESET: (
            _stateset_indexed() if indexed else _stateset(data.stateset_total, data.scan_cap)
        ),
        Provider.VECTARA: _vectara(
            data.vectara_agent_sizes, page.vectara_event_pages, details, indexed=indexed
        ),
        Provider.VONAGE: _vonage(data.vonage_slice_sizes, wanted),
    }
    return {p: m for p, m in minimums.items() if providers is None or p in providers}


def _samsara(streams: Sequence[int], wanted: int, on_page: int, details: bool) -> VendorMinimum:
    # Samsara sorts newest first and pages by cursor: per stream (≤100 agent ids each), the
    # pages of `limit` ≤ 100 that hold its first `wanted` sessions, one after another (each
    # needs the previous page's cursor). The stream carries no transcript or tool calls: one
    # `GET /voice-sessions?ids=` per 100 of its sessions on the page. Those can go out as soon
    # as Samsara's own list is in, without waiting for the merge, when asking for every one of
    # its candidates costs no more calls than asking for those on the page (51 candidates:
    # one call either way); otherwise they wait for the page.
    pages = [_pages(min(wanted, size)) for size in streams] or [0]
    detail_calls = math.ceil(on_page / PAGE) if details else 0
    candidates = min(wanted, sum(streams))
    early = detail_calls > 0 and math.ceil(candidates / PAGE) == detail_calls
    return VendorMinimum(
        calls={"stream": sum(pages), "details": detail_calls},
        list_rounds=max(pages),
        detail_rounds=1 if detail_calls else 0,
        why="stream pages for n+1 sessions; details: ceil(on page/100)",
        waits_for_page=detail_calls > 0 and not early,
    )


def _stateset_indexed() -> VendorMinimum:
    # Index READY: StateSet's order is read from the index, and its records hold what the list
    # entries carry (transcripts and function calls): no call at all for a page.
    return VendorMinimum(
        calls={}, list_rounds=0, detail_rounds=0, why="index READY: no call (list carries details)"
    )


def _stateset(total: int, scan_cap: int) -> VendorMinimum:
    # Index off. StateSet promises no order and has no time filter: the newest sessions are
    # known only after reading the whole list, ceil(total/100) pages (up to the scan cap). The
    # first page says the total; the other pages can then go out together: 2 rounds past one
    # page. Its list entries carry transcripts and function calls: no detail call.
    pages = _pages(min(total, scan_cap))
    return VendorMinimum(
        calls={"list": pages},
        list_rounds=1 if pages == 1 else 2,
        detail_rounds=0,
        why="index off: full scan, ceil(total/100) pages; list carries details",
    )


def _vectara(
    agent_sizes: Sequence[int], event_pages: Sequence[int], details: bool, *, indexed: bool
) -> VendorMinimum:
    # Index off: Vectara lists one agent at a time, in no promised order: every configured
    # agent is read in full (one call per agent, more when it has >100 sessions, following
    # `page_key` one page after another; agents at once). Index READY: no list call, the order
    # and every listed field come from the index.
    # Either way, transcripts and tool calls live in each session's event stream, which the
    # index does not hold: one events call per Vectara session on the page (more past 100
    # events, one page after another). Which Vectara sessions make the page is known only
    # after the merge, so those calls wait for every other vendor's list. The listed session
    # already carries every field the page selects, so a `GET .../sessions/{key}` adds nothing.
    list_pages = [0] if indexed else [_pages(size) for size in agent_sizes] or [0]
    events = sum(event_pages) if details else 0
    listing = "index READY: no list call" if indexed else "one list per agent (+page_key pages)"
    return VendorMinimum(
        calls={"list": sum(list_pages), "events": events} if not indexed else {"events": events},
        list_rounds=max(list_pages),
        detail_rounds=max(event_pages, default=0) if details else 0,
        why=f"{listing}; details: 1 events call per session on the page",
        waits_for_page=details and events > 0,
    )


def _vonage(slice_sizes: Sequence[int], wanted: int) -> VendorMinimum:
    # Vonage sorts and filters for us but searches at most 60 days at a time: walk the 60-day
    # slices newest first, one page of ≤100 per slice until `wanted` sessions are found. Whether
    # the next slice is needed is known only from the previous answer: one round per call. The
    # projected list fields include transcript and tool calls: no detail call. Not indexed.
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


def per_vendor_rounds(minimums: Mapping[Provider, VendorMinimum]) -> int:
    """Issue 10's critical path: the longest chain of dependent calls to one vendor."""
    return max((m.list_rounds + m.detail_rounds for m in minimums.values()), default=0)


def cross_vendor_rounds(minimums: Mapping[Provider, VendorMinimum]) -> int:
    """The critical path with the waits between vendors: a vendor's detail calls that need the
    merged page start after the slowest list; the others follow their own list."""
    page_known = max((m.list_rounds for m in minimums.values()), default=0)
    chains = [
        (page_known if m.waits_for_page else m.list_rounds) + m.detail_rounds
        for m in minimums.values()
    ]
    return max(chains, default=0)
