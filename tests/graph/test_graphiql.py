"""The GraphiQL page and every asset it needs are served locally (no CDN, works offline):
minified, content-named, cached for a year, compressed by Accept-Encoding, with correct SRI.

Expected values come from outside the code under test: Strawberry's own page (which files,
which versions), the asset bytes as served (hashes recomputed here), the pins of
tools/graphiql-assets/package.json, and RFC 9110's rules for Accept-Encoding.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import strawberry
from fastapi import FastAPI
from strawberry.http.ides import GraphQL_IDE

from graph.graphiql import (
    ASSETS_DIR,
    ASSETS_URL_PATH,
    DEFAULT_DOCUMENT,
    OfflineGraphQLRouter,
    accepted_coding,
    mount_graphiql_assets,
    offline_graphiql_html,
)
from tests.conftest import running_gateway

HTML_ACCEPT = {"Accept": "text/html"}
IMMUTABLE = "public, max-age=31536000, immutable"
TOOLS = Path(__file__).resolve().parents[2] / "tools" / "graphiql-assets"
UNPKG = re.compile(r"https://unpkg\.com/((?:@[a-z-]+/)?[a-z-]+)@([0-9.]+)/([^\"]+)")
# A built asset's name: <name>.<first 12 hex digits of its sha256>.<js|css>.
BUILT_NAME = re.compile(r"[a-z-]+\.([0-9a-f]{12})\.(js|css)")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


def make_app(graphql_ide: GraphQL_IDE = "graphiql") -> FastAPI:
    app = FastAPI()
    schema = strawberry.Schema(query=Query)
    app.include_router(
        OfflineGraphQLRouter(schema, graphql_ide=graphql_ide),
        prefix="/graphql",
    )
    mount_graphiql_assets(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class _AssetCollector(HTMLParser):
    """Collect (tag, url, integrity) for every src=/href= attribute in the page."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in ("src", "href"):
            url = attributes.get(name)
            if url is not None:
                self.assets.append((tag, url.strip(), attributes.get("integrity")))


def collect_assets(html: str) -> list[tuple[str, str, str | None]]:
    parser = _AssetCollector()
    parser.feed(html)
    parser.close()
    return [a for a in parser.assets if not a[1].startswith("data:")]  # the favicon


