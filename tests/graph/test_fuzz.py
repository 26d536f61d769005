"""The running app under generated and malformed requests: every answer is one a client can
read, never a 5xx, an INTERNAL_SERVER_ERROR or a traceback (tests/graph/fuzzing.py says what
is checked and what is thrown).

Generated operations come from hypothesis-graphql over the schema (every root field, queries
and mutations when there are any, valid documents and documents with one schema violation),
sent as POST or GET, with their arguments as drawn (literals), the same lifted into
variables, or variables given random values (malformed ids, cursors and dates among them),
each with a random key of a random role, and a random Accept. Drawing is derandomized with no
example database: every run sends the same requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from graph.schema import schema
from tests.graph.fuzzing import (
    ACCEPTS,
    KEYS,
    Fuzzed,
    Material,
    Sent,
    authorizations,
    bodies,
    cursors,
    date_texts,
    fuzzed_app,
    lift_arguments,
    material,
    node_ids,
    problems,
    representation_nodes,
    values_for,
)

GENERATED = 10_000
# The generated operations come in disjoint shards, one test file each (`make test` runs them
# on separate cores): shard i draws from every SHARDS-th root field, shard 0 also the
# documents with a schema violation, so no operation can be drawn by two shards.
SHARDS = 2
MALFORMED = 500  # of each kind: ids, cursors, dates, keys, bodies

_VALID_DATES = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
).map(datetime.isoformat)
_DATE_NODES = st.one_of(
    _VALID_DATES, _VALID_DATES, date_texts().filter(lambda v: isinstance(v, str))
).map(lambda text: graphql.StringValueNode(value=text))


def _keep(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return document


def operations(
    graphql_schema: graphql.GraphQLSchema, shard: int
) -> st.SearchStrategy[graphql.DocumentNode]:
    """One root field per document (smaller documents draw several times faster than ones
    over every root at once), this shard's roots only, and in shard 0 now and then a
    document with one schema violation."""
    roots = [*graphql_schema.query_type.fields]  # type: ignore[union-attr]
    if graphql_schema.mutation_type is not None:
        roots += [*graphql_schema.mutation_type.fields]
    roots = roots[shard::SHARDS]
    options: dict[str, Any] = {
        "custom_scalars": {"DateTime": _DATE_NODES, "_Any": representation_nodes()},
        "allow_x00": False,
        "print_ast": _keep,
    }
    valid = [from_schema(graphql_schema, fields=[root], **options) for root in roots]
    if shard == 0:
        valid.append(from_schema(graphql_schema, mode=Mode.NEGATIVE, **options))
    return st.one_of(*valid)


def draw(
    strategy: st.SearchStrategy[Sent],
    count: int,
    identity: Callable[[Sent], Hashable] = lambda sent: repr(sent.options),
    spare: float = 1.0,
) -> list[Sent]:
    """The first `count` requests of `strategy` that differ by `identity`, the same ones at
    every run (hypothesis runs synchronously: the requests are drawn first, then sent).
    Hypothesis repeats itself now and then: `spare` more are drawn (a fraction of `count`)."""
    found: dict[Hashable, Sent] = {}

    @settings(
        max_examples=round(count * (1 + spare)),
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(sent: Sent) -> None:
        found.setdefault(identity(sent), sent)

    collect()
    return list(found.values())[:count]


def operation_of(sent: Sent) -> tuple[str, str]:
    """What the server is asked to run: the document and the variables, as sent."""
    member = sent.options.get("json") or sent.options.get("params") or {}
    text = member.get("query") if isinstance(member, dict) else None
    if text is None:  # a raw body
        return repr(sent.options), ""
    variables = member.get("variables")
    return str(text), variables if isinstance(variables, str) else json.dumps(variables)


def bearer(key: str, accept: str = "") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if accept:
        headers["Accept"] = accept
    return headers


def request_of(
    text: str, variables: dict[str, Any], key: str, method: str, accept: str, kind: str
) -> Sent:
    headers = bearer(key, accept)
    encoded = json.dumps(variables) if variables else ""
    # httpx refuses URLs past 64 KB (so would most servers, with 414): those go as POST.
    if method == "GET" and len(text) + len(encoded) < 20_000:
        params = {"query": text, **({"variables": encoded} if encoded else {})}
        return Sent("GET", {"params": params, "headers": headers}, kind)
    return Sent("POST", {"json": {"query": text, "variables": variables}, "headers": headers}, kind)


def generated_requests(found: Material, shard: int) -> st.SearchStrategy[Sent]:
    graphql_schema = schema._schema
    documents = operations(graphql_schema, shard)
    values: dict[str, st.SearchStrategy[Any]] = {}  # by variable type: built once, drawn often

    def value_of(type_node: graphql.TypeNode) -> st.SearchStrategy[Any]:
        spelled = graphql.print_ast(type_node)
        if spelled not in values:
            type_ = graphql.type_from_ast(graphql_schema, type_node)
            values[spelled] = values_for(type_, found)  # type: ignore[arg-type]
        return values[spelled]

    @st.composite
    def requests(draw_: Callable[[st.SearchStrategy[Any]], Any]) -> Sent:
        document, key, method, accept, how = draw_(
            st.tuples(
                documents,
                st.sampled_from(list(KEYS)),
                st.sampled_from(["POST", "POST", "POST", "GET"]),
                st.sampled_from(ACCEPTS),
                st.sampled_from(["literal", "lifted", "random"]),
            )
        )
        variables: dict[str, Any] = {}
        if how != "literal":
            document, variables = lift_arguments(document, graphql_schema)
        if how == "random":
            definitions = document.definitions[0].variable_definitions  # type: ignore[attr-defined]
            for definition in definitions:
                variables[definition.variable.name.value] = draw_(value_of(definition.type))
        return request_of(graphql.print_ast(document), variables, key, method, accept, how)

    return requests()


@pytest.fixture
def no_tracebacks_logged(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The log lines that carried a traceback (an exception the app did not expect)."""
    caplog.set_level(logging.WARNING)
    return lambda: [r.getMessage() for r in caplog.records if r.exc_info]


