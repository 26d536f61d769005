"""The GraphiQL page and every asset it needs are served locally (no CDN, works offline)."""

from __future__ import annotations

import base64
import hashlib
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
    OfflineGraphQLRouter,
    mount_graphiql_assets,
    offline_graphiql_html,
)

HTML_ACCEPT = {"Accept": "text/html"}

# Strawberry's unpkg URL -> our vendored file name.
UNPKG_TO_LOCAL = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": (
        "react-dom.production.min.js"
    ),
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": (
        "plugin-explorer.umd.js"
    ),
}


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
    return parser.assets


async def get_graphiql_page(client: httpx.AsyncClient) -> str:
    response = await client.get("/graphql", headers=HTML_ACCEPT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_graphiql_page_has_no_remote_urls(client: httpx.AsyncClient) -> None:
    html = await get_graphiql_page(client)

    assert "GraphiQL" in html
    assert html == offline_graphiql_html()
    assert "unpkg" not in html
    assert "https://" not in html
    assert "crossorigin" not in html
    for tag in ("script", "link"):
        for match in re.finditer(rf"<{tag}\b[^>]*>", html):
            assert "://" not in match.group(0).replace("http://www.w3.org/2000/svg", "")


async def test_every_asset_is_local_and_served(client: httpx.AsyncClient) -> None:
    html = await get_graphiql_page(client)
    assets = [a for a in collect_assets(html) if not a[1].startswith("data:")]  # favicon

    assert {url for _, url, _ in assets} == {
        f"{ASSETS_URL_PATH}/{name}" for name in UNPKG_TO_LOCAL.values()
    }
    for tag, url, integrity in assets:
        assert url.startswith(f"{ASSETS_URL_PATH}/"), url
        response = await client.get(url)
        assert response.status_code == 200, url
        content_type = response.headers["content-type"]
        if url.endswith(".js"):
            assert tag == "script"
            assert content_type.split(";")[0] in {"text/javascript", "application/javascript"}
            assert len(response.content) > 1024, url
        else:
            assert url.endswith(".css") and tag == "link"
            assert content_type.startswith("text/css"), url
            assert len(response.content) > 100, url
        # The page keeps Strawberry's SRI hashes: the vendored files are byte-identical.
        assert integrity is not None, url
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert integrity == f"sha384-{digest}", url


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


def test_index_html_is_strawberrys_page_with_local_urls() -> None:
    """Fails if a Strawberry upgrade changes its page: re-vendor the assets then."""
    strawberry_page = (Path(strawberry.__file__).parent / "static" / "graphiql.html").read_text(
        encoding="utf-8"
    )
    expected = re.sub(r"\n[ ]*crossorigin(?=\n)", "", strawberry_page)
    for unpkg_url, name in UNPKG_TO_LOCAL.items():
        assert expected.count(unpkg_url) == 1, unpkg_url
        expected = expected.replace(unpkg_url, f"{ASSETS_URL_PATH}/{name}")
    assert offline_graphiql_html() == expected


def test_vendored_licenses_are_present() -> None:
    for package in ("react", "react-dom", "js-cookie", "graphiql", "plugin-explorer"):
        assert (ASSETS_DIR / f"LICENSE.{package}").read_text().strip()
