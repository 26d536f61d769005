"""The figures of one run: the ratios and the call comparison computed from the measurements,
a Markdown report for stdout, and the JSON of `bench/out/latest.json`."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.counting import CallCount
from bench.load import LoadResult
from providers.records import Provider

__all__ = [
    "CEILING_TARGET",
    "CPU_TARGETS",
    "FLOOR_TARGETS",
    "CpuMeter",
    "Figures",
    "call_rows",
    "machine",
    "markdown",
]

# Issue 10's targets.
FLOOR_QUERY = "merged_details"  # merged `first: 50` with transcripts and tool calls
FLOOR_TARGETS = {1: 1.10, 50: 1.5}  # clients: p50 ÷ critical path, at most
CEILING_TARGET = 0.9  # small_cached gateway req/s ÷ bare Strawberry req/s, at least
CPU_TARGETS = {"stateset_page": 4.0, "merged_details": 8.0}  # gateway CPU ms/request, 1 client
CHAINS = {"rounds": "per-vendor chain (the issue's)", "cross_rounds": "cross-vendor chain"}


@dataclass(frozen=True, slots=True)
class CallRow:
    query: str
    provider: Provider
    minimum: int
    cold: int
    warm: int
    excess: Mapping[str, int]  # calls above the minimum on the cold run, by kind
    why: str
    index: str = "READY"  # the regime counted: "READY" (as served) or "off"

    @property
    def above(self) -> int:
        return self.cold - self.minimum


@dataclass(frozen=True, slots=True)
class Figures:
    config: Mapping[str, Any]
    machine: Mapping[str, Any]
    load: Sequence[LoadResult]
    calls: Mapping[str, CallCount]  # index READY: the regime of the served gateway
    answers: Mapping[str, Mapping[str, Any]]  # per query: bytes, checks
    notes: Sequence[str]
    cpu_ms: Mapping[str, Mapping[int, float]] = field(default_factory=dict)  # query → clients
    calls_index_off: Mapping[str, CallCount] = field(default_factory=dict)  # when counted

    def result(
        self, target: str, query: str, connections: int, round_: int = 0
    ) -> LoadResult | None:
        for item in self.load:
            if (item.target, item.query, item.connections, item.round) == (
                target,
                query,
                connections,
                round_,
            ):
                return item
        return None

    def floor(self) -> dict[str, dict[str, Any]]:
        """p50 at each number of clients ÷ (dependent rounds x the configured vendor latency),
        for both critical paths of `bench.minimums`."""
        latency_ms = float(self.config["latency_ms"])
        clients = sorted({r.connections for r in self.load if r.target == "gateway"})
        floors: dict[str, dict[str, Any]] = {}
        for name, count in self.calls.items():
            p50 = {}
            for connections in clients:
                measured = self.result("gateway", name, connections)
                # A run in which no request completed has no p50 (wrk reports 0): no ratio.
                if measured is not None and measured.requests:
                    p50[connections] = measured.p50_ms
            floor: dict[str, Any] = {
                "gateway_rounds": dict(count.waves),
                "p50_ms": p50,
                "p50_ms_at_1": p50.get(1),
            }
            for chain, rounds in (("rounds", count.rounds), ("cross_rounds", count.cross_rounds)):
                path_ms = rounds * latency_ms
                floor[chain] = rounds
                floor[f"{chain}_path_ms"] = path_ms
                floor[f"{chain}_ratio"] = {
                    c: round(ms / path_ms, 3) if path_ms else None for c, ms in p50.items()
                }
            floors[name] = floor
        return floors

    def ceiling(self) -> dict[int, dict[str, Any]]:
        """Per number of clients: the ratio of each alternated round (gateway req/s ÷ bare
        req/s, the bare run right after the gateway's), and their median, the figure kept."""
        ceilings: dict[int, dict[str, Any]] = {}
        for item in self.load:
            if item.target != "bare":
                continue
            gateway = self.result("gateway", item.query, item.connections, item.round)
            if gateway is None:
                continue
            entry = ceilings.setdefault(
                item.connections,
                {"query": item.query, "rounds": [], "gateway_rps": [], "bare_rps": []},
            )
            entry["gateway_rps"].append(gateway.rps)
            entry["bare_rps"].append(item.rps)
            entry["rounds"].append(round(gateway.rps / item.rps, 3) if item.rps else None)
        for entry in ceilings.values():
            ratios = [r for r in entry["rounds"] if r is not None]
            entry["ratio"] = round(statistics.median(ratios), 3) if ratios else None
        return ceilings

    def cpu_net_of_idle(self, query: str, connections: int) -> float | None:
        """CPU per request less the gateway's idle CPU over the same time (its index sync and
        timers, which run whether requests come or not); None when either is unknown."""
        idle = self.config.get("gateway_idle_cpu_ms_per_s")
        ms = self.cpu_ms.get(query, {}).get(connections)
        run = self.result("gateway", query, connections)
        if idle is None or ms is None or run is None or not run.rps:
            return None
        return round(ms - float(idle) / run.rps, 2)

    def targets(self) -> list[str]:
        lines = self._floor_targets()
        lines += _call_targets(call_rows(self.calls), "index READY, as served")
        if self.calls_index_off:
            lines += _call_targets(call_rows(self.calls_index_off, index="off"), "index off")
        for query, target in CPU_TARGETS.items():
            ms = self.cpu_ms.get(query, {}).get(1)
            if ms is None:
                continue
            verdict = "met" if ms <= target else "MISSED"
            net = self.cpu_net_of_idle(query, 1)
            apart = "" if net is None else f"; {net:.2f} ms net of the idle gateway's own work"
            lines.append(
                f"gateway CPU per request of {query} at 1 client: {ms:.2f} ms "
                f"(target ≤ {target:g} ms) — {verdict}{apart}"
            )
        for connections, item in sorted(self.ceiling().items()):
            value = item["ratio"]
            if value is None:
                continue
            verdict = "met" if value >= CEILING_TARGET else "MISSED"
            lines.append(
                f"ceiling ratio of {item['query']} at {_clients(connections)}: {value:.2f} "
                f"(target ≥ {CEILING_TARGET}) — {verdict}"
            )
        unclean = [r for r in self.load if not r.clean]
        for r in unclean:
            lines.append(
                f"errors under load: {r.target} {r.query} at {_clients(r.connections)}: "
                f"{r.socket_errors} socket errors ({r.timeouts} timeouts), {r.bad_status} non-200, "
                f"{r.graphql_errors} answers with `errors`"
            )
        return lines

    def _floor_targets(self) -> list[str]:
        floor = self.floor().get(FLOOR_QUERY)
        if floor is None:
            return []
        lines: list[str] = []
        for connections, target in FLOOR_TARGETS.items():
            p50 = floor["p50_ms"].get(connections)
            if p50 is None:
                measured = self.result("gateway", FLOOR_QUERY, connections)
                if measured is not None:
                    lines.append(
                        f"floor ratio of {FLOOR_QUERY} at {_clients(connections)} (target ≤ "
                        f"{target:g}): no request completed within the {measured.duration_s:g} s "
                        "run — MISSED"
                    )
                continue
            parts = []
            for chain, label in CHAINS.items():
                ratio = floor[f"{chain}_ratio"][connections]
                path_ms = floor[f"{chain}_path_ms"]
                if ratio is None:
                    continue
                verdict = (
                    "met"
                    if ratio <= target
                    else (
                        f"MISSED by {(ratio / target - 1) * 100:.0f}% ({target * path_ms:.0f} ms "
                        "allowed)"
                    )
                )
                parts.append(
                    f"{ratio:.2f} against the {label}, {floor[chain]} rounds = {path_ms:g} ms "
                    f"— {verdict}"
                )
            if parts:
                lines.append(
                    f"floor ratio of {FLOOR_QUERY} at {_clients(connections)} (target ≤ "
                    f"{target:g}): p50 {_ms(p50)} ms; " + "; ".join(parts)
                )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "config": dict(self.config),
            "machine": dict(self.machine),
            "load": [item.as_json() for item in self.load],
            "calls": _calls_json(self.calls),
            "calls_index_off": _calls_json(self.calls_index_off),
            "calls_vs_minimum": [
                _row_json(r)
                for r in [*call_rows(self.calls), *call_rows(self.calls_index_off, index="off")]
            ],
            "gateway_cpu_ms_per_request": {
                q: {str(c): ms for c, ms in by_clients.items()}
                for q, by_clients in self.cpu_ms.items()
            },
            "floor": {
                name: {
                    k: ({str(c): x for c, x in v.items()} if isinstance(v, dict) else v)
                    for k, v in floor.items()
                }
                for name, floor in self.floor().items()
            },
            "ceiling": {str(c): v for c, v in self.ceiling().items()},
            "answers": {k: dict(v) for k, v in self.answers.items()},
            "targets": self.targets(),
            "notes": list(self.notes),
        }


