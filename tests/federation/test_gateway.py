"""sessiongraph as a Federation 2 subgraph behind a real router, as real processes on loopback.

sessiongraph (`serve`, demo mode, with an API key) and a second subgraph
(tests/federation/reviews.py, which extends `Session` by its key `id` with `reviewNote`) serve
on free ports; their SDLs, read from `_service { sdl }`, are composed by The Guild's composition
library (npm/compose.mjs) and the supergraph is served by Hive Gateway (`hive-gateway
supergraph`), both from npm at the versions npm/package-lock.json pins (`npm ci` when
node_modules is missing or differs). Queries through the gateway must answer what each subgraph
answers: sessiongraph's fields as sessiongraph answers them directly, `reviewNote` by the rule
stated here, which only the ids sessiongraph gave can satisfy (the gateway asked the reviews
subgraph's `_entities`), and sessiongraph's fields on references the reviews subgraph returned
(the gateway asked our `_entities`). The gateway forwards the client's Authorization header
(npm/gateway.config.mjs): with the key the client's query is answered, without it sessiongraph
refuses the gateway's fetch.

Needs Node.js 20+ and npm (fails, saying so, without them). Every process is stopped at the
end, on failure too; every wait has a deadline.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.processes import Children, free_port, wait_for_http
from providers.records import Provider
from providers.vendors import adapter_class
from tests.federation.reviews import REVIEWED_ENV
from tests.npm import npm_project

ROOT = Path(__file__).parents[2]
NPM_DIR = Path(__file__).with_name("npm")
SCHEMA_FILE = ROOT / "schema.graphql"
KEY = "sg_federation_test_key_0123456789"  # sessiongraph's only key: every request needs it
BEARER = {"Authorization": f"Bearer {KEY}"}
STARTUP_S = 60  # each server's deadline to answer
REQUEST_S = 30

PAGE = "{ sessions(first: 5) { edges { node { id provider startedAt %s } } } }"
REFETCH = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Session {
  id provider startedAt agent { providerAgentId } } } }"""
REVIEWED = """{ reviewedSessions {
  id provider startedAt agent { providerAgentId } reviewNote } }"""


def expected_note(session_id: str) -> str:
    """The reviews subgraph's rule, stated here: "reviewed " and the first 12 hex digits of
    the SHA-256 of the id's UTF-8 bytes."""
    return "reviewed " + hashlib.sha256(session_id.encode()).hexdigest()[:12]


@dataclass
class Federation:
    sessiongraph: str  # each one's GraphQL endpoint
    reviews: str
    gateway: str
    reviewed: list[str]  # the ids the reviews subgraph references
    reviews_sdl: str
    work: Path


def post(url: str, query: str, key: bool = True, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        url,
        json={"query": query, "variables": variables},
        headers=BEARER if key else {},
        timeout=REQUEST_S,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def data(url: str, query: str, key: bool = True, **variables: Any) -> dict[str, Any]:
    body = post(url, query, key, **variables)
    assert "errors" not in body, body["errors"]
    answer: dict[str, Any] = body["data"]
    return answer


def python_env(**extra: str) -> dict[str, str]:
    """This environment without settings that would change the servers behind the test's
    back (sessiongraph's own, vendor credentials), this checkout first on the path."""
    vendor = {
        name
        for p in Provider
        for name in (adapter_class(p).config.credential_env, adapter_class(p).config.base_url_env)
    }
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SESSIONGRAPH_") and k not in vendor
    }
    path = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path, **extra}


