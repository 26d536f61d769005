"""examples/relay/ — a Relay frontend's operations — compiled by relay-compiler against the
checked-in schema.graphql, type-checked by tsc over the types Relay generates, and sent, as
Relay's artifacts hold them, to the demo gateway.

Each compile runs in a fresh copy (tmp/schema.graphql beside tmp/examples/relay/, its
node_modules linked), so the repository's tree is never written and a test can compile against
a changed schema. Compiling fresh rather than committing the artifacts and running
`relay-compiler --validate`: `--validate` fails on any change to an artifact, breaking or not
(a new enum value changes the generated TypeScript unions), so every schema change would need
the artifacts regenerated; compiling fresh fails only when an example no longer compiles or
type-checks — the breaks a Relay app would see — and the test names the field that broke it.

Node.js and npm are required (CI installs them): without them these tests fail, saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import FieldNode, OperationDefinitionNode, VariableNode, parse

from tests.conftest import Gateway
from tests.npm import npm_project

ROOT = Path(__file__).parent.parent.parent
EXAMPLE = ROOT / "examples" / "relay"
SCHEMA = ROOT / "schema.graphql"
COMPILE_TIMEOUT_S = 120

# What the examples declare (examples/relay/src/*.tsx), one artifact per fragment and
# operation, plus one query per @refetchable fragment.
FRAGMENTS = {"SessionRow_session", "SessionList_query", "AgentPage_agent", "SessionDetail_session"}
QUERIES = {"SessionsPageQuery", "AgentPageQuery", "SessionDetailQuery"}
REFETCH_QUERIES = {
    "SessionListPaginationQuery",
    "AgentPageSessionsPaginationQuery",
    "SessionDetailRefetchQuery",
}


@dataclass
class Compiled:
    project: Path
    relay: subprocess.CompletedProcess[str]
    tsc: subprocess.CompletedProcess[str] | None  # None: relay-compiler failed, nothing to check

    @property
    def generated(self) -> Path:
        return self.project / "src" / "__generated__"

    def artifact(self, name: str) -> str:
        return (self.generated / f"{name}.graphql.ts").read_text()

    def operation_text(self, name: str) -> str:
        """The query text Relay sends for operation `name` (its artifact's params.text)."""
        found = re.search(r'^    "text": ("(?:[^"\\]|\\.)*")', self.artifact(name), re.M)
        assert found, f"{name}: no operation text in its artifact"
        text: str = json.loads(found.group(1))
        return text


def run(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`argv` with a timeout; on timeout its whole process group is killed (relay-compiler's
    and tsc's npm entry points are node scripts that start the native compiler as a child)."""
    env = {**os.environ, "NO_COLOR": "1"}
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"{argv[1]} did not finish in {COMPILE_TIMEOUT_S} s")
    return subprocess.CompletedProcess(list(argv), process.returncode, output, None)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return npm_project(EXAMPLE, "the Relay examples' test")


def compile_examples(workdir: Path, schema_sdl: str, node_modules: Path) -> Compiled:
    """relay-compiler, then tsc, over a copy of examples/relay/ whose ../../schema.graphql
    (relay.config.json's path) is `schema_sdl`."""
    (workdir / "schema.graphql").write_text(schema_sdl)
    project = workdir / "examples" / "relay"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("node_modules", "__generated__")
    )
    (project / "node_modules").symlink_to(node_modules, target_is_directory=True)
    relay = run(
        [
            "node",
            "node_modules/relay-compiler/cli.js",
            "--noWatchman",
            "--output",
            "quiet-with-errors",
        ],
        project,
    )
    if relay.returncode != 0:
        return Compiled(project, relay, None)
    return Compiled(
        project, relay, run(["node", "node_modules/typescript/bin/tsc", "-p", "."], project)
    )


@pytest.fixture(scope="module")
def compiled(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    return compile_examples(tmp_path_factory.mktemp("relay"), SCHEMA.read_text(), node_modules)


def root_field(operation_text: str, name: str) -> FieldNode:
    """The root field of operation `name` in Relay's text (which also holds its fragments)."""
    for definition in parse(operation_text).definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.name:
            assert definition.name.value == name
            fields = [s for s in definition.selection_set.selections if isinstance(s, FieldNode)]
            assert len(fields) <= 1, fields
            return fields[0]
    raise AssertionError(f"no operation {name}")


def test_the_examples_compile_and_type_check_against_schema_graphql(compiled: Compiled) -> None:
    hint = ""
    if "SchemaExtension not implemented" in compiled.relay.stdout:
        # relay-compiler 21 has no `extend schema` (a Federation subgraph's usual @link line):
        # it reads the same directive as `schema @link(...) { query: Query ... }`.
        hint = "relay-compiler cannot read `extend schema`: write `schema @link(...) {...}`\n"
    assert compiled.relay.returncode == 0, hint + compiled.relay.stdout
    assert compiled.tsc is not None and compiled.tsc.returncode == 0, compiled.tsc
    assert {p.name for p in compiled.generated.iterdir()} == {
        f"{name}.graphql.ts" for name in FRAGMENTS | QUERIES | REFETCH_QUERIES
    }

    # Both connections are Relay connections: the reader keeps them under their @connection
    # key, paginated forward by count/cursor, and refetches them with the generated query.
    for fragment, key, query in (
        ("SessionList_query", "SessionList_sessions", "SessionListPaginationQuery"),
        ("AgentPage_agent", "AgentPage_sessions", "AgentPageSessionsPaginationQuery"),
    ):
        reader = compiled.artifact(fragment)
        assert f'"name": "__{key}_connection"' in reader
        assert re.search(
            r'"connection": \[\s*\{\s*"count": "count",\s*"cursor": "cursor",\s*'
            r'"direction": "forward"',
            reader,
        ), reader
        assert f'"operation": {query}_graphql' in reader

    # Query.sessions: the pagination query asks the page Relay's connection handler needs.
    text = compiled.operation_text("SessionListPaginationQuery")
    assert "sessions(first: $count, after: $cursor, filter: $filter, orderBy: $orderBy)" in text
    assert re.search(r"edges \{\s+node \{.*?__typename\s+\}\s+cursor\s+\}", text, re.S), text
    assert re.search(r"pageInfo \{\s+endCursor\s+hasNextPage\s+\}", text), text

    # Agent.sessions and the Session fragment refetch through node(id:): both types are Nodes.
    for query, fragment in (
        ("AgentPageSessionsPaginationQuery", "AgentPage_agent"),
        ("SessionDetailRefetchQuery", "SessionDetail_session"),
    ):
        text = compiled.operation_text(query)
        field = root_field(text, query)
        assert field.name.value == "node", text
        assert [
            (a.name.value, a.value.name.value)
            for a in field.arguments or ()
            if isinstance(a.value, VariableNode)
        ] == [("id", "id")], text
        assert re.search(rf"^    \.\.\.{fragment}(_\w+)?$", text, re.M), text  # args: a suffix
        assert '"identifierQueryVariableName": "id"' in compiled.artifact(fragment)
    assert "sessions(first: $count, after: $cursor)" in compiled.operation_text(
        "AgentPageSessionsPaginationQuery"
    )


def without(sdl: str, line: str) -> str:
    assert sdl.count(line) == 1, f"schema.graphql no longer has exactly one {line!r}"
    return sdl.replace(line, "")


def test_a_schema_without_a_field_the_examples_select_fails_to_compile(
    node_modules: Path, tmp_path: Path
) -> None:
    schema = without(SCHEMA.read_text(), "  status: SessionStatus!\n")  # Session.status
    result = compile_examples(tmp_path, schema, node_modules)
    assert result.relay.returncode != 0
    # SessionRow and SessionDetail select it (examples/relay/src/).
    assert "The type `Session` has no field `status`" in result.relay.stdout, result.relay.stdout
    assert "SessionRow.tsx" in result.relay.stdout
    assert "SessionDetail.tsx" in result.relay.stdout
    assert not result.generated.exists()


def test_a_connection_made_nullable_fails_the_type_check(
    node_modules: Path, tmp_path: Path
) -> None:
    """relay-compiler accepts it, but SessionList reads `data.sessions` as never null: tsc is
    what catches the break a client would hit."""
    sdl = SCHEMA.read_text()
    query_type = sdl.index("\ntype Query {")
    field = re.compile(r"^  sessions\(.*\): SessionConnection!$", re.M).search(sdl, query_type)
    assert field, "Query.sessions not found in schema.graphql"
    nullable = sdl[: field.end() - 1] + sdl[field.end() :]
    result = compile_examples(tmp_path, nullable, node_modules)
    assert result.relay.returncode == 0, result.relay.stdout
    assert result.tsc is not None and result.tsc.returncode != 0
    assert re.search(
        r"src/SessionList\.tsx\(\d+,\d+\): error TS18049: 'data\.sessions' is possibly",
        result.tsc.stdout,
    ), result.tsc.stdout
    assert "AgentPage.tsx" not in result.tsc.stdout  # Agent.sessions is a field of its own


async def post(gateway: Gateway, compiled: Compiled, name: str, **variables: Any) -> Any:
    body = await gateway.query(compiled.operation_text(name), **variables)
    assert "errors" not in body, body
    return body["data"]


def ids(connection: Any) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_the_operations_relay_sends_are_answered_by_the_gateway(
    gateway: Gateway, compiled: Compiled
) -> None:
    """Relay's texts as sent (with the `id`, `__typename`, `cursor` and `pageInfo` it adds),
    against the demo app: each answers, and each page continues where the last ended."""
    assert compiled.relay.returncode == 0, compiled.relay.stdout

    first = (await post(gateway, compiled, "SessionsPageQuery"))["sessions"]
    assert len(first["edges"]) == 20  # SessionList's default count
    assert first["pageInfo"]["hasNextPage"] is True
    second = (
        await post(
            gateway,
            compiled,
            "SessionListPaginationQuery",
            count=20,
            cursor=first["pageInfo"]["endCursor"],
        )
    )["sessions"]
    # Relay appends the second page to the first: together, one page of 40 as written by hand.
    forty = await gateway.query("{ sessions(first: 40) { edges { node { id } } } }")
    assert ids(first) + ids(second) == ids(forty["data"]["sessions"])

    session = first["edges"][0]["node"]
    refetched = await post(gateway, compiled, "SessionDetailRefetchQuery", id=session["id"])
    node = refetched["node"]
    assert (node["__typename"], node["id"]) == ("Session", session["id"])
    assert (node["status"], node["startedAt"]) == (session["status"], session["startedAt"])
    detail = await post(gateway, compiled, "SessionDetailQuery", id=session["id"])
    assert detail == refetched  # the query and the refetch ask the same fragment

    agent_id = next(e["node"]["agent"]["id"] for e in first["edges"] if e["node"]["agent"])
    agent = (await post(gateway, compiled, "AgentPageQuery", id=agent_id))["agent"]
    assert agent["id"] == agent_id and agent["sessions"]["edges"]
    more = (
        await post(
            gateway,
            compiled,
            "AgentPageSessionsPaginationQuery",
            id=agent_id,
            cursor=agent["sessions"]["pageInfo"]["endCursor"],
        )
    )["node"]
    assert (more["__typename"], more["id"]) == ("Agent", agent_id)
    by_hand = await gateway.query(
        "query($id: ID!) { agent(id: $id) { sessions(first: 20) { edges { node { id } } } } }",
        id=agent_id,
    )
    assert ids(agent["sessions"]) + ids(more["sessions"]) == ids(
        by_hand["data"]["agent"]["sessions"]
    )
    agents = {
        e["node"]["agent"]["id"] for e in agent["sessions"]["edges"] + more["sessions"]["edges"]
    }
    assert agents == {agent_id}
