"""Pipelined fan-out: a vendor's batched detail call starts as soon as its own list is in, for
the listed sessions that can still make the page, without waiting for a slower vendor; vendors
with one detail call per session wait for the merged page (a candidate left out costs a call)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph.types import Transcript
from providers.query import SortOrder
from providers.records import Provider, SessionRecord, SessionStatus
from resolvers.connection import _Candidates, _Plan
from resolvers.filters import SessionFilterSpec
from tests.conftest import running_gateway

SAMSARA_DETAILS = "/agent-studio/voice-sessions"
DETAILS = """{ sessions(first: 20) { edges { node { id provider providerSessionId
  transcript { turns { text } } } } } }"""


async def test_batched_details_start_before_a_slow_vendor_has_answered() -> None:
    async with running_gateway(size=60) as gateway:
        vonage = gateway.simulators[Provider.VONAGE]
        samsara = gateway.simulators[Provider.SAMSARA]
        vonage.faults.latency_s = 0.4
        # When Samsara's detail call comes in: how far Vonage's searches are (0: unanswered).
        vonage_at_details: list[list[int]] = []
        record = samsara.log.record

        def watching(method: str, path: str, raw_query: str, *args: Any) -> tuple[int, int]:
            if path == SAMSARA_DETAILS:
                vonage_at_details.append([entry.status for entry in vonage.log.entries])
            return record(method, path, raw_query, *args)

        samsara.log.record = watching  # type: ignore[method-assign]
        body = await gateway.query(DETAILS)
        assert "errors" not in body, body
        [statuses] = vonage_at_details  # one batched call
        assert statuses and all(status == 0 for status in statuses)
        on_page = {
            e["node"]["providerSessionId"]
            for e in body["data"]["sessions"]["edges"]
            if e["node"]["provider"] == "SAMSARA"
        }
        [details] = [e for e in samsara.log.entries if e.path == SAMSARA_DETAILS]
        asked = set(details.param("ids").split(","))  # type: ignore[union-attr]
        assert on_page and on_page <= asked and len(asked) <= 20
        assert all(t["node"]["transcript"] is not None for t in body["data"]["sessions"]["edges"])


async def test_per_session_details_are_fetched_for_the_merged_page_only() -> None:
    async with running_gateway(size=60) as gateway:
        body = await gateway.query(DETAILS)
        on_page = {
            e["node"]["providerSessionId"]
            for e in body["data"]["sessions"]["edges"]
            if e["node"]["provider"] == "VECTARA"
        }
        events = [
            e.path.split("/")[-2]
            for e in gateway.simulators[Provider.VECTARA].log.entries
            if e.path.endswith("/events")
        ]
        assert sorted(events) == sorted(on_page)


async def test_whole_nodes_are_completed_while_per_session_details_are_out() -> None:
    """The resolver does not hold the page for Vectara's event calls: the nodes already whole
    are completed while those calls are out, the others once their details are in."""
    async with running_gateway(size=60) as gateway:
        vectara = gateway.simulators[Provider.VECTARA]
        vectara.faults.latency_s = 0.3
        # For each transcript completed: how many of Vectara's event calls were answered then.
        completed: list[int] = []
        original = Transcript.of

        def spy(turns: Any) -> Transcript:
            events = [e for e in vectara.log.entries if e.path.endswith("/events")]
            completed.append(sum(1 for e in events if e.status != 0))
            return original(turns)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Transcript, "of", spy)
            body = await gateway.query(DETAILS)
        assert "errors" not in body, body
        edges = body["data"]["sessions"]["edges"]
        waiting = sum(1 for e in edges if e["node"]["provider"] == "VECTARA")
        assert 0 < waiting < len(edges)
        assert all(e["node"]["transcript"] is not None for e in edges)
        # The others' first, before any event call came back; then Vectara's, each once its
        # own call is in.
        assert completed[: len(edges) - waiting] == [0] * (len(edges) - waiting)
        assert len(completed) == len(edges) and all(n > 0 for n in completed[-waiting:])


async def test_a_request_gone_while_details_are_out_leaves_nothing_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cancelled while Vectara's event calls are out (a client gone, a deadline): the node
    futures go with the request, and the loads that end later find nobody waiting, quietly."""
    async with running_gateway(size=60) as gateway:
        vectara = gateway.simulators[Provider.VECTARA]
        vectara.faults.latency_s = 0.3
        request = asyncio.create_task(gateway.query(DETAILS))
        events: list[Any] = []
        for _ in range(250):  # until the event calls are out (after the 0.3 s list)
            await asyncio.sleep(0.02)
            events = [e for e in vectara.log.entries if e.path.endswith("/events")]
            if events:
                break
        await asyncio.sleep(0.02)  # every one of them
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        events = [e for e in vectara.log.entries if e.path.endswith("/events")]
        assert events and all(e.status == 0 for e in events)  # cut short while out
        # The loads end (the calls are cut short with the request, or answered by 0.3 s) and
        # find their nodes cancelled: nothing to set, nothing to log.
        await asyncio.sleep(0.5)
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def _record(provider: Provider, minute: int) -> SessionRecord:
    return SessionRecord(
        provider=provider,
        id=f"{provider.value}-{minute}",
        status=SessionStatus.COMPLETED,
        raw_status="completed",
        started_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minute),
    )


def test_candidates_are_those_among_the_first_count_listed_so_far() -> None:
    window = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    plan = _Plan(SessionFilterSpec(), SortOrder.NEWEST_FIRST, 3, window, "f", {}, None, None)
    handed: list[tuple[Provider, list[int]]] = []

    def on_listed(provider: Provider, records: Any) -> None:
        handed.append((provider, [r.started_at.minute for r in records]))

    candidates = _Candidates(plan, on_listed)
    # First in: everything it lists could make a page of 3.
    candidates.listed(Provider.STATESET, [_record(Provider.STATESET, m) for m in (50, 40, 30)])
    # Then: only its sessions among the three newest of all listed so far (50, 45, 40) can.
    candidates.listed(Provider.SAMSARA, [_record(Provider.SAMSARA, m) for m in (45, 35, 20)])
    # None of these can any more: the three newest are still 50, 45, 40.
    candidates.listed(Provider.VONAGE, [_record(Provider.VONAGE, m) for m in (39, 10)])
    assert handed == [(Provider.STATESET, [50, 40, 30]), (Provider.SAMSARA, [45])]