def compose(subgraphs: list[dict[str, str]], output: Path) -> None:
    done = subprocess.run(
        ["node", str(NPM_DIR / "compose.mjs"), str(output)],
        input=json.dumps(subgraphs),
        cwd=NPM_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        pytest.fail(f"composition failed:\n{done.stderr}{done.stdout}")


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    npm_project(NPM_DIR, "tests/federation")
    work = tmp_path_factory.mktemp("federation")
    with Children(work / "logs") as children:
        ports = {name: free_port() for name in ("sessiongraph", "reviews", "gateway")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        serve = [sys.executable, "-m", "graph.cli", "serve", "--host", "127.0.0.1"]
        ours = children.start(
            "sessiongraph",
            [*serve, "--port", str(ports["sessiongraph"]), "--log-level", "warning"],
            python_env(
                SESSIONGRAPH_DEMO_SIZE="40",
                SESSIONGRAPH_INDEX_URL="off",
                SESSIONGRAPH_API_KEY=KEY,
            ),
        )
        wait_for_http(f"{urls['sessiongraph']}/healthz", ours, STARTUP_S, ok_below=300)
        sessiongraph = f"{urls['sessiongraph']}/graphql"
        # The reviews subgraph references sessions of several vendors, in another order.
        listed = data(sessiongraph, "{ sessions(first: 8) { nodes { id provider } } }")
        reviewed = [node["id"] for node in listed["sessions"]["nodes"]][::-1]
        assert len({node["provider"] for node in listed["sessions"]["nodes"]}) > 1
        theirs = children.start(
            "reviews",
            [sys.executable, "-m", "tests.federation.reviews", "--port", str(ports["reviews"])],
            python_env(**{REVIEWED_ENV: json.dumps(reviewed)}),
        )
        reviews = f"{urls['reviews']}/graphql"
        wait_for_http(reviews, theirs, STARTUP_S, ok_below=500)

        sdl = "{ _service { sdl } }"
        subgraphs = [
            {"name": name, "url": url, "sdl": data(url, sdl)["_service"]["sdl"]}
            for name, url in (("sessiongraph", sessiongraph), ("reviews", reviews))
        ]
        supergraph = work / "supergraph.graphql"
        compose(subgraphs, supergraph)
        hive = NPM_DIR / "node_modules" / ".bin" / "hive-gateway"
        gateway = children.start(
            "gateway",
            [
                "node",
                str(hive),
                "supergraph",
                str(supergraph),
                *("--config-path", str(NPM_DIR / "gateway.config.mjs")),
                *("--host", "127.0.0.1", "--port", str(ports["gateway"])),
            ],
            {**os.environ, "NODE_ENV": "production"},
        )
        try:
            wait_for_http(f"{urls['gateway']}/healthcheck", gateway, STARTUP_S, ok_below=300)
        except (RuntimeError, TimeoutError) as error:
            pytest.fail(f"Hive Gateway did not start: {error}\n{children.log_tail('gateway')}")
        yield Federation(
            sessiongraph,
            reviews,
            f"{urls['gateway']}/graphql",
            reviewed,
            subgraphs[1]["sdl"],
            work,
        )


def test_each_subgraph_answers_its_own_fields_through_the_gateway(
    federation: Federation,
) -> None:
    direct = data(federation.sessiongraph, PAGE % "")["sessions"]["edges"]
    through = data(federation.gateway, PAGE % "reviewNote")["sessions"]["edges"]
    assert len(direct) == 5
    expected = [
        {"node": {**edge["node"], "reviewNote": expected_note(edge["node"]["id"])}}
        for edge in direct
    ]
    assert through == expected


def test_the_gateway_resolves_references_to_sessions_through_our_entities(
    federation: Federation,
) -> None:
    direct = data(federation.sessiongraph, REFETCH, ids=federation.reviewed)["nodes"]
    through = data(federation.gateway, REVIEWED)["reviewedSessions"]
    assert [node["id"] for node in through] == federation.reviewed
    expected = [{**node, "reviewNote": expected_note(node["id"])} for node in direct]
    assert through == expected
    assert all(node["provider"] and node["startedAt"] for node in through)


def test_the_gateway_forwards_the_clients_key_and_sessiongraph_refuses_a_fetch_without_one(
    federation: Federation,
) -> None:
    assert httpx.post(federation.sessiongraph, json={"query": "{ __typename }"}).status_code == 401
    refused = post(federation.gateway, PAGE % "reviewNote", key=False)
    assert refused.get("data") is None, refused
    assert refused["errors"]
    # The reviews subgraph asks for no key: its own root field still answers without one.
    notes = data(federation.gateway, "{ reviewedSessions { reviewNote } }", key=False)
    expected = [{"reviewNote": expected_note(i)} for i in federation.reviewed]
    assert notes["reviewedSessions"] == expected


def test_the_checked_in_schema_composes_as_the_served_sdl_does(federation: Federation) -> None:
    """schema.graphql (the SDL plus the federation directives' definitions, for tools that
    know no federation) is what a composer reads where `_service` is not shown."""
    output = federation.work / "from-file.graphql"
    subgraphs = [
        {"name": "sessiongraph", "url": federation.sessiongraph, "sdl": SCHEMA_FILE.read_text()},
        {"name": "reviews", "url": federation.reviews, "sdl": federation.reviews_sdl},
    ]
    compose(subgraphs, output)
    assert output.read_text() == (federation.work / "supergraph.graphql").read_text()
