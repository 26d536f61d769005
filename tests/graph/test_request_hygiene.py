"""Whatever a client sends, it gets a GraphQL error body with a code, never a 500 or a reset
connection: malformed bodies (400 `BAD_REQUEST`, checked over a real keep-alive connection that
then still answers), bodies too large (413 `PAYLOAD_TOO_LARGE`) or too slow (408), and the
query limits built from the settings."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from graph.app import create_app
from graph.settings import load_settings
from resolvers.sources import build_simulators, demo_sources
from tests.conftest import ANCHOR, running_gateway
from tests.support import FakeClock, sans_cost

GOOD = b'{"query": "{ providers { name } }"}'
NAMES = {"providers": [{"name": n} for n in ("SAMSARA", "STATESET", "VECTARA", "VONAGE")]}
NOT_JSON = "the body is not JSON: "
NOT_AN_OBJECT = 'the body must be one JSON object, e.g. {"query": "{ providers { name } }"}'
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = "application/json"


def with_good(member: bytes) -> bytes:
    """The good request with one more member."""
    return GOOD[:-1] + b", " + member + b"}"


def demo_app(environ: dict[str, str] | None = None) -> FastAPI:
    clock = FakeClock(ANCHOR)
    sources = demo_sources(simulators=build_simulators(size=10, anchor=ANCHOR, clock=clock))
    return create_app(
        load_settings(
            {"SESSIONGRAPH_CURSOR_SECRET": "s", "SESSIONGRAPH_INDEX_URL": "off", **(environ or {})}
        ),
        sources,
    )


@asynccontextmanager
async def served(app: FastAPI, log_level: str = "warning") -> AsyncIterator[tuple[str, int]]:
    """`app` behind a real uvicorn server on a loopback port (its lifespan is the caller's)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):  # uvicorn has no "started" event to wait on: 10 s at most
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        yield sock.getsockname()[:2]
    finally:
        server.should_exit = True
        await serving


class Connection:
    """One HTTP/1.1 keep-alive connection, by hand: every request goes over the same socket,
    so an answer after a bad request proves the connection survived it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, body: bytes, content_type: str = "application/json") -> None:
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()

    async def post(self, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
        await self.send(body, content_type)
        async with asyncio.timeout(10):
            status_line = await self.reader.readline()
            headers = {}
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            payload = await self.reader.readexactly(int(headers["content-length"]))
        assert headers.get("connection") != "close", headers
        return int(status_line.split()[1]), sans_cost(httpx.Response(200, content=payload).json())


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"null", JSON, NOT_AN_OBJECT),
        (b"1", JSON, NOT_AN_OBJECT),
        (b'"x"', JSON, NOT_AN_OBJECT),
        (b"[]", JSON, f"{NOT_AN_OBJECT}: batches are not supported"),
        (
            b'{"query": "{ providers { name } }", "x": "\xff\xfe"}',
            "application/json",
            "the body is not JSON: str is not valid UTF-8: surrogates not allowed: "
            "line 1 column 1 (char 0)",
        ),
        (DEEP, JSON, f"{NOT_JSON}depth limit exceeded: line 1 column 1026 (char 1025)"),
        (b"", JSON, f"{NOT_JSON}Input is a zero-length, empty document: line 1 column 1 (char 0)"),
        (GOOD, "text/plain", "send the request as application/json, not text/plain"),
        (GOOD, "", "send the request as application/json, with a Content-Type header"),
        (b'{"query": 5}', JSON, "`query` must be a string or null"),
        (with_good(b'"variables": []'), JSON, "`variables` must be an object or null"),
        (with_good(b'"operationName": 1'), JSON, "`operationName` must be a string or null"),
        (with_good(b'"extensions": "x"'), JSON, "`extensions` must be an object or null"),
        (b'{"variables": {}}', JSON, "No GraphQL query found in the request"),
    ],
    ids=[
        "null",
        "1",
        "string",
        "batch",
        "invalid-utf8",
        "100k-deep",
        "empty",
        "text-plain",
        "no-content-type",
        "query-not-string",
        "variables-list",
        "operation-name-number",
        "extensions-string",
        "no-query",
    ],
)  # fmt: skip (one case a line)
async def test_a_malformed_body_is_400_bad_request_and_the_connection_still_answers(
    body: bytes, content_type: str, message: str
) -> None:
    app = demo_app()
    async with app.router.lifespan_context(app), served(app) as (host, port):
        connection = Connection(*await asyncio.open_connection(host, port))
        try:
            status, answer = await connection.post(body, content_type)
            assert (status, answer) == (
                400,
                {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]},
            )
            assert await connection.post(GOOD) == (200, {"data": NAMES})
        finally:
            connection.writer.close()


TOO_LARGE = {
    "errors": [
        {
            "message": "the request body is larger than 64 bytes (SESSIONGRAPH_MAX_BODY_BYTES)",
            "extensions": {"code": "PAYLOAD_TOO_LARGE", "maxBytes": 64},
        }
    ]
}


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed() -> None:
    async with running_gateway(size=10, environ={"SESSIONGRAPH_MAX_BODY_BYTES": "64"}) as gateway:
        at_limit = b'{"query": "{ providers { name } }"}'.ljust(64)
        assert len(at_limit) == 64
        accepted = await gateway.client.post(
            "/graphql", content=at_limit, headers={"content-type": "application/json"}
        )
        assert accepted.status_code == 200, accepted.text
        over = at_limit + b" "
        declared = await gateway.client.post(
            "/graphql", content=over, headers={"content-type": "application/json"}
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: measured on arrival
            for start in range(0, len(over), 10):
                yield over[start : start + 10]

        streamed = await gateway.client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert sum(gateway.calls().values()) == 0
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/json"
        assert response.json() == TOO_LARGE


async def test_a_body_that_does_not_arrive_in_time_is_408_and_the_app_never_sees_it() -> None:
    app = demo_app({"SESSIONGRAPH_REQUEST_TIMEOUT_S": "0.05"})
    sent: list[dict[str, Any]] = []
    started = False

    async def receive() -> dict[str, Any]:
        """Half a body, then nothing more."""
        nonlocal started
        if not started:
            started = True
            return {"type": "http.request", "body": b'{"query": ', "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("never set")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with app.router.lifespan_context(app), asyncio.timeout(10):
        await app(http_scope("POST", "/graphql"), receive, send)
    assert sent[0]["status"] == 408
    assert httpx.Response(200, content=sent[1]["body"]).json() == {
        "errors": [
            {
                "message": "the request body did not arrive within 0.05 s",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }
    assert sum(len(s.log) for s in app.state.sources.simulators.values()) == 0


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("gateway", 80),
        "headers": headers or [(b"content-type", b"application/json")],
    }  # fmt: skip


# Depth counts from 0 at the root's fields: `id` is at depth 3, `name` at 4.
DEPTH_3 = "{ sessions(first: 1) { edges { node { id } } } }"
DEPTH_4 = "{ sessions(first: 1) { edges { node { agent { name } } } } }"


async def test_max_query_depth_comes_from_the_settings() -> None:
    async with running_gateway(size=10, environ={"SESSIONGRAPH_MAX_QUERY_DEPTH": "3"}) as gateway:
        accepted = await gateway.query(DEPTH_3)
        gateway.clear_logs()
        refused = await gateway.query(DEPTH_4)
        assert sum(gateway.calls().values()) == 0
    assert "errors" not in accepted, accepted
    assert sans_cost(refused) == {
        "data": None,
        "errors": [
            {
                "message": "'anonymous' exceeds maximum operation depth of 3",
                "locations": [{"line": 1, "column": 47}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    }
    async with running_gateway(size=10) as gateway:  # the default (12) takes it
        assert "errors" not in await gateway.query(DEPTH_4)


async def test_a_bug_is_a_500_with_an_error_body_and_a_traceback_in_the_log_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("bug detail")

    monkeypatch.setattr("graph.app.read_request", broken)
    async with running_gateway(size=10) as gateway:
        response = await gateway.client.post("/graphql", content=GOOD)
    assert response.status_code == 500
    assert response.json() == {
        "errors": [
            {"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        ]
    }
    [record] = [r for r in caplog.records if r.name == "sessiongraph" and r.exc_info]
    assert record.getMessage() == "unexpected error answering POST /graphql"


async def direct(
    app: FastAPI, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    """What the app sends back for `messages` (then a disconnect), over ASGI directly."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with app.router.lifespan_context(app), asyncio.timeout(10):
        await app(http_scope("POST", "/graphql", headers), receive, send)
    return sent


async def test_an_unreadable_content_length_is_measured_on_arrival() -> None:
    app = demo_app()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"lots")]
    sent = await direct(app, [{"type": "http.request", "body": GOOD}], headers)
    assert sent[0]["status"] == 200
    assert sans_cost(orjson.loads(sent[1]["body"])) == {"data": NAMES}


async def test_a_client_gone_before_its_body_ended_gets_no_answer() -> None:
    app = demo_app()
    half = [{"type": "http.request", "body": GOOD[:10], "more_body": True}]
    assert await direct(app, half, [(b"content-type", b"application/json")]) == []


async def test_the_lifespan_passes_through_the_body_limit() -> None:
    """Only HTTP requests have a body to bound: the lifespan (vendors' clients opened and
    closed) reaches the app as it is."""
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with asyncio.timeout(10):
        await demo_app()({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
