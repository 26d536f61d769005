"""What tests/graph/test_fuzz.py throws at the app, and how it judges each answer.

- `Fuzzed`: the app with keys of every role in two tenants, its index on SQLite and synced once,
  and `send`, which checks every answer (`problems`) and tallies it.
- `lift_arguments`: a generated document with its literal arguments moved into variables, so
  the same operations also reach the server through variable coercion (and can carry values a
  literal could not, e.g. an Int past 32 bits).
- Strategies for the malformed inputs: node ids, cursors, dates, keys, bodies. Real ids and
  cursors are read from the running app first (`Material`) and then broken.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import graphql
import httpx
from hypothesis import strategies as st

from graph.app import create_app
from graph.auth import ApiKey, AuthPolicy, digest
from graph.settings import load_settings
from resolvers.principal import Role
from resolvers.sources import Sources, build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.support import FakeClock

__all__ = [
    "ACCEPTS",
    "KEYS",
    "Fuzzed",
    "Material",
    "Sent",
    "authorizations",
    "bodies",
    "cursors",
    "date_texts",
    "error_codes",
    "fuzzed_app",
    "lift_arguments",
    "material",
    "node_ids",
    "problems",
    "representation_nodes",
    "representations",
    "values_for",
]

SIZE = 20  # sessions per vendor and tenant: every path runs, and each query stays cheap
MAX_BODY_BYTES = 64 * 1024  # small, so a "huge" body is refused without building megabytes
# The key of each role of the default tenant, and another tenant's (ids and cursors minted for
# one tenant are refused for the other).
KEYS: dict[str, tuple[str, Role]] = {
    "fuzz-viewer-key": ("default", Role.VIEWER),
    "fuzz-reviewer-key": ("default", Role.REVIEWER),
    "fuzz-admin-key": ("default", Role.ADMIN),
    "fuzz-acme-key": ("acme", Role.ADMIN),
}
ACCEPTS = ("", "application/json", "application/graphql-response+json", "*/*")


@dataclass(frozen=True)
class Sent:
    """One request as the fuzzer builds it (httpx options beside method and path)."""

    method: str
    options: Mapping[str, Any]
    kind: str  # what it tests, for the tally


def problems(method: str, response: httpx.Response) -> list[str]:
    """What is wrong with one answer; empty when it is an answer a client can read: under 500,
    no INTERNAL_SERVER_ERROR, no traceback, JSON (the GraphiQL page aside), 401s that say
    UNAUTHENTICATED."""
    found: list[str] = []
    status = response.status_code
    if status >= 500:
        found.append(f"HTTP {status}")
    text = response.text
    unescaped = text.replace('\\"', '"')  # a traceback inside a JSON string has its quotes escaped
    for marker in ("Traceback", 'File "'):
        if marker in unescaped:
            found.append(f"{marker!r} in the body")
    if method == "GET" and response.headers.get("content-type", "").startswith("text/html"):
        return found  # the GraphiQL page
    try:
        body = response.json()
    except ValueError:
        return [*found, f"not JSON: {text[:200]!r}"]
    if not isinstance(body, dict) or not ({"data", "errors"} & set(body)):
        return [*found, f"not a GraphQL response: {text[:200]!r}"]
    codes = error_codes(body)
    if "INTERNAL_SERVER_ERROR" in codes:
        found.append("INTERNAL_SERVER_ERROR")
    if None in codes:
        found.append("an error without extensions.code")
    if status == 401 and codes != ["UNAUTHENTICATED"]:
        found.append(f"401 with {codes}")
    if status >= 400 and not codes:
        found.append(f"HTTP {status} without an error")
    return found


def error_codes(body: Any) -> list[Any]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [(error.get("extensions") or {}).get("code") for error in errors or ()]


@dataclass
class Fuzzed:
    """The running app and what was sent to it."""

    client: httpx.AsyncClient
    sources: dict[str, Sources]
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # of the errors in the answers
    failures: list[str] = field(default_factory=list)

    async def send(self, sent: Sent) -> httpx.Response:
        response = await self.client.request(sent.method, "/graphql", **sent.options)
        self.statuses[response.status_code] += 1
        self.kinds[sent.kind] += 1
        found = problems(sent.method, response)
        if response.headers.get("content-type", "").endswith("json"):
            self.codes.update(str(code) for code in error_codes(response.json()))
        if found:
            self.failures.append(
                f"{found}: {sent.method} {dict(sent.options)!r:.2000} → {response.text[:500]}"
            )
        return response

    async def ask(self, query: str, key: str = "fuzz-admin-key", **variables: Any) -> Any:
        """A well-formed request whose answer the fuzzer reads (ids, cursors)."""
        answer = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]


@asynccontextmanager
async def fuzzed_app(tmp_path: Path) -> AsyncIterator[Fuzzed]:
    """Two tenants over simulators with different data (no vendor latency, no rate limit),
    one SQLite index synced once for each, keys of every role."""
    clock = FakeClock(ANCHOR)
    sources = {
        tenant: demo_sources(
            simulators=build_simulators(size=SIZE, seed=seed, anchor=ANCHOR, clock=clock),
            clock=clock,
            tenant=tenant,
            rate_limit_per_min=0,
        )
        for tenant, seed in (("default", 1), ("acme", 2))
    }
    settings = load_settings(
        {
            "SESSIONGRAPH_CURSOR_SECRET": "fuzz",
            "SESSIONGRAPH_INDEX_URL": f"sqlite:///{tmp_path}/index.db",
            "SESSIONGRAPH_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            # No limits per key: thousands of requests a minute are the point here.
            "SESSIONGRAPH_KEY_REQUESTS_PER_MIN": "0",
            "SESSIONGRAPH_KEY_COST_PER_MIN": "0",
        }
    )
    keys = {
        digest(key): ApiKey(key.removesuffix("-key"), digest(key), tenant, role)
        for key, (tenant, role) in KEYS.items()
    }
    settings = replace(settings, auth=AuthPolicy(required=True, keys=keys))
    app = create_app(settings, sources=sources, start_sync=False)
    async with app.router.lifespan_context(app):
        for opened in sources.values():
            assert opened.index is not None, opened.index_error
            await opened.index.syncer.run_once()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Fuzzed(client, sources)


# --- Generated operations ------------------------------------------------------------------------


def lift_arguments(
    document: graphql.DocumentNode, schema: graphql.GraphQLSchema
) -> tuple[graphql.DocumentNode, dict[str, Any]]:
    """`document` with every argument whose type is known (all of them, in a valid document)
    given as a variable `$aN` of the argument's type, and the variables' values: the literals
    as JSON (enum values by name)."""
    type_info = graphql.TypeInfo(schema)
    definitions: list[graphql.VariableDefinitionNode] = []
    variables: dict[str, Any] = {}

    class Lift(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
            argument = type_info.get_argument()
            if argument is None or isinstance(node.value, graphql.VariableNode):
                return None
            name = f"a{len(definitions)}"
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            definitions.append(
                graphql.VariableDefinitionNode(
                    variable=variable,
                    type=graphql.parse_type(str(argument.type)),
                    directives=(),
                )
            )
            variables[name] = graphql.value_from_ast_untyped(node.value)
            return graphql.ArgumentNode(name=node.name, value=variable)

    lifted = graphql.visit(document, graphql.TypeInfoVisitor(type_info, Lift()))
    operations = [
        graphql.OperationDefinitionNode(
            operation=op.operation,
            name=op.name,
            variable_definitions=(*op.variable_definitions, *definitions),
            directives=op.directives,
            selection_set=op.selection_set,
        )
        if isinstance(op, graphql.OperationDefinitionNode)
        else op
        for op in lifted.definitions
    ]
    return graphql.DocumentNode(definitions=tuple(operations)), variables


# --- Real material, then broken ------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """Ids and cursors the running app minted: the malformed ones are made from these."""

    session_ids: Sequence[str]
    agent_ids: Sequence[str]
    cursors: Sequence[str]  # of the unfiltered session list, two pages and both orders
    filtered_cursors: Sequence[str]  # of `{providers: [VONAGE]}`: another filter's
    agent_cursors: Sequence[str]
    acme_ids: Sequence[str]  # another tenant's
    acme_cursors: Sequence[str]


PAGE = """query($f: SessionFilter, $after: String, $o: SessionOrder) {
  sessions(first: 8, filter: $f, after: $after, orderBy: $o) {
    edges { cursor node { id agent { id } } }
  }
}"""
AGENTS = "{ agents(first: 6) { edges { cursor node { id } } } }"


async def material(fuzzed: Fuzzed) -> Material:
    def page(data: Any) -> list[dict[str, Any]]:
        edges: list[dict[str, Any]] = data["sessions"]["edges"]
        assert edges, data
        return edges

    everything = page(await fuzzed.ask(PAGE))
    everything += page(await fuzzed.ask(PAGE, after=everything[-1]["cursor"]))  # a page on
    everything += page(await fuzzed.ask(PAGE, o="OLDEST_FIRST"))
    vonage = page(await fuzzed.ask(PAGE, f={"providers": ["VONAGE"]}))
    agents = (await fuzzed.ask(AGENTS))["agents"]["edges"]
    acme = page(await fuzzed.ask(PAGE, key="fuzz-acme-key"))
    return Material(
        session_ids=[e["node"]["id"] for e in everything],
        agent_ids=[e["node"]["agent"]["id"] for e in everything if e["node"]["agent"]],
        cursors=[e["cursor"] for e in everything],
        filtered_cursors=[e["cursor"] for e in vonage],
        agent_cursors=[e["cursor"] for e in agents],
        acme_ids=[e["node"]["id"] for e in acme],
        acme_cursors=[e["cursor"] for e in acme],
    )


def _b64(data: bytes, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


_PROVIDER_NAMES = st.sampled_from(["vonage", "samsara", "stateset", "vectara", "VONAGE", "", "x"])
_ID_PART = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["../admin", "a b", "a,b", "%00", "\x00", "~", "|~", "é", "a" * 300, "-"]),
)


def node_ids(found: Material) -> st.SearchStrategy[str]:
    """Relay ids a client could forge: base64 of random text, other type names, `|`-joined
    parts with bad characters, too many or too few parts, very long, edited real ones."""
    parts = st.lists(st.one_of(_PROVIDER_NAMES, _ID_PART), min_size=0, max_size=7).map("|".join)
    type_names = st.sampled_from(["Session", "Agent", "Node", "Query", "session", "", "Invoice"])
    real = st.sampled_from([*found.session_ids, *found.agent_ids])
    return st.one_of(
        st.text(max_size=40),
        st.binary(max_size=40).map(_b64),
        st.text(max_size=40).map(lambda t: _b64(t.encode())),
        st.tuples(type_names, parts).map(lambda tp: _b64(f"{tp[0]}:{tp[1]}".encode())),
        st.tuples(type_names, st.sampled_from([*found.session_ids, *found.agent_ids])).map(
            lambda tp: _b64(tp[0].encode() + b":" + _unb64(tp[1]).split(b":", 1)[-1])
        ),
        real.map(lambda i: i[:-3]),  # truncated
        real.map(lambda i: i + "AAAA"),
        real.map(lambda i: _b64(_unb64(i) + b"|extra")),
        real.map(lambda i: _b64(_unb64(i).replace(b"|", b"||", 1))),
        real.map(lambda i: _b64(_unb64(i) + b"|~0123456789")),  # another tenant's tag
        st.sampled_from(found.acme_ids),
        st.integers(min_value=1, max_value=20).map(lambda n: _b64(b"Session:" + b"v|" * n * 400)),
        st.just("A" * 30_000),  # long, and still inside the body limit
    )


_TYPENAMES = st.sampled_from(["Session", "Agent", "Node", "Query", ""])


def representations(found: Material) -> st.SearchStrategy[Any]:
    """`_Any` values of `_entities(representations:)`: `{__typename, id}` with real and
    forged ids under the right typename or another, members missing or extra, other JSON."""
    ids = st.one_of(st.sampled_from([*found.session_ids, *found.agent_ids]), node_ids(found))
    members = {"__typename": _TYPENAMES, "id": ids}
    return st.one_of(
        st.fixed_dictionaries(members),
        st.fixed_dictionaries({}, optional={**members, "extra": st.integers()}),
        st.sampled_from([None, 1, "Session", [], {}]),
    )


def representation_nodes() -> st.SearchStrategy[graphql.ValueNode]:
    """The same as literals of a generated document, where no real id is known: ids of this
    API's shape that name nothing (null entities: the answer has data), forged ones."""

    def literal(members: dict[str, str]) -> graphql.ObjectValueNode:
        return graphql.ObjectValueNode(
            fields=tuple(
                graphql.ObjectFieldNode(
                    name=graphql.NameNode(value=name), value=graphql.StringValueNode(value=value)
                )
                for name, value in members.items()
            )
        )

    def unknown(kind: str, provider: str, vendor_id: str) -> dict[str, str]:
        node_id = f"{kind}:{provider}|{vendor_id}" + ("|||" if kind == "Session" else "")
        return {"__typename": kind, "id": _b64(node_id.encode())}

    well_formed = st.builds(
        unknown,
        st.sampled_from(["Session", "Agent"]),
        st.sampled_from(["samsara", "stateset", "vectara", "vonage"]),
        st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    )
    forged = st.tuples(_TYPENAMES, st.text(max_size=30)).map(
        lambda tp: _b64(f"{tp[0]}:{tp[1]}".encode())
    )
    members = {"__typename": _TYPENAMES, "id": st.one_of(forged, st.text(max_size=20))}
    # Mostly well-formed: one refused representation refuses `_entities`, whose non-null
    # list then nulls the whole answer (every other root field of a generated document).
    return st.one_of(
        *[well_formed.map(literal)] * 6,
        st.fixed_dictionaries(members).map(literal),
        st.fixed_dictionaries({}, optional=members).map(literal),
        st.text(max_size=10).map(lambda text: graphql.StringValueNode(value=text)),
    )


