"""Persisted queries (graph/persisted.py): Apollo's APQ protocol over POST and GET, and a
safelist read at start-up from a manifest or a directory of .graphql files.

Hashes are computed here, with hashlib, from the texts the tests send: never by the code under
test. What a query answers comes from the test's statement (the four vendors, in order)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.http import GraphQLRequestData

from graph.app import create_app
from graph.over_http import RequestRefused
from graph.persisted import ApqStore, PersistedConfig, PersistedQueries
from graph.serving import serve
from graph.settings import ConfigError, Settings, load_settings
from resolvers.sources import build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.support import FakeClock

QUERY = "{ providers { name } }"
VENDORS = {"providers": [{"name": n} for n in ("SAMSARA", "STATESET", "VECTARA", "VONAGE")]}
OTHER = "{ providers { name enabled } }"
STRICT = {"Accept": "application/graphql-response+json"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha(text)}}


def settings(**env: str) -> Settings:
    return load_settings({"SESSIONGRAPH_INDEX_URL": "off", **env})


async def ask(settings: Settings, *requests: tuple[str, dict[str, Any]]) -> list[httpx.Response]:
    """Each (method, httpx options) asked of /graphql on one demo app, in order."""
    sources = demo_sources(
        simulators=build_simulators(size=5, anchor=ANCHOR, clock=FakeClock(ANCHOR))
    )
    app = create_app(settings, sources=sources)
    answers = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for method, options in requests:
                answers.append(await client.request(method, "/graphql", **options))
    return answers


def refused(answer: httpx.Response, status: int, code: str) -> str:
    """The message of a refusal with `status` and `code`, and nothing run."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"errors"}, body
    assert body["errors"][0]["extensions"]["code"] == code
    return str(body["errors"][0]["message"])


# APQ


async def test_apq_round_trip_hash_alone_unknown_then_with_text_then_known() -> None:
    first, second, third, plain = await ask(
        settings(),
        ("POST", {"json": {"extensions": persisted(QUERY)}}),
        ("POST", {"json": {"query": QUERY, "extensions": persisted(QUERY)}}),
        ("POST", {"json": {"extensions": persisted(QUERY)}}),
        ("POST", {"json": {"query": QUERY}}),
    )
    # Apollo's answer word for word, HTTP 200: its clients resend with the text on it.
    assert refused(first, 200, "PERSISTED_QUERY_NOT_FOUND") == "PersistedQueryNotFound"
    assert "no-cache" in first.headers["cache-control"]
    for answer in (second, third, plain):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == VENDORS


async def test_apq_not_found_is_200_with_the_graphql_response_media_type_too() -> None:
    (answer,) = await ask(
        settings(), ("POST", {"json": {"extensions": persisted(QUERY)}, "headers": STRICT})
    )
    refused(answer, 200, "PERSISTED_QUERY_NOT_FOUND")


async def test_apq_over_get_as_apollo_client_sends_it() -> None:
    # Apollo Client sends hashed GETs with `Accept: */*`: the answer is JSON, not GraphiQL.
    accept_any = {"Accept": "*/*"}
    hash_only = {"extensions": json.dumps(persisted(QUERY))}
    with_text = {**hash_only, "query": QUERY}
    first, second, third = await ask(
        settings(),
        ("GET", {"params": hash_only, "headers": accept_any}),
        ("GET", {"params": with_text, "headers": accept_any}),
        ("GET", {"params": hash_only, "headers": accept_any}),
    )
    assert refused(first, 200, "PERSISTED_QUERY_NOT_FOUND") == "PersistedQueryNotFound"
    for answer in (second, third):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == VENDORS


async def test_a_hash_that_is_not_the_texts_is_refused_and_nothing_is_stored() -> None:
    lying = {"query": QUERY, "extensions": persisted(OTHER)}
    mismatch, later = await ask(
        settings(),
        ("POST", {"json": lying}),
        ("POST", {"json": {"extensions": persisted(OTHER)}}),
    )
    assert "does not match" in refused(mismatch, 400, "PERSISTED_QUERY_HASH_MISMATCH")
    refused(later, 200, "PERSISTED_QUERY_NOT_FOUND")


