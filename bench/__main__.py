"""`python -m bench`: the gateway under load over four simulated vendors, on loopback.

Starts the simulators (`sessiongraph simulate --latency-ms L`), the gateway (`sessiongraph
serve`, pointed at them, with an index of the run's own and no client-side rate limit) and a
bare Strawberry app (`bench.bare_app`); waits until the gateway's index is READY (StateSet and
Vectara), so every figure is of the gateway as served once built; then for every query of
`bench.queries` and every number of clients runs `wrk` (a warm-up, then the measured run,
reading the gateway's CPU time around it), and counts each query's vendor calls in-process, the
index READY too, against the contract minimum (`bench.minimums`). Prints a Markdown report
with issue 10's targets and writes every figure to bench/out/latest.json. Every process it
starts is stopped at the end, on errors and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx

from bench.counting import INDEX_QUERY, INDEXED, CallCount, count_calls
from bench.cpu import NO_RATE_LIMITS, tree_cpu_seconds
from bench.load import LoadResult, ensure_wrk, run_wrk
from bench.processes import (
    LOOPBACK,
    Children,
    check_loopback,
    console_script,
    environment,
    free_port,
    python_module,
    raise_on_sigterm,
    wait_for_file,
    wait_for_http,
)
from bench.profile import Profiler
from bench.queries import ID_QUERY, QUERIES, BenchQuery, pick_node_ids
from bench.report import CpuMeter, Figures, machine, markdown

OUT = Path(__file__).with_name("out")
SECRET = "sessiongraph-bench-secret"
VENDOR_PREFIXES = ("SESSIONGRAPH_", "SAMSARA_", "STATESET_", "VECTARA_", "VONAGE_")
# Every vendor's list state on a merged page: StateSet and Vectara must be read from the index.
SOURCES_QUERY = "{ sessions(first: 1) { sources { provider fromIndex } } }"
BASE_URL_KEYS = (
    "SAMSARA_BASE_URL",
    "STATESET_VOICE_BASE_URL",
    "VECTARA_BASE_URL",
    "VONAGE_AI_STUDIO_BASE_URL",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every vendor call")
    parser.add_argument("--size", type=int, default=300, help="sessions per simulated vendor")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each")
    parser.add_argument("--quick", action="store_true", help="3 s runs after 1 s of warm-up")
    parser.add_argument("--concurrency", default="1,10,50", help="numbers of clients (wrk -c)")
    parser.add_argument(
        "--queries", default=",".join(QUERIES), help=f"a subset of {', '.join(QUERIES)}"
    )
    parser.add_argument(
        "--log-level", default="warning", help="uvicorn log level of the gateway and bare app"
    )
    parser.add_argument(
        "--ceiling-rounds",
        type=int,
        default=3,
        help="gateway and bare app runs of the ceiling query, alternated (median ratio kept)",
    )
    parser.add_argument("--request-timeout", type=int, default=30, help="wrk --timeout, seconds")
    parser.add_argument(
        "--index-timeout", type=float, default=120.0, help="seconds for the index to be READY"
    )
    parser.add_argument(
        "--index-off-calls",
        action="store_true",
        help="also count the vendor calls in-process with the index off (its own minimum)",
    )
    parser.add_argument(
        "--profile",
        metavar="QUERY@CLIENTS",
        help="record the gateway with py-spy during that run (e.g. merged_details@10)",
    )
    parser.add_argument("--out", type=Path, default=OUT / "latest.json")
    parser.add_argument(
        "--workers",
        help="serve --workers for the gateway (default: serve's own, auto in live mode)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3, 1
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    names = [n.strip() for n in str(args.queries).split(",") if n.strip()]
    unknown = [n for n in names if n not in QUERIES]
    if unknown or not names:
        parser.error(f"unknown queries {unknown}; choose from {', '.join(QUERIES)}")
    args.queries = [QUERIES[n] for n in names]
    if (
        any(c < 1 for c in args.concurrency)
        or args.duration < 1
        or args.warmup < 0
        or args.ceiling_rounds < 1
    ):
        parser.error("clients and durations must be positive")
    return args


def read_env_file(text: str) -> dict[str, str]:
    pairs = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    for key in BASE_URL_KEYS:
        check_loopback(pairs[key])
    return pairs


def post(url: str, body: Mapping[str, Any]) -> httpx.Response:
    with httpx.Client(timeout=60.0) as client:
        response = client.post(check_loopback(url), json=dict(body))
    response.raise_for_status()
    return response


def served_ms(base_url: str, calls: int = 6) -> float:
    """Median time of a vendor answer on one reused connection: `GET /` without credentials
    waits the configured latency, then is refused (the first call, which connects, is not
    counted)."""
    times: list[float] = []
    with httpx.Client(timeout=10.0) as client:
        for _ in range(calls):
            start = time.perf_counter()
            client.get(check_loopback(base_url + "/"))
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times[1:]), 1)


def clean_answer(name: str, response: httpx.Response) -> dict[str, Any]:
    answer: dict[str, Any] = response.json()
    if answer.get("errors") or not answer.get("data"):
        errors = json.dumps(answer.get("errors"))[:800]
        raise RuntimeError(f"{name}: the gateway answered with errors: {errors}")
    return answer


def node_ids_of(answer: Mapping[str, Any], query: BenchQuery) -> list[str]:
    """The page's sessions: their ids, or the nodes whole when the query selects no `id`."""
    data = answer.get("data") or {}
    if query.kind == "nodes":
        return [node["id"] if node else "null" for node in data.get("nodes") or []]
    if query.kind == "merged":
        nodes = [edge["node"] for edge in data["sessions"]["edges"]]
        return [n["id"] if "id" in n else json.dumps(n, sort_keys=True) for n in nodes]
    return []


