"""`sessiongraph serve --workers 2` as a real process tree on loopback.

Live mode: the four simulators serve from this test process (a thread), so that their request
logs can be read; the gateway is configured by environment only, with no cursor secret (the
supervisor must generate one for all its workers) and the default index file under its working
directory. Demo mode: each worker runs its own simulators, which must hold the same data.

Which worker answered is read from /healthz's `Sessiongraph-Worker` header; a GraphQL request
sent on the same keep-alive connection (checked: same local port) went to the same worker.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from graph.app import WORKER_HEADER
from graph.cli import SimulatorServers, simulator_servers
from providers.query import SessionQuery
from providers.records import Provider, SessionRecord
from providers.simulators import Simulator
from providers.vendors import adapter_class
from resolvers.sources import build_simulators
from tests.conftest import ANCHOR
from tests.graph.test_real_http import BIN, free_port, wait_for
from tests.oracles import expected_records
from tests.oracles.select import select

SIZE = 600  # Vectara's largest agents then list more than one page of 100
FIRST = 30
AFTER, BEFORE = ANCHOR - timedelta(days=30), ANCHOR
PAGE = """query($after: String, $filter: SessionFilter) {
  sessions(first: 30, after: $after, filter: $filter) {
    edges { cursor node { id provider providerSessionId startedAt } }
    pageInfo { endCursor hasNextPage }
    sources { provider ok fromIndex }
  }
}"""
VONAGE_PAGE = "{ sessions(first: 20, filter: {providers: [VONAGE]}) { nodes { id status } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on Session { id transcript { text } } } }"
DELETE = "mutation($id: ID!) { deleteSession(id: $id) { deletedId errors { code } } }"
WINDOW = {"startedAfter": AFTER.isoformat(), "startedBefore": BEFORE.isoformat()}
INDEXED = {"STATESET", "VECTARA"}
PROVIDERS = "{ providers { name index { state } } }"
STARTED = re.compile(r"Started server process \[(\d+)\]")


# --- the processes ---------------------------------------------------------------------------


@contextmanager
def vendors() -> Iterator[tuple[dict[Provider, Simulator], SimulatorServers]]:
    """The four simulators on loopback ports, served by a thread of this process."""
    simulators = build_simulators(size=SIZE, seed=7, anchor=ANCHOR)
    servers = simulator_servers(simulators, "127.0.0.1")
    thread = threading.Thread(target=lambda: asyncio.run(servers.serve()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: all(s.started for s, _ in servers.servers), "the simulators")
        yield simulators, servers
    finally:
        servers.stop()
        thread.join(timeout=10)


@contextmanager
def serving(
    env: dict[str, str], cwd: Path, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`serve --workers 2` until the block ends; killed (after a deadline) if it did not stop."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONGRAPH_")}
    vendor_env = {
        name
        for p in Provider
        for name in (adapter_class(p).config.credential_env, adapter_class(p).config.base_url_env)
    }
    clean = {k: v for k, v in clean.items() if k not in vendor_env}
    with log.open("wb") as err:
        process = subprocess.Popen(
            [str(BIN), "serve", "--workers", "2", "--port", str(port)],
            env={**clean, "SESSIONGRAPH_AUTH": "off", **env},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, "serve", 90)
            yield process, base
        finally:
            stop(process)
            for pid in started_workers(log):
                gone_within(pid, seconds=15)


def stop(process: subprocess.Popen[bytes]) -> None:
    """The supervisor, if a test left it running: SIGTERM, then SIGKILL past a deadline."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def started_workers(log: Path) -> list[int]:
    return [int(pid) for pid in STARTED.findall(log.read_text())]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone_within(pid: int, seconds: float) -> None:
    """A worker still there past the deadline is a bug: killed, and reported."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"worker {pid} outlived its supervisor")


# --- the clients -----------------------------------------------------------------------------


class Pinned:
    """One keep-alive connection, hence one worker: every request checks it stayed on it."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        first = self.client.get("/healthz")
        self.pid = int(first.headers[WORKER_HEADER])
        self.local = first.extensions["network_stream"].get_extra_info("client_addr")

    def ask(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.extensions["network_stream"].get_extra_info("client_addr") == self.local
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    def close(self) -> None:
        self.client.close()


def one_per_worker(base: str, workers: int, seconds: float = 40) -> dict[int, Pinned]:
    """A pinned connection to each of `workers` workers (new connections until each is met)."""
    pinned: dict[int, Pinned] = {}
    deadline = time.monotonic() + seconds
    while len(pinned) < workers and time.monotonic() < deadline:
        connection = Pinned(base)
        if connection.pid in pinned:
            connection.close()
        else:
            pinned[connection.pid] = connection
    assert len(pinned) == workers, f"only workers {sorted(pinned)} answered"
    return pinned


def page(connection: Pinned, after: str | None = None) -> dict[str, Any]:
    body = connection.ask(PAGE, after=after, filter=WINDOW)
    sessions: dict[str, Any] = body["data"]["sessions"]
    return sessions


def ids(sessions: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["node"]["provider"], e["node"]["providerSessionId"]) for e in sessions["edges"]]