@pytest.mark.parametrize(
    ("extension", "said"),
    [
        ({"version": 2, "sha256Hash": sha(QUERY)}, "Unsupported persisted query version"),
        ({"version": "1", "sha256Hash": sha(QUERY)}, "Unsupported persisted query version"),
        ({"version": True, "sha256Hash": sha(QUERY)}, "Unsupported persisted query version"),
        ({"sha256Hash": sha(QUERY)}, "Unsupported persisted query version"),
        ({"version": 1, "sha256Hash": "abc"}, "64 hex digits"),
        ({"version": 1, "sha256Hash": sha(QUERY)[:-1] + "g"}, "64 hex digits"),
        ({"version": 1}, "64 hex digits"),
        ("yes", "must be {"),
    ],
    ids=["v2", "v-string", "v-bool", "no-version", "short", "not-hex", "no-hash", "not-object"],
)
async def test_a_malformed_persisted_query_extension_is_a_400_bad_request(
    extension: object, said: str
) -> None:
    extensions = {"persistedQuery": extension}
    with_text, alone = await ask(
        settings(),
        ("POST", {"json": {"query": QUERY, "extensions": extensions}}),
        ("POST", {"json": {"extensions": extensions}}),
    )
    for answer in (with_text, alone):
        assert said in refused(answer, 400, "BAD_REQUEST")


async def test_an_upper_case_hash_names_the_same_text() -> None:
    upper = {"persistedQuery": {"version": 1, "sha256Hash": sha(QUERY).upper()}}
    stored, found = await ask(
        settings(),
        ("POST", {"json": {"query": QUERY, "extensions": upper}}),
        ("POST", {"json": {"extensions": persisted(QUERY)}}),
    )
    assert stored.json()["data"] == found.json()["data"] == VENDORS


async def test_off_mode_says_not_supported_and_runs_plain_queries() -> None:
    hashed, with_text, plain = await ask(
        settings(SESSIONGRAPH_PERSISTED_QUERIES="off"),
        ("POST", {"json": {"extensions": persisted(QUERY)}}),
        ("POST", {"json": {"query": QUERY, "extensions": persisted(QUERY)}}),
        ("POST", {"json": {"query": QUERY}}),
    )
    # Apollo Client stops sending hashes on this answer (and resends the text).
    for answer in (hashed, with_text):
        assert refused(answer, 200, "PERSISTED_QUERY_NOT_SUPPORTED") == "PersistedQueryNotSupported"
    assert plain.json()["data"] == VENDORS


async def test_a_text_found_by_hash_reuses_the_parsed_document_of_the_same_text() -> None:
    # The parser cache (and through its document, the validation cache and graph.fastpath's
    # shared plans) keys on the text: a hash resolves to an equal text, so it hits.
    text = "{ providers { name mode } }  # a text no other test sends: its first parse is here"
    parse_cache = _get_parse_cache(256)
    before = parse_cache.cache_info()
    await ask(
        settings(),
        ("POST", {"json": {"query": text, "extensions": persisted(text)}}),
        ("POST", {"json": {"extensions": persisted(text)}}),
    )
    after = parse_cache.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


def test_the_store_is_bounded_in_characters_least_recently_used_first_out() -> None:
    store = ApqStore(max_chars=25)
    store.put("t", "a", "a" * 10)
    store.put("t", "b", "b" * 10)
    assert store.get("t", "a") == "a" * 10  # now b is the least recently used
    store.put("t", "c", "c" * 10)  # 30 > 25: one goes
    assert store.get("t", "b") is None
    assert store.get("t", "a") == "a" * 10
    assert store.get("t", "c") == "c" * 10
    store.put("t", "huge", "h" * 26)  # larger than the store: not kept, nothing evicted
    assert store.get("t", "huge") is None
    assert len(store) == 2


def test_one_tenant_cannot_find_a_text_another_tenant_stored() -> None:
    queries = PersistedQueries(PersistedConfig())
    request = GraphQLRequestData(QUERY, None, None, persisted(QUERY))
    queries.resolve(request, "acme")
    hash_only = GraphQLRequestData(None, None, None, persisted(QUERY))
    assert queries.resolve(hash_only, "acme").query == QUERY
    with pytest.raises(RequestRefused) as raised:
        queries.resolve(hash_only, "globex")
    assert (raised.value.status_code, raised.value.code) == (200, "PERSISTED_QUERY_NOT_FOUND")