def cursors(found: Material) -> st.SearchStrategy[str]:
    """Cursors a client could send: random bytes in base64, real ones as they are, truncated
    or with a byte changed, another filter's, another list's, another tenant's, very long."""
    real = st.sampled_from(found.cursors)

    def flipped(args: tuple[str, int, int]) -> str:
        cursor, at, bit = args
        raw = bytearray(_unb64(cursor.replace("-", "+").replace("_", "/")))
        raw[at % len(raw)] ^= 1 << bit
        return _b64(bytes(raw), urlsafe=True).rstrip("=")

    return st.one_of(
        st.binary(max_size=120).map(lambda b: _b64(b, urlsafe=True)),
        st.binary(max_size=120).map(lambda b: _b64(b, urlsafe=True).rstrip("=")),
        st.text(max_size=60),
        st.tuples(real, st.integers(min_value=0, max_value=80)).map(lambda rc: rc[0][: rc[1]]),
        st.tuples(real, st.integers(min_value=0, max_value=200), st.integers(0, 7)).map(flipped),
        real,  # resumes, with whatever else the query asks
        real.map(lambda c: c + "="),
        real.map(lambda c: c + "A"),
        real.map(lambda c: c.replace("-", "+").replace("_", "/")),
        st.sampled_from([*found.filtered_cursors, *found.agent_cursors, *found.acme_cursors]),
        st.sampled_from([*found.session_ids, *found.agent_ids]),  # an id is not a cursor
        st.just("A" * 30_000),  # long, and still inside the body limit
    )