def verdict(fuzzed: Fuzzed, logged: list[str]) -> None:
    assert fuzzed.failures == [], "\n".join(fuzzed.failures[:20])
    assert logged == [], logged[:5]
    assert all(status < 500 for status in fuzzed.statuses), fuzzed.statuses


async def generated_shard(shard: int, tmp_path: Path, logged: Callable[[], list[str]]) -> None:
    """One shard of the generated operations, sent to the running app and checked."""
    count = GENERATED // SHARDS  # the shards' operations are disjoint: GENERATED in all
    async with fuzzed_app(tmp_path) as fuzzed:
        # A fifth of the draws repeat an operation (more as the schema grows root fields with
        # few arguments): a third more are drawn.
        sent = draw(generated_requests(await material(fuzzed), shard), count, operation_of, 0.35)
        answered = 0
        for request in sent:
            response = await fuzzed.send(request)
            answered += response.status_code == 200 and bool(response.json().get("data"))
        verdict(fuzzed, logged())
    assert sum(fuzzed.kinds.values()) == len(sent) >= count
    assert len({operation_of(request) for request in sent}) == len(sent)  # all different
    assert min(fuzzed.kinds[how] for how in ("literal", "lifted", "random")) > count // 10
    # Not only refusals: the operations ran, and answered with data (a fifth at least: a
    # shard's roots may refuse most keys and ids, e.g. auditRecords, nodes and agent in shard 1,
    # which answers 1,094 of its 5,000 with data).
    assert answered > count // 5, (answered, fuzzed.statuses)
    print(
        f"\n{len(sent)} generated: {dict(fuzzed.statuses)} {dict(fuzzed.kinds)},"
        f" {answered} with data"
    )


async def test_generated_operations_never_fail_the_server(
    tmp_path: Path, no_tracebacks_logged: Callable[[], list[str]]
) -> None:
    """Shard 0. Shard 1 is tests/graph/test_fuzz_shard_1.py: a file of its own, so that
    `make test` (whole files per worker) runs the two on separate cores."""
    await generated_shard(0, tmp_path, no_tracebacks_logged)


# --- Malformed inputs ----------------------------------------------------------------------------

