"""The ASGI app: FastAPI with the GraphQL router at /graphql (GraphiQL on GET, served offline),
/healthz (liveness), /readyz (at least one vendor's breaker not open), and the vendors' clients
opened in the lifespan and closed on shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from starlette.responses import JSONResponse
from strawberry.fastapi import BaseContext
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult

from graph.errors import translate_result
from graph.graphiql import OfflineGraphQLRouter, mount_graphiql_assets
from graph.schema import schema
from graph.settings import Settings, load_settings
from providers.adapter import Adapter
from providers.records import Provider
from resolvers.connection import PagingLimits
from resolvers.context import Loaders, RequestContext
from resolvers.cursor import CursorCodec
from resolvers.sources import Sources, demo_sources, live_sources

__all__ = ["create_app"]

log = logging.getLogger("sessiongraph")


class GraphContext(RequestContext, BaseContext):
    """The request context, marked as Strawberry's FastAPI context so the router takes it."""


class GraphRouter(OfflineGraphQLRouter[GraphContext, None]):
    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return process_result(translate_result(result))

    def encode_json(self, data: object) -> bytes:
        # orjson: several times faster than json.dumps on large transcripts (bench/RESULTS.md).
        return orjson.dumps(data)


def readiness(adapters: Mapping[Provider, Adapter]) -> tuple[bool, dict[str, Any]]:
    """Ready while at least one configured vendor's breaker is not open; the body says each
    vendor's breaker."""
    vendors: dict[str, Any] = {}
    for provider, adapter in sorted(adapters.items()):
        health = adapter.client.health()
        vendors[provider.value] = {
            "state": health.state.name,
            "failures": health.failures,
            "since": health.since.isoformat() if health.since else None,
        }
    ready = any(vendor["state"] != "OPEN" for vendor in vendors.values())
    return ready, {"status": "ready" if ready else "unavailable", "providers": vendors}


def open_sources(settings: Settings) -> Sources:
    if settings.demo:
        log.warning(
            "demo mode: no vendor credential is set, serving the four built-in simulators "
            "(%d sessions each)",
            settings.demo_size,
        )
        return demo_sources(
            settings.demo_size, settings.demo_seed, settings.timeout_s, settings.demo_anchor
        )
    log.info("live vendors: %s", ", ".join(p.name for p in settings.providers))
    return live_sources(settings.providers)


def create_app(settings: Settings | None = None, sources: Sources | None = None) -> FastAPI:
    """The app. `sources` lets tests hand in simulators they hold (to read their logs)."""
    settings = settings or load_settings()
    if settings.cursor_secret_generated:
        log.warning(
            "SESSIONGRAPH_CURSOR_SECRET is not set: cursors are signed with a key of this "
            "process only and will not work on another replica or after a restart"
        )
    limits = PagingLimits(
        default_window_days=settings.default_window_days,
        default_page_size=settings.default_page_size,
        max_page_size=settings.max_page_size,
        scan_cap=settings.scan_cap,
    )
    codec = CursorCodec(settings.cursor_secret.reveal())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = sources or open_sources(settings)
        app.state.sources = opened
        try:
            yield
        finally:
            await opened.aclose()

    async def context(request: Request, response: Response) -> GraphContext:
        opened: Sources = request.app.state.sources
        return GraphContext(
            sources=opened,
            codec=codec,
            limits=limits,
            loaders=Loaders(opened),
            request=request,
            response=response,
        )

    app = FastAPI(title="sessiongraph", lifespan=lifespan)
    router = GraphRouter(schema, context_getter=context, graphql_ide="graphiql")
    app.include_router(router, prefix="/graphql")
    mount_graphiql_assets(app)

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, Any]:
        opened: Sources = request.app.state.sources
        return {
            "status": "ok",
            "mode": "demo" if opened.demo else "live",
            "providers": sorted(p.value for p in opened.adapters),
        }

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        opened: Sources = request.app.state.sources
        ready, body = readiness(opened.adapters)
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
