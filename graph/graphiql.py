"""Offline GraphiQL: the IDE and every asset it needs served by this app, no CDN.

Strawberry's built-in GraphiQL page (``strawberry/static/graphiql.html``) loads React,
ReactDOM, js-cookie, graphiql and @graphiql/plugin-explorer from unpkg.com: on a machine
with no network it stays blank. So ``graph/static/graphiql/`` holds:

* the same packages' files (same versions), built by ``tools/graphiql-assets`` (esbuild):
  minified, named by their content (``graphiql.<hash>.js``) and precompressed (``.gz``,
  ``.br``), listed in ``manifest.json`` with their SRI hashes;
* ``index.html``: Strawberry's page as a template, whose asset URLs and ``integrity``
  attributes are filled from the manifest, and whose editor opens on ``default.graphql``
  (sessiongraph's example operations) instead of GraphiQL's welcome comment.

:class:`OfflineGraphQLRouter` serves that page (``Cache-Control: no-cache``: it names the
current assets); :func:`mount_graphiql_assets` serves the assets at ``/graphiql-assets``,
cached for a year as immutable (a new build is a new name), in the best coding the client
accepts. Strawberry 0.341's ``GraphQLRouter.render_graphql_ide`` returns
``HTMLResponse(self.graphql_ide_html)``: we override it for our page and its headers.

Usage::

    app = FastAPI()
    app.include_router(OfflineGraphQLRouter(schema), prefix="/graphql")
    mount_graphiql_assets(app)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from strawberry.fastapi import GraphQLRouter
from strawberry.fastapi.context import CustomContext
from typing_extensions import TypeVar

__all__ = [
    "ASSETS_DIR",
    "ASSETS_URL_PATH",
    "DEFAULT_DOCUMENT",
    "IMMUTABLE",
    "OfflineGraphQLRouter",
    "accepted_coding",
    "graphiql_assets",
    "mount_graphiql_assets",
    "offline_graphiql_html",
]

ASSETS_DIR: Final[Path] = Path(__file__).resolve().parent / "static" / "graphiql"
"""Directory holding ``index.html``, ``default.graphql``, the built assets and licenses."""

ASSETS_URL_PATH: Final = "/graphiql-assets"
"""URL path the assets are served at."""

DEFAULT_DOCUMENT: Final[Path] = ASSETS_DIR / "default.graphql"
"""The document GraphiQL's editor opens on: the one place its example operations live."""

IMMUTABLE: Final = "public, max-age=31536000, immutable"
"""Cache-Control of a content-named asset: its URL never serves other bytes."""

_MANIFEST: Final = ASSETS_DIR / "manifest.json"
_INDEX_HTML: Final = ASSETS_DIR / "index.html"
_MARKER: Final = re.compile(r"\{\{ (url|integrity):([a-z.-]+) \}\}|\{\{ default_document \}\}")
_MEDIA_TYPES: Final = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Best first; identity (no coding) is always acceptable, and always last.
_CODINGS: Final = (("br", ".br"), ("gzip", ".gz"))

# Same defaults as strawberry.fastapi.router.GraphQLRouter's own type parameters.
Context = TypeVar("Context", default=CustomContext)
RootValue = TypeVar("RootValue", default=None)


@dataclass(frozen=True)
class Encoded:
    """One resource's bytes in each coding it is stored in (``identity`` always)."""

    media_type: str
    codings: Mapping[str, bytes]


@dataclass(frozen=True)
class Asset:
    file: str  # its content-hashed name, under ASSETS_URL_PATH
    integrity: str  # its SRI hash, "sha384-…"


def accepted_coding(accept_encoding: str | None, available: Mapping[str, bytes]) -> str:
    """The content coding to answer with: br, else gzip, when available and accepted with
    q > 0 (named, or by ``*``); else ``identity`` (RFC 9110, 12.5.3)."""
    weights: dict[str, float] = {}
    for part in (accept_encoding or "").split(","):
        coding, _, parameters = part.partition(";")
        name = coding.strip().lower()
        if not name:
            continue
        weight = 1.0
        key, _, value = parameters.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[name] = weight
    for coding, _ in _CODINGS:
        if coding in available and weights.get(coding, weights.get("*", 0.0)) > 0:
            return coding
    return "identity"


