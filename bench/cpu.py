"""`python -m bench.cpu`: the gateway's CPU time per request, one client, on loopback.

Starts `sessiongraph simulate` (no added latency) and `sessiongraph serve` pointed at it, sends
each query `--requests` times one after the other on one kept-alive connection (after a
warm-up), and divides the CPU time the gateway process used (user + system, /proc) by the number
of requests. Issue 10's targets: ≤ 4 ms for the 50-session StateSet page with transcript turns
and tool-call names, ≤ 8 ms for the merged page with details. The simulators' CPU per request is
printed beside it: the vendors' side of the same requests, not the gateway's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.processes import (
    LOOPBACK,
    Children,
    console_script,
    environment,
    free_port,
    raise_on_sigterm,
    wait_for_file,
    wait_for_http,
)
from bench.profile import Profiler
from bench.queries import MERGED_DETAILS, PAGE_SIZE, SMALL_CACHED

OUT = Path(__file__).with_name("out")
BASE_URL_KEYS = ("STATESET_VOICE_BASE_URL", "SAMSARA_BASE_URL")

STATESET_PAGE = (
    f"query StateSetPage {{ sessions(first: {PAGE_SIZE}, filter: {{providers: [STATESET]}}) {{ "
    "edges { node { transcript { turns { speaker text } } toolCalls { name } } } } }"
)
QUERIES = {
    "stateset_page": STATESET_PAGE,
    "merged_details": MERGED_DETAILS.text,
    "small_cached": SMALL_CACHED.text,
}
INDEX_QUERY = "{ providers { name index { state } } }"
# The simulators enforce no rate limit; the gateway's own token buckets (the vendors' published
# limits, e.g. StateSet's 60 a minute) would make this a measure of waiting, not of CPU.
NO_RATE_LIMITS = {
    f"{prefix}_RATE_LIMIT_PER_MIN": "0"
    for prefix in ("SAMSARA", "STATESET_VOICE", "VECTARA", "VONAGE_AI_STUDIO")
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (not its children), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its descendants alive now (`serve --workers N` runs its
    workers as children of a supervisor)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
        pending.extend(children.get(current, ()))
    return total


def read_env_file(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def wait_until_indexed(client: httpx.Client, url: str, deadline_s: float = 120) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        answer = client.post(url, json={"query": INDEX_QUERY}).json()
        states = {p["index"]["state"] for p in answer["data"]["providers"]}
        if states <= {"READY", "OFF"}:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the index is not READY after {deadline_s} s")


def measure(
    client: httpx.Client, url: str, pids: Sequence[int], query: str, requests: int, warmup: int
) -> dict[str, Any]:
    body = {"query": query}
    for _ in range(warmup):
        answer = client.post(url, json=body)
    if "errors" in answer.json():
        raise RuntimeError(f"the gateway answered with errors: {answer.text[:800]}")
    before = [tree_cpu_seconds(pid) for pid in pids]
    start = time.perf_counter()
    for _ in range(requests):
        client.post(url, json=body)
    wall = time.perf_counter() - start
    used = [tree_cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
    return {
        "requests": requests,
        "gateway_cpu_ms": round(used[0] / requests * 1000, 2),
        "simulators_cpu_ms": round(used[1] / requests * 1000, 2),
        "wall_ms": round(wall / requests * 1000, 2),
        "answer_bytes": len(answer.content),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--size", type=int, default=100, help="sessions per simulated vendor")
    parser.add_argument("--index", choices=("off", "on"), default="off")
    parser.add_argument(
        "--workers", default="1", help="serve --workers (CPU is summed over the workers)"
    )
    parser.add_argument("--queries", default=",".join(QUERIES))
    parser.add_argument("--out", type=Path, default=OUT / "cpu.json")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy over the gateway (bench/out/profile-*.txt)"
    )
    args = parser.parse_args(argv)
    raise_on_sigterm()
    run_dir = OUT / "cpu-run"
    run_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with Children(OUT / "logs") as children:
        env_file = run_dir / "vendors.env"
        env_file.unlink(missing_ok=True)
        anchor = datetime.now(UTC).replace(second=0, microsecond=0)
        simulators = children.start(
            "simulators",
            [
                *(console_script("sessiongraph"), "simulate", "--host", LOOPBACK),
                *("--latency-ms", "0", "--size", str(args.size), "--seed", "1"),
                *("--anchor", anchor.isoformat(), "--env-file", str(env_file)),
            ],
        )
        vendor_env = read_env_file(wait_for_file(env_file, BASE_URL_KEYS, timeout_s=60))
        index = run_dir / "index.db"
        index.unlink(missing_ok=True)
        port = free_port()
        gateway = children.start(
            "gateway",
            [
                *(console_script("sessiongraph"), "serve", "--host", LOOPBACK),
                *("--port", str(port), "--log-level", "warning"),
                *("--workers", args.workers),
            ],
            env={
                **environment({}),
                **vendor_env,
                **NO_RATE_LIMITS,
                "SESSIONGRAPH_CURSOR_SECRET": "bench",
                "SESSIONGRAPH_AUTH": "off",
                "SESSIONGRAPH_INDEX_URL": "off" if args.index == "off" else f"sqlite:///{index}",
            },
        )
        base = f"http://{LOOPBACK}:{port}"
        wait_for_http(base + "/healthz", gateway, timeout_s=60, ok_below=300)
        url = base + "/graphql"
        with httpx.Client(timeout=60) as client:
            if args.index == "on":
                wait_until_indexed(client, url)
            for name in args.queries.split(","):
                profiler = Profiler(children, gateway.pid, OUT / f"profile-cpu-{name}.txt")
                if args.profile:
                    # Until the measured requests are done (ended then): their time is unknown.
                    profiler.start(duration_s=3600)
                figures = measure(
                    client,
                    url,
                    (gateway.pid, simulators.pid),
                    QUERIES[name],
                    args.requests,
                    args.warmup,
                )
                results[name] = figures
                if args.profile:
                    print(profiler.finish(interrupt=True))
                print(
                    f"{name:15s} index {args.index:3s} gateway {figures['gateway_cpu_ms']:6.2f} "
                    f"ms CPU/request  simulators {figures['simulators_cpu_ms']:6.2f} ms  "
                    f"wall {figures['wall_ms']:6.2f} ms  answer {figures['answer_bytes']} B"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": args.size, "index": args.index, **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
