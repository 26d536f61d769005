"""Fixtures of the provider tests that talk to a simulator over a real loopback socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import uvicorn

from providers.simulators.vonage import VonageSimulator

SERVED_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
async def served() -> AsyncIterator[tuple[VonageSimulator, str]]:
    """A Vonage simulator (30 sessions) served by uvicorn on 127.0.0.1, and its base URL."""
    simulator = VonageSimulator(size=30, seed=2, anchor=SERVED_ANCHOR, clock=lambda: SERVED_ANCHOR)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(simulator.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):  # bounded: five seconds at most
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield simulator, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