# Safelist


def apollo_manifest(*texts: str) -> str:
    operations = [
        {"id": sha(t), "body": t, "name": f"Op{i}", "type": "query"} for i, t in enumerate(texts)
    ]
    return json.dumps(
        {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    )


async def assert_only_listed_run(settings: Settings) -> None:
    """QUERY is listed, OTHER is not."""
    text, by_hash, both, unlisted, unknown_hash, unlisted_both = await ask(
        settings,
        ("POST", {"json": {"query": QUERY}}),
        ("POST", {"json": {"extensions": persisted(QUERY)}}),
        ("GET", {"params": {"query": QUERY, "extensions": json.dumps(persisted(QUERY))}}),
        ("POST", {"json": {"query": OTHER}}),
        ("POST", {"json": {"extensions": persisted(OTHER)}}),
        ("POST", {"json": {"query": OTHER, "extensions": persisted(OTHER)}}),
    )
    for answer in (text, by_hash, both):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == VENDORS
    for answer in (unlisted, unknown_hash, unlisted_both):
        assert "not registered" in refused(answer, 403, "PERSISTED_QUERY_NOT_ALLOWED")


async def test_safelist_from_an_apollo_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(apollo_manifest(QUERY, "query Mode { providers { mode } }"))
    await assert_only_listed_run(
        settings(
            SESSIONGRAPH_PERSISTED_QUERIES="safelist",
            SESSIONGRAPH_PERSISTED_QUERIES_PATH=str(manifest),
        )
    )


async def test_safelist_from_a_map_of_hash_to_text_in_toml(tmp_path: Path) -> None:
    manifest = tmp_path / "persisted_queries.json"
    manifest.write_text(json.dumps({sha(QUERY): QUERY}))
    config = tmp_path / "sessiongraph.toml"
    config.write_text(
        f'[sessiongraph]\npersisted_queries = "safelist"\npersisted_queries_path = "{manifest}"\n'
    )
    await assert_only_listed_run(settings(SESSIONGRAPH_CONFIG=str(config)))


async def test_safelist_from_a_directory_of_graphql_files(tmp_path: Path) -> None:
    (tmp_path / "providers.graphql").write_text(QUERY)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "agents.graphql").write_text("query Agents { agents { nodes { id } } }")
    (tmp_path / "notes.txt").write_text("not an operation")
    await assert_only_listed_run(
        settings(
            SESSIONGRAPH_PERSISTED_QUERIES="safelist",
            SESSIONGRAPH_PERSISTED_QUERIES_PATH=str(tmp_path),
        )
    )


async def test_safelist_does_not_learn_texts_sent_with_their_hash(tmp_path: Path) -> None:
    (tmp_path / "providers.graphql").write_text(QUERY)
    safelist = settings(
        SESSIONGRAPH_PERSISTED_QUERIES="safelist", SESSIONGRAPH_PERSISTED_QUERIES_PATH=str(tmp_path)
    )
    first, second = await ask(
        safelist,
        ("POST", {"json": {"query": OTHER, "extensions": persisted(OTHER)}}),
        ("POST", {"json": {"extensions": persisted(OTHER)}}),
    )
    refused(first, 403, "PERSISTED_QUERY_NOT_ALLOWED")
    refused(second, 403, "PERSISTED_QUERY_NOT_ALLOWED")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (json.dumps({sha(OTHER): QUERY}), "is not the SHA-256 of its text"),
        (json.dumps({"abc": QUERY}), "64 hex digits"),
        (json.dumps({sha("{ providers {"): "{ providers {"}), "not a GraphQL document"),
        (
            json.dumps(
                {sha("fragment F on Query { __typename }"): "fragment F on Query { __typename }"}
            ),
            "holds no operation",
        ),
        (json.dumps({sha(QUERY): 3}), "must be a string"),
        (json.dumps({}), "lists no operation"),
        (json.dumps([QUERY]), "a manifest is a JSON object"),
        ("{ providers { name } }", "not JSON"),
        (
            json.dumps(
                {"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}
            ),
            "version 2",
        ),
        (
            json.dumps(
                {"format": "apollo-persisted-query-manifest", "version": 1, "operations": ["x"]}
            ),
            "operation 1",
        ),
    ],
    ids=[
        "wrong-id",
        "short-id",
        "syntax",
        "no-operation",
        "not-text",
        "empty",
        "list",
        "not-json",
        "apollo-v2",
        "apollo-entry",
    ],
)
def test_a_bad_manifest_is_a_config_error_naming_the_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    manifest = write(tmp_path / "manifest.json", content)
    with pytest.raises(ConfigError) as raised:
        settings(
            SESSIONGRAPH_PERSISTED_QUERIES="safelist",
            SESSIONGRAPH_PERSISTED_QUERIES_PATH=str(manifest),
        )
    assert str(manifest) in str(raised.value)
    assert expected in str(raised.value)


