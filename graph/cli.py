"""The `sessiongraph` command: serve, simulate, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from graph.serving import configure_logging, serve
from graph.settings import ConfigError
from providers.records import Provider
from providers.vendors import adapter_class
from resolvers.sources import build_simulators

if TYPE_CHECKING:
    from providers.simulators import Simulator

__all__ = ["LIST_ORDERS", "SimulatorServers", "env_lines", "main", "simulator_servers"]

log = logging.getLogger("sessiongraph")

# `providers.simulators.base.LIST_ORDERS`, restated: `serve` must not import the simulators.
LIST_ORDERS = ("newest-first", "insertion", "shuffled")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's help ends with its default, so help never restates one by hand; a flag
    without a default (None) says what it means in its own words instead of "default: None"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def version() -> str:
    """The installed package's version (from its metadata, so it is never restated here)."""
    try:
        return importlib.metadata.version("sessiongraph")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that is not installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sessiongraph",
        description=__doc__,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            formatter_class=_HelpFormatter,
        )

    serve = command("serve", "run the GraphQL server (demo mode when no vendor is configured)")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; a non-loopback one needs an API key (see README: Access)",
    )
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn's log level",
    )
    serve.add_argument(
        "--workers",
        help="processes serving the port (also SESSIONGRAPH_WORKERS): a number, or auto (the"
        " CPUs this process may use, at most 8); default auto in live mode, 1 in demo mode"
        " (each worker then runs its own simulators, with the same data)",
    )

    simulate = command(
        "simulate", "run the four vendor simulators as HTTP servers on loopback ports"
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address the simulators listen on")
    simulate.add_argument(
        "--port",
        type=int,
        default=0,
        help="first port (the four use port..port+3); 0: any free ports",
    )
    simulate.add_argument("--size", type=int, default=300, help="sessions per vendor")
    simulate.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    simulate.add_argument("--anchor", help="ISO time the data ends at (default: now)")
    simulate.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency added to every vendor answer"
    )
    simulate.add_argument("--env-file", type=Path, help="also write the environment lines here")
    simulate.add_argument(
        "--only", help="comma-separated vendors to serve (default: all four), e.g. vectara"
    )
    simulate.add_argument(
        "--order",
        choices=LIST_ORDERS,
        default="shuffled",
        help="how vendors that promise no order (StateSet, Vectara) list their sessions; "
        "Samsara and Vonage keep their own",
    )
    simulate.add_argument(
        "--arrivals-per-hour",
        type=float,
        default=0.0,
        help="new sessions per hour and vendor, from the anchor on (Samsara and Vonage ignore "
        "it for now)",
    )
    simulate.add_argument(
        "--deletions-per-hour",
        type=float,
        default=0.0,
        help="sessions deleted per hour and vendor (Samsara and Vonage ignore it for now)",
    )

    export = command("export-schema", "print the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")

    args = parser.parse_args(argv)
    configure_logging()
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "simulate":
            return asyncio.run(_simulate(args))
        return _export_schema(args)
    except ConfigError as exc:
        print(f"sessiongraph: configuration error: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    return serve(args.host, args.port, args.log_level, args.workers)


def _export_schema(args: argparse.Namespace) -> int:
    from graph.schema import schema

    text = schema.as_str() + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def env_lines(simulators: dict[Provider, Simulator], urls: dict[Provider, str]) -> list[str]:
    """The environment that points `sessiongraph serve` at running simulators."""
    lines = []
    for provider, simulator in simulators.items():
        config = adapter_class(provider).config
        lines.append(f"{config.credential_env}={simulator.api_key}")
        lines.append(f"{config.base_url_env}={urls[provider]}")
        if config.agent_ids_env:
            lines.append(f"{config.agent_ids_env}={','.join(simulator.agent_ids())}")
    return lines


@dataclass
class SimulatorServers:
    """The simulators as HTTP servers on bound sockets: `serve` runs them until `stop`."""

    simulators: dict[Provider, Simulator]
    urls: dict[Provider, str]
    servers: list[tuple[uvicorn.Server, socket.socket]]

    def env_lines(self) -> list[str]:
        return env_lines(self.simulators, self.urls)

    async def serve(self) -> None:
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in self.servers))

    def stop(self) -> None:
        """Ends `serve` (from any thread): each server finishes its requests and closes."""
        for server, _ in self.servers:
            server.should_exit = True


def simulator_servers(
    simulators: dict[Provider, Simulator], host: str, port: int = 0, latency_ms: float = 0.0
) -> SimulatorServers:
    """One server per simulator, its socket bound to `host` and `port` + i (0: any free port)."""
    from providers.simulators.control import with_fault_control  # `simulate` only

    servers, urls = [], {}
    for offset, (provider, simulator) in enumerate(simulators.items()):
        simulator.faults.latency_s = latency_ms / 1000
        # IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections; without it the
        # delayed ACK adds ~40 ms to every answer (bench/RESULTS.md).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port + offset if port else 0))
        bound_host, bound_port = sock.getsockname()[:2]
        urls[provider] = f"http://{bound_host}:{bound_port}"
        # The fault knobs over HTTP: only here, where the simulators serve on loopback.
        app = with_fault_control(simulator)
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        servers.append((uvicorn.Server(config), sock))
    return SimulatorServers(simulators, urls, servers)


def _anchor(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        anchor = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--anchor must be an ISO 8601 time, not {text!r}") from None
    return anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)


def _only(text: str | None) -> set[Provider]:
    if not text:
        return set(Provider)
    try:
        return {Provider(name.strip().lower()) for name in text.split(",")}
    except ValueError:
        raise ConfigError(f"--only takes {', '.join(p.value for p in Provider)}") from None


def _rate(value: float, flag: str) -> float:
    if value < 0:
        raise ConfigError(f"{flag} cannot be negative, not {value:g}")
    return value


async def _simulate(args: argparse.Namespace) -> int:
    # Every argument is checked before the (slow) data generation.
    wanted = _only(args.only)
    anchor = _anchor(args.anchor)
    arrivals = _rate(args.arrivals_per_hour, "--arrivals-per-hour")
    deletions = _rate(args.deletions_per_hour, "--deletions-per-hour")
    started = time.perf_counter()
    simulators = build_simulators(
        args.size,
        args.seed,
        anchor,
        order=args.order,
        arrivals_per_hour=arrivals,
        deletions_per_hour=deletions,
        providers=wanted,  # the others' data is not generated at all
    )
    log.info(
        "%s: %d sessions each, generated in %.1f s",
        ", ".join(p.value for p in simulators),
        args.size,
        time.perf_counter() - started,
    )
    running = simulator_servers(simulators, args.host, args.port, args.latency_ms)
    lines = running.env_lines()
    print("\n".join(lines), flush=True)
    if args.env_file:
        args.env_file.write_text("\n".join(lines) + "\n")
    await running.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
