"""`python -m bench.soak`: the gateway for a few minutes while vendors misbehave.

Starts the simulators (`sessiongraph simulate`, enforcing the vendors' documented rate limits:
Samsara 100/min, StateSet 60/min) and the gateway (`sessiongraph serve`), records a reference
answer for each query with every vendor healthy, then turns faults on over HTTP (`/__faults`):
one vendor answers 20% of its calls with 500 (default Samsara), another is slow (default
Vectara, 1.5 s a call). Clients then send the queries at a steady rate for `--duration` seconds.

It reports: healthy vendors' sessions lost (a session of a healthy vendor that the reference
page held and a faulty-time page did not: must be 0), latency p50/p95/p99, answers with data
null, the gateway's RSS at the start and the end, vendor calls per query, and the 429s the
vendors had to send (must be 0: the gateway keeps inside their limits). Every process it starts
is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

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
from bench.report import machine

OUT = Path(__file__).with_name("out")
VENDOR_PREFIXES = ("SESSIONGRAPH_", "SAMSARA_", "STATESET_", "VECTARA_", "VONAGE_")
BASE_URLS = {
    "samsara": "SAMSARA_BASE_URL",
    "stateset": "STATESET_VOICE_BASE_URL",
    "vectara": "VECTARA_BASE_URL",
    "vonage": "VONAGE_AI_STUDIO_BASE_URL",
}
DOCUMENTED_LIMITS = {"samsara": 100, "stateset": 60}  # requests a minute (vendors.md)
WINDOW = '{startedAfter: "%s", startedBefore: "%s"}'

# Varied questions: merged pages with and without details, one vendor, a filter.
QUERIES = {
    "merged_details": "{ sessions(first: 20, filter: %s) { edges { node { provider "
    "providerSessionId transcript { turns { text } } } } } }",
    "merged_list": "{ sessions(first: 50, filter: %s) { edges { node { provider "
    "providerSessionId status } } } }",
    "failed_only": '{ sessions(first: 20, filter: {statuses: [FAILED], startedAfter: "%s", '
    'startedBefore: "%s"}) { edges { node { provider providerSessionId } } } }',
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=int, default=180, help="seconds of load")
    parser.add_argument("--rate", type=float, default=0.8, help="queries a second, all clients")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--size", type=int, default=300, help="sessions per simulated vendor")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--erroring", default="samsara", help="the vendor with 20%% errors")
    parser.add_argument("--slow", default="vectara", help="the slow vendor")
    parser.add_argument("--slow-ms", type=float, default=1500.0)
    parser.add_argument("--out", type=Path, default=OUT / "soak.json")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rate <= 0 or args.clients < 1:
        parser.error("duration, rate and clients must be positive")
    if {args.erroring, args.slow} - set(BASE_URLS) or args.erroring == args.slow:
        parser.error(f"--erroring and --slow: two different vendors of {', '.join(BASE_URLS)}")
    return args


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    answers: int = 0
    data_null: int = 0
    lost_healthy: int = 0  # healthy vendors' sessions of the reference page missing
    errors_by_code: dict[str, int] = field(default_factory=dict)
    transport_failures: int = 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def healthy_ids(answer: Mapping[str, Any], healthy: set[str]) -> set[tuple[str, str]]:
    edges = ((answer.get("data") or {}).get("sessions") or {}).get("edges") or []
    return {
        (e["node"]["provider"], e["node"]["providerSessionId"])
        for e in edges
        if e["node"]["provider"].lower() in healthy
    }


async def drive(
    url: str,
    bodies: Mapping[str, str],
    reference: Mapping[str, Any],
    healthy: set[str],
    args: argparse.Namespace,
) -> Tally:
    tally = Tally()
    names = list(bodies)
    interval = args.clients / args.rate  # each client's pace
    deadline = time.monotonic() + args.duration

    async def client(number: int) -> None:
        async with httpx.AsyncClient(timeout=30.0) as http:
            sent = number
            while time.monotonic() < deadline:  # bounded by the duration
                name = names[sent % len(names)]
                sent += args.clients
                started = time.monotonic()
                try:
                    response = await http.post(url, json={"query": bodies[name]})
                    answer = response.json()
                except (httpx.HTTPError, ValueError):
                    tally.transport_failures += 1
                    continue
                tally.latencies_ms.append((time.monotonic() - started) * 1000)
                tally.answers += 1
                if answer.get("data") is None:
                    tally.data_null += 1
                for error in answer.get("errors") or []:
                    code = (error.get("extensions") or {}).get("code", "?")
                    tally.errors_by_code[code] = tally.errors_by_code.get(code, 0) + 1
                missing = healthy_ids(reference[name], healthy) - healthy_ids(answer, healthy)
                tally.lost_healthy += len(missing)
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    await asyncio.gather(*(client(i) for i in range(args.clients)))
    return tally


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1) if ordered else 0.0


def served(vendor_env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    with httpx.Client(timeout=10.0) as http:
        return {
            vendor: http.get(check_loopback(vendor_env[key]) + "/__faults").json()
            for vendor, key in BASE_URLS.items()
        }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    run_dir = OUT / "soak"
    anchor = datetime.now(UTC).replace(second=0, microsecond=0)
    window = WINDOW % ((anchor - timedelta(days=30)).isoformat(), anchor.isoformat())
    after, before = (anchor - timedelta(days=30)).isoformat(), anchor.isoformat()
    bodies = {
        name: text % ((after, before) if name == "failed_only" else (window,))
        for name, text in QUERIES.items()
    }
    with Children(run_dir) as children:
        env_file = run_dir / "vendors.env"
        env_file.unlink(missing_ok=True)
        children.start(
            "simulators",
            [
                *(console_script("sessiongraph"), "simulate", "--host", LOOPBACK),
                *("--latency-ms", f"{args.latency_ms:g}", "--size", str(args.size)),
                *("--anchor", anchor.isoformat(), "--env-file", str(env_file)),
            ],
        )
        text = wait_for_file(env_file, list(BASE_URLS.values()), timeout_s=60)
        vendor_env = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        with httpx.Client(timeout=10.0) as http:
            for vendor, key in BASE_URLS.items():
                base = check_loopback(vendor_env[key])
                limit = DOCUMENTED_LIMITS.get(vendor)
                knobs = {"rate_limit_per_minute": limit} if limit else {}
                http.post(base + "/__faults", json=knobs).raise_for_status()
        inherited = {k: v for k, v in environment({}).items() if not k.startswith(VENDOR_PREFIXES)}
        port = free_port()
        gateway = children.start(
            "gateway",
            [console_script("sessiongraph"), "serve", "--host", LOOPBACK, "--port", str(port)],
            env={
                **inherited,
                **vendor_env,
                "SESSIONGRAPH_CURSOR_SECRET": "soak",
                "SESSIONGRAPH_AUTH": "off",
            },
        )
        base = f"http://{LOOPBACK}:{port}"
        wait_for_http(base + "/healthz", gateway, timeout_s=60, ok_below=300)
        url = base + "/graphql"
        with httpx.Client(timeout=60.0) as http:
            reference = {
                name: http.post(url, json={"query": b}).json() for name, b in bodies.items()
            }
            for name, answer in reference.items():
                if answer.get("errors"):
                    raise RuntimeError(f"{name}: the reference answer has errors: {answer}")
            rss_start = rss_kib(gateway.pid)
            before_load = served(vendor_env)
            faulty = {
                args.erroring: {"status": 500, "rate": 0.2},
                args.slow: {"latency_ms": args.slow_ms},
            }
            for vendor, knobs in faulty.items():
                limit = DOCUMENTED_LIMITS.get(vendor)
                knobs = {**knobs, **({"rate_limit_per_minute": limit} if limit else {})}
                http.post(
                    vendor_env[BASE_URLS[vendor]] + "/__faults", json=knobs
                ).raise_for_status()
        healthy = set(BASE_URLS) - set(faulty)
        started = time.monotonic()
        tally = asyncio.run(drive(url, bodies, reference, healthy, args))
        elapsed = time.monotonic() - started
        rss_end = rss_kib(gateway.pid)
        after_load = served(vendor_env)
    calls = {v: after_load[v]["requests"] - before_load[v]["requests"] for v in BASE_URLS}
    drawn_429 = {
        v: after_load[v]["statuses"].get("429", 0) - before_load[v]["statuses"].get("429", 0)
        for v in BASE_URLS
    }
    report = {
        "machine": machine(),
        "command": f"python -m bench.soak --duration {args.duration} --rate {args.rate:g} "
        f"--clients {args.clients} --size {args.size}",
        "faults": {args.erroring: "20% of calls 500", args.slow: f"{args.slow_ms:g} ms a call"},
        "seconds": round(elapsed, 1),
        "answers": tally.answers,
        "transport_failures": tally.transport_failures,
        "answers_with_data_null": tally.data_null,
        "healthy_vendors_sessions_lost": tally.lost_healthy,
        "latency_ms": {
            "p50": percentile(tally.latencies_ms, 0.50),
            "p95": percentile(tally.latencies_ms, 0.95),
            "p99": percentile(tally.latencies_ms, 0.99),
            "mean": round(statistics.fmean(tally.latencies_ms), 1) if tally.latencies_ms else 0,
        },
        "gateway_rss_mib": {"start": round(rss_start / 1024, 1), "end": round(rss_end / 1024, 1)},
        "vendor_calls_per_query": {
            v: round(n / tally.answers, 2) if tally.answers else 0 for v, n in calls.items()
        },
        "vendor_429s_drawn": drawn_429,
        "errors_by_code": tally.errors_by_code,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
