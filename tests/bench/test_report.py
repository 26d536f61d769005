"""Issue 10's target lines of `bench.report`, from figures made up here with the ratios worked
out by hand; and the served index's readiness test of `python -m bench`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.__main__ import index_ready
from bench.counting import CallCount
from bench.load import LoadResult
from bench.minimums import VendorMinimum
from bench.report import Figures, markdown
from providers.records import Provider


def load(
    query: str,
    clients: int,
    p50_ms: float,
    rps: float = 10.0,
    target: str = "gateway",
    round_: int = 0,
) -> LoadResult:
    return LoadResult(
        target=target,
        query=query,
        connections=clients,
        threads=1,
        duration_s=3.0,
        requests=30,
        rps=rps,
        p50_ms=p50_ms,
        p90_ms=p50_ms,
        p95_ms=p50_ms,
        p99_ms=p50_ms,
        mean_ms=p50_ms,
        max_ms=p50_ms,
        socket_errors=0,
        timeouts=0,
        bad_status=0,
        graphql_errors=0,
        round=round_,
    )


def call_count(cold_events: int) -> CallCount:
    minimum = {
        Provider.VECTARA: VendorMinimum(
            calls={"events": 11}, list_rounds=0, detail_rounds=1, why="", waits_for_page=True
        )
    }
    cold = {Provider.VECTARA: {"events": cold_events}}
    return CallCount(
        query="merged_details",
        cold=cold,
        warm=cold,
        failed={},
        waves={"cold": 2, "warm": 2},
        minimum=minimum,
        rounds=2,  # the per-vendor chain: 100 ms at 50 ms a call
        cross_rounds=3,  # across vendors: 150 ms
        answer={},
    )


def figures(cold_events: int = 11, **extra: Any) -> Figures:
    return Figures(
        config={"latency_ms": 50.0, "size": 300, "duration_s": 3, "warmup_s": 1},
        machine={},
        load=[
            load("merged_details", 1, 120.0),
            load("merged_details", 50, 140.0),
            load("small_cached", 1, 1.0, rps=950.0),
            load("small_cached", 1, 1.0, rps=1000.0, target="bare"),
        ],
        calls={"merged_details": call_count(cold_events)},
        answers={},
        notes=[],
        **extra,
    )


def test_both_floor_ratios_against_the_issue_targets() -> None:
    lines = figures().targets()
    at_1 = next(line for line in lines if "at 1 client" in line and "floor" in line)
    # 120 / 100 = 1.20 > 1.10 by 9%, 110 ms allowed; 120 / 150 = 0.80.
    assert "1.20 against the per-vendor chain" in at_1
    assert "MISSED by 9% (110 ms allowed)" in at_1
    assert "0.80 against the cross-vendor chain, 3 rounds = 150 ms — met" in at_1
    at_50 = next(line for line in lines if "at 50 clients" in line and "floor" in line)
    # 140 / 100 = 1.40 ≤ 1.5; 140 / 150 = 0.93.
    assert "1.40 against the per-vendor chain (the issue's), 2 rounds = 100 ms — met" in at_50
    assert "0.93 against the cross-vendor chain" in at_50


def test_calls_cpu_and_ceiling_targets() -> None:
    lines = figures(cpu_ms={"stateset_page": {1: 3.5}, "merged_details": {1: 9.25}}).targets()
    assert "vendor calls = minimum for every query (index READY, as served) — met" in lines
    assert (
        "gateway CPU per request of stateset_page at 1 client: 3.50 ms (target ≤ 4 ms) — met"
        in lines
    )
    assert (
        "gateway CPU per request of merged_details at 1 client: 9.25 ms (target ≤ 8 ms) — MISSED"
        in lines
    )
    # 950 / 1000 = 0.95 ≥ 0.9.
    assert "ceiling ratio of small_cached at 1 client: 0.95 (target ≥ 0.9) — met" in lines
    above = figures(cold_events=12).targets()
    assert (
        "vendor calls = minimum for every query (index READY, as served) — MISSED: "
        "merged_details/vectara +1" in above
    )


def test_cpu_net_of_the_idle_gateways_own_work() -> None:
    """At 1 client a 120 ms query runs ~8 times a second: 80 ms of idle CPU a second (the
    index's sync) is 10 ms of each request's share."""
    made = figures(cpu_ms={"merged_details": {1: 22.0, 50: 12.5}})
    made.config["gateway_idle_cpu_ms_per_s"] = 80.0
    made.load[0] = replace(made.load[0], rps=8.0)  # merged_details at 1 client
    made.load[1] = replace(made.load[1], rps=160.0)  # at 50
    assert made.cpu_net_of_idle("merged_details", 1) == 12.0
    assert made.cpu_net_of_idle("merged_details", 50) == 12.0  # 12.5 - 80 / 160
    line = next(t for t in made.targets() if "CPU per request of merged_details" in t)
    assert line.endswith("— MISSED; 12.00 ms net of the idle gateway's own work")
    assert "| merged_details | 12.00 | 12.00 |" in markdown(made)
    assert (
        figures(cpu_ms={"merged_details": {1: 22.0}}).cpu_net_of_idle("merged_details", 1) is None
    )


def test_the_ceiling_is_the_median_of_alternated_rounds() -> None:
    """Each round pairs a gateway run with the bare run after it; a drifting machine moves
    both apps of a round together, and one bad round does not set the figure."""
    rounds = [(950.0, 1000.0), (600.0, 1200.0), (1500.0, 1600.0)]  # 0.95, 0.50, 0.9375
    runs = [
        load("small_cached", 1, 1.0, rps=rps, target=target, round_=number)
        for number, pair in enumerate(rounds)
        for target, rps in zip(("gateway", "bare"), pair, strict=True)
    ]
    made = Figures(
        config={"latency_ms": 50.0, "size": 300, "duration_s": 3, "warmup_s": 1},
        machine={},
        load=runs,
        calls={},
        answers={},
        notes=[],
    )
    [(clients, ceiling)] = made.ceiling().items()
    assert clients == 1
    assert ceiling["rounds"] == [0.95, 0.5, 0.938]
    assert ceiling["ratio"] == 0.938
    assert "ceiling ratio of small_cached at 1 client: 0.94 (target ≥ 0.9) — met" in made.targets()
    assert "| small_cached | 1 | 950 / 600 / 1500 | 1000 / 1200 / 1600 |" in markdown(made)


def test_the_report_prints_cpu_and_both_paths() -> None:
    text = markdown(figures(cpu_ms={"merged_details": {1: 9.25, 50: 7.5}}))
    assert "| merged_details | 9.25 | 7.50 |" in text
    assert (
        "| merged_details | 2 / 3 | 2/2 | 100 / 150 | 120 | 1.20 / 0.80 | 140 | 1.40 / 0.93 |"
        in text
    )


def test_the_index_is_ready_when_stateset_and_vectara_are() -> None:
    ready = {"SAMSARA": "OFF", "STATESET": "READY", "VECTARA": "READY", "VONAGE": "OFF"}
    assert index_ready(ready)
    assert not index_ready({**ready, "VECTARA": "BUILDING"})
    assert not index_ready({**ready, "STATESET": "STALE"})
    assert not index_ready({k: v for k, v in ready.items() if k != "STATESET"})
    assert not index_ready({**ready, "SAMSARA": "READY"})  # not the served configuration


def test_a_run_with_no_completed_request_is_no_ratio() -> None:
    base = figures()
    stalled = [r for r in base.load if r.connections != 50]
    stalled.append(
        LoadResult(**{**load("merged_details", 50, 0.0).as_json(), "requests": 0, "rps": 0.0})
    )
    lines = Figures(
        base.config, {}, stalled, base.calls, {}, [], cpu_ms={"merged_details": {1: 9.25}}
    ).targets()
    at_50 = next(line for line in lines if "at 50 clients" in line and "floor" in line)
    assert at_50.endswith("no request completed within the 3 s run — MISSED")