def index_ready_on_each(base: str, workers: int, seconds: float = 90) -> None:
    """Until every worker says StateSet's and Vectara's lists are READY (new connections: an
    idle keep-alive connection is closed by the server after 5 s)."""
    ready: set[int] = set()
    deadline = time.monotonic() + seconds
    while len(ready) < workers and time.monotonic() < deadline:
        connection = Pinned(base)
        try:
            providers = connection.ask(PROVIDERS)["data"]["providers"]
        finally:
            connection.close()
        if all(p["index"]["state"] == "READY" for p in providers if p["name"] in INDEXED):
            ready.add(connection.pid)
        else:
            time.sleep(0.2)
    assert len(ready) == workers, f"the index READY on workers {sorted(ready)} only"


# --- the oracles -----------------------------------------------------------------------------


def newest(simulators: dict[Provider, Simulator], count: int) -> list[tuple[str, str]]:
    """The first `count` sessions of the window, all vendors merged: from the oracles."""
    query = SessionQuery(started_after=AFTER, started_before=BEFORE)
    lists = [select(expected_records(simulators[p]), query) for p in sorted(Provider)]
    merged: list[SessionRecord] = list(
        heapq.merge(
            *lists,
            key=lambda r: (r.started_at, r.provider.value, r.agent_id or "", r.id),
            reverse=True,
        )
    )
    return [(r.provider.name, r.id) for r in merged[:count]]


def full_read_pages(simulators: dict[Provider, Simulator]) -> dict[str, int]:
    """Per list (StateSet's, each Vectara agent's): the pages after the first that one full
    read of it takes, 100 sessions a page, from the simulators' own data."""
    vectara = simulators[Provider.VECTARA]
    sizes = Counter(r.agent_id for r in expected_records(vectara))
    pages = {
        f"vectara/{agent}": max(0, math.ceil(sizes[agent] / 100) - 1)
        for agent in vectara.agent_ids()
    }
    stateset = len(expected_records(simulators[Provider.STATESET]))
    return {"stateset": math.ceil(stateset / 100) - 1, **pages}


def continuation_reads(simulators: dict[Provider, Simulator]) -> dict[str, int]:
    """Per list: requests for a page after the first of the whole list (not the active
    filter), as the simulators logged them: only a full read (or a live scan) asks those."""
    counts = {"stateset": 0} | {f"vectara/{a}": 0 for a in simulators[Provider.VECTARA].agent_ids()}
    for entry in simulators[Provider.STATESET].log.entries:
        if entry.path == "/api/v1/voice-sessions" and entry.param("status") is None:
            counts["stateset"] += int(entry.param("offset") or 0) > 0
    for entry in simulators[Provider.VECTARA].log.entries:
        found = re.fullmatch(r"/v2/agents/([^/]+)/sessions", entry.path)
        if found and entry.param("enabled") is None and entry.param("page_key"):
            counts[f"vectara/{found.group(1)}"] += 1
    return counts


# --- the tests -------------------------------------------------------------------------------