ID_QUERIES = (
    "query($v: ID!) { node(id: $v) { id ... on Session { provider transcript { text } } } }",
    "query($v: ID!) { session(id: $v) { id startedAt toolCalls { name } } }",
    "query($v: ID!) { agent(id: $v) { id name sessions(first: 2) { nodes { id } } } }",
    "query($v: [ID!]!) { nodes(ids: $v) { id ... on Agent { name } } }",
    "query($v: [String!]) { sessions(first: 3, filter: {agentIds: $v}) { nodes { id } } }",
)
CURSOR_QUERIES = (
    "query($v: String) { sessions(first: 3, after: $v) { edges { cursor } } }",
    "query($v: String) { sessions(last: 3, before: $v) { edges { cursor } } }",
    "query($v: String) { sessions(first: 3, after: $v, filter: {providers: [VONAGE]})"
    " { edges { cursor } } }",
    "query($v: String) { sessions(first: 3, after: $v, orderBy: OLDEST_FIRST) { totalCount } }",
    "query($v: String) { agents(first: 3, after: $v) { edges { cursor } } }",
)
DATE_QUERIES = (
    "query($v: DateTime) { sessions(first: 3, filter: {startedAfter: $v}) { nodes { id } } }",
    "query($v: DateTime) { sessions(first: 3, filter: {startedBefore: $v}) { totalCount } }",
    "query($v: DateTime, $w: DateTime) { sessions(last: 2, filter: {startedAfter: $v,"
    " startedBefore: $w}) { nodes { startedAt } } }",
)


def malformed_values(
    queries: tuple[str, ...], values: st.SearchStrategy[Any], kind: str
) -> st.SearchStrategy[Sent]:
    """Each value in one of `queries`: as a variable (POST or GET), or written into the
    document as a literal; a list-typed variable gets a list of values."""

    def build(args: tuple[str, Any, Any, str, str, str, str]) -> Sent:
        query, value, other, key, method, how, accept = args
        if "[" in query.split("{")[0]:
            value = [value, other]
        variables = {"v": value, **({"w": other} if "$w" in query else {})}
        if how == "literal" and isinstance(value, str) and "$w" not in query:
            # `query($v: T) { … $v … }` → `{ … "value" … }` (JSON's escapes are GraphQL's)
            query = "{" + query.partition("{")[2].replace("$v", json.dumps(value))
            variables = {}
        return request_of(query, variables, key, method, accept, kind)

    return st.tuples(
        st.sampled_from(queries),
        values,
        values,
        st.sampled_from(list(KEYS)),
        st.sampled_from(["POST", "GET"]),
        st.sampled_from(["variable", "literal"]),
        st.sampled_from(ACCEPTS),
    ).map(build)


async def run_malformed(
    tmp_path: Path,
    logged: Callable[[], list[str]],
    requests: Callable[[Material], st.SearchStrategy[Sent]],
) -> Fuzzed:
    async with fuzzed_app(tmp_path) as fuzzed:
        sent = draw(requests(await material(fuzzed)), MALFORMED)
        for request in sent:
            await fuzzed.send(request)
        verdict(fuzzed, logged())
    assert sum(fuzzed.kinds.values()) == len(sent) >= MALFORMED
    print(f"\n{len(sent)} {next(iter(fuzzed.kinds))}: {dict(fuzzed.statuses)} {dict(fuzzed.codes)}")
    return fuzzed


async def test_malformed_node_ids_are_refused_cleanly(
    tmp_path: Path, no_tracebacks_logged: Callable[[], list[str]]
) -> None:
    fuzzed = await run_malformed(
        tmp_path,
        no_tracebacks_logged,
        lambda found: malformed_values(ID_QUERIES, node_ids(found), "ids"),
    )
    # Most are malformed (some drawn values are fine): refused as the client's mistake.
    assert fuzzed.codes["BAD_USER_INPUT"] > MALFORMED // 2, fuzzed.codes


async def test_malformed_cursors_are_refused_cleanly(
    tmp_path: Path, no_tracebacks_logged: Callable[[], list[str]]
) -> None:
    fuzzed = await run_malformed(
        tmp_path,
        no_tracebacks_logged,
        lambda found: malformed_values(CURSOR_QUERIES, cursors(found), "cursors"),
    )
    # Most are malformed (some drawn values are fine): refused as the client's mistake.
    assert fuzzed.codes["BAD_USER_INPUT"] > MALFORMED // 2, fuzzed.codes