def _call_targets(rows: Sequence[CallRow], regime: str) -> list[str]:
    if not rows:
        return []
    above = [r for r in rows if r.above > 0]
    if not above:
        return [f"vendor calls = minimum for every query ({regime}) — met"]
    worst = ", ".join(f"{r.query}/{r.provider.value} +{r.above}" for r in above)
    return [f"vendor calls = minimum for every query ({regime}) — MISSED: {worst}"]


def _calls_json(calls: Mapping[str, CallCount]) -> dict[str, Any]:
    return {
        name: {
            "index": "READY" if count.indexed else "off",
            "cold": _plain(count.cold),
            "warm": _plain(count.warm),
            "failed_calls": dict(count.failed),
            "minimum": {
                p.value: {
                    "calls": dict(m.calls),
                    "total": m.total,
                    "list_rounds": m.list_rounds,
                    "detail_rounds": m.detail_rounds,
                    "waits_for_page": m.waits_for_page,
                    "why": m.why,
                }
                for p, m in count.minimum.items()
            },
            "critical_rounds_per_vendor": count.rounds,
            "critical_rounds_cross_vendor": count.cross_rounds,
            "gateway_rounds": dict(count.waves),
        }
        for name, count in calls.items()
    }


def _row_json(r: CallRow) -> dict[str, Any]:
    return {
        "query": r.query,
        "index": r.index,
        "provider": r.provider.value,
        "minimum": r.minimum,
        "cold": r.cold,
        "warm": r.warm,
        "above_minimum": r.above,
        "excess_by_kind": dict(r.excess),
    }