def index_ready(states: Mapping[str, str]) -> bool:
    """StateSet and Vectara READY, every other vendor OFF (never indexed)."""
    indexed = {p.name for p in INDEXED}
    return all(
        (state == "READY") if name in indexed else (state == "OFF")
        for name, state in states.items()
    ) and indexed <= set(states)


@dataclass
class Run:
    """One benchmark run: its options, the processes it started, what it found on the way."""

    args: argparse.Namespace
    children: Children
    anchor: datetime
    notes: list[str] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # per query: checks
    captured: dict[str, dict[str, Any]] = field(default_factory=dict)  # the gateway's answers
    bodies: dict[str, Path] = field(default_factory=dict)  # the POST bodies wrk sends
    served: dict[str, float] = field(default_factory=dict)  # vendor answer time, ms
    index: dict[str, Any] = field(default_factory=dict)  # the served index: states, wait
    cpu_ms: dict[str, dict[int, float]] = field(default_factory=dict)  # gateway CPU/request
    idle_cpu_ms_per_s: float | None = None  # the gateway's CPU with no request (its own work)

    @property
    def run_dir(self) -> Path:
        return OUT / "run"

    def start_vendors(self) -> dict[str, str]:
        """The four simulators; their environment lines (credentials, loopback URLs)."""
        env_file = self.run_dir / "vendors.env"
        env_file.unlink(missing_ok=True)
        options = [
            *("--host", LOOPBACK, "--latency-ms", f"{self.args.latency_ms:g}"),
            *("--size", str(self.args.size), "--seed", str(self.args.seed)),
            *("--anchor", self.anchor.isoformat(), "--env-file", str(env_file)),
        ]
        simulators = self.children.start(
            "simulators", [console_script("sessiongraph"), "simulate", *options]
        )
        vendor_env = read_env_file(wait_for_file(env_file, BASE_URL_KEYS, timeout_s=60))
        for key in BASE_URL_KEYS:
            wait_for_http(vendor_env[key] + "/", simulators, timeout_s=30)
        self.served = {k.split("_")[0].lower(): served_ms(vendor_env[k]) for k in BASE_URL_KEYS}
        slowest = max(self.served.values())
        if slowest > self.args.latency_ms + 15:
            self.notes.append(
                f"the simulators answer in {slowest:.0f} ms on a reused connection, not "
                f"{self.args.latency_ms:g} ms: check that `sessiongraph simulate` still sets "
                "TCP_NODELAY (before e8137ad it did not, and the delayed ACK added ~40 ms to "
                "every vendor call on a kept-alive connection)"
            )
        return vendor_env

    def start_gateway(self, vendor_env: Mapping[str, str]) -> tuple[Popen[bytes], str]:
        """`sessiongraph serve` over the simulators; the process and its GraphQL URL."""
        inherited = {k: v for k, v in environment({}).items() if not k.startswith(VENDOR_PREFIXES)}
        port = free_port()
        # The default serve settings, but an index of this run's own (never the user's file),
        # and no client-side rate limit: the simulators enforce none, and the gateway's token
        # buckets (the vendors' published limits, e.g. StateSet's 60 a minute) would measure
        # waiting, not the gateway.
        index = self.run_dir / "index.db"
        index.unlink(missing_ok=True)
        gateway = self.children.start(
            "gateway",
            [
                *(console_script("sessiongraph"), "serve", "--host", LOOPBACK),
                *("--port", str(port), "--log-level", self.args.log_level),
                *(("--workers", self.args.workers) if self.args.workers else ()),
            ],
            env={
                **inherited,
                **vendor_env,
                **NO_RATE_LIMITS,
                "SESSIONGRAPH_CURSOR_SECRET": SECRET,
                "SESSIONGRAPH_AUTH": "off",  # as the peer: no key to check
                "SESSIONGRAPH_INDEX_URL": f"sqlite:///{index}",
            },
        )
        base = f"http://{LOOPBACK}:{port}"
        health = wait_for_http(base + "/healthz", gateway, timeout_s=60, ok_below=300)
        if health.json().get("mode") != "live":
            raise RuntimeError(f"the gateway is not pointed at the simulators: {health.text}")
        return gateway, base + "/graphql"

    def _reads_index(self, gateway_url: str) -> bool:
        page = clean_answer("sources", post(gateway_url, {"query": SOURCES_QUERY}))
        sources = page["data"]["sessions"]["sources"]
        return all({s["provider"]: s["fromIndex"] for s in sources}.get(p.name) for p in INDEXED)

    def wait_until_indexed(self, gateway_url: str, gateway: Popen[bytes]) -> None:
        """Until the served index is READY for StateSet and Vectara (OFF for the others), then
        checks that a merged page reads both from it: the figures are of one regime, the
        gateway as served once its index is built, not of a build under way."""
        deadline = self.args.index_timeout
        started = time.monotonic()
        states: dict[str, str] = {}
        while time.monotonic() - started < deadline:
            if gateway.poll() is not None:
                tail = self.children.log_tail("gateway")
                raise RuntimeError(f"the gateway exited while its index was built:\n{tail}")
            answer = clean_answer("index", post(gateway_url, {"query": INDEX_QUERY}))
            states = {p["name"]: p["index"]["state"] for p in answer["data"]["providers"]}
            if index_ready(states) and self._reads_index(gateway_url):
                # Each worker keeps the index's states for a second: let every one see READY.
                time.sleep(1.5)
                if self._reads_index(gateway_url):
                    break
            time.sleep(0.25)
        else:
            raise RuntimeError(
                f"the gateway's index is not READY after {deadline:g} s: {states} (wanted "
                f"READY for {', '.join(p.name for p in INDEXED)}, OFF for the others); "
                f"see {OUT / 'logs' / 'gateway.log'}"
            )
        waited = time.monotonic() - started
        page = clean_answer("sources", post(gateway_url, {"query": SOURCES_QUERY}))
        from_index = {s["provider"]: s["fromIndex"] for s in page["data"]["sessions"]["sources"]}
        if not all(from_index.get(p.name) for p in INDEXED):
            raise RuntimeError(f"the index is READY but a page is not read from it: {from_index}")
        self.index = {"states": states, "ready_after_s": round(waited, 1)}
        print(f"bench: the gateway's index is READY after {waited:.1f} s: {states}", flush=True)

    def capture(self, gateway_url: str) -> list[str]:
        """Each query's body and the gateway's clean answer to it; the ids of `nodes_50`."""
        listed = clean_answer("ids", post(gateway_url, {"query": ID_QUERY}))
        node_ids = pick_node_ids(listed["data"]["sessions"]["edges"])
        for query in self.args.queries:
            body = query.body(node_ids)
            self.bodies[query.name] = self.run_dir / f"{query.name}.json"
            self.bodies[query.name].write_text(json.dumps(body))
            response = post(gateway_url, body)
            self.captured[query.name] = clean_answer(query.name, response)
            if '"errors":' in response.text:
                self.notes.append(
                    f"{query.name}: its clean answer holds '\"errors\":': wrk's count of "
                    "answers with errors is not reliable for it"
                )
            self.answers[query.name] = {"bytes": len(response.content)}
            (self.run_dir / f"{query.name}.answer.json").write_bytes(response.content)
        return node_ids

    def start_bare(self, query: BenchQuery) -> str:
        """The bare Strawberry app answering the gateway's body for `query`; its URL."""
        port = free_port()
        bare = self.children.start(
            "bare_app",
            python_module(
                "bench.bare_app",
                *("--host", LOOPBACK, "--port", str(port), "--log-level", self.args.log_level),
                *("--answer", str(self.run_dir / f"{query.name}.answer.json")),
            ),
        )
        url = f"http://{LOOPBACK}:{port}/graphql"
        wait_for_http(url, bare, timeout_s=60)
        bare_answer = post(url, query.body()).json()
        gateway_answer = self.captured[query.name]
        # The data must be the same; the gateway adds `extensions.cost` (its cost report), which
        # the bare app has no reason to compute: it is part of the gateway's work, measured.
        same = bare_answer.get("data") == gateway_answer.get("data")
        self.answers[query.name]["bare_answer_equal"] = same
        self.answers[query.name]["gateway_only_extensions"] = sorted(
            set(gateway_answer.get("extensions") or {}) - set(bare_answer.get("extensions") or {})
        )
        if not same:
            raise RuntimeError("the bare app's data differs from the gateway's")
        return url

    def count(self, node_ids: Sequence[str], indexed: bool = True) -> dict[str, CallCount]:
        """Vendor calls per query, in-process, over the same data as the served simulators;
        `indexed`: with a READY index, as served (else with the index off)."""
        counts: dict[str, CallCount] = {}
        regime = "index READY" if indexed else "index off"
        for query in self.args.queries:
            counts[query.name] = count = asyncio.run(
                count_calls(
                    query,
                    query.body(node_ids),
                    size=self.args.size,
                    seed=self.args.seed,
                    anchor=self.anchor,
                    secret=SECRET,
                    latency_s=self.args.latency_ms / 1000,
                    indexed=indexed,
                )
            )
            same = node_ids_of(count.answer, query) == node_ids_of(self.captured[query.name], query)
            key = "in_process_page_equal" + ("" if indexed else "_index_off")
            self.answers[query.name][key] = same
            if not same:
                self.notes.append(
                    f"{query.name}: the in-process page ({regime}) differs from the served one"
                )
        return counts

    def load(
        self, wrk: str, gateway: Popen[bytes], gateway_url: str, bare_url: str | None
    ) -> list[LoadResult]:
        """Every query at every number of clients, on the gateway (and the bare app)."""
        profile_query, _, profile_clients = (self.args.profile or "").partition("@")
        # With no request at all, the gateway still works (the index's sync, timers): at one
        # client a slow query's few requests carry all of it. Measured once, reported apart.
        before = tree_cpu_seconds(gateway.pid)
        time.sleep(self.args.duration)
        idle_s = tree_cpu_seconds(gateway.pid) - before
        self.idle_cpu_ms_per_s = round(idle_s * 1000 / self.args.duration, 2)
        print(f"bench: gateway idle: {self.idle_cpu_ms_per_s} ms of CPU a second", flush=True)
        results: list[LoadResult] = []
        for query in self.args.queries:
            for connections in self.args.concurrency:
                # The ceiling's two apps alternate, round after round: on a shared machine
                # the speed drifts by tens of percent within minutes, and one run of each,
                # one after the other, measured the drift as much as the gateway.
                targets = [("gateway", gateway_url, 0)]
                if query.ceiling and bare_url:
                    targets = [
                        (target, url, round_)
                        for round_ in range(self.args.ceiling_rounds)
                        for target, url in (("gateway", gateway_url), ("bare", bare_url))
                    ]
                cpu_s_total, requests_total = 0.0, 0
                for target, url, round_ in targets:
                    profiler = None
                    if (target, query.name, str(connections), round_) == (
                        "gateway",
                        profile_query,
                        profile_clients or "10",
                        0,
                    ):
                        output = OUT / f"profile-{query.name}.txt"
                        profiler = Profiler(self.children, gateway.pid, output)
                    body = self.bodies[query.name]
                    pid = gateway.pid if target == "gateway" else None
                    result, cpu_s = measure(
                        wrk,
                        url,
                        body,
                        target,
                        query,
                        connections,
                        self.args,
                        profiler,
                        pid,
                        warm=round_ > 0,
                    )
                    result = replace(result, round=round_)
                    results.append(result)
                    cpu = ""
                    if cpu_s is not None and result.requests:
                        cpu_s_total += cpu_s
                        requests_total += result.requests
                        ms = round(cpu_s_total * 1000 / requests_total, 2)  # over its rounds
                        self.cpu_ms.setdefault(query.name, {})[connections] = ms
                        cpu = f"  CPU {cpu_s * 1000 / result.requests:6.2f} ms/req"
                    print(
                        f"bench: {query.name:15} {target:7} c={connections:<3} "
                        + (f"r{round_} " if len(targets) > 1 else "")
                        + f"p50 {result.p50_ms:8.1f} ms  p99 {result.p99_ms:8.1f} ms  "
                        f"{result.rps:8.1f} req/s{cpu}" + ("" if result.clean else "  (errors)"),
                        flush=True,
                    )
                    if gateway.poll() is not None:
                        tail = self.children.log_tail("gateway")
                        raise RuntimeError(f"the gateway exited:\n{tail}")
        return results

    def check_index_still_ready(self, gateway_url: str) -> None:
        """After the load: a sync tick that failed (STALE) or a rebuild would have mixed
        regimes into the figures; say so."""
        answer = post(gateway_url, {"query": INDEX_QUERY}).json()
        states = {p["name"]: p["index"]["state"] for p in answer["data"]["providers"]}
        self.index["states_at_end"] = states
        if not index_ready(states):
            self.notes.append(f"the gateway's index was no longer READY after the load: {states}")

    def read_gateway_log(self) -> None:
        log = (OUT / "logs" / "gateway.log").read_text(errors="replace").splitlines()
        problems = [line for line in log if "ERROR" in line or "Traceback" in line]
        if problems:
            self.notes.append(
                f"gateway log: {len(problems)} ERROR/Traceback lines, first: {problems[0]}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    (OUT / "run").mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    host = machine()  # before the gateway starts: the digest of the code it runs
    started = time.monotonic()
    cpu = CpuMeter()
    with Children(OUT / "logs") as children:
        run = Run(args, children, anchor=datetime.now(UTC).replace(second=0, microsecond=0))
        gateway, gateway_url = run.start_gateway(run.start_vendors())
        run.wait_until_indexed(gateway_url, gateway)
        node_ids = run.capture(gateway_url)
        ceiling = [q for q in args.queries if q.ceiling]
        bare_url = run.start_bare(ceiling[0]) if ceiling else None
        counts = run.count(node_ids)
        counts_off = run.count(node_ids, indexed=False) if args.index_off_calls else {}
        results = run.load(wrk, gateway, gateway_url, bare_url)
        run.check_index_still_ready(gateway_url)
        run.read_gateway_log()
    cpu_share = cpu.finish()  # after the children were stopped and waited for: theirs counts
    if cpu_share.get("others_share", 0) > 0.05:
        run.notes.append(
            f"other processes used {cpu_share['others_share']:.0%} of the machine's CPU "
            f"({cpu_share['others_cpu_s']:.0f} CPU-s) during the run: the figures are low, "
            "run again on a quiet machine"
        )
    config = {
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "latency_ms": args.latency_ms,
        "served_ms": run.served,
        "index": run.index,
        "gateway_rate_limits": "none (*_RATE_LIMIT_PER_MIN=0)",
        "size": args.size,
        "seed": args.seed,
        "anchor": run.anchor.isoformat(),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "concurrency": args.concurrency,
        "queries": [q.name for q in args.queries],
        "log_level": args.log_level,
        "wrk": wrk,
        "wrk_threads": "min(2, clients)",
        "node_ids": node_ids,
        "elapsed_s": round(time.monotonic() - started, 1),
        "gateway_idle_cpu_ms_per_s": run.idle_cpu_ms_per_s,
        "cpu": cpu_share,
    }
    figures = Figures(
        config,
        host,
        results,
        counts,
        run.answers,
        run.notes,
        cpu_ms=run.cpu_ms,
        calls_index_off=counts_off,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures.as_json(), indent=2, default=str) + "\n")
    print()
    print(markdown(figures))
    print()
    print(f"bench: figures written to {args.out}")
    return 0


