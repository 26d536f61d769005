"""`bench.counting` in-process: the index READY (as `serve` runs) and off, against call counts
worked out from the simulators' data (300 sessions a vendor: StateSet 3 list pages, Vectara's
five agents 6)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bench.counting import CallCount, count_calls, waves
from bench.queries import MERGED_LIST, STATESET_PAGE, BenchQuery
from providers.records import Provider

# `count_calls` windows the page on the system clock, as the benchmark does: data anchored now.
ANCHOR = datetime.now(UTC).replace(second=0, microsecond=0)
S, T, V, N = Provider.SAMSARA, Provider.STATESET, Provider.VECTARA, Provider.VONAGE


async def count(query: BenchQuery, indexed: bool) -> CallCount:
    return await count_calls(
        query,
        query.body(),
        size=300,
        seed=1,
        anchor=ANCHOR,
        secret="test-secret",
        latency_s=0.0,
        indexed=indexed,
    )


def nonzero(counts: Mapping[Provider, Mapping[str, int]]) -> dict[Provider, dict[str, int]]:
    return {p: dict(kinds) for p, kinds in counts.items() if kinds}


async def test_a_ready_index_leaves_only_the_live_vendors_list_calls() -> None:
    counted = await count(MERGED_LIST, indexed=True)
    # The sync's own calls (StateSet 3 pages, Vectara 6) were cleared before the query.
    assert nonzero(counted.cold) == {S: {"stream": 1}, N: {"search": 1}}
    assert nonzero(counted.warm) == {S: {"stream": 1}, N: {"search": 1}}
    assert counted.minimum[T].total == 0 and counted.minimum[V].total == 0
    assert counted.rounds == counted.cross_rounds == 1
    assert len(counted.answer["data"]["sessions"]["edges"]) == 50


async def test_with_the_index_off_stateset_and_vectara_are_scanned() -> None:
    counted = await count(MERGED_LIST, indexed=False)
    assert nonzero(counted.cold) == {
        S: {"stream": 1},
        T: {"list": 3},
        V: {"list": 6},
        N: {"search": 1},
    }
    assert counted.rounds == counted.cross_rounds == 2


async def test_the_stateset_page_costs_no_call_once_indexed() -> None:
    counted = await count(STATESET_PAGE, indexed=True)
    assert nonzero(counted.cold) == {}
    assert list(counted.minimum) == [T] and counted.minimum[T].total == 0
    edges = counted.answer["data"]["sessions"]["edges"]
    assert len(edges) == 50 and any(e["node"]["transcript"]["turns"] for e in edges)


def test_waves_group_calls_a_latency_apart() -> None:
    assert waves([0.0, 0.001, 0.05, 0.051, 0.2], latency_s=0.05) == 3
    assert waves([], latency_s=0.05) == 0
