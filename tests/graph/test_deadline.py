"""One deadline per request, and no vendor work for a client that is gone.

The request's budget (providers.budget) reaches every vendor call a request makes, from the
resolvers and from the tasks they start (loaders, single-flight requests); the answer comes back
by `SESSIONGRAPH_REQUEST_TIMEOUT_S` with whatever vendor work is left cancelled; a client that
disconnects cancels its vendor work, unless another live request shares it.

Hangs here are real (the simulators sleep on the event loop), so the deadlines are short; no
test asserts a duration: they assert codes, and which vendor calls ran to the end or were
cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from fastapi import FastAPI

from graph.app import create_app
from graph.deadline import LISTEN_AFTER_S, ClientGone, run_within
from graph.settings import load_settings
from providers.budget import RequestBudget, current_budget
from providers.clock import SYSTEM_CLOCK
from providers.records import Provider
from providers.simulators import Simulator
from providers.transport import VendorClient
from resolvers.sources import build_simulators, demo_sources
from tests.conftest import ANCHOR, Gateway, running_gateway
from tests.graph.test_request_hygiene import Connection, served
from tests.support import FakeClock

PAGE = """{ sessions(first: 5) { edges { node { id agent { name } transcript { text } } } } }"""
STATESET_ONLY = "{ sessions(first: 5, filter: {providers: [STATESET]}) { edges { node { id } } } }"
TIMEOUT = {"SESSIONGRAPH_REQUEST_TIMEOUT_S": "0.2"}


# --- the budget reaches every vendor call ------------------------------------------------------


async def test_every_vendor_call_of_a_request_sees_that_requests_budget(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Provider, str, RequestBudget | None]] = []
    get_json = VendorClient.get_json

    async def spy(self: VendorClient, path: str, params: Any = None) -> Any:
        seen.append((self.provider, path, current_budget()))
        return await get_json(self, path, params)

    monkeypatch.setattr(VendorClient, "get_json", spy)
    first = await gateway.query(PAGE)
    calls_of_first = len(seen)
    second = await gateway.query(PAGE.replace("first: 5", "first: 6"))
    assert "errors" not in first and "errors" not in second
    # Lists, details (loaders batch them in tasks of their own) and agents, of all four vendors.
    assert {provider for provider, _, _ in seen} == set(Provider)
    assert len(seen) > 2 * len(Provider)
    budgets = [budget for _, _, budget in seen]
    assert all(budget is not None for budget in budgets), seen
    assert len({id(b) for b in budgets[:calls_of_first]}) == 1  # one budget per request...
    assert len({id(b) for b in budgets[calls_of_first:]}) == 1
    assert budgets[0] is not budgets[-1]  # ...and a new one for the next
    # Opened at 0 on the test clock, with the default 10 s less the 0.5 s kept to answer.
    assert budgets[0] is not None and budgets[0].deadline == 9.5
    assert current_budget() is None  # outside a request, none


# --- the deadline -----------------------------------------------------------------------------


@dataclass
class Watched:
    """A simulator's ASGI app, counting the vendor requests that ran to the end and those
    cancelled midway (the gateway gave up on them)."""

    app: Any
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    finished: int = 0
    cancelled: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.arrived.set()
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.ended.set()
        self.finished += 1


@asynccontextmanager
async def watched_gateway(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> AsyncIterator[tuple[FastAPI, dict[Provider, Simulator], dict[Provider, Watched]]]:
    clock = FakeClock(ANCHOR)
    simulators = build_simulators(size=20, seed=3, anchor=ANCHOR, clock=clock)
    watched = {p: Watched(s.app) for p, s in simulators.items()}
    for provider, simulator in simulators.items():
        app = watched[provider]
        monkeypatch.setattr(simulator, "transport", lambda app=app: httpx.ASGITransport(app=app))
    sources = demo_sources(simulators=simulators, clock=clock)
    app = create_app(
        load_settings(
            {"SESSIONGRAPH_CURSOR_SECRET": "deadline", "SESSIONGRAPH_INDEX_URL": "off", **environ}
        ),
        sources=sources,
    )
    async with app.router.lifespan_context(app):
        yield app, simulators, watched


def hang(simulator: Simulator) -> None:
    simulator.faults.hang_rate = 1.0
    simulator.faults.hang_s = 60.0  # far past any deadline here: it ends only by cancellation


async def test_a_hanging_vendor_answers_upstream_timeout_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with watched_gateway(monkeypatch, TIMEOUT) as (app, simulators, watched):
        hang(simulators[Provider.STATESET])
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c,
            asyncio.timeout(10),
        ):
            response = await c.post("/graphql", json={"query": STATESET_ONLY})
    assert response.status_code == 200
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UPSTREAM_TIMEOUT"]
    assert (watched[Provider.STATESET].finished, watched[Provider.STATESET].cancelled) == (0, 1)


@pytest.mark.parametrize(
    ("accept", "status", "body"),
    [
        (
            "application/json",
            200,
            {
                "data": None,
                "errors": [
                    {
                        "message": "the request ran out of time (0.2 s) while vendors were still "
                        "answering; ask for fewer sessions or fewer vendors, or retry",
                        "extensions": {"code": "UPSTREAM_TIMEOUT", "retryable": True},
                    }
                ],
            },
        ),
        (
            # GraphQL over HTTP: the request did not finish running, no `data`, a gateway timeout.
            "application/graphql-response+json",
            504,
            {
                "errors": [
                    {
                        "message": "the request ran out of time (0.2 s) while vendors were still "
                        "answering; ask for fewer sessions or fewer vendors, or retry",
                        "extensions": {"code": "UPSTREAM_TIMEOUT", "retryable": True},
                    }
                ],
            },
        ),
    ],
    ids=["json", "graphql-response"],
)
async def test_work_that_ignores_the_budget_is_cancelled_at_the_requests_deadline(
    monkeypatch: pytest.MonkeyPatch, accept: str, status: int, body: dict[str, Any]
) -> None:
    """The last resort: vendor work that no per-attempt timeout bounds (here an adapter stuck
    outside its HTTP client) is cancelled when the request's time is up."""
    stuck: list[str] = []

    async def never_answers(*_: Any) -> None:
        stuck.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stuck.append("cancelled")
            raise

    async with running_gateway(size=10, environ=TIMEOUT) as gateway:
        adapter = gateway.sources.adapters[Provider.VONAGE]
        monkeypatch.setattr(adapter, "list_sessions", never_answers)
        async with asyncio.timeout(10):
            response = await gateway.client.post(
                "/graphql", json={"query": PAGE}, headers={"accept": accept}
            )
    assert response.status_code == status
    assert response.headers["content-type"] == accept
    assert response.json() == body
    assert stuck == ["started", "cancelled"]


