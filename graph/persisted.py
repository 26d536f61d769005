"""Persisted queries: a request may name its document by SHA-256 instead of sending it.

`SESSIONGRAPH_PERSISTED_QUERIES` picks the mode:

- `apq` (default): Apollo's automatic persisted queries. A request carries
  `extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}`; with the hash alone the
  text comes from this process's store, or the answer is `PersistedQueryNotFound` (HTTP 200,
  as Apollo's servers answer, so Apollo Client resends with the text); with the hash and the
  text, the hash must be the text's (else 400 `PERSISTED_QUERY_HASH_MISMATCH`) and the text is
  stored. Requests without the extension run as always.
- `safelist`: only the operations of `SESSIONGRAPH_PERSISTED_QUERIES_PATH` run, by hash or by
  full text; anything else is 403 `PERSISTED_QUERY_NOT_ALLOWED`. Nothing is ever stored.
- `off`: the extension is refused with `PersistedQueryNotSupported` (HTTP 200: Apollo Client
  then stops sending hashes); plain requests run.

The store is keyed by tenant and hash: a shared one would answer any tenant's "has somebody
here sent this exact text?", and a text can carry literals (an email in a filter). Keying by
tenant costs one more entry per tenant that sends the same text. It is bounded in characters
(LRU): a client that finds its text evicted resends it, which costs bytes, never answers.

The text a hash resolves to is an ordinary `str`, equal to the one a full request would send:
the parser and validation caches, and graph.fastpath's shared plans, key on it unchanged.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from cachetools import LRUCache
from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, parse, validate
from strawberry.http import GraphQLRequestData

from graph.over_http import RequestRefused

__all__ = [
    "APQ_STORE_CHARS",
    "ApqStore",
    "PersistedConfig",
    "PersistedMode",
    "PersistedQueries",
    "check_safelist",
    "load_safelist",
    "query_hash",
    "read_persisted",
]

# Characters of query text the APQ store holds per process: thousands of typical operations
# (a few hundred to a few thousand characters each), a few megabytes at most.
APQ_STORE_CHARS = 4_000_000
# Bounds of a safelist read at start-up: an operator's file, but a wrong path (a data
# directory, a log) should fail fast rather than load forever.
MAX_SAFELIST_OPERATIONS = 10_000
MAX_SAFELIST_BYTES = 16 * 1024 * 1024

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Apollo's persisted query manifest (@apollo/generate-persisted-query-manifest).
_APOLLO_FORMAT = "apollo-persisted-query-manifest"
# Apollo's answers, word for word: its clients match the message as well as the code.
NOT_FOUND = "PersistedQueryNotFound"
NOT_SUPPORTED = "PersistedQueryNotSupported"
# Retried with the text, possibly at the same URL by another client: never cached on the way.
_UNCACHED = {"Cache-Control": "private, no-cache, must-revalidate"}


class PersistedMode(enum.StrEnum):
    OFF = "off"
    APQ = "apq"
    SAFELIST = "safelist"


@dataclass(frozen=True)
class PersistedConfig:
    mode: PersistedMode = PersistedMode.APQ
    # safelist mode: the operations that may run, SHA-256 (lower-case hex) → text
    safelist: Mapping[str, str] = field(default_factory=dict)


def query_hash(text: str) -> str:
    # surrogatepass: a JSON string may hold a lone surrogate; it still hashes, never raises.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ApqStore:
    """Texts by (tenant, hash), least recently used out first, at most `max_chars` of text."""

    def __init__(self, max_chars: int = APQ_STORE_CHARS) -> None:
        self.max_chars = max_chars
        self._texts: LRUCache[tuple[str, str], str] = LRUCache(maxsize=max_chars, getsizeof=len)

    def get(self, tenant: str, sha256: str) -> str | None:
        return self._texts.get((tenant, sha256))

    def put(self, tenant: str, sha256: str, text: str) -> None:
        if len(text) <= self.max_chars:  # larger: runs, but is not kept (cachetools refuses it)
            self._texts[(tenant, sha256)] = text

    def __len__(self) -> int:
        return len(self._texts)


class PersistedQueries:
    """Turns a request that names its text by hash into one that carries it, or refuses it
    (`RequestRefused`, answered by the router with its status and code)."""

    def __init__(self, config: PersistedConfig, store: ApqStore | None = None) -> None:
        self.config = config
        self.store = store if store is not None else ApqStore()

    def resolve(self, request: GraphQLRequestData, tenant: str) -> GraphQLRequestData:
        mode = self.config.mode
        persisted = (request.extensions or {}).get("persistedQuery")
        if persisted is None:
            if mode is PersistedMode.SAFELIST and request.query is not None:
                self._listed(query_hash(request.query))
            return request
        if mode is PersistedMode.OFF:
            raise RequestRefused(200, NOT_SUPPORTED, "PERSISTED_QUERY_NOT_SUPPORTED")
        sha256 = _read_extension(persisted)
        if request.query is not None:
            if query_hash(request.query) != sha256:
                raise RequestRefused(
                    400,
                    "provided sha does not match query: `extensions.persistedQuery.sha256Hash` "
                    "must be the SHA-256 (hex) of the UTF-8 `query` text",
                    "PERSISTED_QUERY_HASH_MISMATCH",
                )
            if mode is PersistedMode.SAFELIST:
                self._listed(sha256)
            else:
                self.store.put(tenant, sha256, request.query)
            return request
        if mode is PersistedMode.SAFELIST:
            return replace(request, query=self._listed(sha256))
        text = self.store.get(tenant, sha256)
        if text is None:
            raise RequestRefused(200, NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND", headers=_UNCACHED)
        return replace(request, query=text)

    def _listed(self, sha256: str) -> str:
        text = self.config.safelist.get(sha256)
        if text is None:
            raise RequestRefused(
                403,
                "this server runs only registered operations, and this one is not registered "
                "(SESSIONGRAPH_PERSISTED_QUERIES=safelist)",
                "PERSISTED_QUERY_NOT_ALLOWED",
            )
        return text


def _read_extension(persisted: object) -> str:
    """The hash of a well-formed `extensions.persistedQuery`, lower-cased."""
    if not isinstance(persisted, dict):
        raise RequestRefused(
            400, '`extensions.persistedQuery` must be {"version": 1, "sha256Hash": "<hex>"}'
        )
    version = persisted.get("version")
    if version != 1 or isinstance(version, bool):
        raise RequestRefused(
            400, f"Unsupported persisted query version {version!r}: only version 1 is"
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise RequestRefused(
            400, "`extensions.persistedQuery.sha256Hash` must be a SHA-256 as 64 hex digits"
        )
    return sha256.lower()


def read_persisted(mode_text: str, path_text: str) -> PersistedConfig:
    """The mode and, in safelist mode, its operations, read now: `ValueError` naming the
    setting, the file and the entry when they cannot be used."""
    try:
        mode = PersistedMode(mode_text.strip().lower())
    except ValueError:
        raise ValueError(
            f"SESSIONGRAPH_PERSISTED_QUERIES must be off, apq or safelist, not {mode_text!r}"
        ) from None
    if mode is not PersistedMode.SAFELIST:
        if path_text:
            # Said rather than ignored: an operator who set a path believes only it runs.
            raise ValueError(
                "SESSIONGRAPH_PERSISTED_QUERIES_PATH is read only in safelist mode "
                f"(SESSIONGRAPH_PERSISTED_QUERIES is {mode.value})"
            )
        return PersistedConfig(mode=mode)
    if not path_text:
        raise ValueError(
            "SESSIONGRAPH_PERSISTED_QUERIES=safelist needs SESSIONGRAPH_PERSISTED_QUERIES_PATH: "
            "a JSON manifest, or a directory of .graphql files"
        )
    return PersistedConfig(mode=mode, safelist=load_safelist(Path(path_text)))


def load_safelist(path: Path) -> dict[str, str]:
    """Operations by SHA-256 from `path`: a JSON manifest (Apollo's
    `{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}, …]}`, or
    a map of hash → text as relay-compiler's `persistConfig` writes with SHA256), or a
    directory of `.graphql` files, each one document keyed by the hash of its exact text."""
    if path.is_dir():
        found = _from_directory(path)
    elif path.is_file():
        found = _from_manifest(path)
    else:
        raise ValueError(f"SESSIONGRAPH_PERSISTED_QUERIES_PATH={path}: no such file or directory")
    if not found:
        raise ValueError(f"{path}: lists no operation, so safelist mode would refuse every query")
    return found


def _from_directory(folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, file in enumerate(sorted(folder.rglob("*.graphql")), start=1):
        if number > MAX_SAFELIST_OPERATIONS:
            raise ValueError(f"{folder}: more than {MAX_SAFELIST_OPERATIONS} .graphql files")
        text = _read_text(file)
        _check_document(text, str(file))
        found[query_hash(text)] = text
    return found


def _from_manifest(file: Path) -> dict[str, str]:
    try:
        manifest = orjson.loads(_read_text(file))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{file}: not JSON ({exc})") from None
    if isinstance(manifest, dict) and manifest.get("format") == _APOLLO_FORMAT:
        if manifest.get("version") != 1:
            raise ValueError(f"{file}: {_APOLLO_FORMAT} version {manifest.get('version')!r}")
        operations = manifest.get("operations")
        if not isinstance(operations, list):
            raise ValueError(f"{file}: `operations` must be a list")
        entries = [_apollo_entry(file, number, op) for number, op in enumerate(operations, 1)]
    elif isinstance(manifest, dict):
        entries = list(manifest.items())
    else:
        raise ValueError(
            f"{file}: a manifest is a JSON object: {_APOLLO_FORMAT}, or a map of SHA-256 → text"
        )
    if len(entries) > MAX_SAFELIST_OPERATIONS:
        raise ValueError(f"{file}: more than {MAX_SAFELIST_OPERATIONS} operations")
    found: dict[str, str] = {}
    for sha256, text in entries:
        where = f"{file}: entry {str(sha256)[:70]!r}"
        if not isinstance(text, str):
            raise ValueError(f"{where}: its text must be a string")
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise ValueError(f"{where}: its id must be a SHA-256 as 64 hex digits")
        if query_hash(text) != sha256.lower():
            raise ValueError(
                f"{where}: its id is not the SHA-256 of its text (clients send SHA-256 "
                "hashes: relay-compiler needs persistConfig.algorithm = SHA256)"
            )
        _check_document(text, where)
        found[sha256.lower()] = text
    return found


def _apollo_entry(file: Path, number: int, operation: Any) -> tuple[object, object]:
    if not isinstance(operation, dict):
        raise ValueError(f"{file}: operation {number} must be an object with `id` and `body`")
    return operation.get("id"), operation.get("body")


def _check_document(text: str, where: str) -> None:
    """An entry must be a document with an operation: anything else could never run."""
    try:
        document = parse(text)
    except GraphQLError as exc:
        raise ValueError(f"{where}: not a GraphQL document ({exc.message})") from None
    if not any(isinstance(d, OperationDefinitionNode) for d in document.definitions):
        raise ValueError(f"{where}: holds no operation (query or mutation)")


def check_safelist(schema: GraphQLSchema, safelist: Mapping[str, str]) -> None:
    """Every safelisted operation validates against `schema` (graphql-core's rules): one that
    does not would be refused at every request, so it is a configuration error at start-up,
    naming the entry, rather than a surprise for the client that ships it."""
    for sha256, text in safelist.items():
        errors = validate(schema, parse(text))
        if errors:
            raise ValueError(
                f"SESSIONGRAPH_PERSISTED_QUERIES_PATH: the operation {sha256} does not validate "
                f"against this server's schema: {errors[0].message}"
            )


def _read_text(file: Path) -> str:
    try:
        if file.stat().st_size > MAX_SAFELIST_BYTES:
            raise ValueError(f"{file}: larger than {MAX_SAFELIST_BYTES} bytes")
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: cannot be read ({exc})") from None
