"""The access log says which endpoint answered what status, never what was asked: a GraphQL GET
carries its operation and variables (filter values, phone numbers) in the query string."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import httpx
import pytest

from graph.access_log import ACCESS_LOGGER, QueryStringHidden
from tests.graph.test_request_hygiene import demo_app, served

SECRET_FILTER = '{ sessions(first: 1, filter: {phoneNumber: "+15550100"}) { nodes { id } } }'


async def test_a_get_is_logged_without_its_query_string(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = demo_app()
    access = logging.getLogger(ACCESS_LOGGER)
    async with (
        app.router.lifespan_context(app),
        served(app, log_level="info") as (host, port),
        httpx.AsyncClient(base_url=f"http://{host}:{port}") as client,
    ):
        # Once uvicorn has configured its loggers (which drops their handlers); its access
        # logger does not propagate to the root, where caplog listens.
        access.addHandler(caplog.handler)
        try:
            answer = await client.get(f"/graphql?{urlencode({'query': SECRET_FILTER})}")
            assert answer.status_code == 200, answer.text
            await client.post("/graphql", json={"query": SECRET_FILTER})
        finally:
            access.removeHandler(caplog.handler)
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert any('"GET /graphql?… HTTP/1.1" 200' in line for line in lines), lines
    assert any('"POST /graphql HTTP/1.1" 200' in line for line in lines), lines
    assert not any("5550100" in line or "sessions" in line for line in lines), lines


def test_the_filter_leaves_other_lines_and_paths_without_a_query_alone() -> None:
    hidden = QueryStringHidden()
    plain = logging.LogRecord("x", logging.INFO, "", 0, "%s %s", ("a", "b?c"), None)
    assert hidden.filter(plain) and plain.getMessage() == "a b?c"
    line = '%s - "%s %s HTTP/%s" %d'
    no_query = logging.LogRecord(
        "x", logging.INFO, "", 0, line, ("c", "GET", "/x", "1.1", 200), None
    )
    assert hidden.filter(no_query) and no_query.getMessage() == 'c - "GET /x HTTP/1.1" 200'
