"""Some of the vendor simulators as HTTP servers on loopback, like `sessiongraph simulate`
(`--only vectara` serves one): `bench.transport` measures the HTTP client against one of them.

Every connection gets TCP_NODELAY: the listening socket is made with `proto=IPPROTO_TCP`, which
is what makes asyncio set it on accepted connections. Without it, uvicorn's two writes per
answer (head, then body) meet the client's delayed ACK on every kept-alive connection: about
+40 ms per call on Linux (`sessiongraph simulate` had that until e8137ad).

    python -m bench.simulators --latency-ms 50 --env-file vendors.env [--only vectara]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from graph.cli import env_lines
from providers.records import Provider
from resolvers.sources import build_simulators

__all__ = ["main", "tcp_socket"]


def tcp_socket(host: str, port: int = 0) -> socket.socket:
    """A bound TCP socket that asyncio will give TCP_NODELAY to (its `proto` is TCP)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


async def serve(args: argparse.Namespace) -> None:
    anchor = datetime.fromisoformat(args.anchor) if args.anchor else None
    if anchor is not None and anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    simulators = build_simulators(args.size, args.seed, anchor)
    if args.only:
        simulators = {p: s for p, s in simulators.items() if p in {Provider(n) for n in args.only}}
    servers, urls = [], {}
    for provider, simulator in simulators.items():
        simulator.faults.latency_s = args.latency_ms / 1000
        sock = tcp_socket(args.host)
        host, port = sock.getsockname()[:2]
        urls[provider] = f"http://{host}:{port}"
        config = uvicorn.Config(simulator.app, log_level="warning", lifespan="off")
        servers.append((uvicorn.Server(config), sock))
    lines = env_lines(simulators, urls)
    print("\n".join(lines), flush=True)
    if args.env_file:
        args.env_file.write_text("\n".join(lines) + "\n")
    await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulators", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--anchor", help="ISO time the data ends at (default: now)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--env-file", type=Path)
    parser.add_argument(
        "--only", nargs="*", choices=[p.value for p in Provider], help="serve only these vendors"
    )
    asyncio.run(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
