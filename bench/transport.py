"""`python -m bench.transport`: the HTTP client transport alone, httpx's own against
`httpx-aiohttp`'s, on one `httpx.AsyncClient` with a bounded pool (max_connections=100).

One simulator (Vectara, `GET /v2/agents/{key}`: a small answer) runs in its own process,
served on 127.0.0.1 with TCP_NODELAY by `sessiongraph simulate --only vectara`, with a fixed
latency (50 ms). For N in 1, 10, 50, 100, a new client sends N GETs at once and waits for all
of them, a few times over, after one warm-up burst that opens N connections in its pool. The wall
time of a burst is the figure: at N concurrent calls to a 50 ms upstream, anything above
~50 ms is the client's (and the one-process server's) CPU. design.md cites httpx #3215: ~1.4 s
against ~60 ms at 100 calls.

httpx-aiohttp is not a dependency: `.venv/bin/pip install httpx-aiohttp` to measure it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.processes import (
    LOOPBACK,
    Children,
    console_script,
    raise_on_sigterm,
    wait_for_file,
    wait_for_http,
)
from bench.report import machine

__all__ = ["main"]

OUT = Path(__file__).with_name("out")
AGENT_PATH = "/v2/agents/agt_support"
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


def transports() -> dict[str, Callable[[], httpx.AsyncBaseTransport] | None]:
    """Name → transport factory (None: httpx's default); httpx-aiohttp when installed."""
    found: dict[str, Callable[[], httpx.AsyncBaseTransport] | None] = {"httpx": None}
    try:
        module = importlib.import_module("httpx_aiohttp")
    except ImportError:
        print("bench: httpx-aiohttp is not installed: .venv/bin/pip install httpx-aiohttp")
        return found
    aiohttp_transport: Any = module.AiohttpTransport

    def build() -> httpx.AsyncBaseTransport:
        transport: httpx.AsyncBaseTransport = aiohttp_transport(limits=LIMITS)
        return transport

    found["httpx-aiohttp"] = build
    return found


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


async def bursts(
    base_url: str,
    api_key: str,
    factory: Callable[[], httpx.AsyncBaseTransport] | None,
    size: int,
    repeats: int,
) -> list[float]:
    """Wall time (ms) of each burst of `size` concurrent GETs, on a new client whose pool a
    first burst filled with `size` connections (what a client kept at that concurrency has)."""
    client = httpx.AsyncClient(
        base_url=base_url,
        headers={"x-api-key": api_key},
        limits=LIMITS,
        timeout=httpx.Timeout(30.0),
        transport=factory() if factory is not None else None,
    )
    async with client:

        async def burst() -> float:
            start = time.perf_counter()
            answers = await asyncio.gather(*(client.get(AGENT_PATH) for _ in range(size)))
            elapsed = (time.perf_counter() - start) * 1000
            bad = [a.status_code for a in answers if a.status_code != 200]
            if bad:
                raise RuntimeError(f"the simulator answered {bad[:5]}")
            return elapsed

        await burst()  # opens the connections: the measured bursts reuse them
        return [await burst() for _ in range(repeats)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--sizes", default="1,10,50,100", help="concurrent calls per burst")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--out", type=Path, default=OUT / "transport.json")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    if not sizes or min(sizes) < 1 or args.repeats < 1:
        parser.error("sizes and repeats must be positive")
    raise_on_sigterm()
    run_dir = OUT / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    env_file = run_dir / "transport-vendor.env"
    env_file.unlink(missing_ok=True)
    results: dict[str, dict[int, list[float]]] = {}
    with Children(OUT / "logs") as children:
        server = children.start(
            "transport-simulator",
            [
                console_script("sessiongraph"),
                "simulate",
                "--host",
                LOOPBACK,
                "--latency-ms",
                f"{args.latency_ms:g}",
                "--only",
                "vectara",
                "--env-file",
                str(env_file),
            ],
        )
        env = dict(
            line.split("=", 1)
            for line in wait_for_file(env_file, ["VECTARA_BASE_URL"], 60).splitlines()
            if "=" in line
        )
        base_url, api_key = env["VECTARA_BASE_URL"], env["VECTARA_API_KEY"]
        wait_for_http(base_url + AGENT_PATH, server, timeout_s=30)
        for name, factory in transports().items():
            results[name] = {
                size: asyncio.run(bursts(base_url, api_key, factory, size, args.repeats))
                for size in sizes
            }
    report = {
        "config": {
            "latency_ms": args.latency_ms,
            "repeats": args.repeats,
            "limits": "max_connections=100, max_keepalive_connections=100",
            "request": f"GET {AGENT_PATH}",
            "httpx": version("httpx"),
            "httpx-aiohttp": version("httpx-aiohttp"),
            "aiohttp": version("aiohttp"),
        },
        "machine": machine(),
        "wall_ms": {
            name: {str(n): times for n, times in by_n.items()} for name, by_n in results.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(results, report["config"]))
    print(f"\nbench: figures written to {args.out}")
    return 0


def markdown(results: dict[str, dict[int, list[float]]], config: dict[str, Any]) -> str:
    names = list(results)
    versions = ", ".join(f"{p} {config[p]}" for p in ("httpx", "httpx-aiohttp", "aiohttp"))
    lines = [
        f"### Transport — N concurrent GETs on one client, upstream +{config['latency_ms']:g} ms "
        f"({versions}; median of {config['repeats']}, [min..max], ms)",
        "",
        "| N | " + " | ".join(names) + (" | httpx ÷ httpx-aiohttp |" if len(names) > 1 else " |"),
        "|--:|" + "--:|" * len(names) + ("--:|" if len(names) > 1 else ""),
    ]
    sizes = sorted({n for by_n in results.values() for n in by_n})
    for size in sizes:
        cells = []
        medians = []
        for name in names:
            times = results[name][size]
            medians.append(statistics.median(times))
            cells.append(f"{medians[-1]:.1f} [{min(times):.1f}..{max(times):.1f}]")
        ratio = f" | {medians[0] / medians[1]:.2f}" if len(names) > 1 and medians[1] else ""
        lines.append(f"| {size} | " + " | ".join(cells) + ratio + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; the simulator it started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