def date_texts() -> st.SearchStrategy[Any]:
    """DateTime values: invalid ISO strings, out-of-range years, naive and aware, odd
    offsets, and values of other JSON types."""
    aware = st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
    offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
        lambda m: timezone(timedelta(minutes=m))
    )
    return st.one_of(
        aware.map(datetime.isoformat),
        st.datetimes(timezones=offsets).map(datetime.isoformat),
        st.datetimes().map(datetime.isoformat),  # naive
        st.dates().map(lambda d: d.isoformat()),
        st.text(max_size=30),
        st.sampled_from(
            [
                "",
                "0000-01-01T00:00:00Z",
                "10000-01-01T00:00:00Z",
                "-0001-01-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
                "2026-13-01T00:00:00Z",
                "2026-01-01T25:00:00Z",
                "2026-01-01T00:00:00+24:00",
                "2026-01-01T00:00:00+99:99",
                "9999-12-31T23:59:59.999999-23:59",
                "0001-01-01T00:00:00+23:59",
                "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z",
                "2026-11-01",
                "2026-11-01T00:00:00",
                "now",
                "1e10",
                "2026-W01-1T00:00Z",
                "2026-11-01T00:00:00.1234567890Z",
            ]
        ),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.just([]),
        st.just({"at": "2026-01-01T00:00:00Z"}),
    )


