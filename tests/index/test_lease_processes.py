"""Leases across processes, on both backends: `serve --workers N` opens one index from N
processes at the same moment (on SQLite: one file, locked by the operating system), and each
list must be synced by one of them only.

Four processes open a new, empty index at once (creating its tables and, on SQLite, switching
it to WAL race too), then all ask for the same leases at once: each lease has one winner, who
keeps it when all ask again."""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from index.state import DEFAULT_TENANT, ScopeKey
from index.store import IndexStore
from providers.records import Provider

PROCESSES = 4
KEYS = [ScopeKey(DEFAULT_TENANT, Provider.VECTARA, f"agent-{n}") for n in range(12)]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def race(url: str, holder: str, barrier: Barrier, results: Queue[Any]) -> None:
    """One process: open the index, then two rounds of asking for every lease."""

    async def run() -> list[list[bool]]:
        store = await IndexStore.open(url)
        try:
            rounds = []
            for moment in (T0, T0 + timedelta(seconds=10)):
                barrier.wait(timeout=60)  # every process asks at the same moment
                rounds.append([await store.take_lease(k, holder, moment, 60) for k in KEYS])
            return rounds
        finally:
            await store.aclose()

    results.put((holder, asyncio.run(run())))


def test_processes_opening_one_index_at_once_share_each_lease_out_once(index_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")  # as uvicorn starts its workers
    barrier = spawn.Barrier(PROCESSES)
    results: Queue[Any] = spawn.Queue()
    holders = [f"worker-{n}" for n in range(PROCESSES)]
    processes = [spawn.Process(target=race, args=(index_url, h, barrier, results)) for h in holders]
    for process in processes:
        process.start()
    try:
        answers = dict(results.get(timeout=90) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    assert sorted(answers) == holders
    for n, key in enumerate(KEYS):
        first = [h for h in holders if answers[h][0][n]]
        again = [h for h in holders if answers[h][1][n]]
        assert len(first) == 1, f"{key.scope}: taken by {first}"
        assert again == first, f"{key.scope}: first {first}, then {again}"
