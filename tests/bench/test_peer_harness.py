"""bench.peer's own logic, without npm, node or load: the answers it accepts before measuring,
the CPU it reads from /proc, the ratios it reports, and that both queries ask for the same page
of their own schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from bench.load import LoadResult
from bench.peer import (
    OURS_QUERY,
    PEER_QUERY,
    Row,
    check_ours,
    check_peer,
    parse_stat,
    ratios,
    tree,
    tree_cpu_s,
)
from graph.schema import schema

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "bench" / "peer" / "stateset-openapi.json").read_text()
)


def ours(count: int = 50, turns: int = 2) -> dict[str, Any]:
    node = {
        "transcript": {"turns": [{"speaker": "AGENT", "text": "hello"}] * turns},
        "toolCalls": [{"name": "lookup_order"}],
    }
    return {"data": {"sessions": {"edges": [{"node": node}] * count}}}


def peer(count: int = 50, turns: int = 2) -> dict[str, Any]:
    session = {"transcript": [{"role": "agent", "text": "hi"}] * turns, "function_calls": []}
    return {"data": {"voiceSessions": {"data": [session] * count}}}


def test_clean_pages_are_counted() -> None:
    assert check_ours(ours()) == {"sessions": 50, "turns": 100, "tool_calls": 50}
    assert check_peer(peer(turns=3)) == {"sessions": 50, "turns": 150, "tool_calls": 0}


@pytest.mark.parametrize(
    ("answer", "check", "says"),
    [
        (ours(count=49), check_ours, "49 sessions"),
        (ours(turns=0), check_ours, "no transcript turns"),
        ({**ours(), "errors": [{"message": "StateSet failed"}]}, check_ours, "errors"),
        ({"data": None, "errors": [{"message": "x"}]}, check_ours, "errors"),
        (peer(count=51), check_peer, "51 sessions"),
        (peer(turns=0), check_peer, "no transcript turns"),
        (
            {"data": {"voiceSessions": {"errors": "unauthorized"}}},
            check_peer,
            "vendor answered an error",
        ),
    ],
)
def test_pages_that_are_not_the_page_are_refused(answer: Any, check: Any, says: str) -> None:
    with pytest.raises(RuntimeError, match=says):
        check(answer)


def test_a_turn_without_text_is_refused() -> None:
    answer = peer()
    answer["data"]["voiceSessions"]["data"][7] = {
        "transcript": [{"role": "agent", "text": ""}],
        "function_calls": [],
    }
    with pytest.raises(RuntimeError, match="session 7 has a turn without"):
        check_peer(answer)


def test_our_query_is_valid_against_our_schema() -> None:
    assert validate(schema._schema, parse(OURS_QUERY)) == []
    assert "first: 50" in OURS_QUERY and "providers: [STATESET]" in OURS_QUERY


def test_the_peer_query_asks_the_described_operation_for_the_same_fields() -> None:
    get = SPEC["paths"]["/api/v1/voice-sessions"]["get"]
    assert f"{get['operationId']}(limit: 50)" in PEER_QUERY
    session = SPEC["components"]["schemas"]["VoiceSession"]["properties"]
    turn = SPEC["components"]["schemas"]["TranscriptTurn"]["properties"]
    call = SPEC["components"]["schemas"]["FunctionCall"]["properties"]
    assert {"transcript", "function_calls"} <= set(session)
    assert {"role", "text"} <= set(turn) and "name" in call
    assert "transcript { role text } function_calls { name }" in PEER_QUERY
    # A vendor error (the union's Error member) carries `"errors":`, which wrk counts.
    assert "... on Error { errors: error }" in PEER_QUERY


def test_parse_stat_counts_user_system_and_waited_for_children() -> None:
    # A name with a space and parentheses; utime 100, stime 20, cutime 3, cstime 4.
    line = "4242 (node (worker) 1) S 4200 4242 4242 0 -1 4194560 1 2 3 4 100 20 3 4 20 0 1 0"
    assert parse_stat(line) == (4200, 127)


def test_tree_finds_every_descendant_and_nothing_else() -> None:
    stats = {1: (0, 5), 10: (1, 1), 11: (10, 1), 12: (10, 1), 13: (11, 1), 20: (1, 1)}
    assert sorted(tree(10, stats)) == [10, 11, 12, 13]
    assert tree(99, stats) == []


def test_tree_cpu_s_reads_this_process() -> None:
    spent = tree_cpu_s(os.getpid())
    sum(i * i for i in range(2_000_000))  # burn some CPU
    assert tree_cpu_s(os.getpid()) > spent


def row(gateway: str, clients: int, rps: float, p50: float) -> Row:
    load = LoadResult(
        target=gateway,
        query="q",
        connections=clients,
        threads=2,
        duration_s=10.0,
        requests=int(rps * 10),
        rps=rps,
        p50_ms=p50,
        p90_ms=p50,
        p95_ms=p50,
        p99_ms=p50,
        mean_ms=p50,
        max_ms=p50,
        socket_errors=0,
        timeouts=0,
        bad_status=0,
        graphql_errors=0,
    )
    return Row(gateway, load, 1.0, 1.0, 0.1)


def test_ratios_at_ten_clients_against_the_targets() -> None:
    rows = [
        row("ours", 1, 999.0, 1.0),  # another number of clients: not read
        row("ours", 10, 150.0, 7.0),
        row("peer", 10, 100.0, 10.0),
    ]
    met = ratios(rows, "ours", "peer", 10)
    assert met is not None
    assert (met["throughput_ratio"], met["p50_ratio"]) == (1.5, 0.7)
    assert met["throughput_met"] and met["p50_met"]
    rows[1] = row("ours", 10, 149.0, 7.1)
    missed = ratios(rows, "ours", "peer", 10)
    assert missed is not None
    assert not missed["throughput_met"] and not missed["p50_met"]
    assert ratios(rows, "ours", "peer", 50) is None