def authorizations() -> st.SearchStrategy[bytes | None]:
    """`Authorization` header values, as bytes (httpx sends them as they are): missing, empty,
    other schemes, unknown keys, unicode, control characters, very long, near-misses of real
    keys."""
    real = st.sampled_from(list(KEYS))
    return st.one_of(
        st.none(),
        st.sampled_from([b"", b" ", b"Bearer", b"Bearer ", b"Bearer  ", b"bearer", b"Basic"]),
        real.map(lambda k: f"Basic {k}".encode()),
        real.map(lambda k: f"Token {k}".encode()),
        real.map(lambda k: k.encode()),  # no scheme
        real.map(lambda k: f"Bearer {k} {k}".encode()),
        real.map(lambda k: f"Bearer {k[:-1]}".encode()),
        real.map(lambda k: f"Bearer {k.upper()}".encode()),
        real.map(lambda k: f"Bearer {k}\t".encode()),
        st.text(max_size=40).map(lambda t: f"Bearer {t}".encode()),
        st.text(max_size=40).map(lambda t: t.encode()),
        st.binary(max_size=40).map(
            lambda b: b"Bearer " + b.replace(b"\r", b"").replace(b"\n", b"")
        ),
        st.integers(min_value=500, max_value=20_000).map(lambda n: b"Bearer " + b"k" * n),
        st.just("Bearer clé-ünïcode-🔑".encode()),
    )