def negotiate(
    request: Request, encoded: Encoded, cache_control: str, etag: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers of the answer: ``encoded`` in the coding the request
    accepts, or a 304 when its ``If-None-Match`` holds ``etag``."""
    headers = {"Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if etag is not None:
        headers["ETag"] = etag
        if etag in request.headers.get("if-none-match", ""):
            return 304, b"", headers
    coding = accepted_coding(request.headers.get("accept-encoding"), encoded.codings)
    if coding != "identity":
        headers["Content-Encoding"] = coding
    return 200, encoded.codings[coding], headers


@cache
def graphiql_assets() -> dict[str, Asset]:
    """The manifest: logical name (``graphiql.js``) -> built file and SRI hash."""
    manifest = json.loads(_MANIFEST.read_text(encoding="utf-8"))
    return {name: Asset(entry["file"], entry["integrity"]) for name, entry in manifest.items()}


@cache
def _asset_files() -> dict[str, Encoded]:
    """Every built file by its served name, read once: about 2 MB in all codings."""
    served = {}
    for asset in graphiql_assets().values():
        path = ASSETS_DIR / asset.file
        codings = {"identity": path.read_bytes()}
        for coding, suffix in _CODINGS:  # the build writes both, always
            codings[coding] = path.with_name(path.name + suffix).read_bytes()
        served[asset.file] = Encoded(_MEDIA_TYPES[path.suffix], codings)
    return served


def _script_string(text: str) -> str:
    """``text`` as a JavaScript string literal that is safe inside ``<script>``."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e")


@cache
def offline_graphiql_html() -> str:
    """Our GraphiQL page, its markers filled (built once, then cached)."""
    assets = graphiql_assets()

    def fill(marker: re.Match[str]) -> str:
        kind, name = marker.group(1, 2)
        if kind is None:
            return _script_string(DEFAULT_DOCUMENT.read_text(encoding="utf-8"))
        asset = assets[name]  # a KeyError here: index.html names an asset the build lacks
        return f"{ASSETS_URL_PATH}/{asset.file}" if kind == "url" else asset.integrity

    return _MARKER.sub(fill, _INDEX_HTML.read_text(encoding="utf-8"))


@cache
def _page() -> tuple[Encoded, str]:
    html = offline_graphiql_html().encode()
    codings = {"identity": html, "gzip": gzip.compress(html, compresslevel=9, mtime=0)}
    etag = f'"{hashlib.sha256(html).hexdigest()[:16]}"'
    return Encoded("text/html; charset=utf-8", codings), etag


async def _serve_asset(request: Request) -> Response:
    encoded = _asset_files().get(request.path_params["name"])
    if encoded is None:  # the app's own 404, as for any unknown path
        raise HTTPException(status_code=404)
    status, body, headers = negotiate(request, encoded, IMMUTABLE)
    return Response(body, status, headers, media_type=encoded.media_type)


def mount_graphiql_assets(app: FastAPI) -> None:
    """Serve the built GraphiQL assets at :data:`ASSETS_URL_PATH` on ``app`` (only the files
    the manifest lists; GET and HEAD)."""
    app.add_route(
        f"{ASSETS_URL_PATH}/{{name}}", _serve_asset, methods=["GET"], include_in_schema=False
    )


class OfflineGraphQLRouter(GraphQLRouter[Context, RootValue]):
    """``GraphQLRouter`` whose GraphiQL page is ours (local assets, sessiongraph's document).

    Only the ``"graphiql"`` IDE is replaced; other ``graphql_ide`` choices (which need the
    network anyway) keep Strawberry's pages. Remember to call :func:`mount_graphiql_assets`
    on the app, or the page will load but its scripts will 404.
    """

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        if self.graphql_ide != "graphiql":
            return await super().render_graphql_ide(request)
        # no-cache: the page names the current build's assets, so a browser must ask again
        # (the ETag makes that a 304 while nothing changed).
        page, etag = _page()
        status, body, headers = negotiate(request, page, "no-cache", etag)
        return HTMLResponse(body, status, headers)