async def raw_get(
    client: httpx.AsyncClient, url: str, accept_encoding: str, **headers: str
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent (httpx would decode gzip itself)."""
    sent = {"Accept-Encoding": accept_encoding, **headers}
    async with client.stream("GET", url, headers=sent) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, body


def sri(content: bytes) -> str:
    return f"sha384-{base64.b64encode(hashlib.sha384(content).digest()).decode()}"


async def get_graphiql_page(client: httpx.AsyncClient) -> str:
    response = await client.get("/graphql", headers=HTML_ACCEPT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def strawberry_page() -> str:
    path = Path(strawberry.__file__).parent / "static" / "graphiql.html"
    return path.read_text(encoding="utf-8")


# --- the page --------------------------------------------------------------------------------


async def test_graphiql_page_has_no_remote_urls(client: httpx.AsyncClient) -> None:
    html = await get_graphiql_page(client)

    assert "GraphiQL" in html
    assert html == offline_graphiql_html()
    assert "unpkg" not in html
    assert "https://" not in html
    assert "crossorigin" not in html
    assert "{{" not in html  # every marker of the template filled
    for tag in ("script", "link"):
        for match in re.finditer(rf"<{tag}\b[^>]*>", html):
            assert "://" not in match.group(0).replace("http://www.w3.org/2000/svg", "")


async def test_the_page_is_revalidated_and_compressed(client: httpx.AsyncClient) -> None:
    response, body = await raw_get(client, "/graphql", "gzip, deflate, br", Accept="text/html")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["vary"] == "Accept-Encoding"
    # No brotli for the page: Python's standard library has no encoder.
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).decode() == offline_graphiql_html()
    etag = response.headers["etag"]

    plain, plain_body = await raw_get(client, "/graphql", "identity", Accept="text/html")
    assert "content-encoding" not in plain.headers
    assert plain_body.decode() == offline_graphiql_html()
    assert plain.headers["etag"] == etag

    again, again_body = await raw_get(
        client, "/graphql", "gzip", Accept="text/html", **{"If-None-Match": etag}
    )
    assert (again.status_code, again_body) == (304, b"")
    stale, _ = await raw_get(
        client, "/graphql", "gzip", Accept="text/html", **{"If-None-Match": '"0123"'}
    )
    assert stale.status_code == 200


async def test_every_asset_is_local_minified_content_named_and_its_sri_holds(
    client: httpx.AsyncClient,
) -> None:
    html = await get_graphiql_page(client)
    assets = collect_assets(html)

    # The files Strawberry's page loads from unpkg, one for one.
    assert len(assets) == len(UNPKG.findall(strawberry_page())) == 7
    for tag, url, integrity in assets:
        assert url.startswith(f"{ASSETS_URL_PATH}/"), url
        response, content = await raw_get(client, url, "identity")
        assert response.status_code == 200, url
        assert "content-encoding" not in response.headers
        assert response.headers["cache-control"] == IMMUTABLE, url
        assert response.headers["vary"] == "Accept-Encoding", url
        media_type = response.headers["content-type"].split(";")[0]
        name = BUILT_NAME.fullmatch(url.removeprefix(f"{ASSETS_URL_PATH}/"))
        assert name is not None, url
        assert name.group(1) == hashlib.sha256(content).hexdigest()[:12], url
        if name.group(2) == "js":
            assert (tag, media_type) == ("script", "text/javascript"), url
        else:
            assert (tag, media_type) == ("link", "text/css"), url
        assert len(content) > 200, url
        assert integrity == sri(content), url


async def test_assets_are_served_compressed_by_accept_encoding(
    client: httpx.AsyncClient,
) -> None:
    for _, url, integrity in collect_assets(await get_graphiql_page(client)):
        _, identity = await raw_get(client, url, "identity")
        gzipped, gz_body = await raw_get(client, url, "gzip, deflate")
        assert gzipped.headers["content-encoding"] == "gzip", url
        assert gzip.decompress(gz_body) == identity, url
        assert len(gz_body) < len(identity), url
        brotli, br_body = await raw_get(client, url, "gzip, deflate, br, zstd")
        assert brotli.headers["content-encoding"] == "br", url
        # The build's .br as stored (no brotli decoder here: test_graphiql_browser.py has
        # Chromium decode them, and its SRI check hold, or the page would not run).
        stored = ASSETS_DIR / f"{url.removeprefix(ASSETS_URL_PATH + '/')}.br"
        assert br_body == stored.read_bytes(), url
        assert len(br_body) < len(identity), url
        for answer in (gzipped, brotli):
            assert answer.headers["cache-control"] == IMMUTABLE, url
            assert answer.headers["vary"] == "Accept-Encoding", url
            assert int(answer.headers["content-length"]) < len(identity)
        assert integrity == sri(identity)  # SRI is over the decoded bytes


async def test_the_page_load_is_under_a_megabyte_on_the_wire_with_gzip(
    client: httpx.AsyncClient,
) -> None:
    # Before (Strawberry's files as they are, graphiql.min.js not minified, nothing
    # compressed): 4,143,043 bytes with the page. Minified: 2,090,435; with gzip: 758,471.
    _, page = await raw_get(client, "/graphql", "gzip", Accept="text/html")
    identity, compressed = 0, len(page)
    for _, url, _ in collect_assets(offline_graphiql_html()):
        identity += len((await raw_get(client, url, "identity"))[1])
        compressed += len((await raw_get(client, url, "gzip"))[1])
    assert identity < 2_200_000
    assert compressed < 800_000


async def test_head_unknown_and_old_asset_names(client: httpx.AsyncClient) -> None:
    url = collect_assets(offline_graphiql_html())[0][1]
    head = await client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["cache-control"] == IMMUTABLE
    for missing in (
        "graphiql.min.js",  # the names before content hashing
        "react.production.min.js",
        "manifest.json",
        "index.html",
        "default.graphql",
        "LICENSE.react",
        "graphiql.000000000000.js",
        "..%2Fgraphiql.py",
    ):
        response = await client.get(f"{ASSETS_URL_PATH}/{missing}")
        assert response.status_code == 404, missing


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        (None, "identity"),
        ("", "identity"),
        ("identity", "identity"),
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("br;q=0.1, gzip;q=0.9", "br"),  # both acceptable: the smaller one
        ("gzip;q=0", "identity"),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("br;q=0, *", "gzip"),
        ("GZIP", "gzip"),
        (" gzip ; q=1.0 ", "gzip"),
        ("gzip;q=nonsense", "identity"),
        ("deflate, zstd", "identity"),
    ],
)
def test_accepted_coding(accept_encoding: str | None, expected: str) -> None:
    available = {"identity": b"", "gzip": b"", "br": b""}
    assert accepted_coding(accept_encoding, available) == expected


def test_a_coding_not_stored_is_not_chosen() -> None:
    assert accepted_coding("br, gzip", {"identity": b"", "gzip": b""}) == "gzip"
    assert accepted_coding("br", {"identity": b""}) == "identity"


# --- the build -------------------------------------------------------------------------------


def test_the_build_takes_strawberrys_files_at_strawberrys_versions() -> None:
    """Fails if a Strawberry upgrade changes the versions or files its page loads: pin those
    in tools/graphiql-assets/package.json, rebuild, and check the page template."""
    pins = json.loads((TOOLS / "package.json").read_text())["devDependencies"]
    manifest = json.loads((ASSETS_DIR / "manifest.json").read_text())
    wanted = UNPKG.findall(strawberry_page())
    assert {f"{package}/{path}" for package, _, path in wanted} == {
        entry["source"] for entry in manifest.values()
    }
    assert {package: pins[package] for package, _, _ in wanted} == {
        package: version for package, version, _ in wanted
    }


def test_the_committed_build_is_complete_and_nothing_stale() -> None:
    manifest = json.loads((ASSETS_DIR / "manifest.json").read_text())
    files = {entry["file"] for entry in manifest.values()}
    built = {p.name for p in ASSETS_DIR.iterdir() if BUILT_NAME.match(p.name)}
    assert built == {f"{file}{suffix}" for file in files for suffix in ("", ".gz", ".br")}
    for entry in manifest.values():
        content = (ASSETS_DIR / entry["file"]).read_bytes()
        assert entry["integrity"] == sri(content)
        assert gzip.decompress((ASSETS_DIR / f"{entry['file']}.gz").read_bytes()) == content
    lock = json.loads((TOOLS / "package-lock.json").read_text())
    pins = json.loads((TOOLS / "package.json").read_text())["devDependencies"]
    for package, version in pins.items():
        assert lock["packages"][f"node_modules/{package}"]["version"] == version, package


def test_the_template_is_strawberrys_page_with_our_assets_and_document() -> None:
    """Fails if a Strawberry upgrade changes its page: port the change to index.html."""
    template = (ASSETS_DIR / "index.html").read_text(encoding="utf-8")
    ours = re.sub(r"<!--\n.*?-->\n", "", template, count=1, flags=re.S)
    ours = re.sub(r"\{\{ url:[a-z.-]+ \}\}", "URL", ours)
    ours = re.sub(r"\{\{ integrity:[a-z.-]+ \}\}", "SRI", ours)
    theirs = re.sub(r"\n[ ]*crossorigin(?=\n)", "", strawberry_page())
    theirs = UNPKG.sub("URL", theirs)
    theirs = re.sub(r'integrity="sha384-[^"]+"', 'integrity="SRI"', theirs)
    # Our edits, each stated once: the title; no overflow:hidden on <body> (with it, the run
    # button's menu logs a console error: react-remove-scroll-bar cannot measure the
    # scrollbar); the document, passed as defaultQuery too.
    theirs = theirs.replace("Strawberry GraphiQL", "sessiongraph · GraphiQL")
    theirs = theirs.replace("width: 100%;\n        overflow: hidden;\n", "width: 100%;\n", 1)
    theirs = re.sub(
        r"const EXAMPLE_QUERY = `.*?`;",
        "// The default document: graph/static/graphiql/default.graphql, as a JSON string.\n"
        "      const DEFAULT_DOCUMENT = {{ default_document }};",
        theirs,
        flags=re.S,
    )
    theirs = theirs.replace("EXAMPLE_QUERY", "DEFAULT_DOCUMENT")
    theirs = theirs.replace(
        "fetcher: fetcher,\n", "fetcher: fetcher,\n          defaultQuery: DEFAULT_DOCUMENT,\n"
    )
    ours = re.sub(r"\n *// Passed on every load.*?(?=\n *const \[query)", "", ours, flags=re.S)
    assert ours == theirs


def test_vendored_licenses_are_present() -> None:
    for package in ("react", "react-dom", "js-cookie", "graphiql", "plugin-explorer"):
        assert (ASSETS_DIR / f"LICENSE.{package}").read_text().strip()


# --- the router ------------------------------------------------------------------------------


async def test_graphql_post_still_works(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "world"}}


async def test_get_query_is_not_the_ide(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ hello }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "world"}}


async def test_other_ides_are_left_alone() -> None:
    transport = httpx.ASGITransport(app=make_app(graphql_ide="apollo-sandbox"))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        html = await get_graphiql_page(c)
    assert html != offline_graphiql_html()
    assert "graphiql-assets" not in html


def test_the_page_holds_the_default_document_as_a_script_string() -> None:
    html = offline_graphiql_html()
    literal = re.search(r"const DEFAULT_DOCUMENT = (.*);\n", html)
    assert literal is not None
    assert "</" not in literal.group(1)  # cannot end the <script> early
    assert json.loads(literal.group(1)) == DEFAULT_DOCUMENT.read_text(encoding="utf-8")


# --- the app ---------------------------------------------------------------------------------


async def test_fastapis_docs_redoc_and_openapi_are_off() -> None:
    async with running_gateway(size=10) as gateway:
        for path in ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
            response = await gateway.client.get(path, headers=HTML_ACCEPT)
            assert response.status_code == 404, path
        page = await gateway.client.get("/graphql", headers=HTML_ACCEPT)
        assert page.status_code == 200
        asset = collect_assets(page.text)[0][1]
        assert (await gateway.client.get(asset)).headers["cache-control"] == IMMUTABLE