def measure(
    wrk: str,
    url: str,
    body: Path,
    target: str,
    query: BenchQuery,
    connections: int,
    args: argparse.Namespace,
    profiler: Profiler | None = None,
    cpu_pid: int | None = None,
    warm: bool = False,
) -> tuple[LoadResult, float | None]:
    """A warm-up run (none when `warm`: the same run came just before), the measured run, and
    with `profiler` an extra run under py-spy (its figures are not kept: sampling slows the
    gateway down). With `cpu_pid`, also the CPU time that process used during the measured run
    (user + system, /proc)."""

    def run(duration_s: int) -> LoadResult:
        return run_wrk(
            wrk,
            url,
            body,
            target=target,
            query=query.name,
            connections=connections,
            duration_s=duration_s,
            request_timeout_s=args.request_timeout,
        )

    if args.warmup and not warm:
        run(args.warmup)
    before = tree_cpu_seconds(cpu_pid) if cpu_pid is not None else None
    result = run(args.duration)
    cpu_s = (
        tree_cpu_seconds(cpu_pid) - before if cpu_pid is not None and before is not None else None
    )
    if profiler is not None:
        profiler.start(args.duration)
        try:
            run(args.duration)
        finally:
            print(profiler.finish(), flush=True)
    return result, cpu_s


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; every process it started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    except subprocess.CalledProcessError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
