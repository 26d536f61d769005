"""GraphiQL in headless Chromium against a real `sessiongraph serve` (demo mode) on loopback:
the page loads with no network beyond 127.0.0.1, opens on the default document, runs its
first operation and shows the same sessions that operation answers over plain HTTP.

Needs Python's `playwright` (dev extras) and a Chromium: Debian's /usr/bin/chromium, or the
one $SESSIONGRAPH_TEST_CHROMIUM names (`playwright install` is not used: its CDN is not
reachable from CI). The screenshot is kept in test-artifacts/graphiql.png.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    ConsoleMessage,
    Page,
    Response,
    Route,
    WebSocket,
    sync_playwright,
)

from bench.processes import Children
from graph.graphiql import DEFAULT_DOCUMENT
from tests.graph.test_real_http import BIN, free_port, wait_for

CHROMIUM = Path(os.environ.get("SESSIONGRAPH_TEST_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artifacts" / "graphiql.png"
WAIT_MS = 60_000  # each wait; a loaded 2-core machine parses 1.5 MB of script slowly
FIRST_OPERATION = "NewestSessions"
# The editors are CodeMirror 5 instances: the whole text, not just the lines on screen.
EDITOR_TEXT = "selector => document.querySelector(selector)?.CodeMirror?.getValue() ?? null"
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESULT = ".result-window .CodeMirror"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`sessiongraph serve` in demo mode (no vendor settings, no key) on a free port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONGRAPH_")}
    base = f"http://127.0.0.1:{port}"
    with Children(tmp_path / "logs") as children:  # stopped on leaving, on failure too
        argv = [str(BIN), "serve", "--port", str(port), "--log-level", "warning"]
        children.start("serve", argv, env, cwd=tmp_path)
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, "serve", 90)
        assert httpx.get(f"{base}/healthz").json()["mode"] == "demo"
        yield base


def session_ids(answer: Any) -> list[str]:
    return [edge["node"]["id"] for edge in answer["data"]["sessions"]["edges"]]


def test_graphiql_runs_the_default_document_offline_in_chromium(
    server: str, tmp_path: Path
) -> None:
    assert CHROMIUM.exists(), (
        f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install -y chromium) "
        "or name one in SESSIONGRAPH_TEST_CHROMIUM"
    )
    blocked: list[str] = []
    console_errors: list[str] = []
    asset_codings: list[str | None] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    def on_response(response: Response) -> None:
        if "/graphiql-assets/" in response.url:
            asset_codings.append(response.headers.get("content-encoding"))

    def on_websocket(socket: WebSocket) -> None:
        if urlsplit(socket.url).hostname != "127.0.0.1":
            blocked.append(socket.url)

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile: no GraphiQL tabs in localStorage
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1400, "height": 900},
            timeout=WAIT_MS,
        )
        try:
            context.set_default_timeout(WAIT_MS)
            context.route("**/*", only_loopback)
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", on_console)
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            page.on("websocket", on_websocket)
            page.on("response", on_response)
            result = run_first_operation(page, f"{server}/graphql")
            # Chromium asks for br: each asset came brotli-compressed, and ran, so it decoded
            # to the bytes its integrity attribute names (Chromium refuses any other).
            assert asset_codings == ["br"] * 7
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
            print(f"\nGraphiQL screenshot: {SCREENSHOT}")
            reopen_with_tabs_of_an_earlier_visit(page, f"{server}/graphql")
        finally:
            context.close()

    assert blocked == [], f"the page tried to reach beyond 127.0.0.1: {blocked}"
    assert console_errors == []
    over_http = httpx.post(
        f"{server}/graphql",
        json={"query": DEFAULT_DOCUMENT.read_text(), "operationName": FIRST_OPERATION},
        timeout=60,
    ).json()
    assert "errors" not in result and "errors" not in over_http
    assert len(session_ids(result)) == 5
    assert session_ids(result) == session_ids(over_http)


def run_first_operation(page: Page, url: str) -> Any:
    """Open GraphiQL, check it shows the default document, run the first operation from the
    run button's menu; the result pane's JSON."""
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200
    page.wait_for_function(f"() => ({EDITOR_TEXT})({QUERY_EDITOR!r}) !== null")
    shown = page.evaluate(EDITOR_TEXT, QUERY_EDITOR)
    assert shown == DEFAULT_DOCUMENT.read_text(encoding="utf-8")
    # Several operations: the run button opens a menu of their names.
    page.locator(".graphiql-execute-button").click()
    page.get_by_role("menuitem", name=FIRST_OPERATION).click()
    page.wait_for_function(f"() => (({EDITOR_TEXT})({RESULT!r}) ?? '').includes('\"data\"')")
    return json.loads(page.evaluate(EDITOR_TEXT, RESULT))


def reopen_with_tabs_of_an_earlier_visit(page: Page, url: str) -> None:
    """A returning visitor, whose localStorage holds another tab (GraphiQL restores tabs):
    the page still opens on the default document, the earlier tab kept beside it."""
    earlier = {
        "activeTabIndex": 0,
        "tabs": [
            {
                "id": "earlier",
                "hash": "earlier",
                "title": "Earlier",
                "query": "query Earlier { providers { name } }",
                "variables": None,
                "headers": None,
                "operationName": "Earlier",
                "response": None,
            }
        ],
    }
    page.evaluate("state => localStorage.setItem('graphiql:tabState', state)", json.dumps(earlier))
    page.goto(url, wait_until="load")  # not reload: GraphiQL has put the document in ?q=
    page.wait_for_function(f"() => ({EDITOR_TEXT})({QUERY_EDITOR!r}) !== null")
    assert page.evaluate(EDITOR_TEXT, QUERY_EDITOR) == DEFAULT_DOCUMENT.read_text()
    tabs = page.locator(".graphiql-tab")
    tabs.nth(1).wait_for()
    assert tabs.count() == 2
    assert tabs.nth(0).inner_text().strip() == "Earlier"