def test_two_workers_share_the_index_the_cursors_and_the_work(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with vendors() as (simulators, servers):
        env = dict(line.split("=", 1) for line in servers.env_lines())
        # Rate limits far above what the test asks: its subject is the processes, not pacing.
        env |= {adapter_class(p).config.rate_limit_env: "60000" for p in Provider}
        with serving(env, tmp_path, log) as (process, base):
            index_ready_on_each(base, 2)
            pinned = one_per_worker(base, 2)
            try:
                answered = _pages_and_cursors(pinned, simulators)
                spread = _many_requests(base, answered)
                _a_delete_reaches_the_other_workers_cache(pinned)
            finally:
                for connection in pinned.values():
                    connection.close()
            assert set(spread) == set(pinned), spread
            assert sum(spread.values()) == 40
            replaced = _a_killed_worker_is_replaced(base, log, sorted(pinned))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        # Each list read in full once, by one worker: no second build, no live scan.
        assert continuation_reads(simulators) == full_read_pages(simulators)
        assert sum(full_read_pages(simulators).values()) >= 4  # the count has something to say
    text = log.read_text()
    assert len(re.findall(r"read in full", text)) == 6  # StateSet's list, five Vectara agents'
    assert "SESSIONGRAPH_CURSOR_SECRET is not set" in text  # generated, once, by the supervisor
    assert text.count("SESSIONGRAPH_CURSOR_SECRET is not set") == 1
    # Every worker alive at SIGTERM stopped gracefully: its lifespan ran (its leases released).
    for pid in replaced:
        assert f"Finished server process [{pid}]" in text
        assert not alive(pid)
    index = tmp_path / ".sessiongraph" / "index.db"  # live mode's default, one for all
    with sqlite3.connect(index) as db:
        holders = {int(h.split(":")[1]) for (h,) in db.execute("SELECT holder FROM leases")}
    killed = set(started_workers(log)) - set(replaced)
    assert holders <= killed  # only the worker killed with SIGKILL could not release its leases


def _pages_and_cursors(
    pinned: dict[int, Pinned], simulators: dict[Provider, Simulator]
) -> dict[str, Any]:
    first, second = pinned.values()
    pages = [page(first), page(second)]
    assert pages[0] == pages[1]  # the same edges and the same cursors, whichever worker
    expected = newest(simulators, 2 * FIRST)
    assert ids(pages[0]) == expected[:FIRST]
    assert {s["provider"] for s in pages[0]["sources"] if s["fromIndex"]} == INDEXED
    # A cursor made by one worker is accepted by the other, and means the same there.
    from_first = pages[0]["pageInfo"]["endCursor"]
    following = [
        page(second, after=from_first),
        page(first, after=pages[1]["pageInfo"]["endCursor"]),
    ]
    assert following[0] == following[1]
    assert ids(following[0]) == expected[FIRST:]
    return pages[0]


def _many_requests(base: str, answer: dict[str, Any]) -> Counter[int]:
    """40 first pages, four at a time, each on a new connection: all the same answer."""

    def one(_: int) -> int:
        connection = Pinned(base)
        try:
            assert page(connection) == answer
            return connection.pid
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        return Counter(pool.map(one, range(40)))


def _a_delete_reaches_the_other_workers_cache(pinned: dict[int, Pinned]) -> None:
    """A finished Vonage session, its details kept by one worker, deleted through the other:
    the first stops showing it within seconds (its record cache keeps details 10 minutes)."""
    keeping, deleting = pinned.values()
    nodes = keeping.ask(VONAGE_PAGE)["data"]["sessions"]["nodes"]
    doomed = next(n["id"] for n in nodes if n["status"] != "ACTIVE")
    assert keeping.ask(NODE, id=doomed)["data"]["node"]["transcript"] is not None
    answer = deleting.ask(DELETE, id=doomed)["data"]["deleteSession"]
    assert answer == {"deletedId": doomed, "errors": []}
    wait_for(lambda: keeping.ask(NODE, id=doomed)["data"]["node"] is None, "the delete", 10)


def _a_killed_worker_is_replaced(base: str, log: Path, workers: list[int]) -> list[int]:
    """SIGKILL one worker: the supervisor starts another, and the two left answer."""
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(started_workers(log)) == 3, "a replacement worker", seconds=60)
    now = [pid for pid in started_workers(log) if pid != victim]
    pinned = one_per_worker(base, 2)
    try:
        assert sorted(pinned) == sorted(now)
    finally:
        for connection in pinned.values():
            connection.close()
    return now


def test_two_demo_workers_show_the_same_data(tmp_path: Path) -> None:
    """Demo mode: each worker builds its own simulators; the supervisor pins the anchor (none
    configured: start-up time), the cursor secret and a temporary index file for all."""
    log = tmp_path / "serve.log"
    with serving({"SESSIONGRAPH_DEMO_SIZE": "200"}, tmp_path, log) as (process, base):
        index_ready_on_each(base, 2)
        pinned = one_per_worker(base, 2)
        try:
            first, second = pinned.values()
            # Explicit: a default window ends at the second of the request, and a cursor
            # carries its window, so two requests a second apart would differ there.
            now = datetime.now(UTC)
            window = {
                "startedAfter": (now - timedelta(days=60)).isoformat(),
                "startedBefore": (now + timedelta(days=1)).isoformat(),
            }
            pages = [page_of(first, window), page_of(second, window)]
            assert pages[0] == pages[1]
            assert len(pages[0]["edges"]) == FIRST
            cursor = pages[0]["pageInfo"]["endCursor"]
            assert page_of(second, window, cursor) == page_of(first, window, cursor)
        finally:
            for connection in pinned.values():
                connection.close()
        # The supervisor killed (SIGKILL: nothing of it runs): its workers stop by themselves.
        workers = sorted(pinned)
        process.kill()
        process.wait(timeout=10)
        for pid in workers:
            gone_within(pid, seconds=15)
    text = log.read_text()
    for pid in workers:
        assert f"Finished server process [{pid}]" in text  # gracefully: their lifespan ran
    [folder] = set(re.findall(r"index: sqlite:///(/\S+)/index\.db", text))
    # One temporary index for both workers (the supervisor's, gone with it on a graceful stop).
    assert len(re.findall(re.escape(f"index: sqlite:///{folder}/index.db"), text)) == 2
    shutil.rmtree(folder)


def page_of(connection: Pinned, window: dict[str, str], after: str | None = None) -> dict[str, Any]:
    body = connection.ask(PAGE, after=after, filter=window)
    sessions: dict[str, Any] = body["data"]["sessions"]
    return sessions
