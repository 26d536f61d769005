"""A vendor failure is worded for people: the client reads what happened, the log also reads
what broke inside (the exception's class), never the other way round."""

from __future__ import annotations

import logging

import pytest

from providers.records import Provider
from tests.conftest import Gateway

NODE = "query($id: ID!) { node(id: $id) { id ... on Session { transcript { text } } } }"


async def test_a_body_the_gateway_cannot_read_is_told_without_exception_names(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    node_id = await gateway.first_session_id(Provider.VONAGE)
    gateway.simulators[Provider.VONAGE].faults.malformed_rate = 1.0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sessiongraph"):
        body = await gateway.query(NODE, id=node_id)
    assert body["data"] == {"node": None}
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        (
            "VONAGE sent a response sessiongraph cannot read: the body is not JSON",
            {"code": "UPSTREAM_BAD_RESPONSE", "provider": "VONAGE", "retryable": False},
        )
    ]
    logged = [r.getMessage() for r in caplog.records if r.name == "sessiongraph"]
    assert len(logged) == 1
    assert logged[0].startswith(
        "vendor failure: VONAGE sent a response sessiongraph cannot read: "
        "the body is not JSON (JSONDecodeError: "
    )
