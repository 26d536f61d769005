"""Vonage maps what a query reads: a list without details maps the summary alone; with details
the flow steps wait until something reads them, and are then the model's. Expected records come
from the simulator's model (tests/oracles/vonage.py), never from the mapper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from providers.adapter import Adapter
from providers.errors import UpstreamProtocolError
from providers.query import SessionQuery
from providers.records import FlowStep
from providers.simulators.vonage.server import VonageSimulator
from providers.vonage import mapping
from tests.oracles import expected_records
from tests.support import connect, expected

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
QUERY = SessionQuery(started_after=ANCHOR - timedelta(days=60), started_before=ANCHOR)


@pytest.fixture
def sim() -> VonageSimulator:
    return VonageSimulator(size=60, seed=4, anchor=ANCHOR, clock=lambda: ANCHOR)


@pytest.fixture
async def adapter(sim: VonageSimulator) -> AsyncIterator[Adapter]:
    adapter = connect(sim)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def flow_mappings(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every flow path the mapper maps into flow steps, in order."""
    mapped: list[Any] = []
    real: Callable[[Any], tuple[FlowStep, ...]] = mapping.flow_steps

    def counted(flow_path: Any) -> tuple[FlowStep, ...]:
        mapped.append(flow_path)
        return real(flow_path)

    monkeypatch.setattr(mapping, "flow_steps", counted)
    return mapped


async def test_a_list_without_details_has_the_models_summaries_and_maps_no_flow(
    sim: VonageSimulator, adapter: Adapter, flow_mappings: list[Any]
) -> None:
    page = await adapter.list_sessions(replace(QUERY, with_details=False), None, 40)
    records = [item.record for item in page.items]
    assert len(records) == 40
    assert all(record.details is None for record in records)
    assert records == [replace(r, details=None) for r in expected(sim, QUERY)[:40]]
    assert flow_mappings == []


async def test_listed_details_are_the_models_and_flow_steps_wait_to_be_read(
    sim: VonageSimulator, adapter: Adapter, flow_mappings: list[Any]
) -> None:
    page = await adapter.list_sessions(QUERY, None, 40)
    records = [item.record for item in page.items]
    truth = expected(sim, QUERY)[:40]
    assert [r.details.transcript for r in records if r.details] == [
        t.details.transcript for t in truth if t.details
    ]
    assert [r.details.tool_calls for r in records if r.details] == [
        t.details.tool_calls for t in truth if t.details
    ]
    assert flow_mappings == []  # transcripts and tool calls read: no flow step mapped yet

    first = records[0].details
    assert first is not None and truth[0].details is not None
    assert first.flow_steps == truth[0].details.flow_steps
    assert first.flow_steps and first.flow_steps == truth[0].details.flow_steps
    assert len(flow_mappings) == 1  # mapped once, on the first read

    assert records == truth  # every field, flow steps included
    assert len(flow_mappings) == 40


async def test_sessions_got_by_reference_defer_their_flow_steps_too(
    sim: VonageSimulator, adapter: Adapter, flow_mappings: list[Any]
) -> None:
    truth = expected_records(sim)[:10]
    got = await adapter.get_sessions([record.ref for record in truth])
    assert flow_mappings == []
    assert got == truth
    assert len(flow_mappings) == 10


async def test_a_flow_node_of_the_wrong_shape_fails_where_it_is_read(
    sim: VonageSimulator, adapter: Adapter
) -> None:
    newest = max(sim.documents, key=lambda d: d["session_start_time"])
    node = next(n for n in newest["flow_path"] if n["type"] != mapping.WEBHOOK)
    del node["node_id"]
    page = await adapter.list_sessions(QUERY, None, 5)  # the list itself is fine
    broken = next(i.record for i in page.items if i.record.id == newest["id"])
    assert broken.details is not None and broken.details.transcript
    with pytest.raises(UpstreamProtocolError, match="the field 'node_id' is missing"):
        broken.details.flow_steps  # noqa: B018
    others = [i.record for i in page.items if i.record.id != newest["id"]]
    assert others == [r for r in expected(sim, QUERY)[:5] if r.id != newest["id"]]