def _deep(depth: int) -> str:
    """JSON text of a value nested `depth` objects-in-lists deep (written out: json.dumps
    recurses, and a client's nesting is not bounded by Python's stack)."""
    return '{"v": [' * depth + '"leaf"' + "]}" * depth


def _nested_variables(depth: int) -> bytes:
    query = json.dumps(VARIABLES_QUERY)
    return f'{{"query": {query}, "variables": {{"f": {_deep(depth)}}}}}'.encode()


QUERY = "{ providers { name } }"
VARIABLES_QUERY = (
    "query($f: SessionFilter, $n: Int) { sessions(first: $n, filter: $f) { totalCount } }"
)
# Documents by name (the large ones are built when drawn: a strategy's repr stays short).
DOCUMENTS: dict[str, Any] = {
    "none": lambda: None,
    "empty": lambda: "",
    "blank": lambda: " ",
    "unclosed": lambda: "{",
    "fine": lambda: QUERY,
    "two operations": lambda: "query A { providers { name } } query B { providers { name } }",
    "no such mutation": lambda: "mutation { providers { name } }",
    "subscription": lambda: "subscription { providers { name } }",
    "fragment only": lambda: "fragment F on Query { providers { name } }",
    "introspection": lambda: "{ __schema { types { name } } }",
    "typename": lambda: "{ __typename }",
    "2000 fields": lambda: "{ " + "providers { name } " * 2000 + "}",
    "300 deep": lambda: "{ providers " + "{ name " * 300 + "}" * 301,
    "unused variable": lambda: "query($x: Int) { providers { name } }",
    "sessions": lambda: "{ sessions(first: 1) { edges { node { id } } } }",
    "1000 aliases": lambda: "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }",
}
RAW_BODIES: dict[str, Any] = {
    "empty": lambda: b"",
    "null": lambda: b"null",
    "array": lambda: b"[]",
    "number": lambda: b"1",
    "string": lambda: b'"query"',
    "true": lambda: b"true",
    "batch": lambda: json.dumps([{"query": QUERY}, {"query": QUERY}]).encode(),
    "null query": lambda: b'{"query": null}',
    "trailing comma": lambda: b'{"query": "{ providers { name } }",}',
    "lone surrogate": lambda: b'{"query": "\\ud800"}',
    "not utf-8": lambda: b'{"query": "\xff\xfe"}',
    "BOM": lambda: b"\xef\xbb\xbf" + json.dumps({"query": QUERY}).encode(),
    "two objects": lambda: json.dumps({"query": QUERY}).encode() * 2,
    "100k open brackets": lambda: b"[" * 100_000,
    "2000 nested objects": lambda: b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "duplicate keys": lambda: b'{"query": "{ __typename }", "query": 1}',
}


