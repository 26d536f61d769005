"""Offline GraphiQL: serve the IDE and all of its assets from this package, no CDN.

Strawberry's built-in GraphiQL page (``strawberry/static/graphiql.html``) loads React,
ReactDOM, js-cookie, graphiql and @graphiql/plugin-explorer from unpkg.com. Our demo has
to run on machines with no network access at all, and there that page stays blank.

So we ship the exact same files (same versions, byte-identical, so the page's
``integrity`` hashes still hold) under ``graph/static/graphiql/``:

* :func:`mount_graphiql_assets` serves that directory at ``/graphiql-assets``;
* :class:`OfflineGraphQLRouter` is a ``strawberry.fastapi.GraphQLRouter`` whose GraphiQL
  page is our ``index.html``: a copy of Strawberry's page with every unpkg URL rewritten to
  ``/graphiql-assets/<file>``.

Strawberry 0.341 serves its IDE page as-is (no template variables), and
``GraphQLRouter.render_graphql_ide`` returns ``HTMLResponse(self.graphql_ide_html)``, so
overriding the ``graphql_ide_html`` property is enough.

Usage::

    app = FastAPI()
    app.include_router(OfflineGraphQLRouter(schema), prefix="/graphql")
    mount_graphiql_assets(app)
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from strawberry.fastapi import GraphQLRouter
from strawberry.fastapi.context import CustomContext
from typing_extensions import TypeVar

__all__ = [
    "ASSETS_DIR",
    "ASSETS_URL_PATH",
    "OfflineGraphQLRouter",
    "mount_graphiql_assets",
    "offline_graphiql_html",
]

ASSETS_DIR: Final[Path] = Path(__file__).resolve().parent / "static" / "graphiql"
"""Directory holding ``index.html``, the vendored JS/CSS builds and their licenses."""

ASSETS_URL_PATH: Final = "/graphiql-assets"
"""URL path the assets are mounted at; ``index.html`` refers to them by this absolute path."""

_INDEX_HTML: Final = ASSETS_DIR / "index.html"

# Same defaults as strawberry.fastapi.router.GraphQLRouter's own type parameters.
Context = TypeVar("Context", default=CustomContext)
RootValue = TypeVar("RootValue", default=None)


@cache
def offline_graphiql_html() -> str:
    """Return our GraphiQL page (read once, then cached)."""
    return _INDEX_HTML.read_text(encoding="utf-8")


def mount_graphiql_assets(app: FastAPI) -> None:
    """Serve the vendored GraphiQL assets at :data:`ASSETS_URL_PATH` on ``app``."""
    app.mount(
        ASSETS_URL_PATH,
        StaticFiles(directory=ASSETS_DIR, check_dir=True),
        name="graphiql-assets",
    )


class OfflineGraphQLRouter(GraphQLRouter[Context, RootValue]):
    """``GraphQLRouter`` whose GraphiQL page loads its assets from ``/graphiql-assets``.

    Only the ``"graphiql"`` IDE is replaced; other ``graphql_ide`` choices (which need the
    network anyway) keep Strawberry's pages. Remember to call :func:`mount_graphiql_assets`
    on the app, or the page will load but its scripts will 404.
    """

    @property
    def graphql_ide_html(self) -> str:
        if self.graphql_ide == "graphiql":
            return offline_graphiql_html()
        return super().graphql_ide_html