# --- a client that goes away ------------------------------------------------------------------


@dataclass
class Client:
    """A client talking ASGI to the app directly, so that it can hang up mid-request."""

    app: FastAPI
    query: str
    method: str = "POST"
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[dict[str, Any]] = field(default_factory=list)
    body_read: bool = False

    async def ask(self) -> None:
        get = self.method == "GET"
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": self.method, "scheme": "http", "path": "/graphql",
            "raw_path": b"/graphql", "root_path": "", "client": ("127.0.0.1", 1),
            "query_string": urlencode({"query": self.query}).encode() if get else b"",
            "server": ("gateway", 80), "headers": [(b"content-type", b"application/json")],
        }  # fmt: skip
        await self.app(scope, self.receive, self.send)

    async def receive(self) -> dict[str, Any]:
        if not self.body_read:
            self.body_read = True
            body = b"" if self.method == "GET" else orjson.dumps({"query": self.query})
            return {"type": "http.request", "body": body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_client_that_disconnects_cancels_its_vendor_work(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    async with watched_gateway(monkeypatch, {}) as (app, simulators, watched):
        hang(simulators[Provider.STATESET])
        client = Client(app, STATESET_ONLY, method)
        async with asyncio.timeout(10):
            asking = asyncio.create_task(client.ask())
            await watched[Provider.STATESET].arrived.wait()  # the vendor call is in flight
            client.gone.set()
            await asking
    assert (watched[Provider.STATESET].finished, watched[Provider.STATESET].cancelled) == (0, 1)
    assert client.status == 499  # logged as such; nobody reads it


async def test_a_client_that_closes_its_connection_cancels_its_vendor_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same over a real server and socket: uvicorn tells the app through `receive`."""
    async with (
        watched_gateway(monkeypatch, {}) as (app, simulators, watched),
        served(app) as (host, port),
    ):
        hang(simulators[Provider.STATESET])
        connection = Connection(*await asyncio.open_connection(host, port))
        await connection.send(orjson.dumps({"query": STATESET_ONLY}))
        async with asyncio.timeout(10):
            await watched[Provider.STATESET].arrived.wait()
            connection.writer.close()
            await watched[Provider.STATESET].ended.wait()
    assert (watched[Provider.STATESET].finished, watched[Provider.STATESET].cancelled) == (0, 1)


async def test_a_vendor_call_shared_with_a_live_request_goes_on_until_both_are_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []  # vendor GETs asked for, shared or not
    second_asked = asyncio.Event()
    get_json = VendorClient.get_json

    async def counted(self: VendorClient, path: str, params: Any = None) -> Any:
        asked.append(path)
        if len(asked) == 2:
            second_asked.set()
        return await get_json(self, path, params)

    monkeypatch.setattr(VendorClient, "get_json", counted)
    async with watched_gateway(monkeypatch, {}) as (app, simulators, watched):
        hang(simulators[Provider.STATESET])
        stateset = watched[Provider.STATESET]
        first, second = Client(app, STATESET_ONLY), Client(app, STATESET_ONLY)
        async with asyncio.timeout(10):
            asking = [asyncio.create_task(first.ask())]
            await stateset.arrived.wait()
            asking.append(asyncio.create_task(second.ask()))
            await second_asked.wait()
            assert asked[0] == asked[1]
            assert len(simulators[Provider.STATESET].log) == 1  # one vendor request, shared
            first.gone.set()
            await asking[0]
            assert (stateset.finished, stateset.cancelled) == (0, 0)  # the second still waits
            second.gone.set()
            await asking[1]
    assert (stateset.finished, stateset.cancelled) == (0, 1)
    assert (first.status, second.status) == (499, 499)


async def test_work_that_will_not_stop_is_logged_and_left_behind_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelled work is given `UNWIND_S` to stop; the answer does not wait on it longer."""
    left_behind = asyncio.Event()

    async def stubborn(*_: Any) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.1)  # cleanup that outlasts the unwinding time given
            left_behind.set()

    monkeypatch.setattr("graph.schema.resolve_sessions", stubborn)
    monkeypatch.setattr("graph.deadline.UNWIND_S", 0.01)
    async with running_gateway(size=10, environ=TIMEOUT) as gateway, asyncio.timeout(10):
        response = await gateway.client.post("/graphql", json={"query": PAGE})
        answered_first = not left_behind.is_set()
        await left_behind.wait()
    assert answered_first
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UPSTREAM_TIMEOUT"]
    assert any(
        r.levelname == "ERROR" and "did not stop within 0.01 s" in r.getMessage()
        for r in caplog.records
    )


async def test_an_execution_that_cancels_itself_is_an_internal_error_not_out_of_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A CancelledError escaping from the request's own work (no deadline, client there) once
    hid as 'out of time after 10 s' (a shared vendor GET handed its cancellation on): it is
    a bug, logged with its traceback and answered 500, at once."""

    async def cancels_itself(*_: Any) -> None:
        raise asyncio.CancelledError

    monkeypatch.setattr("graph.schema.resolve_sessions", cancels_itself)
    async with running_gateway(size=10, environ=TIMEOUT) as gateway, asyncio.timeout(10):
        response = await gateway.client.post("/graphql", json={"query": PAGE})
    assert response.status_code == 500
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["INTERNAL_SERVER_ERROR"]
    assert not any("out of time" in r.getMessage() for r in caplog.records)
    [logged] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged.exc_info is not None and "ended cancelled" in str(logged.exc_info[1])


# --- the disconnect listener --------------------------------------------------------------------


async def test_an_answer_ready_at_once_never_listens_for_its_client() -> None:
    """The listener is a task per request: only executions still running after
    `LISTEN_AFTER_S` start one (an answer ready sooner goes to the client either way)."""
    received: list[str] = []

    async def receive() -> dict[str, Any]:
        received.append("receive")
        await asyncio.Event().wait()  # the client stays
        raise AssertionError("unreachable")

    async def at_once() -> str:
        return "answer"

    async def slow() -> str:
        await asyncio.sleep(LISTEN_AFTER_S * 4)
        return "slow answer"

    async with asyncio.timeout(10):
        assert await run_within(at_once(), 5.0, SYSTEM_CLOCK, receive) == "answer"
        assert received == []
        assert await run_within(slow(), 5.0, SYSTEM_CLOCK, receive) == "slow answer"
        assert received == ["receive"]  # listened, then cancelled with the request


async def test_a_client_gone_while_its_execution_runs_is_told_after_the_listener_starts() -> None:
    disconnect = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    disconnect.set()  # gone before the request's work even started
    async with asyncio.timeout(10):
        with pytest.raises(ClientGone):
            await run_within(forever(), 5.0, SYSTEM_CLOCK, receive)
    assert cancelled.is_set()