async def test_malformed_dates_are_refused_cleanly(
    tmp_path: Path, no_tracebacks_logged: Callable[[], list[str]]
) -> None:
    fuzzed = await run_malformed(
        tmp_path,
        no_tracebacks_logged,
        lambda found: malformed_values(DATE_QUERIES, date_texts(), "dates"),
    )
    # Most are malformed (some drawn values are fine): refused as the client's mistake.
    assert fuzzed.codes["BAD_USER_INPUT"] > MALFORMED // 2, fuzzed.codes


def keyed_requests(_: Material) -> st.SearchStrategy[Sent]:
    def build(args: tuple[bytes | None, str, str]) -> Sent:
        authorization, method, accept = args
        headers: dict[str, Any] = {} if authorization is None else {"Authorization": authorization}
        if accept:
            headers["Accept"] = accept
        if method == "GET":
            params = {"query": "{ providers { name } }"}
            return Sent("GET", {"params": params, "headers": headers}, "keys")
        body = {"query": CURSOR_QUERIES[0], "variables": {"v": None}}
        return Sent("POST", {"json": body, "headers": headers}, "keys")

    return st.tuples(
        authorizations(),
        st.sampled_from(["POST", "GET"]),
        st.sampled_from([*ACCEPTS, "text/html"]),
    ).map(build)


async def test_malformed_keys_are_401_unauthenticated(
    tmp_path: Path, no_tracebacks_logged: Callable[[], list[str]]
) -> None:
    fuzzed = await run_malformed(tmp_path, no_tracebacks_logged, keyed_requests)
    # Most of them name no key at all: 401 (the checks above: with UNAUTHENTICATED).
    assert fuzzed.statuses[401] > MALFORMED // 2, fuzzed.statuses
    assert set(fuzzed.statuses) <= {200, 401}, fuzzed.statuses


def body_requests(_: Material) -> st.SearchStrategy[Sent]:
    def build(args: tuple[tuple[str, dict[str, Any]], str]) -> Sent:
        (method, options), key = args
        headers = {**options.get("headers", {}), "Authorization": f"Bearer {key}"}
        return Sent(method, {**options, "headers": headers}, "bodies")

    return st.tuples(bodies(), st.sampled_from(list(KEYS))).map(build)


async def test_malformed_bodies_are_refused_cleanly(
    tmp_path: Path, no_tracebacks_logged: Callable[[], list[str]]
) -> None:
    fuzzed = await run_malformed(tmp_path, no_tracebacks_logged, body_requests)
    assert {400, 413} <= set(fuzzed.statuses), fuzzed.statuses  # refused, and for each reason


def answer(status: int, body: bytes, content_type: str = "application/json") -> Any:
    return httpx.Response(status, content=body, headers={"content-type": content_type})


def test_the_checks_find_what_they_look_for() -> None:
    """The verdict on one answer can disagree: each kind of failure is named."""
    fine = b'{"data": null, "errors": [{"message": "m", "extensions": {"code": "BAD_USER_INPUT"}}]}'
    assert problems("POST", answer(200, fine)) == []
    assert problems("GET", answer(200, b"<html>graphiql</html>", "text/html")) == []
    internal = fine.replace(b"BAD_USER_INPUT", b"INTERNAL_SERVER_ERROR")
    assert problems("POST", answer(200, internal)) == ["INTERNAL_SERVER_ERROR"]
    assert problems("POST", answer(502, fine)) == ["HTTP 502"]
    traceback = fine.replace(b'"m"', b'"Traceback (most recent call last): File \\"x.py\\""')
    assert problems("POST", answer(200, traceback)) == [
        "'Traceback' in the body",
        "'File \"' in the body",
    ]
    assert problems("POST", answer(400, b"Bad request", "text/plain"))[0].startswith("not JSON")
    assert problems("POST", answer(200, b"[1]"))[0].startswith("not a GraphQL response")
    assert problems("POST", answer(401, fine)) == ["401 with ['BAD_USER_INPUT']"]
    assert problems("POST", answer(400, b'{"errors": [{"message": "m"}]}')) == [
        "an error without extensions.code"
    ]
    assert problems("POST", answer(400, b'{"data": {}}')) == ["HTTP 400 without an error"]
