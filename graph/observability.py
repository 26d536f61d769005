"""The app's side of observability: request ids, `/metrics`, the operation's metrics and span,
the JSON log format, and the tracer's set-up. The metrics themselves, and what lower layers
report, are in providers/telemetry.py.

- Request id: a client's `X-Request-ID` is kept when it is a sane token (at most 64 of
  `A-Za-z0-9._:-`), else one is made (uuid4 hex); it is echoed on every response and set in a
  context variable, which the tasks of the request (vendor calls) inherit: every log line
  written while serving it carries it.
- `/metrics`: Prometheus' text format, without a key (SESSIONGRAPH_METRICS=off removes it); no
  label holds a tenant or client text. With `serve --workers N` each worker answers with the
  sum of all workers' files in PROMETHEUS_MULTIPROC_DIR (graph/serving.py sets it).
- Traces (SESSIONGRAPH_OTEL=on): a span per GraphQL operation, a child span per vendor request,
  sent over OTLP (http/protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT (the exporter reads the
  standard OTEL_* variables). Strawberry's OpenTelemetryExtension makes a span per resolver:
  thousands for one page of sessions, so one per operation is made here instead.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from providers.telemetry import OPERATION_SECONDS, OPERATIONS, REQUEST_ID, tracer, use_tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [
    "REQUEST_ID_HEADER",
    "JsonLines",
    "OperationObserved",
    "RequestIds",
    "install_metrics",
    "request_id_of",
    "start_tracing",
    "stop_tracing",
]

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_HEADER = REQUEST_ID_HEADER.lower().encode()


def request_id_of(given: str | None) -> str:
    """The client's id when it is a sane token (it goes into log lines as is), else a new one."""
    if given is not None and _SANE_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIds:
    """ASGI middleware, outermost: every HTTP request gets its id before anything answers (a
    refused body, a CORS preflight), and every response says it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == _HEADER), None)
        request_id = request_id_of(given.decode("latin-1") if given is not None else None)
        echoed = (_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class OperationObserved(SchemaExtension):
    """Counts and times each operation by type and outcome, and when tracing is on wraps it in
    a span: the parent of its vendor requests' spans. Bounded labels only: the operation's name
    is client text, left out."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        chosen = tracer()
        if chosen is None:
            yield
            self._count(started)
            return
        from opentelemetry import context, trace

        span = chosen.start_span("graphql.operation", kind=trace.SpanKind.SERVER)
        token = context.attach(trace.set_span_in_context(span))
        try:
            yield
        finally:
            kind, outcome = self._count(started)
            span.update_name(f"graphql {kind}")
            span.set_attribute("graphql.operation.type", kind)
            span.set_attribute("sessiongraph.outcome", outcome)
            request_id = REQUEST_ID.get()
            if request_id is not None:
                span.set_attribute("sessiongraph.request_id", request_id)
            span.end()
            context.detach(token)

    def _count(self, started: float) -> tuple[str, str]:
        ran = self.execution_context
        try:
            kind = ran.operation_type.value
        except Exception:  # no document (a syntax error), or no operation of that name
            kind = "unknown"
        result = ran.result
        if result is None or not result.errors:
            outcome = "ok"
        else:
            outcome = "partial" if result.data is not None else "error"
        series = _OPERATION_SERIES.get((kind, outcome))
        if series is None:  # a few pairs at most: types x outcomes
            series = (OPERATIONS.labels(kind, outcome), OPERATION_SECONDS.labels(kind))
            _OPERATION_SERIES[(kind, outcome)] = series
        series[0].inc()
        series[1].observe(time.perf_counter() - started)
        return kind, outcome


# Each (type, outcome)'s series, looked up once: `labels()` costs ~2 us a call.
_OPERATION_SERIES: dict[tuple[str, str], tuple[Counter, Histogram]] = {}


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def install_metrics(app: FastAPI) -> None:
    """GET /metrics: every metric of this process, or with workers of all of them."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(
            generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


# --- logs ---------------------------------------------------------------------------------------

# What every LogRecord has: anything else on a record is an extra (`log.info(..., extra={})`).
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id (when serving one),
    process (with workers), the extras, and the traceback when there is one."""

    def __init__(self, *, process: bool = False) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        if self._process:
            line["process"] = record.process
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in line:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


# --- traces -------------------------------------------------------------------------------------


def start_tracing() -> TracerProvider:
    """Spans from now on go to the OTLP endpoint the standard OTEL_* variables name (default
    http://localhost:4318), batched; the provider returned is shut down (flushed) at exit."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "sessiongraph")}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use_tracer(provider.get_tracer("sessiongraph"))
    return provider


def stop_tracing(provider: TracerProvider) -> None:
    """No spans from now on; those batched are sent first."""
    use_tracer(None)
    provider.shutdown()
