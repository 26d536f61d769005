"""Two `serve` processes on one PostgreSQL index: both answer the same pages, one syncs.

Each process runs the demo's simulators in-process with the same seed and anchor (the same
vendor data), the same cursor secret, and the same index URL; each list's lease in the database
lets one of them sync it while the other only reads.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.graph.test_real_http import BIN, free_port, wait_for
from tests.pg import reset_database

INDEXED = {"STATESET", "VECTARA"}
PROVIDERS = "{ providers { name index { state sessions } } }"
# Demo data anchored at start-up time, to the minute (the index keeps the default window plus a
# week before now, so a fixed past anchor would age out of it), and an explicit window: a
# default one ends at the request's second, and so would the cursors of two requests.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
AFTER, BEFORE = (NOW - timedelta(days=60)).isoformat(), (NOW + timedelta(days=1)).isoformat()
PAGE = (
    """
{ sessions(first: 30, filter: {providers: [STATESET, VECTARA], """
    f'startedAfter: "{AFTER}", startedBefore: "{BEFORE}"'
    """}) {
    totalCount
    edges { cursor node { id startedAt status } }
    sources { provider fromIndex indexState }
} }
"""
)


@contextmanager
def serve(index_url: str, log: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SESSIONGRAPH_")},
        "SESSIONGRAPH_INDEX_URL": index_url,
        "SESSIONGRAPH_SYNC_INTERVAL_S": "1",
        "SESSIONGRAPH_CURSOR_SECRET": "replicas",
        "SESSIONGRAPH_DEMO_ANCHOR": NOW.isoformat(),
        "SESSIONGRAPH_DEMO_SIZE": "400",
    }
    with log.open("w") as err:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, "serve")
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def ask(base: str, query: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(f"{base}/graphql", json={"query": query}, timeout=30).json()
    assert "errors" not in body, body
    return body


def ready(base: str) -> bool:
    providers = ask(base, PROVIDERS)["data"]["providers"]
    return all(p["index"]["state"] == "READY" for p in providers if p["name"] in INDEXED)


def test_two_replicas_on_one_postgresql_answer_alike_while_one_syncs(
    postgres_url: str, tmp_path: Path
) -> None:
    reset_database(postgres_url)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with ExitStack() as running:
        bases = [running.enter_context(serve(postgres_url, log)) for log in logs]
        for base in bases:
            wait_for(lambda base=base: ready(base), "the index to be READY", seconds=60)
        pages = [ask(base, PAGE) for base in bases]
    assert pages[0] == pages[1]
    sessions = pages[0]["data"]["sessions"]
    assert len(sessions["edges"]) == 30
    assert all(source["fromIndex"] for source in sessions["sources"])
    # Each list (StateSet's, five Vectara agents') was read in full once, by the replica that
    # took its lease: the first one up, which keeps its leases while it runs.
    builds = [log.read_text().count("read in full") for log in logs]
    assert builds == [6, 0]
