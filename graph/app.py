"""The ASGI app: FastAPI with the GraphQL router at /graphql (GraphiQL on GET, served offline),
/healthz (liveness), /readyz (at least one vendor's breaker not open), and each tenant's vendor
clients opened in the lifespan and closed on shutdown.

Every GraphQL request is authenticated first (graph/auth.py): its key names a tenant, whose
`Sources` (clients, caches, index rows) and cursor key serve it, and a role; then counted
against its key's limits (graph/quota.py: requests here, cost once priced).

Every GraphQL request is bounded before it runs: its body (`over_http.BodyLimit`), its shape
(`over_http.read_request`), its depth and aliases (the schema, built here from the settings);
and while it runs: one deadline, and no work left once its client is gone (`deadline`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import orjson
import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from graphql import GraphQLError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from strawberry.fastapi import BaseContext
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from graph.access_log import hide_query_strings
from graph.auth import Unauthenticated
from graph.cors import install_cors
from graph.deadline import ClientGone, RequestTimedOut, run_within
from graph.errors import translate_result
from graph.graphiql import OfflineGraphQLRouter, mount_graphiql_assets
from graph.introspection import IntrospectionPolicy
from graph.observability import RequestIds, install_metrics, start_tracing, stop_tracing
from graph.over_http import BodyLimit, RequestRefused, ResponseFormat, read_request, refusal
from graph.persisted import PersistedConfig, PersistedQueries, check_safelist
from graph.quota import RATE_LIMITED, KeyLimits, retry_after_of
from graph.schema import build_schema
from graph.settings import ConfigError, Settings, load_settings
from index.sync import SyncLimits
from providers.adapter import Adapter
from providers.records import Provider
from resolvers.connection import PagingLimits
from resolvers.context import Loaders, RequestContext
from resolvers.cursor import CursorCodec
from resolvers.principal import DEFAULT_TENANT, Audience, Principal, Role, tenant_tag
from resolvers.redaction import Redactor
from resolvers.sources import Sources, demo_sources, live_sources, open_store

__all__ = ["WORKER_HEADER", "check_persisted", "create_app"]

log = logging.getLogger("sessiongraph")

WORKER_HEADER = "Sessiongraph-Worker"  # on /healthz: the pid of the process that answered

# nginx's code for "client closed request": logged, never read by anyone.
CLIENT_CLOSED = 499


class GraphContext(RequestContext, BaseContext):
    """The request context, marked as Strawberry's FastAPI context so the router takes it.
    `refused`: why the request's key was refused (the router answers 401 and runs nothing)."""

    refused: Unauthenticated | None = None


