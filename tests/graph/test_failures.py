"""Failures as a client and an operator see them: a vendor down fails only what needed it and is
logged as one warning line; a bug in one adapter costs only that vendor's share of a page."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from providers.query import SessionQuery
from providers.records import Provider
from tests.conftest import ANCHOR, Gateway
from tests.oracles import expected_records
from tests.oracles.select import select

NODE = "query($id: ID!) { node(id: $id) { id ... on Session { transcript { text } } } }"
PAGE = """query($f: SessionFilter) { sessions(first: 10, filter: $f) {
  edges { node { provider providerSessionId } }
  sources { provider queried ok errorCode } } }"""
AFTER, BEFORE = ANCHOR - timedelta(days=90), ANCHOR


async def test_a_vendor_down_fails_the_node_it_serves_with_one_warning_line(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    node_id = await gateway.first_session_id(Provider.VONAGE)
    gateway.simulators[Provider.VONAGE].faults.error_status = 500
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sessiongraph"):
        body = await gateway.query(NODE, id=node_id)
    assert body["data"] == {"node": None}
    assert [(e["path"], e["extensions"]) for e in body["errors"]] == [
        (["node"], {"code": "UPSTREAM_UNAVAILABLE", "provider": "VONAGE", "retryable": True})
    ]
    logged = [r for r in caplog.records if r.name == "sessiongraph"]
    assert [(r.levelname, r.getMessage()) for r in logged] == [
        ("WARNING", f"vendor failure: {body['errors'][0]['message']}")
    ]
    assert logged[0].exc_info is None  # no traceback for a vendor's failure


async def test_a_bug_in_one_adapter_costs_only_that_vendor(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any) -> None:
        raise KeyError("adapter bug detail")

    monkeypatch.setattr(gateway.sources.adapters[Provider.VECTARA], "list_sessions", broken)
    window = {"startedAfter": AFTER.isoformat(), "startedBefore": BEFORE.isoformat()}
    body = await gateway.query(PAGE, f=window)
    connection = body["data"]["sessions"]
    others = [
        r
        for p in Provider
        if p is not Provider.VECTARA
        for r in expected_records(gateway.simulators[p])
    ]
    truth = select(others, SessionQuery(started_after=AFTER, started_before=BEFORE))[:10]
    assert [
        (e["node"]["provider"], e["node"]["providerSessionId"]) for e in connection["edges"]
    ] == [(r.provider.name, r.id) for r in truth]
    assert connection["sources"] == [
        {"provider": p.name, "queried": True, "ok": p is not Provider.VECTARA, "errorCode": code}
        for p, code in (
            (Provider.SAMSARA, None),
            (Provider.STATESET, None),
            (Provider.VECTARA, "UPSTREAM_BAD_RESPONSE"),
            (Provider.VONAGE, None),
        )
    ]
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        (
            "VECTARA could not be read",
            {"code": "UPSTREAM_BAD_RESPONSE", "provider": "VECTARA", "retryable": False},
        )
    ]
    assert "adapter bug detail" not in str(body)
    # Logged for us, with its traceback.
    [bug] = [r for r in caplog.records if r.getMessage() == "adapter vectara failed"]
    assert bug.levelname == "ERROR" and bug.exc_info is not None
