"""`python -m bench.peer`: sessiongraph side by side with a peer gateway (issue 10).

The peer is what a user would otherwise deploy: Hive Gateway serving a supergraph that the GraphQL
Mesh compose CLI built from an OpenAPI description of StateSet Voice (bench/peer/: the exact npm
versions, the description, the Mesh config). Both gateways run on loopback over ONE StateSet
simulator process (`sessiongraph simulate --only stateset`), answer one page of 50 sessions with
their transcript turns and tool-call names, and are driven by the same wrk script at the same
numbers of clients, alternately at each. Before measuring, both answers are checked (50
sessions, every one with turns); during each measured run the harness reads each gateway's CPU
(its process and every child) and the simulator's count of vendor calls.

Not identical work, by design of the two products: StateSet promises no order, so sessiongraph
reads the whole list (100 sessions: one call of limit 100) and returns the newest 50; the peer
passes `limit: 50` through and returns the vendor's first 50. sessiongraph also shares one vendor
call between identical requests in flight; the table's vendor calls per request shows it.

Settings: sessiongraph runs `serve`'s defaults (one process unless --workers is given) with
SESSIONGRAPH_INDEX_URL=off, `--log-level warning` (no access-log line per request: the peer
writes none either) and its StateSet client rate limit off (STATESET_VOICE_RATE_LIMIT_PER_MIN=0):
the default, 60 calls a minute, would pace sessiongraph while the peer, which has no such
limit, calls the simulator (which enforces none) freely. --default-limit-run measures the
default too. The peer runs `hive-gateway supergraph` with NODE_ENV=production and its default
of no cluster workers (`--fork` unset).

Every process it starts is stopped at the end, on errors and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx

from bench.load import LoadResult, ensure_wrk, run_wrk
from bench.processes import (
    LOOPBACK,
    Children,
    check_loopback,
    console_script,
    environment,
    free_port,
    raise_on_sigterm,
    wait_for_file,
    wait_for_http,
)
from bench.report import CpuMeter, machine

__all__ = [
    "OURS_QUERY",
    "PEER_QUERY",
    "Row",
    "check_ours",
    "check_peer",
    "main",
    "parse_stat",
    "ratios",
]

PEER_DIR = Path(__file__).with_name("peer")
PEER_LABEL = "peer (Hive Gateway)"
OUT = Path(__file__).with_name("out")
PAGE = 50
RATIO_CLIENTS = 10  # the issue's targets are stated at 10 clients
THROUGHPUT_TARGET = 1.5  # ours req/s ÷ peer req/s, at least
P50_TARGET = 0.7  # ours p50 ÷ peer p50, at most
# The default client limit lets a burst of 15 calls through, then 45 a minute: a short run
# would measure the burst, not the limit.
LIMITED_WARMUP_S = 30
VENDOR_ENV = ("STATESET_VOICE_API_KEY", "STATESET_VOICE_BASE_URL")
# Inherited variables that would change either gateway's settings behind the harness's back.
VENDOR_PREFIXES = ("SESSIONGRAPH_", "SAMSARA_", "STATESET_", "VECTARA_", "VONAGE_")
HIVE_ENV = ("FORK", "HOST", "PORT", "CONFIG_PATH", "JIT", "POLLING", "NODE_OPTIONS", "DEBUG")

# The query of the issue, as a client of sessiongraph writes it.
OURS_QUERY = (
    f"{{ sessions(first: {PAGE}, filter: {{providers: [STATESET]}}) {{ edges {{ node {{ "
    "transcript { turns { speaker text } } toolCalls { name } } } } }"
)
# The same page over the composed schema: the 200 answer is `VoiceSessionList`, a vendor error
# is the `Error` member of the union, answered as data. Its message is aliased `errors` so that
# wrk's count of answers holding `"errors":` (bench/post.lua) counts the peer's vendor errors as
# it counts sessiongraph's.
PEER_QUERY = (
    f"{{ voiceSessions(limit: {PAGE}) {{ ... on VoiceSessionList {{ data {{ "
    "transcript { role text } function_calls { name } } } "
    "... on Error { errors: error } } }"
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each")
    parser.add_argument("--concurrency", default="1,10,50", help="numbers of clients (wrk -c)")
    parser.add_argument(
        "--size", type=int, default=100, help="sessions of the simulator (100: one list call)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every vendor call")
    parser.add_argument(
        "--workers",
        type=int,
        help="`sessiongraph serve --workers N` (default: not passed, serve's default)",
    )
    parser.add_argument(
        "--default-limit-run",
        action="store_true",
        help="also measure sessiongraph with serve's default StateSet client rate limit "
        f"(60 calls a minute) at {RATIO_CLIENTS} clients, after a warm-up of at least "
        f"{LIMITED_WARMUP_S} s (the limit's burst spent)",
    )
    parser.add_argument("--request-timeout", type=int, default=30, help="wrk --timeout, seconds")
    parser.add_argument("--out", type=Path, default=OUT / "peer.json")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    if not args.concurrency or any(c < 1 for c in args.concurrency):
        parser.error("--concurrency takes positive numbers of clients")
    if args.duration < 1 or args.warmup < 0 or args.size < PAGE:
        parser.error(f"durations must be positive and --size at least {PAGE}")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers is at least 1")
    return args


# --- npm: the pinned install and its versions ----------------------------------------------------


def _lock_versions(lock: Mapping[str, Any]) -> dict[str, str | None]:
    packages: Mapping[str, Any] = lock.get("packages", {})
    return {path: entry.get("version") for path, entry in packages.items() if path}


def ensure_node_modules(peer_dir: Path = PEER_DIR) -> list[str]:
    """node_modules as package-lock.json pins it: `npm ci` when missing or different (npm's
    own record of what it installed, node_modules/.package-lock.json, tells), `npm install`
    the first time (no lock yet). Returns notes for the report."""
    lock_file = peer_dir / "package-lock.json"
    installed = peer_dir / "node_modules" / ".package-lock.json"
    npm = ["npm", "--no-audit", "--no-fund", "--loglevel=error"]
    if not lock_file.exists():
        print("bench.peer: no package-lock.json: npm install (commit the lock it writes)")
        subprocess.run([*npm, "install"], cwd=peer_dir, check=True, timeout=1800)
        return ["package-lock.json was written by this run: commit it"]
    wanted = _lock_versions(json.loads(lock_file.read_text()))
    if installed.exists() and _lock_versions(json.loads(installed.read_text())) == wanted:
        return []
    print("bench.peer: node_modules is missing or differs from package-lock.json: npm ci")
    subprocess.run([*npm, "ci"], cwd=peer_dir, check=True, timeout=1800)
    return []


def _command_version(argv: Sequence[str]) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def versions(peer_dir: Path = PEER_DIR) -> dict[str, Any]:
    """node, npm, and every package pinned in package.json (its dependencies as installed, its
    overrides as every installed copy)."""
    manifest = json.loads((peer_dir / "package.json").read_text())
    lock = _lock_versions(json.loads((peer_dir / "package-lock.json").read_text()))
    packages: dict[str, Any] = {}
    for name in manifest.get("dependencies", {}):
        packages[name] = lock.get(f"node_modules/{name}")
    for name in manifest.get("overrides", {}):
        copies = {v for path, v in lock.items() if path.endswith(f"node_modules/{name}") and v}
        packages[name] = sorted(copies)
    return {
        "node": _command_version(["node", "--version"]),
        "npm": _command_version(["npm", "--version"]),
        "pinned": dict(manifest.get("dependencies", {})),
        "overrides": dict(manifest.get("overrides", {})),
        "installed": packages,
    }


def compose_supergraph(output: Path, peer_dir: Path = PEER_DIR) -> None:
    """`mesh-compose` with bench/peer/mesh.config.ts (it reads the description beside it)."""
    bin_path = peer_dir / "node_modules" / ".bin" / "mesh-compose"
    output.unlink(missing_ok=True)
    done = subprocess.run(
        ["node", str(bin_path), "-o", str(output)],
        cwd=peer_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or not output.exists():
        raise RuntimeError(f"mesh-compose failed ({done.returncode}):\n{done.stdout}{done.stderr}")


# --- CPU of a process and its children, from /proc ---------------------------------------------


def parse_stat(text: str) -> tuple[int, int]:
    """(parent pid, CPU ticks) of one /proc/<pid>/stat line: user + system of the process and
    of its children it has waited for (fields 14-17; the name, field 2, may hold spaces and
    parentheses, so the fields are counted from its closing one)."""
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[1]), sum(int(value) for value in rest[11:15])


def _all_stats() -> dict[int, tuple[int, int]]:
    stats: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = parse_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return stats


def tree(pid: int, stats: Mapping[int, tuple[int, int]]) -> list[int]:
    """`pid` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for child, (parent, _) in stats.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            found.append(current)
            todo.extend(children.get(current, []))
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by `pid` and its descendants (a forking gateway's workers)."""
    stats = _all_stats()
    ticks = sum(stats[p][1] for p in tree(pid, stats))
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(pid: int, timeout_s: float = 10.0) -> None:
    """Waits until `pid` (and its children) is idle: the requests a warm-up left in flight are
    finished or dropped, and their CPU and vendor calls are not charged to the measured run."""
    deadline = time.monotonic() + timeout_s
    used = tree_cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = tree_cpu_s(pid)
        if now - used < 0.01:  # under 5% of a core over 200 ms
            return
        used = now


def process_count(pid: int) -> int:
    return len(tree(pid, _all_stats()))


# --- the answers, checked before any measurement ---------------------------------------------


def _no_errors(name: str, answer: Mapping[str, Any]) -> Mapping[str, Any]:
    if answer.get("errors") or not isinstance(answer.get("data"), Mapping):
        raise RuntimeError(f"{name}: answered with errors: {json.dumps(answer)[:800]}")
    data: Mapping[str, Any] = answer["data"]
    return data


def _summary(name: str, sessions: Sequence[Any], speaker_key: str) -> dict[str, int]:
    """Counts of one page; RuntimeError unless it holds PAGE sessions, each with turns that have
    a speaker and a text, and a list of tool calls each with a name."""
    if len(sessions) != PAGE:
        raise RuntimeError(f"{name}: {len(sessions)} sessions, not {PAGE}")
    turns = calls = 0
    for number, session in enumerate(sessions):
        said = session["turns"]
        if not said:
            raise RuntimeError(f"{name}: session {number} has no transcript turns")
        if any(not turn.get(speaker_key) or not turn.get("text") for turn in said):
            raise RuntimeError(f"{name}: session {number} has a turn without speaker or text")
        used = session["calls"]
        if any(not call.get("name") for call in used):
            raise RuntimeError(f"{name}: session {number} has a tool call without a name")
        turns += len(said)
        calls += len(used)
    return {"sessions": len(sessions), "turns": turns, "tool_calls": calls}


def check_ours(answer: Mapping[str, Any]) -> dict[str, int]:
    edges = _no_errors("sessiongraph", answer)["sessions"]["edges"]
    sessions = [
        {"turns": e["node"]["transcript"]["turns"], "calls": e["node"]["toolCalls"]} for e in edges
    ]
    return _summary("sessiongraph", sessions, "speaker")


def check_peer(answer: Mapping[str, Any]) -> dict[str, int]:
    page = _no_errors("peer", answer)["voiceSessions"]
    if "data" not in page:
        raise RuntimeError(f"peer: the vendor answered an error: {json.dumps(page)[:800]}")
    sessions = [{"turns": s["transcript"], "calls": s["function_calls"]} for s in page["data"]]
    return _summary("peer", sessions, "role")


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Gateway:
    label: str
    kind: str  # "sessiongraph" or "peer"
    process: Popen[bytes]
    url: str
    body: Path
    settings: dict[str, Any]
    concurrency: Sequence[int] | None = None  # None: every one of the run
    warmup_s: int | None = None  # None: the run's --warmup
    processes: int = 0  # the process and its children once serving
    answer: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    gateway: str
    load: LoadResult
    cpu_ms_per_request: float | None
    vendor_calls_per_request: float | None
    simulator_busy: float | None  # simulator CPU seconds ÷ wall seconds over the run

    @property
    def errors(self) -> int:
        r = self.load
        return r.socket_errors + r.bad_status + r.graphql_errors

    def as_json(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            **self.load.as_json(),
            "errors": self.errors,
            "cpu_ms_per_request": self.cpu_ms_per_request,
            "vendor_calls_per_request": self.vendor_calls_per_request,
            "simulator_busy": self.simulator_busy,
        }


def _post(url: str, body: Path) -> httpx.Response:
    with httpx.Client(timeout=60.0) as client:
        response = client.post(
            check_loopback(url),
            content=body.read_bytes(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
    response.raise_for_status()
    return response


def vendor_calls(base_url: str) -> int:
    """Requests the simulator has served so far (its fault-control endpoint counts them)."""
    with httpx.Client(timeout=10.0) as client:
        state = client.get(check_loopback(base_url + "/__faults")).json()
    count: int = state["requests"]
    return count


def serve_has_workers() -> bool:
    done = subprocess.run(
        [console_script("sessiongraph"), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "--workers" in done.stdout


def _inherited(drop: Sequence[str] = ()) -> dict[str, str]:
    return {
        k: v
        for k, v in environment({}).items()
        if not k.startswith(VENDOR_PREFIXES) and k not in drop
    }


@dataclass
class PeerRun:
    args: argparse.Namespace
    children: Children
    run_dir: Path
    notes: list[str] = field(default_factory=list)

    def start_simulator(self) -> tuple[Popen[bytes], dict[str, str]]:
        env_file = self.run_dir / "stateset.env"
        env_file.unlink(missing_ok=True)
        anchor = datetime.now(UTC).replace(second=0, microsecond=0)
        simulator = self.children.start(
            "simulator",
            [
                *(console_script("sessiongraph"), "simulate", "--only", "stateset"),
                *("--host", LOOPBACK, "--latency-ms", f"{self.args.latency_ms:g}"),
                *("--size", str(self.args.size), "--seed", str(self.args.seed)),
                *("--anchor", anchor.isoformat(), "--env-file", str(env_file)),
            ],
        )
        text = wait_for_file(env_file, VENDOR_ENV, timeout_s=60)
        pairs = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        vendor_env = {key: pairs[key] for key in VENDOR_ENV}
        check_loopback(vendor_env["STATESET_VOICE_BASE_URL"])
        wait_for_http(vendor_env["STATESET_VOICE_BASE_URL"] + "/__faults", simulator, 30)
        return simulator, vendor_env

    def start_ours(
        self, label: str, vendor_env: Mapping[str, str], *, workers: int | None, limited: bool
    ) -> Gateway:
        port = free_port()
        argv = [console_script("sessiongraph"), "serve", "--host", LOOPBACK, "--port", str(port)]
        argv += ["--log-level", "warning"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        # No API key to check, as the peer has none (a key costs one SHA-256 and a lookup).
        env = {
            **_inherited(),
            **vendor_env,
            "SESSIONGRAPH_INDEX_URL": "off",
            "SESSIONGRAPH_AUTH": "off",
        }
        if not limited:
            # serve's default StateSet client limit (60 calls a minute, the vendor's documented
            # limit) would pace sessiongraph to ~1 call a second while the peer, which has no
            # such limit, calls the (unlimited) simulator freely: off, unless measuring it.
            env["STATESET_VOICE_RATE_LIMIT_PER_MIN"] = "0"
        name = label.replace(" ", "_").replace(",", "").replace("/", "-")
        process = self.children.start(name, argv, env=env)
        base = f"http://{LOOPBACK}:{port}"
        health = wait_for_http(base + "/healthz", process, timeout_s=60, ok_below=300).json()
        if health.get("mode") != "live" or health.get("providers") != ["stateset"]:
            raise RuntimeError(f"{label}: not live over the StateSet simulator alone: {health}")
        settings = {
            "argv": argv[1:],
            "SESSIONGRAPH_INDEX_URL": "off",
            "SESSIONGRAPH_AUTH": "off",
            "STATESET_VOICE_RATE_LIMIT_PER_MIN": "60 (default)" if limited else "0 (off)",
        }
        return self._gateway(label, "sessiongraph", process, base + "/graphql", settings)

    def start_peer(self, vendor_env: Mapping[str, str]) -> Gateway:
        supergraph = self.run_dir / "supergraph.graphql"
        compose_supergraph(supergraph)
        port = free_port()
        hive = PEER_DIR / "node_modules" / ".bin" / "hive-gateway"
        # Run from the run directory: Hive Gateway loads a gateway.* or mesh.config.* it finds in
        # its working directory, and the one in bench/peer is for composing only.
        argv = [
            *("/bin/sh", "-c", 'cd "$0" && exec "$@"', str(self.run_dir)),
            *("node", str(hive), "supergraph", str(supergraph)),
            *("--host", LOOPBACK, "--port", str(port)),
        ]
        env = {**_inherited(HIVE_ENV), **vendor_env, "NODE_ENV": "production"}
        process = self.children.start("peer", argv, env=env)
        base = f"http://{LOOPBACK}:{port}"
        wait_for_http(base + "/readiness", process, timeout_s=120, ok_below=300)
        settings = {
            "argv": ["hive-gateway", "supergraph", "supergraph.graphql", "--host", LOOPBACK],
            "NODE_ENV": "production",
            "fork": "not set: Hive Gateway's default (1, no cluster workers)",
        }
        return self._gateway(PEER_LABEL, "peer", process, base + "/graphql", settings)

    def _gateway(
        self, label: str, kind: str, process: Popen[bytes], url: str, settings: dict[str, Any]
    ) -> Gateway:
        body = self.run_dir / f"{kind}.json"
        query = OURS_QUERY if kind == "sessiongraph" else PEER_QUERY
        body.write_text(json.dumps({"query": query}))
        gateway = Gateway(label, kind, process, url, body, settings)
        gateway.answer = self.check(gateway)
        time.sleep(1.0)  # a forking gateway's workers are up by now
        gateway.processes = process_count(process.pid)
        return gateway

    def check(self, gateway: Gateway) -> dict[str, int]:
        response = _post(gateway.url, gateway.body)
        (self.run_dir / f"{gateway.kind}.answer.json").write_bytes(response.content)
        answer = response.json()
        counts = check_ours(answer) if gateway.kind == "sessiongraph" else check_peer(answer)
        return {**counts, "bytes": len(response.content)}

    def measure(
        self, wrk: str, gateway: Gateway, clients: int, simulator: Popen[bytes], vendor_url: str
    ) -> Row:
        def run(seconds: int) -> LoadResult:
            return run_wrk(
                wrk,
                gateway.url,
                gateway.body,
                target=gateway.label,
                query=gateway.kind,
                connections=clients,
                duration_s=seconds,
                request_timeout_s=self.args.request_timeout,
            )

        warmup = self.args.warmup if gateway.warmup_s is None else gateway.warmup_s
        if warmup:
            run(warmup)
            settle(gateway.process.pid)
        calls0, cpu0 = vendor_calls(vendor_url), tree_cpu_s(gateway.process.pid)
        sim0, wall0 = tree_cpu_s(simulator.pid), time.monotonic()
        result = run(self.args.duration)
        wall = time.monotonic() - wall0
        sim = tree_cpu_s(simulator.pid) - sim0
        cpu, calls = tree_cpu_s(gateway.process.pid) - cpu0, vendor_calls(vendor_url) - calls0
        done = result.requests
        return Row(
            gateway=gateway.label,
            load=result,
            cpu_ms_per_request=round(cpu * 1000 / done, 2) if done else None,
            # Counted over the measured run: the calls of requests wrk left unfinished at its
            # end (at most one a client) fall in; both gateways alike.
            vendor_calls_per_request=round(calls / done, 3) if done else None,
            simulator_busy=round(sim / wall, 2) if wall else None,
        )


def ratios(rows: Sequence[Row], ours: str, peer: str, clients: int) -> dict[str, Any] | None:
    """`ours` against `peer` at `clients`: throughput and p50 ratios and their verdicts."""
    mine = next((r for r in rows if r.gateway == ours and r.load.connections == clients), None)
    theirs = next((r for r in rows if r.gateway == peer and r.load.connections == clients), None)
    if mine is None or theirs is None or not theirs.load.rps or not theirs.load.p50_ms:
        return None
    throughput = round(mine.load.rps / theirs.load.rps, 3)
    p50 = round(mine.load.p50_ms / theirs.load.p50_ms, 3)
    return {
        "gateway": ours,
        "clients": clients,
        "throughput_ratio": throughput,
        "throughput_target": THROUGHPUT_TARGET,
        "throughput_met": throughput >= THROUGHPUT_TARGET,
        "p50_ratio": p50,
        "p50_target": P50_TARGET,
        "p50_met": p50 <= P50_TARGET,
    }


def _cell(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(
    rows: Sequence[Row],
    verdicts: Sequence[Mapping[str, Any]],
    gateways: Sequence[Gateway],
    config: Mapping[str, Any],
) -> str:
    out = [
        f"### sessiongraph vs Hive Gateway + Mesh — StateSet simulator, {config['size']} "
        f"sessions, +{config['latency_ms']:g} ms a vendor call, {config['duration_s']} s runs "
        f"after {config['warmup_s']} s of warm-up",
        "",
        "| gateway | clients | req/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/request "
        "| vendor calls/request | simulator busy |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        r = row.load
        out.append(
            f"| {row.gateway} | {r.connections} | {r.rps:.1f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} "
            f"| {r.p99_ms:.1f} | {row.errors} | {_cell(row.cpu_ms_per_request)} "
            f"| {_cell(row.vendor_calls_per_request, 2)} | {_cell(row.simulator_busy, 2)} |"
        )
    out.append("")
    for v in verdicts:
        out.append(
            f"- {v['gateway']} ÷ peer at {v['clients']} clients: throughput "
            f"{v['throughput_ratio']:.2f} (target ≥ {v['throughput_target']}) — "
            f"{'met' if v['throughput_met'] else 'MISSED'}; p50 {v['p50_ratio']:.2f} (target ≤ "
            f"{v['p50_target']}) — {'met' if v['p50_met'] else 'MISSED'}"
        )
    out.append("")
    for g in gateways:
        out.append(
            f"- {g.label}: {g.processes} process(es) serving; checked answer {g.answer}; "
            f"settings {json.dumps(g.settings)}"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    run_dir = OUT / "peer-run"
    run_dir.mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    notes = ensure_node_modules()
    npm_versions = versions()
    if args.workers is not None and not serve_has_workers():
        raise SystemExit("bench.peer: this `sessiongraph serve` has no --workers option")
    host = machine()
    started = time.monotonic()
    cpu = CpuMeter()
    rows: list[Row] = []
    with Children(OUT / "logs" / "peer") as children:
        run = PeerRun(args, children, run_dir, notes)
        simulator, vendor_env = run.start_simulator()
        vendor_url = vendor_env["STATESET_VOICE_BASE_URL"]
        ours_label = "sessiongraph" + (f", --workers {args.workers}" if args.workers else "")
        gateways = [
            run.start_ours(ours_label, vendor_env, workers=args.workers, limited=False),
            run.start_peer(vendor_env),
        ]
        if gateways[0].processes > 1:
            # The issue asks for one worker alone beside serve's default.
            alone = run.start_ours("sessiongraph, 1 worker", vendor_env, workers=1, limited=False)
            gateways.insert(1, alone)
        if args.default_limit_run and RATIO_CLIENTS in args.concurrency:
            limited = run.start_ours(
                "sessiongraph, default 60/min limit",
                vendor_env,
                workers=args.workers,
                limited=True,
            )
            limited.concurrency = [RATIO_CLIENTS]
            limited.warmup_s = max(args.warmup, LIMITED_WARMUP_S)
            gateways.append(limited)
        for clients in args.concurrency:
            for gateway in gateways:
                if gateway.concurrency is not None and clients not in gateway.concurrency:
                    continue
                row = run.measure(wrk, gateway, clients, simulator, vendor_url)
                rows.append(row)
                r = row.load
                print(
                    f"bench.peer: {gateway.label:36} c={clients:<3} p50 {r.p50_ms:8.1f} ms  "
                    f"p99 {r.p99_ms:8.1f} ms  {r.rps:8.1f} req/s  "
                    f"{_cell(row.cpu_ms_per_request)} CPU ms/req"
                    + (f"  ({row.errors} errors)" if row.errors else ""),
                    flush=True,
                )
                if gateway.process.poll() is not None:
                    raise RuntimeError(f"{gateway.label} exited during the run")
        for gateway in gateways:  # still answering the page after the load
            run.check(gateway)
    cpu_share = cpu.finish()
    if cpu_share.get("others_share", 0) > 0.05:
        notes.append(
            f"other processes used {cpu_share['others_share']:.0%} of the machine's CPU during "
            "the run: the figures are low and noisy, run again on a quiet machine"
        )
    verdicts = [
        v
        for g in gateways
        if g.kind == "sessiongraph"
        if (v := ratios(rows, g.label, PEER_LABEL, RATIO_CLIENTS)) is not None
    ]
    config = {
        "command": " ".join(
            ["python -m bench.peer", *(argv if argv is not None else sys.argv[1:])]
        ),
        "size": args.size,
        "seed": args.seed,
        "latency_ms": args.latency_ms,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "concurrency": args.concurrency,
        "wrk": wrk,
        "wrk_threads": "min(2, clients)",
        "queries": {"sessiongraph": OURS_QUERY, "peer": PEER_QUERY},
        "elapsed_s": round(time.monotonic() - started, 1),
        "cpu": cpu_share,
    }
    report = markdown(rows, verdicts, gateways, config)
    figures = {
        "config": config,
        "machine": host,
        "versions": npm_versions,
        "gateways": [
            {
                "label": g.label,
                "kind": g.kind,
                "processes": g.processes,
                "settings": g.settings,
                "answer": g.answer,
            }
            for g in gateways
        ],
        "load": [row.as_json() for row in rows],
        "ratios": verdicts,
        "notes": notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print()
    print(report)
    print()
    installed = ", ".join(f"{k} {v}" for k, v in npm_versions["installed"].items())
    print(f"versions: node {npm_versions['node']}, npm {npm_versions['npm']}, {installed}")
    print(f"sessiongraph {host['revision']} (source {host['source_digest']})")
    for note in notes:
        print(f"note: {note}")
    print(f"bench.peer: figures written to {args.out}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("bench.peer: interrupted; every process it started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    except subprocess.CalledProcessError as exc:
        print(f"bench.peer: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
