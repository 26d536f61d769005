"""`sessiongraph simulate` and `sessiongraph serve` as real processes on loopback: serve,
pointed at the simulators by the documented environment variables, answers as demo mode does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import ANCHOR, running_gateway

# An explicit window: the served processes read the real clock, the demo gateway a fixed one.
QUERY = """{ sessions(first: 25, filter: {startedAfter: "2026-08-03T00:00:00Z",
  startedBefore: "2026-11-01T00:00:00Z"}) { edges { node { id provider providerSessionId status
  startedAt durationMs transcript { turns { speaker text } } toolCalls { name status } } }
  pageInfo { hasNextPage } totalCount sources { provider ok } } }"""
SIZE = 40
BIN = Path(sys.executable).parent / "sessiongraph"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: object, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[dict[str, str]]:
    env_file = tmp_path / "vendors.env"
    process = subprocess.Popen(
        [
            str(BIN),
            "simulate",
            "--size",
            str(SIZE),
            "--anchor",
            ANCHOR.isoformat(),
            "--env-file",
            str(env_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(env_file.exists, "simulate to print its environment")
        lines = env_file.read_text().split()
        yield dict(line.split("=", 1) for line in lines)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_pointed_at_simulate_answers_like_demo_mode(
    simulate: dict[str, str],
) -> None:
    assert all(
        url.startswith("http://127.0.0.1:")
        for k, url in simulate.items()
        if k.endswith("_BASE_URL")
    )
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SESSIONGRAPH_")},
        **simulate,
        "SESSIONGRAPH_CURSOR_SECRET": "real-http",
        "SESSIONGRAPH_AUTH": "off",
        "SESSIONGRAPH_INDEX_URL": "off",  # compared with the demo's live scans
    }
    server = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Live mode's default is a worker per CPU: a supervisor, then workers that each import
        # the app, which on a loaded 2-core machine has taken over 30 s.
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, "serve", 90)
        assert httpx.get(f"{base}/healthz").json()["mode"] == "live"
        live = httpx.post(f"{base}/graphql", json={"query": QUERY}, timeout=30).json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "errors" not in live, live
    demo = _demo_answer()
    assert live == demo
    providers = {edge["node"]["provider"] for edge in live["data"]["sessions"]["edges"]}
    assert len(live["data"]["sessions"]["edges"]) == 25
    assert providers == {"SAMSARA", "STATESET", "VECTARA", "VONAGE"}


def _demo_answer() -> dict[str, object]:
    import asyncio

    async def ask() -> dict[str, object]:
        async with running_gateway(size=SIZE, seed=1) as gateway:
            # The processes' clock: the simulators' data moves with time after the anchor (calls
            # on the line end, open chats close), so both must ask at the same "now".
            gateway.clock.advance((datetime.now(UTC) - ANCHOR).total_seconds())
            return await gateway.query(QUERY)

    return asyncio.run(ask())