def test_a_bad_manifest_entry_is_named(tmp_path: Path) -> None:
    manifest = write(tmp_path / "m.json", json.dumps({sha(QUERY): QUERY, sha(OTHER): QUERY}))
    with pytest.raises(ConfigError, match=sha(OTHER)):
        settings(
            SESSIONGRAPH_PERSISTED_QUERIES="safelist",
            SESSIONGRAPH_PERSISTED_QUERIES_PATH=str(manifest),
        )


def test_a_bad_graphql_file_in_the_directory_is_named(tmp_path: Path) -> None:
    write(tmp_path / "good.graphql", QUERY)
    bad = write(tmp_path / "bad.graphql", "query { providers {")
    with pytest.raises(ConfigError, match="not a GraphQL document") as raised:
        settings(
            SESSIONGRAPH_PERSISTED_QUERIES="safelist",
            SESSIONGRAPH_PERSISTED_QUERIES_PATH=str(tmp_path),
        )
    assert str(bad) in str(raised.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"SESSIONGRAPH_PERSISTED_QUERIES": "safelist"},
            "needs SESSIONGRAPH_PERSISTED_QUERIES_PATH",
        ),
        (
            {
                "SESSIONGRAPH_PERSISTED_QUERIES": "safelist",
                "SESSIONGRAPH_PERSISTED_QUERIES_PATH": "/nonexistent/pq.json",
            },
            "no such file",
        ),
        (
            {
                "SESSIONGRAPH_PERSISTED_QUERIES": "apq",
                "SESSIONGRAPH_PERSISTED_QUERIES_PATH": "/tmp",
            },
            "only in safelist mode",
        ),
        ({"SESSIONGRAPH_PERSISTED_QUERIES": "on"}, "must be off, apq or safelist"),
    ],
    ids=["no-path", "missing-path", "path-without-safelist", "bad-mode"],
)
def test_persisted_query_settings_are_checked_at_start_up(
    env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        settings(**env)


def test_apq_is_the_default_mode() -> None:
    assert settings().persisted.mode.value == "apq"


STALE = "query Stale { providers { name colour } }"  # `colour`: no such field, ever


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_safelisted_operation_the_schema_refuses_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """It would be refused at every request: the server says so at start, naming the entry,
    before serving anything (with several workers, before starting them)."""
    manifest = write(tmp_path / "m.json", json.dumps({sha(QUERY): QUERY, sha(STALE): STALE}))
    env = {
        "SESSIONGRAPH_PERSISTED_QUERIES": "safelist",
        "SESSIONGRAPH_PERSISTED_QUERIES_PATH": str(manifest),
        "SESSIONGRAPH_INDEX_URL": "off",
        "SESSIONGRAPH_WORKERS": workers,
    }
    with pytest.raises(ConfigError) as raised:
        create_app(load_settings(env))
    assert sha(STALE) in str(raised.value)
    assert "colour" in str(raised.value)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(args))
    monkeypatch.setattr("graph.serving.run_workers", lambda config: started.append(config))
    with pytest.raises(ConfigError, match=sha(STALE)):
        serve("127.0.0.1", 0, "warning")
    assert started == []


def test_a_safelist_the_schema_accepts_starts(tmp_path: Path) -> None:
    """The check refuses only what the schema refuses: the same list without the stale entry."""
    manifest = write(tmp_path / "m.json", json.dumps({sha(QUERY): QUERY, sha(OTHER): OTHER}))
    app = create_app(
        settings(
            SESSIONGRAPH_PERSISTED_QUERIES="safelist",
            SESSIONGRAPH_PERSISTED_QUERIES_PATH=str(manifest),
        )
    )
    assert app.title == "sessiongraph"
