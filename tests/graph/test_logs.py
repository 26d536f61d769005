"""Request ids and JSON logs: a sane X-Request-ID is echoed, anything else is replaced by a new
id; every log line written while serving a request carries its id, the vendor-call lines and
the audit lines included; each line is one JSON object."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from graph.observability import JsonLines, request_id_of
from providers.records import Provider
from tests.conftest import Gateway

PAGE = "{ sessions(first: 5) { nodes { id } } }"
NEW_ID = re.compile(r"[0-9a-f]{32}")


@contextmanager
def json_lines(level: int = logging.DEBUG) -> Iterator[list[dict[str, Any]]]:
    """The lines the app's loggers write meanwhile, through the JSON format, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("sessiongraph")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


async def test_a_sane_request_id_is_echoed_and_carried_to_every_vendor_call_line(
    gateway: Gateway,
) -> None:
    gateway.clear_logs()
    with json_lines() as lines:
        answer = await gateway.client.post(
            "/graphql", json={"query": PAGE}, headers={"X-Request-ID": "req-42.a:b_c"}
        )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "req-42.a:b_c"
    calls = [line for line in lines if line["message"].startswith(tuple(p.name for p in Provider))]
    # One debug line per request a vendor received, each with the client's id.
    assert len(calls) == sum(len(s.log.entries) for s in gateway.simulators.values()) >= 4
    assert {line["request_id"] for line in calls} == {"req-42.a:b_c"}
    assert {line["logger"] for line in calls} == {"sessiongraph"}
    assert {line["level"] for line in calls} == {"DEBUG"}


@pytest.mark.parametrize(
    "given",
    [
        "x" * 65,  # too long
        "a b",  # a space
        "id\nforged line",
        '"quoted"',
        "",
        "é",
    ],
)
async def test_an_unsafe_request_id_is_replaced_by_a_new_one(gateway: Gateway, given: str) -> None:
    answer = await gateway.client.get("/healthz", headers={"X-Request-ID": given.encode()})
    assert NEW_ID.fullmatch(answer.headers["x-request-id"]), answer.headers["x-request-id"]


async def test_without_one_each_request_gets_its_own_id(gateway: Gateway) -> None:
    ids = {(await gateway.client.get("/healthz")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(NEW_ID.fullmatch(i) for i in ids)


async def test_a_refused_request_has_its_id_too(gateway: Gateway) -> None:
    answer = await gateway.client.post(
        "/graphql", content=b"{", headers={"X-Request-ID": "bad-body", "content-type": "x/y"}
    )
    assert answer.status_code >= 400
    assert answer.headers["x-request-id"] == "bad-body"


async def test_audit_lines_carry_the_request_id(gateway: Gateway) -> None:
    node_id = await gateway.first_session_id(Provider.STATESET)
    mutation = "mutation($id: ID!) { deleteSession(id: $id) { deletedId } }"
    with json_lines(logging.INFO) as lines:
        answer = await gateway.client.post(
            "/graphql",
            json={"query": mutation, "variables": {"id": node_id}},
            headers={"X-Request-ID": "delete-1"},
        )
    assert answer.status_code == 200, answer.text
    audit = [line for line in lines if line["logger"] == "sessiongraph.audit"]
    assert audit, lines
    assert {line["request_id"] for line in audit} == {"delete-1"}


def test_a_line_is_one_json_object_with_its_extras_and_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("sessiongraph").makeRecord(
            "sessiongraph", logging.ERROR, __file__, 1, "failed %s", ("x",), None
        )
        record.exc_info = sys.exc_info()
    record.vendor = "vonage"  # an extra
    line = json.loads(JsonLines(process=True).format(record))
    assert line["level"] == "ERROR" and line["logger"] == "sessiongraph"
    assert line["message"] == "failed x"
    assert line["vendor"] == "vonage" and isinstance(line["process"], int)
    assert "ValueError: boom" in line["exception"]
    assert "request_id" not in line  # written outside any request
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


def test_request_id_of_keeps_sane_tokens_only() -> None:
    assert request_id_of("abc") == "abc"
    assert request_id_of("A" * 64) == "A" * 64
    assert NEW_ID.fullmatch(request_id_of("A" * 65))
    assert NEW_ID.fullmatch(request_id_of(None))


SCRIPT = """
import logging
from graph.serving import configure_logging
from providers.telemetry import REQUEST_ID
configure_logging(worker=True)
REQUEST_ID.set("r-1")
logging.getLogger("uvicorn.error").info("Started server process")
logging.getLogger("sessiongraph.audit").info("deleted")
"""


@pytest.mark.parametrize("chosen", ["json", "text"])
def test_serve_writes_its_lines_and_uvicorns_in_one_format(chosen: str) -> None:
    env = {**os.environ, "SESSIONGRAPH_LOG_FORMAT": chosen, "PYTHONPATH": os.getcwd()}
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    written = ran.stderr.splitlines()
    assert len(written) == 2, written
    if chosen == "json":
        lines = [json.loads(line) for line in written]
        assert [(x["logger"], x["message"], x["request_id"]) for x in lines] == [
            ("uvicorn.error", "Started server process", "r-1"),
            ("sessiongraph.audit", "deleted", "r-1"),
        ]
        assert all(isinstance(x["process"], int) for x in lines)
    else:
        assert re.fullmatch(r"INFO uvicorn\.error \[\d+\] r-1: Started server process", written[0])
        assert re.fullmatch(r"INFO sessiongraph\.audit \[\d+\] r-1: deleted", written[1])