def bodies() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(method, httpx options) of requests whose body or query string is wrong: invalid JSON,
    invalid UTF-8, wrong or missing content types, huge, deeply nested variables, batches,
    JSON that is not an object, null or non-string queries, wrong member types, operation
    names that match nothing, several operations, an empty document."""
    json_type = {"content-type": "application/json"}

    def post(content: bytes, headers: Mapping[str, str] = json_type) -> tuple[str, dict[str, Any]]:
        return "POST", {"content": content, "headers": dict(headers)}

    documents = st.sampled_from(sorted(DOCUMENTS)).map(lambda name: DOCUMENTS[name]())
    variables = st.one_of(
        st.sampled_from(["null", "[]", '"{}"', "1", '{"f": {"providers": ["NOPE"]}, "n": 1e12}']),
        st.sampled_from(['{"f": {"startedAfter": "yesterday"}}', '{"f": [], "n": "1"}']),
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)).map(json.dumps),
        st.integers(min_value=1, max_value=1200).map(lambda d: '{"f": ' + _deep(d) + "}"),
    )
    members = st.fixed_dictionaries(
        {},
        optional={
            "query": st.one_of(
                documents, st.integers(), st.lists(st.text(max_size=5), max_size=2)
            ).map(json.dumps),
            "variables": variables,
            "operationName": st.one_of(
                st.none(), st.text(max_size=5), st.just(1), st.just("B")
            ).map(json.dumps),
            "extensions": st.sampled_from(["null", "[]", '{"persistedQuery": 1}']),
        },
    )
    encoded = members.map(
        lambda m: ("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in m.items()) + "}").encode()
    )
    content_types = st.sampled_from(
        [
            "",
            "text/plain",
            "application/graphql",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
            "application/jsonx",
            "application/graphql-response+json",
            ";",
        ]
    )
    query_strings = st.fixed_dictionaries(
        {},
        optional={
            "query": st.one_of(documents.map(lambda d: d or ""), st.text(max_size=20)),
            "variables": st.sampled_from(["", "{", "[]", "1", "null", '{"n": 1}', "%zz"]),
            "operationName": st.text(max_size=5),
            "extensions": st.sampled_from(["", "{", "[]"]),
        },
    )
    return st.one_of(
        encoded.map(post),
        st.tuples(encoded, content_types).map(lambda bc: post(bc[0], {"content-type": bc[1]})),
        st.binary(max_size=200).map(post),  # mostly invalid JSON, some invalid UTF-8
        st.sampled_from(sorted(RAW_BODIES)).map(lambda name: post(RAW_BODIES[name]())),
        st.integers(min_value=MAX_BODY_BYTES - 64, max_value=MAX_BODY_BYTES * 2).map(
            lambda n: post(json.dumps({"query": QUERY, "variables": {"p": "x" * n}}).encode())
        ),
        st.integers(min_value=1, max_value=1200).map(lambda d: post(_nested_variables(d))),
        query_strings.map(lambda params: ("GET", {"params": params})),
        st.sampled_from(["PUT", "DELETE", "PATCH"]).map(lambda m: (m, {"json": {"query": QUERY}})),
    )


# --- Random variables ----------------------------------------------------------------------------


def values_for(type_: graphql.GraphQLInputType, found: Material) -> st.SearchStrategy[Any]:
    """Random JSON for a variable of `type_`: mostly of its type, the malformed inputs above
    for ids, cursors (every String here is one or a text filter) and dates, Ints past 32 bits,
    unknown enum values, and now and then null or a value of another type."""
    nullable = not isinstance(type_, graphql.GraphQLNonNull)
    inner = graphql.get_nullable_type(type_)
    if isinstance(inner, graphql.GraphQLList):
        item = values_for(inner.of_type, found)
        typed = st.one_of(st.lists(item, max_size=4), item)  # one value is coerced to a list
    elif isinstance(inner, graphql.GraphQLInputObjectType):
        members = {name: values_for(f.type, found) for name, f in inner.fields.items()}
        typed = st.fixed_dictionaries({}, optional=members)
    elif isinstance(inner, graphql.GraphQLEnumType):
        typed = st.sampled_from([*inner.values, "NOPE", "vonage"])
    else:
        typed = _SCALARS.get(inner.name, lambda _: st.text(max_size=20))(found)
    odd: st.SearchStrategy[Any] = st.sampled_from([None, 0, "", [], {}, True])
    if not nullable:
        odd = odd.filter(lambda v: v is not None) | st.none()  # null for non-null: refused
    return st.one_of(typed, typed, typed, odd)


_SCALARS: dict[str, Any] = {
    "ID": lambda found: st.one_of(
        st.sampled_from([*found.session_ids, *found.agent_ids]), node_ids(found)
    ),
    "String": lambda found: st.one_of(cursors(found), st.text(max_size=20)),
    "Int": lambda _: st.one_of(st.integers(min_value=-5, max_value=120), st.integers()),
    "Float": lambda _: st.floats(allow_nan=False, allow_infinity=False),
    "Boolean": lambda _: st.one_of(st.booleans(), st.just("true")),
    "DateTime": lambda _: date_texts(),
    "_Any": representations,
    "JSON": lambda _: st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3),
        max_leaves=8,
    ),
}
