"""Traces: one span per GraphQL operation (not one per resolver: a page has thousands of
fields), one child span per request a vendor received, all in the operation's trace; none at
all when tracing is off (the default)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from graph.settings import load_settings
from providers import telemetry
from providers.records import Provider
from tests.conftest import Gateway

PAGE = "{ sessions(first: 20) { nodes { id provider transcript { text } } } }"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer(provider.get_tracer("test"))
    try:
        yield exporter
    finally:
        telemetry.use_tracer(None)
        provider.shutdown()


async def test_an_operation_is_one_span_parent_of_one_span_per_vendor_request(
    gateway: Gateway, exported: InMemorySpanExporter
) -> None:
    gateway.clear_logs()
    answer = await gateway.client.post(
        "/graphql", json={"query": PAGE}, headers={"X-Request-ID": "traced-1"}
    )
    assert answer.status_code == 200 and "errors" not in answer.json()
    spans = exported.get_finished_spans()
    operations = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in operations] == ["graphql query"]
    (operation,) = operations
    assert operation.attributes is not None
    assert operation.attributes["sessiongraph.request_id"] == "traced-1"
    assert operation.attributes["sessiongraph.outcome"] == "ok"
    calls = [s for s in spans if s is not operation]
    # A span for each request a vendor received, of that vendor, and nothing else.
    logged = Counter(p.value for p, s in gateway.simulators.items() for _ in s.log.entries)
    assert Counter(str((s.attributes or {})["sessiongraph.vendor"]) for s in calls) == logged
    assert sum(logged.values()) >= 4
    assert all(s.kind is SpanKind.CLIENT for s in calls)
    assert operation.context is not None
    for call in calls:
        assert call.parent is not None and call.parent.span_id == operation.context.span_id
        assert call.context is not None
        assert call.context.trace_id == operation.context.trace_id
        assert (call.attributes or {})["sessiongraph.status"] == 200


async def test_a_failing_vendor_call_span_says_its_status(
    gateway: Gateway, exported: InMemorySpanExporter
) -> None:
    gateway.simulators[Provider.STATESET].faults.error_status = 404
    await gateway.query(PAGE)
    statuses = {
        (s.attributes or {}).get("sessiongraph.status")
        for s in exported.get_finished_spans()
        if (s.attributes or {}).get("sessiongraph.vendor") == "stateset"
    }
    assert statuses == {404}
    (operation,) = [s for s in exported.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert (operation.attributes or {})["sessiongraph.outcome"] == "partial"


async def test_a_mutation_span_is_named_for_its_type(
    gateway: Gateway, exported: InMemorySpanExporter
) -> None:
    node_id = await gateway.first_session_id(Provider.STATESET)
    exported.clear()
    await gateway.query("mutation($id: ID!) { deleteSession(id: $id) { deletedId } }", id=node_id)
    names = [s.name for s in exported.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert names == ["graphql mutation"]


async def test_tracing_is_off_by_default_and_costs_no_span(gateway: Gateway) -> None:
    assert telemetry.tracer() is None
    assert load_settings({}).otel is False
    assert load_settings({"SESSIONGRAPH_OTEL": "on"}).otel is True
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # never handed to the app
    await gateway.query(PAGE)
    assert exporter.get_finished_spans() == ()


async def test_otel_on_starts_a_tracer_for_the_apps_life_and_stops_it_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import running_gateway

    # No collector here: the exporter would try one at shutdown; spans go nowhere instead.
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    async with running_gateway(environ={"SESSIONGRAPH_OTEL": "on"}):
        assert telemetry.tracer() is not None
    assert telemetry.tracer() is None
