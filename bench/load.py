"""Load with `wrk`: one POST body at a fixed number of connections for a fixed time, exact
percentiles from the script's `done()` hook (`bench/post.lua`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.processes import check_loopback

__all__ = ["LoadResult", "ensure_wrk", "run_wrk"]

SCRIPT = Path(__file__).with_name("post.lua")
MARKER = "BENCH_RESULT "
INSTALL_HINT = (
    "wrk is needed: `sudo apt-get update && sudo apt-get install -y wrk` (Debian/Ubuntu), "
    "`brew install wrk` (macOS); then run the benchmark again"
)


@dataclass(frozen=True, slots=True)
class LoadResult:
    target: str  # "gateway" or "bare"
    query: str
    connections: int
    threads: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    socket_errors: int  # connect + read + write + timeouts
    timeouts: int
    bad_status: int  # answers other than 200
    graphql_errors: int  # 200 answers that carry `errors`
    round: int = 0  # of the ceiling's alternating gateway/bare runs (`--ceiling-rounds`)

    @property
    def clean(self) -> bool:
        return not (self.socket_errors or self.bad_status or self.graphql_errors)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def ensure_wrk() -> str:
    """The path of `wrk`, installed with apt-get when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: wrk is missing: apt-get update && apt-get install -y wrk", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, timeout=600, env=env)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, timeout=600, env=env)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(f"bench: {INSTALL_HINT}")


def run_wrk(
    wrk: str,
    url: str,
    body_file: Path,
    *,
    target: str,
    query: str,
    connections: int,
    duration_s: int,
    request_timeout_s: int = 30,
) -> LoadResult:
    threads = min(2, connections)
    argv = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration_s}s",
        f"--timeout={request_timeout_s}s",
        "--latency",
        f"--script={SCRIPT}",
        check_loopback(url),
        "--",
        str(body_file),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + request_timeout_s + 30
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {' '.join(argv)}\n{done.stdout}\n{done.stderr}"
        )
    raw = json.loads(lines[-1][len(MARKER) :])
    seconds = raw["duration_us"] / 1e6
    return LoadResult(
        target=target,
        query=query,
        connections=connections,
        threads=threads,
        duration_s=round(seconds, 3),
        requests=raw["requests"],
        rps=round(raw["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=round(raw["mean_us"] / 1000, 3),
        max_ms=raw["max_us"] / 1000,
        socket_errors=raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        timeouts=raw["timeouts"],
        bad_status=raw["bad_status"],
        graphql_errors=raw["graphql_errors"],
    )