class GraphRouter(OfflineGraphQLRouter[GraphContext, None]):
    def __init__(
        self,
        schema: BaseSchema,
        request_timeout_s: float,
        quota: KeyLimits,
        persisted: PersistedQueries | None = None,
        *,
        context_getter: Callable[[Request, Response], Awaitable[GraphContext]],
        **options: Any,
    ) -> None:
        super().__init__(schema, context_getter=context_getter, **options)
        self.request_timeout_s = request_timeout_s
        self.quota = quota
        self.persisted = persisted or PersistedQueries(PersistedConfig())
        self._context_of = context_getter
        self._answer_directly()

    def _answer_directly(self) -> None:
        """GET and POST /graphql as one route whose endpoint takes the request alone and builds
        the context itself. Strawberry's endpoints get theirs through FastAPI's dependency
        injection (the context getter nested in a wrapper, beside a root-value getter and
        background tasks): four dependency solves a request, ~15% of a small query's CPU in the
        app. The context, the sub-response and everything `run` does are the same."""
        http = {"GET", "POST"}
        self.routes[:] = [
            route
            for route in self.routes
            if not (isinstance(route, APIRoute) and http & (route.methods or set()))
        ]
        self.add_api_route(
            "",
            self._answer,
            methods=["GET", "POST"],
            response_model=None,
            include_in_schema=False,
        )

    async def _answer(self, request: Request) -> Response:
        # What FastAPI hands an endpoint asking for a `Response`: headers and status to merge.
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        context = await self._context_of(request, sub_response)
        self.temporal_response = sub_response  # Strawberry's `get_sub_response` reads it
        return await self.run(request, context=context, root_value=None)

    async def run(  # type: ignore[override]
        self, request: Request, context: GraphContext = UNSET, root_value: None = UNSET
    ) -> Response:
        """Strawberry's, with every refusal answered as a GraphQL error body (Strawberry's own
        are plain text) and no exception left to reset the client's connection. HTTP only:
        the schema has no subscriptions, and the context is built from an HTTP request."""
        answer = ResponseFormat.of(request.headers)
        # The GraphiQL page holds no data, and a browser cannot add a key to a page load:
        # it is served to anyone; every operation, GET or POST, needs the key. (The context
        # is built before `run`, by FastAPI's dependency: it holds the key's verdict.)
        if context is not UNSET and not (
            request.method == "GET"
            and self.should_render_graphql_ide(self.request_adapter_class(request))
        ):
            if context.refused is not None:
                refused = refusal(401, str(context.refused), "UNAUTHENTICATED", answer)
                refused.headers["WWW-Authenticate"] = 'Bearer realm="sessiongraph"'
                return refused
            # The key's requests a minute, counted before the body is parsed (graph/quota.py).
            now = context.sources.clock.monotonic()
            limited = self.quota.admit_request(context.principal.key_id, now)
            if limited is not None:
                refused = refusal(429, limited.message, RATE_LIMITED, answer, **limited.details)
                refused.headers["Retry-After"] = str(limited.retry_after_s)
                return refused
        try:
            return await super().run(request, context=context, root_value=root_value)
        except HTTPException as exc:
            if not isinstance(exc, RequestRefused):
                return refusal(exc.status_code, exc.reason, "BAD_REQUEST", answer)
            refused = refusal(exc.status_code, exc.reason, exc.code, answer)
            refused.headers.update(exc.headers)
            return refused
        except ClientGone:
            log.info("client gone before its answer: its vendor work was cancelled")
            return Response(status_code=CLIENT_CLOSED)
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.url.path)
            return refusal(500, "Internal server error.", "INTERNAL_SERVER_ERROR", answer)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET naming its query by hash alone (APQ) has no `query` either: it wants an answer.
        return (
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        body = b"" if request.method == "GET" else await request.get_body()
        params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        return read_request(request.method, request.content_type or "", body, params)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GraphContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # After authentication (the store is the key's tenant's), before anything is parsed.
        request_data = self.persisted.resolve(request_data, context.principal.tenant)
        execution = super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        try:
            result = await run_within(
                execution, self.request_timeout_s, context.sources.clock, request.receive
            )
        except RequestTimedOut:
            log.warning(
                "request out of time after %g s (SESSIONGRAPH_REQUEST_TIMEOUT_S): "
                "its vendor work was cancelled",
                self.request_timeout_s,
            )
            result = _timed_out(self.request_timeout_s)
        context.loaders.release()
        result = translate_result(result)
        answer = ResponseFormat.of(request.headers)
        sub_response.status_code = answer.status(result)
        sub_response.media_type = answer.media_type
        retry_after = retry_after_of(result.errors)  # over the key's cost a minute
        if retry_after is not None:
            sub_response.status_code = 429
            sub_response.headers["Retry-After"] = str(retry_after)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return ResponseFormat.of(request.headers).document(translate_result(result))

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = Response(
            self.encode_json(response_data),
            media_type=sub_response.media_type or "application/json",
            status_code=sub_response.status_code or 200,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    def encode_json(self, data: object) -> bytes:
        # orjson: several times faster than json.dumps on large transcripts (bench/RESULTS.md).
        return orjson.dumps(data)


def _timed_out(timeout_s: float) -> ExecutionResult:
    message = (
        f"the request ran out of time ({timeout_s:g} s) while vendors were still answering; "
        "ask for fewer sessions or fewer vendors, or retry"
    )
    extensions = {"code": "UPSTREAM_TIMEOUT", "retryable": True}
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


# A refused request's principal: the least role, of no key. Never runs (see GraphRouter.run).
NOBODY = Principal(tenant=DEFAULT_TENANT, role=Role.VIEWER, key_id=None)


def audience_for(principal: Principal, redactors: Mapping[str, Redactor]) -> Audience:
    """How answers are shaped for `principal`: its tenant's tag on node ids, and below the
    reviewer role, its tenant's redaction."""
    redact = None if principal.may(Role.REVIEWER) else redactors[principal.tenant]
    return Audience(tag=tenant_tag(principal.tenant), redact=redact)


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


def open_tenants(settings: Settings) -> dict[str, Sources]:
    """Each tenant's vendors: `default` first (the simulators in demo mode)."""
    tenants = {DEFAULT_TENANT: open_sources(settings)}
    for name, vendors in settings.other_tenants.items():
        log.info("tenant %s: live vendors %s", name, ", ".join(p.name for p in vendors))
        tenants[name] = live_sources(vendors, tenant=name)
    return tenants


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


# Where the index lives in live mode when SESSIONGRAPH_INDEX_URL is not set.
DEFAULT_INDEX_URL = "sqlite:///.sessiongraph/index.db"


def sync_limits(settings: Settings) -> SyncLimits:
    return SyncLimits(
        interval_s=settings.sync_interval_s,
        reconcile_interval_s=settings.reconcile_interval_s,
        retention_days=settings.retention_days,
        max_sessions=settings.index_max_sessions,
    )


async def open_index(
    settings: Settings, tenants: Mapping[str, Sources], exits: AsyncExitStack, start_sync: bool
) -> None:
    """The index `settings` ask for, one store shared by every tenant (each reads and syncs
    its own rows). Demo mode's data is generated afresh at every start, so by default its
    index is a temporary file, gone at shutdown."""
    url = settings.index_url
    if url == "off":
        return
    if url is None and tenants[DEFAULT_TENANT].demo:
        folder = exits.enter_context(tempfile.TemporaryDirectory(prefix="sessiongraph-"))
        url = f"sqlite:///{folder}/index.db"
    store = await open_store(url or DEFAULT_INDEX_URL)
    if isinstance(store, str):
        for sources in tenants.values():
            sources.index_error = store
        return
    log.info("index: %s", store.describe())
    exits.push_async_callback(store.aclose)  # after every tenant's sync has stopped
    for sources in tenants.values():
        sources.attach_index(store, sync_limits(settings), start_sync=start_sync, owned=False)


def check_persisted(settings: Settings, schema: strawberry.Schema) -> None:
    """ConfigError when a safelisted operation does not validate against `schema` (the
    supervisor of several workers checks too, so the reason reaches the console)."""
    try:
        check_safelist(schema._schema, settings.persisted.safelist)  # graphql-core's schema
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def create_app(
    settings: Settings | None = None,
    sources: Sources | Mapping[str, Sources] | None = None,
    start_sync: bool = True,
) -> FastAPI:
    """The app. `sources` lets tests hand in simulators they hold (to read their logs), as the
    default tenant's or by tenant; `start_sync=False` leaves the index's sync to them
    (`Sources.index.syncer.run_once`)."""
    settings = settings or load_settings()
    given = {DEFAULT_TENANT: sources} if isinstance(sources, Sources) else sources
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
    codecs = {
        name: CursorCodec(settings.cursor_secret.reveal(), name)
        for name in (*settings.tenants, *(given or {}))
    }
    redactors = {
        name: Redactor(settings.cursor_secret.reveal(), name, settings.phone_region)
        for name in codecs
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hide_query_strings()  # here: uvicorn has configured its loggers by now
        tenants = dict(given) if given else open_tenants(settings)
        app.state.tenants = tenants
        app.state.sources = tenants[DEFAULT_TENANT]  # health and readiness, and tests
        async with AsyncExitStack() as exits:
            if settings.otel:  # here: in each worker, after its process started
                exits.callback(stop_tracing, start_tracing())
            try:
                await open_index(settings, tenants, exits, start_sync)
                yield
            finally:
                for opened in tenants.values():
                    await opened.aclose()

    async def context(request: Request, response: Response) -> GraphContext:
        refused = None
        try:
            principal = settings.auth.authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            # Nothing runs for it: the router answers 401 (the default tenant's sources only
            # fill the context's slots).
            principal, refused = NOBODY, exc
        opened: Sources = request.app.state.tenants[principal.tenant]
        built = GraphContext(
            sources=opened,
            codec=codecs[principal.tenant],
            limits=limits,
            loaders=Loaders(opened),
            request=request,
            response=response,
            principal=principal,
            audience=audience_for(principal, redactors),
        )
        built.refused = refused
        return built

    # No /docs, /redoc or /openapi.json: this is a GraphQL API (GraphiQL at /graphql is its
    # explorer), and FastAPI's pages load their scripts from a CDN, blank offline.
    app = FastAPI(
        title="sessiongraph", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.request_timeout_s
    )
    install_cors(app, settings.cors)  # outside the body limit: preflights are answered first
    app.add_middleware(RequestIds)  # outermost: every response, refusals too, has its id
    # Built per app, from the settings: the limits are part of the schema's validation rules.
    quota = KeyLimits.of(
        settings.auth.keys.values(), settings.key_requests_per_min, settings.key_cost_per_min
    )
    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_cost=settings.max_cost,
        quota=quota,
        introspection=IntrospectionPolicy.of(settings.demo, settings.introspection),
    )
    check_persisted(settings, schema)
    router = GraphRouter(
        schema,
        settings.request_timeout_s,
        quota,
        PersistedQueries(settings.persisted),
        context_getter=context,
        graphql_ide="graphiql",
    )
    app.include_router(router, prefix="/graphql")
    mount_graphiql_assets(app)
    if settings.metrics:
        install_metrics(app)

    @app.exception_handler(StarletteHTTPException)
    async def http_refusal(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own refusals (405 for PUT /graphql, 404): as GraphQL error bodies on
        /graphql, like every other refusal there; FastAPI's JSON elsewhere."""
        headers = dict(exc.headers or {})
        if not request.url.path.startswith("/graphql"):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)
        code = "BAD_REQUEST"
        if exc.status_code == 405:
            # Starlette names the first route's method only; /graphql answers both.
            code, headers["Allow"] = "METHOD_NOT_ALLOWED", "GET, POST"
        answer = refusal(exc.status_code, str(exc.detail), code, ResponseFormat.of(request.headers))
        answer.headers.update(headers)
        return answer

    @app.get("/healthz")
    async def healthz(request: Request, response: Response) -> dict[str, Any]:
        opened: Sources = request.app.state.sources
        # Which process answered, with `serve --workers N`: each worker has its own caches
        # and breakers, so this is where an operator starts telling them apart.
        response.headers[WORKER_HEADER] = str(os.getpid())
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