def _plain(counts: Mapping[Provider, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {p.value: dict(kinds) for p, kinds in counts.items()}


def call_rows(calls: Mapping[str, CallCount], index: str = "READY") -> list[CallRow]:
    rows: list[CallRow] = []
    for name, count in calls.items():
        for provider in Provider:
            cold = count.cold.get(provider, {})
            warm = count.warm.get(provider, {})
            minimum = count.minimum.get(provider)
            wanted = dict(minimum.calls) if minimum else {}
            kinds = sorted(set(cold) | set(wanted))
            excess = {k: cold.get(k, 0) - wanted.get(k, 0) for k in kinds}
            rows.append(
                CallRow(
                    query=name,
                    provider=provider,
                    minimum=sum(wanted.values()),
                    cold=sum(cold.values()),
                    warm=sum(warm.values()),
                    excess={k: v for k, v in excess.items() if v},
                    why=minimum.why if minimum else "no vendor call needed",
                    index=index,
                )
            )
    return rows


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def markdown(figures: Figures) -> str:
    config = figures.config
    out: list[str] = []
    index = config.get("index") or {}
    out.append(
        f"### Load — every vendor call +{config['latency_ms']:g} ms, {config['size']} sessions "
        f"per vendor, {config['duration_s']} s per run after {config['warmup_s']} s of warm-up"
    )
    out.append("")
    if index:
        out.append(
            f"The gateway as served: index READY after {index.get('ready_after_s')} s "
            f"({', '.join(f'{k} {v}' for k, v in index.get('states', {}).items())}), "
            "no client-side rate limit."
        )
        out.append("")
    out.append(
        "| query | server | clients | p50 ms | p95 ms | p99 ms | req/s | requests | errors |"
    )
    out.append("|---|---|--:|--:|--:|--:|--:|--:|---|")
    alternated = {r.query for r in figures.load if r.target == "bare"}  # the ceiling's rounds
    for r in figures.load:
        errors = (
            "0"
            if r.clean
            else f"{r.socket_errors} socket, {r.bad_status} non-200, {r.graphql_errors} gql"
        )
        server = f"{r.target} (round {r.round + 1})" if r.query in alternated else r.target
        out.append(
            f"| {r.query} | {server} | {r.connections} | {_ms(r.p50_ms)} | {_ms(r.p95_ms)} | "
            f"{_ms(r.p99_ms)} | {r.rps:.1f} | {r.requests} | {errors} |"
        )
    out += _cpu_table(figures)
    out += _calls_table(figures)
    out += _floor_table(figures)
    served = figures.config.get("served_ms", {})
    if served:
        out.append("")
        out.append(
            "Vendor answer time as served (one reused connection, no load): "
            + ", ".join(f"{vendor} {ms:g} ms" for vendor, ms in served.items())
            + f" (configured {config['latency_ms']:g} ms)."
        )
    ceilings = figures.ceiling()
    if ceilings:
        out.append("")
        out.append("### Ceiling ratio — gateway req/s ÷ bare Strawberry req/s, same query")
        out.append("")
        out.append(
            "Gateway and bare app alternated, one run each per round; the median of the "
            "rounds' ratios is the figure."
        )
        out.append("")
        out.append(
            "| query | clients | gateway req/s by round | bare req/s by round | ratios | median |"
        )
        out.append("|---|--:|--:|--:|--:|--:|")
        for connections, item in sorted(ceilings.items()):
            ratio = item["ratio"]
            rounds = " / ".join("—" if r is None else f"{r:.2f}" for r in item["rounds"])
            out.append(
                f"| {item['query']} | {connections} | "
                + " / ".join(f"{rps:.0f}" for rps in item["gateway_rps"])
                + " | "
                + " / ".join(f"{rps:.0f}" for rps in item["bare_rps"])
                + f" | {rounds} | {'—' if ratio is None else f'{ratio:.2f}'} |"
            )
    out.append("")
    out.append("### Targets (issue 10)")
    out.append("")
    out.extend(f"- {line}" for line in figures.targets())
    if figures.notes:
        out.append("")
        out.append("### Notes")
        out.append("")
        out.extend(f"- {line}" for line in figures.notes)
    return "\n".join(out)


def _cpu_table(figures: Figures) -> list[str]:
    if not figures.cpu_ms:
        return []
    clients = sorted({c for by_clients in figures.cpu_ms.values() for c in by_clients})
    out = [
        "",
        "### Gateway CPU per request — the gateway process's CPU time (user + system, "
        "/proc) over the measured run ÷ its requests",
        "",
        "| query | " + " | ".join(f"ms at {_clients(c)}" for c in clients) + " |",
        "|---|" + "--:|" * len(clients),
    ]
    for query, by_clients in figures.cpu_ms.items():
        cells = [f"{by_clients[c]:.2f}" if c in by_clients else "—" for c in clients]
        out.append(f"| {query} | " + " | ".join(cells) + " |")
    idle = figures.config.get("gateway_idle_cpu_ms_per_s")
    if idle is not None:
        out += [
            "",
            f"Idle, with no request, the gateway used {float(idle):g} ms of CPU a second (the "
            "index's sync, timers). Net of it, per request:",
            "",
            "| query | " + " | ".join(f"ms at {_clients(c)}" for c in clients) + " |",
            "|---|" + "--:|" * len(clients),
        ]
        for query in figures.cpu_ms:
            nets = [figures.cpu_net_of_idle(query, c) for c in clients]
            cells = ["—" if net is None else f"{net:.2f}" for net in nets]
            out.append(f"| {query} | " + " | ".join(cells) + " |")
    return out


def _calls_table(figures: Figures) -> list[str]:
    out = [
        "",
        "### Vendor calls per query — in-process, one request on a fresh app (cold), "
        "then the same again (warm); index READY as served"
        + (", and with the index off" if figures.calls_index_off else ""),
        "",
        "| query | index | vendor | minimum | cold | warm | above minimum (cold, by kind) "
        "| minimum is |",
        "|---|---|---|--:|--:|--:|---|---|",
    ]
    rows = [*call_rows(figures.calls), *call_rows(figures.calls_index_off, index="off")]
    for row in rows:
        if not (row.minimum or row.cold or row.warm):
            continue
        excess = ", ".join(f"{k} {v:+d}" for k, v in row.excess.items()) or "—"
        flag = f"**+{row.above}**: {excess}" if row.above > 0 else excess
        out.append(
            f"| {row.query} | {row.index} | {row.provider.value} | {row.minimum} | {row.cold} | "
            f"{row.warm} | {flag} | {row.why} |"
        )
    silent = [
        n
        for n, c in figures.calls.items()
        if not any(r.cold or r.minimum for r in call_rows({n: c}))
    ]
    if silent:
        out += ["", f"No vendor call with the index READY, none needed: {', '.join(silent)}."]
    return out


def _floor_table(figures: Figures) -> list[str]:
    latency = f"{figures.config['latency_ms']:g}"
    clients = [c for c in FLOOR_TARGETS if any(r.connections == c for r in figures.load)]
    out = [
        "",
        f"### Floor ratio — p50 ÷ critical path of dependent vendor calls (rounds x {latency} "
        "ms), per vendor (the issue's) / across vendors (waits for the merged page included)",
        "",
        "| query | rounds per vendor / cross | rounds taken, cold/warm | critical path ms "
        + "".join(f"| p50 ms at {c} | ratio at {c} " for c in clients)
        + "|",
        "|---|--:|--:|--:|" + "--:|--:|" * len(clients),
    ]
    for name, floor in figures.floor().items():
        taken = floor["gateway_rounds"]
        cells = ""
        for c in clients:
            p50 = floor["p50_ms"].get(c)
            ratios = " / ".join(
                _ratio(floor[f"{chain}_ratio"].get(c)) for chain in ("rounds", "cross_rounds")
            )
            cells += f"| {'—' if p50 is None else _ms(p50)} | {ratios} "
        out.append(
            f"| {name} | {floor['rounds']} / {floor['cross_rounds']} | "
            f"{taken.get('cold', '—')}/{taken.get('warm', '—')} | "
            f"{floor['rounds_path_ms']:g} / {floor['cross_rounds_path_ms']:g} " + cells + "|"
        )
    return out


class CpuMeter:
    """How much of the machine's CPU the benchmark (with everything it started and waited for)
    used over a run, and how much other processes did: a busy neighbour makes the figures low.
    Linux (/proc/stat); elsewhere it says nothing."""

    def __init__(self) -> None:
        self._start = (time.monotonic(), _ours_s(), _machine_busy_s())

    def finish(self) -> dict[str, float]:
        wall0, ours0, busy0 = self._start
        wall, ours, busy = time.monotonic() - wall0, _ours_s() - ours0, None
        now_busy = _machine_busy_s()
        if busy0 is not None and now_busy is not None:
            busy = now_busy - busy0
        if busy is None or not wall:
            return {}
        cpus = os.cpu_count() or 1
        others = max(0.0, busy - ours)
        return {
            "wall_s": round(wall, 1),
            "ours_cpu_s": round(ours, 1),
            "others_cpu_s": round(others, 1),
            "others_share": round(others / (wall * cpus), 3),
        }


def _ours_s() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _machine_busy_s() -> float | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    ticks = [int(f) for f in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    def cpuinfo_model() -> str:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return platform.processor() or "unknown"
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        return found.group(1).strip() if found else "unknown"

    def memory() -> str:
        try:
            text = Path("/proc/meminfo").read_text()
        except OSError:
            return "unknown"
        found = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
        return f"{int(found.group(1)) / 1024 / 1024:.1f} GiB" if found else "unknown"

    def nproc() -> str:
        try:
            done = subprocess.run(["nproc"], capture_output=True, text=True, timeout=5)
            return done.stdout.strip() or str(os.cpu_count())
        except (OSError, subprocess.TimeoutExpired):
            return str(os.cpu_count())

    def revision() -> str:
        root = Path(__file__).resolve().parent.parent
        try:
            head = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "diff", "--quiet", "HEAD"], capture_output=True, timeout=10
            ).returncode
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return f"{head or 'unknown'}{' + uncommitted changes' if dirty else ''}"

    def source_digest() -> str:
        """Of the gateway's code as it ran: tells apart runs over uncommitted changes."""
        root = Path(__file__).resolve().parent.parent
        digest = hashlib.sha256()
        for package in ("graph", "resolvers", "index", "providers"):
            for path in sorted((root / package).rglob("*.py")):
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:12]

    return {
        "revision": revision(),
        "source_digest": source_digest(),
        "nproc": nproc(),
        "cpu": cpuinfo_model(),
        "memory": memory(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _clients(count: int) -> str:
    return f"{count} client" if count == 1 else f"{count} clients"
