"""A failed detail call nulls only the detail fields of the sessions it served: every other field
and every other vendor's session is intact, and `errors[]` has one entry per failed fetch (not one
per session and field), with its code, provider and retryable flag."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from providers.query import SessionQuery
from providers.records import Provider, SessionRecord
from tests.conftest import ANCHOR, Gateway
from tests.oracles import expected_records
from tests.oracles.select import select

AFTER, BEFORE = ANCHOR - timedelta(days=90), ANCHOR
WINDOW = {"startedAfter": AFTER.isoformat(), "startedBefore": BEFORE.isoformat()}
PAGE = """query($f: SessionFilter) { sessions(first: 40, filter: $f) {
  edges { node {
    provider providerSessionId status rawStatus startedAt summary agent { id }
    transcript { turns { speaker text } } toolCalls { name status } recording { url }
  } }
  sources { provider ok } } }"""
LAZY = """query($f: SessionFilter) { sessions(first: 40, filter: $f) {
  nodes { provider providerSessionId endedAt durationMs } } }"""
SAMSARA_DETAILS = r"^/agent-studio/voice-sessions$"
VECTARA_EVENTS = r"/events$"
UNAVAILABLE = {"code": "UPSTREAM_UNAVAILABLE", "retryable": True}


def newest(gateway: Gateway, count: int) -> list[SessionRecord]:
    records = [r for p in Provider for r in expected_records(gateway.simulators[p])]
    return select(records, SessionQuery(started_after=AFTER, started_before=BEFORE))[:count]


def fail(gateway: Gateway, provider: Provider, path_pattern: str) -> None:
    faults = gateway.simulators[provider].faults
    faults.error_status = 500
    faults.path_pattern = path_pattern


def failed_calls(gateway: Gateway, provider: Provider) -> int:
    return sum(entry.status == 500 for entry in gateway.simulators[provider].log.entries)


def check_page(body: dict[str, Any], truth: list[SessionRecord], failed: Provider) -> None:
    """Every session in its place with every field; details null exactly for `failed`."""
    edges = body["data"]["sessions"]["edges"]
    assert [(e["node"]["provider"], e["node"]["providerSessionId"]) for e in edges] == [
        (r.provider.name, r.id) for r in truth
    ]
    assert {r.provider for r in truth} == set(Provider)  # every vendor is on the page
    for edge, record in zip(edges, truth, strict=True):
        node = edge["node"]
        assert node["status"] == record.status.name
        assert node["rawStatus"] == record.raw_status
        assert node["summary"] == record.summary
        assert (node["agent"] is None) is (record.agent_id is None)
        if record.provider is failed:
            assert (node["transcript"], node["toolCalls"], node["recording"]) == (None,) * 3
            continue
        details = record.details
        assert details is not None
        assert node["transcript"] == {
            "turns": [{"speaker": t.speaker.name, "text": t.text} for t in details.transcript]
        }
        assert node["toolCalls"] == [
            {"name": c.name, "status": c.status.name} for c in details.tool_calls
        ]
        assert (node["recording"] is None) is (details.recording is None)
    assert body["data"]["sessions"]["sources"] == [
        {"provider": p.name, "ok": True} for p in sorted(Provider)
    ]


async def test_samsara_details_failing_null_only_samsaras_details_with_one_error(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    fail(gateway, Provider.SAMSARA, SAMSARA_DETAILS)
    with caplog.at_level(logging.INFO, logger="sessiongraph"):
        body = await gateway.query(PAGE, f=WINDOW)
    check_page(body, newest(gateway, 40), failed=Provider.SAMSARA)
    assert failed_calls(gateway, Provider.SAMSARA) == 1  # the page's ids in one call
    [error] = body["errors"]
    assert error["extensions"] == {**UNAVAILABLE, "provider": "SAMSARA"}
    assert error["path"][:2] == ["sessions", "edges"]
    # One warning line for the operator, no traceback: a vendor failure is not our bug.
    logged = [r for r in caplog.records if r.name == "sessiongraph"]
    assert [(r.levelname, r.exc_info) for r in logged] == [("WARNING", None)]


async def test_vectara_events_failing_null_only_vectaras_details_one_error_per_call(
    gateway: Gateway,
) -> None:
    fail(gateway, Provider.VECTARA, VECTARA_EVENTS)
    body = await gateway.query(PAGE, f=WINDOW)
    check_page(body, newest(gateway, 40), failed=Provider.VECTARA)
    # Vectara's details are one events call per session, each fetched on its own: one error
    # per failed call, none per field.
    vectara_on_page = sum(r.provider is Provider.VECTARA for r in newest(gateway, 40))
    assert failed_calls(gateway, Provider.VECTARA) == vectara_on_page
    assert len(body["errors"]) == vectara_on_page
    for error in body["errors"]:
        assert error["extensions"] == {**UNAVAILABLE, "provider": "VECTARA"}


async def test_one_failed_events_call_costs_only_its_own_session(gateway: Gateway) -> None:
    faults = gateway.simulators[Provider.VECTARA].faults
    fail(gateway, Provider.VECTARA, VECTARA_EVENTS)
    faults.error_budget = 1  # the first events call fails, the others answer
    body = await gateway.query(PAGE, f=WINDOW)
    truth = newest(gateway, 40)
    edges = body["data"]["sessions"]["edges"]
    assert [e["node"]["providerSessionId"] for e in edges] == [r.id for r in truth]
    vectara = [
        (edge["node"], record)
        for edge, record in zip(edges, truth, strict=True)
        if record.provider is Provider.VECTARA
    ]
    blank = [node for node, _ in vectara if node["transcript"] is None]
    assert len(vectara) > 1 and len(blank) == 1  # one session lost its details, one only
    for node, record in vectara:
        if node["transcript"] is not None:
            assert record.details is not None
            turns = [{"speaker": t.speaker.name, "text": t.text} for t in record.details.transcript]
            assert node["transcript"] == {"turns": turns}
    [error] = body["errors"]
    assert error["extensions"] == {**UNAVAILABLE, "provider": "VECTARA"}


async def test_lazy_times_that_need_details_are_null_with_the_one_error(gateway: Gateway) -> None:
    """Vectara's list has no end: `endedAt`/`durationMs` need the events, and behave like the
    detail fields when that call fails; the other vendors' times come from their lists."""
    fail(gateway, Provider.VECTARA, VECTARA_EVENTS)
    body = await gateway.query(LAZY, f=WINDOW)
    nodes = body["data"]["sessions"]["nodes"]
    truth = newest(gateway, 40)
    assert [n["providerSessionId"] for n in nodes] == [r.id for r in truth]
    for node, record in zip(nodes, truth, strict=True):
        if record.provider is Provider.VECTARA:
            assert (node["endedAt"], node["durationMs"]) == (None, None)
        else:
            assert node["durationMs"] == record.duration_ms
            assert (node["endedAt"] is None) is (record.ended_at is None)
    assert {e["extensions"]["provider"] for e in body["errors"]} == {"VECTARA"}
    assert len(body["errors"]) == failed_calls(gateway, Provider.VECTARA)  # one per call


