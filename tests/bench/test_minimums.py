"""The contract minimums of `bench.minimums`, against counts worked out by hand from the
vendors' contracts (the comments give the arithmetic)."""

from __future__ import annotations

from bench.minimums import (
    DataShape,
    PageShape,
    VendorMinimum,
    cross_vendor_rounds,
    merged_minimums,
    nodes_minimums,
    per_vendor_rounds,
)
from providers.records import Provider

S, T, V, N = Provider.SAMSARA, Provider.STATESET, Provider.VECTARA, Provider.VONAGE

# 5 Vectara agents, one with 132 sessions (2 list pages); StateSet 300 sessions (3 pages).
DATA = DataShape(
    first=50,
    samsara_stream_sizes=(120,),
    stateset_total=300,
    vectara_agent_sizes=(132, 40, 50, 30, 48),
    vonage_slice_sizes=(80, 70),
)
# 14 Samsara sessions, 3 Vectara ones (the last with 101-200 events: 2 pages), 10 Vonage.
PAGE = PageShape(samsara=14, stateset_streams=12, vectara_event_pages=(1, 1, 2), vonage=10)


def calls(minimums: dict[Provider, VendorMinimum]) -> dict[Provider, dict[str, int]]:
    """The calls by kind, kinds of no call left out."""
    return {p: {k: n for k, n in m.calls.items() if n} for p, m in minimums.items()}


def test_index_ready_merged_details_costs_no_stateset_or_vectara_list_call() -> None:
    minimums = merged_minimums(DATA, PAGE, details=True)
    assert calls(minimums) == {
        S: {"stream": 1, "details": 1},  # 51 of 120 in one page; 14 ids in one details call
        T: {},  # read from the index, transcripts included
        V: {"events": 4},  # 1 + 1 + 2 event pages
        N: {"search": 1},  # 51 of the newest slice's 80
    }
    assert [(minimums[p].list_rounds, minimums[p].detail_rounds) for p in (S, T, V, N)] == [
        (1, 1),
        (0, 0),
        (0, 2),
        (1, 0),
    ]
    # Samsara's one details call can cover its 51 candidates: it need not wait for the page;
    # Vectara's events are per session on the page: they do.
    assert not minimums[S].waits_for_page and minimums[V].waits_for_page
    # Per vendor: Samsara 1 + 1, Vectara 0 + 2 → 2. Across: Vectara's 2 event rounds after the
    # slowest list (1) → 3.
    assert per_vendor_rounds(minimums) == 2
    assert cross_vendor_rounds(minimums) == 3


def test_the_cross_vendor_path_is_longer_when_a_list_outlasts_the_waiting_chain() -> None:
    # Vonage: 20 sessions in the newest slice, 31 more wanted from the next: 2 searches, 2
    # rounds. Vectara: one session on the page, one events call, after both.
    data = DataShape(50, (120,), 300, (40,), vonage_slice_sizes=(20, 70))
    minimums = merged_minimums(data, PageShape(samsara=10, vectara_event_pages=(1,)), True)
    assert minimums[N].calls == {"search": 2} and minimums[N].list_rounds == 2
    assert per_vendor_rounds(minimums) == 2  # Samsara 1+1, Vonage 2, Vectara 0+1
    assert cross_vendor_rounds(minimums) == 3  # Vectara: 2 (Vonage) + 1


def test_samsara_details_wait_for_the_page_when_its_candidates_need_more_calls() -> None:
    # first: 150 → 151 wanted: Samsara 2 stream pages; 40 of its sessions on the page (1
    # details call), but its 151 candidates would take 2: its details wait for the page.
    # Vonage: 50 + 50 + 51 over three slices: 3 searches, 3 rounds.
    data = DataShape(150, (300,), 0, (), vonage_slice_sizes=(50, 50, 100))
    minimums = merged_minimums(data, PageShape(samsara=40), details=True)
    assert minimums[S].calls == {"stream": 2, "details": 1}
    assert minimums[S].waits_for_page
    assert minimums[N].calls == {"search": 3}
    assert per_vendor_rounds(minimums) == 3  # Samsara 2+1, Vonage 3
    assert cross_vendor_rounds(minimums) == 4  # Samsara's details after Vonage's 3 rounds


def test_index_ready_merged_list_is_one_round_of_the_live_vendors() -> None:
    minimums = merged_minimums(DATA, PAGE, details=False)
    assert calls(minimums) == {S: {"stream": 1}, T: {}, V: {}, N: {"search": 1}}
    assert not any(m.waits_for_page for m in minimums.values())
    assert per_vendor_rounds(minimums) == cross_vendor_rounds(minimums) == 1


def test_index_off_scans_stateset_and_vectara_live() -> None:
    minimums = merged_minimums(DATA, PAGE, details=True, indexed=False)
    assert calls(minimums) == {
        S: {"stream": 1, "details": 1},
        T: {"list": 3},  # ceil(300/100)
        V: {"list": 6, "events": 4},  # 2 + 1 + 1 + 1 + 1 list pages
        N: {"search": 1},
    }
    assert minimums[T].list_rounds == 2  # the first page gives the total, then the rest
    assert minimums[V].list_rounds == 2  # the 132-session agent's page_key
    # Per vendor: Vectara 2 + 2. Across: the page after 2 list rounds, then 2 event rounds.
    assert per_vendor_rounds(minimums) == 4
    assert cross_vendor_rounds(minimums) == 4


def test_index_off_caps_the_stateset_scan() -> None:
    data = DataShape(
        50,
        (120,),
        stateset_total=5000,
        vectara_agent_sizes=(1,),
        vonage_slice_sizes=(80,),
        scan_cap=2000,
    )
    minimums = merged_minimums(data, PageShape(), details=False, indexed=False)
    assert minimums[T].calls == {"list": 20}  # 2000 / 100


def test_a_providers_filter_keeps_only_those_vendors() -> None:
    minimums = merged_minimums(DATA, PageShape(), details=True, providers={T})
    assert list(minimums) == [T]
    assert minimums[T].total == 0
    assert per_vendor_rounds(minimums) == cross_vendor_rounds(minimums) == 0
    off = merged_minimums(DATA, PageShape(), details=True, indexed=False, providers={T})
    assert off[T].calls == {"list": 3}
    assert per_vendor_rounds(off) == 2


def test_nodes_is_one_round_of_gets() -> None:
    page = PageShape(samsara=13, stateset_streams=12, vectara_event_pages=(1, 1, 1), vonage=12)
    minimums = nodes_minimums(page, details=False)
    assert calls(minimums) == {
        S: {"details": 1},
        T: {"lookup": 12},
        V: {"session": 3},
        N: {"parameters": 12},
    }
    assert per_vendor_rounds(minimums) == cross_vendor_rounds(minimums) == 1


def test_no_vendor_no_round() -> None:
    assert per_vendor_rounds({}) == cross_vendor_rounds({}) == 0