async def test_one_failed_call_met_by_many_fields_and_aliases_is_one_error(
    gateway: Gateway,
) -> None:
    """Two aliases over the same sessions, four detail fields each: one batch, one error, and
    no second vendor call for the sessions whose details already failed in this request."""
    fail(gateway, Provider.SAMSARA, SAMSARA_DETAILS)
    query = """query($f: SessionFilter) {
      a: sessions(first: 10, filter: $f) { nodes { transcript { text } toolCalls { name } } }
      b: sessions(first: 10, filter: $f) { nodes { recording { url } flowSteps { type } } } }"""
    body = await gateway.query(query, f={**WINDOW, "providers": ["SAMSARA"]})
    for alias in ("a", "b"):
        nodes = body["data"][alias]["nodes"]
        assert len(nodes) == 10
        assert all(set(node.values()) == {None} for node in nodes)
    assert failed_calls(gateway, Provider.SAMSARA) == 1
    assert len(body["errors"]) == 1


async def test_a_bug_in_a_detail_fetch_costs_only_that_vendors_details(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any) -> None:
        raise KeyError("adapter bug detail")

    monkeypatch.setattr(gateway.sources.adapters[Provider.VECTARA], "complete_sessions", broken)
    body = await gateway.query(PAGE, f=WINDOW)
    check_page(body, newest(gateway, 40), failed=Provider.VECTARA)
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        (
            "VECTARA could not be read",
            {"code": "UPSTREAM_BAD_RESPONSE", "provider": "VECTARA", "retryable": False},
        )
    ]
    assert "adapter bug detail" not in str(body)
    [bug] = [r for r in caplog.records if r.getMessage() == "details from vectara failed"]
    assert bug.levelname == "ERROR" and bug.exc_info is not None


async def test_a_malformed_transcript_in_a_search_hit_costs_only_that_field(
    gateway: Gateway,
) -> None:
    """Vonage's hits carry their details, mapped when read: a transcript of the wrong shape is
    null with one error for that session, and its other fields and every other session stand."""
    vonage = gateway.simulators[Provider.VONAGE]
    truth = newest(gateway, 40)
    broken = next(r for r in truth if r.provider is Provider.VONAGE)
    [document] = [d for d in vonage.documents if d["id"] == broken.id]
    document["transcription"] = "not a list"
    body = await gateway.query(PAGE, f=WINDOW)
    edges = body["data"]["sessions"]["edges"]
    assert [e["node"]["providerSessionId"] for e in edges] == [r.id for r in truth]
    for edge, record in zip(edges, truth, strict=True):
        node = edge["node"]
        assert record.details is not None
        assert node["toolCalls"] == [
            {"name": c.name, "status": c.status.name} for c in record.details.tool_calls
        ]
        if record is broken:
            assert node["transcript"] is None
        else:
            turns = [{"speaker": t.speaker.name, "text": t.text} for t in record.details.transcript]
            assert node["transcript"] == {"turns": turns}
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "UPSTREAM_BAD_RESPONSE",
        "provider": "VONAGE",
        "retryable": False,
    }
    assert error["path"] == ["sessions", "edges", truth.index(broken), "node", "transcript"]
