"""A client's mistake is a `BAD_USER_INPUT` error with a message that says what to change, and
no vendor hears of it: filters, ids, paging arguments and variables, each refused before any
vendor call. The limits themselves are accepted (no off-by-one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest

from providers.records import Provider
from resolvers.cursor import filter_hash
from resolvers.filters import SessionFilterSpec
from tests.conftest import ANCHOR, Gateway

SESSIONS = """query($f: SessionFilter) {
  sessions(first: 5, filter: $f) { edges { node { id } } totalCount }
}"""
PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  sessions(first: $first, after: $after, last: $last, before: $before) { totalCount }
}"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
EMPTY_LIST = "an empty list matches nothing: leave the field out instead"
INVOICE = base64.b64encode(b"Invoice:vonage|x").decode()
TIME_ZONE = "needs a time zone (e.g. 2026-05-14T18:40:02Z)"


def node_id(type_name: str, node: str) -> str:
    """A Relay id as a client could forge one: base64 of `Type:node`."""
    return base64.b64encode(f"{type_name}:{node}".encode()).decode()


async def refused(gateway: Gateway, query: str, **variables: Any) -> str:
    """The one error's message, after checking it is BAD_USER_INPUT and no vendor was called."""
    gateway.clear_logs()
    body = await gateway.query(query, **variables)
    assert "errors" in body, body
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT"}], body
    assert "Traceback" not in str(body)
    assert sum(gateway.calls().values()) == 0, f"a vendor was called for {variables}"
    message: str = body["errors"][0]["message"]
    return message


# --- SessionFilter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_", "message"),
    [
        ({"agentIds": [f"a{i}" for i in range(501)]}, "`agentIds`: at most 500 ids"),
        ({"agentIds": ["fine", "a,b"]}, "`agentIds`: 'a,b' is not a valid id"),
        ({"agentIds": ["../admin"]}, "`agentIds`: '../admin' is not a valid id"),
        ({"vehicleIds": ["v 1"]}, "`vehicleIds`: 'v 1' is not a valid id"),
        ({"vehicleIds": [f"v{i}" for i in range(501)]}, "`vehicleIds`: at most 500 ids"),
        ({"driverIds": [f"d{i}" for i in range(501)]}, "`driverIds`: at most 500 ids"),
        ({"driverIds": ["d&x=1"]}, "`driverIds`: 'd&x=1' is not a valid id"),
        ({"text": ""}, "`text` must be 1 to 200 characters"),
        ({"text": "   "}, "`text` must be 1 to 200 characters"),
        ({"text": "x" * 201}, "`text` must be 1 to 200 characters"),
        ({"tags": [f"t{i}" for i in range(21)]}, "`tags`: at most 20 tags of 1 to 100 characters"),
        ({"tags": ["billing", ""]}, "`tags`: at most 20 tags of 1 to 100 characters"),
        ({"tags": ["x" * 101]}, "`tags`: at most 20 tags of 1 to 100 characters"),
        ({"phoneNumber": "555-01"}, "`phoneNumber` must hold 6 to 20 digits"),
        ({"phoneNumber": "call me"}, "`phoneNumber` must hold 6 to 20 digits"),
        ({"phoneNumber": "+1 " + "2" * 20}, "`phoneNumber` must hold 6 to 20 digits"),
        ({"startedAfter": "2026-10-01T00:00:00"}, f"`startedAfter` {TIME_ZONE}"),
        (
            {"startedAfter": "2026-10-01T00:00:00Z", "startedBefore": "2026-10-02T00:00:00"},
            f"`startedBefore` {TIME_ZONE}",
        ),
        (
            {"startedAfter": "2026-10-02T00:00:00Z", "startedBefore": "2026-10-02T00:00:00Z"},
            "`startedAfter` must be before `startedBefore`",
        ),
        (
            {"startedAfter": "2026-10-03T00:00:00+02:00", "startedBefore": "2026-10-02T00:00:00Z"},
            "`startedAfter` must be before `startedBefore`",
        ),
        (
            # No startedBefore: "now" is the gateway's clock, ANCHOR.
            {"startedAfter": (ANCHOR + timedelta(days=1)).isoformat()},
            "`startedAfter` must be before `startedBefore` (or now)",
        ),
        ({"providers": []}, EMPTY_LIST),
        ({"statuses": []}, EMPTY_LIST),
        ({"channels": []}, EMPTY_LIST),
        # "Lists match any of their values": an empty one matches nothing, whichever list it
        # is, and is refused like the others rather than silently answering nothing.
        ({"agentIds": []}, EMPTY_LIST),
        ({"vehicleIds": []}, EMPTY_LIST),
        ({"driverIds": []}, EMPTY_LIST),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_a_bad_filter_is_refused_before_any_vendor_call(
    gateway: Gateway, filter_: dict[str, Any], message: str
) -> None:
    assert await refused(gateway, SESSIONS, f=filter_) == message


@pytest.mark.parametrize(
    "filter_",
    [
        {"agentIds": [f"a{i}" for i in range(500)]},
        {"text": "refund " * 28 + "ok"},  # 198 characters, then padded below to exactly 200
        {"tags": [f"t{i}" for i in range(19)] + ["x" * 100]},
        {"phoneNumber": "555-010"},
        {"phoneNumber": "+1 " + "2" * 19},
        {"startedAfter": (ANCHOR - timedelta(seconds=1)).isoformat()},
        {"startedAfter": "2026-10-01T23:00:00-01:00", "startedBefore": "2026-10-02T00:00:01Z"},
    ],
    ids=["500-agents", "200-chars", "20-tags", "6-digits", "20-digits", "to-now", "zones"],
)
async def test_the_limits_themselves_are_accepted(
    gateway: Gateway, filter_: dict[str, Any]
) -> None:
    if "text" in filter_:
        filter_ = {"text": filter_["text"].ljust(200, "k")}
        assert len(filter_["text"]) == 200
    query = """query($f: SessionFilter) {
      sessions(first: 5, filter: $f) { sources { provider queried ok } } }"""
    body = await gateway.query(query, f={**filter_, "providers": ["VONAGE"]})
    body.pop("extensions")  # the query's cost (test_query_cost.py)
    assert body == {
        "data": {"sessions": {"sources": [{"provider": "VONAGE", "queried": True, "ok": True}]}}
    }


# --- paging arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"first": 5, "last": 5}, "pass `first` or `last`, not both"),
        ({"first": -1}, "`first` cannot be negative"),
        ({"last": -1}, "`last` cannot be negative"),
        ({"first": 101}, "`first` is at most 100"),
        ({"last": 101}, "`last` is at most 100"),
        (
            {"first": 5, "before": "x"},
            "`before` goes with `last`; page forward with `first` and `after`",
        ),
        (
            {"last": 5, "after": "x"},
            "`after` goes with `first`; page backward with `last` and `before`",
        ),
        ({"before": "x"}, "`before` needs `last`"),
    ],
    ids=lambda value: ",".join(value) if isinstance(value, dict) else "",
)
async def test_bad_paging_arguments_are_refused(
    gateway: Gateway, arguments: dict[str, Any], message: str
) -> None:
    variables = {"first": None, "after": None, "last": None, "before": None, **arguments}
    assert await refused(gateway, PAGE, **variables) == message


async def test_an_agents_sessions_check_their_paging_arguments_too(gateway: Gateway) -> None:
    query = """query($id: ID!) { agent(id: $id) { ... on Agent {
      sessions(first: 3, last: 3) { totalCount } } } }"""
    gateway.clear_logs()
    body = await gateway.query(query, id=node_id("Agent", "vectara|agt_billing"))
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        ("pass `first` or `last`, not both", "BAD_USER_INPUT")
    ]
    # The agent was looked up (to resolve `agent`); its sessions were never listed.
    vectara = gateway.simulators[Provider.VECTARA].log
    assert [e.path for e in vectara.entries] == ["/v2/agents/agt_billing"]
    assert sum(gateway.calls().values()) == 1


@pytest.mark.parametrize(
    ("first", "message"), [(101, "`first` must be 0 to 100"), (-1, "`first` must be 0 to 100")]
)
async def test_the_agent_list_checks_first(gateway: Gateway, first: int, message: str) -> None:
    query = "query($first: Int) { agents(first: $first) { totalCount } }"
    assert await refused(gateway, query, first=first) == message


# --- node ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("nope", "'nope' is not an id of this API"),
        (
            node_id("Invoice", "vonage|x"),
            f"{node_id('Invoice', 'vonage|x')!r} is not an id of this API",
        ),
        (node_id("Session", "vonage|x|a|2026-10-01"), "not a Session id"),
        (node_id("Session", "vonage|x|a|2026-10-01||"), "not a Session id"),
        (node_id("Session", "vonage|x|a|the first of May|"), "not a Session id"),
        (node_id("Session", "zoom|x|a||"), "the id names no known provider"),
        (node_id("Session", "vonage|x y|a||"), "the id holds characters no vendor id has"),
        (node_id("Session", "vonage|x|a/b||"), "the id holds characters no vendor id has"),
        (node_id("Session", "stateset|x|a||s?x=1"), "the id holds characters no vendor id has"),
        (node_id("Session", "vonage||a||"), "the id holds characters no vendor id has"),
        (node_id("Agent", "vonage"), "not an Agent id"),
        (node_id("Agent", "vonage|a|b"), "not an Agent id"),
        (node_id("Agent", "zoom|a"), "the id names no known provider"),
        (node_id("Agent", "vectara|../../v2/corpora"), "the id holds characters no vendor id has"),
    ],
)
async def test_a_malformed_node_id_is_refused_before_any_vendor_call(
    gateway: Gateway, raw: str, message: str
) -> None:
    assert await refused(gateway, NODE, id=raw) == message


async def test_nodes_takes_at_most_100_ids(gateway: Gateway) -> None:
    ids = [node_id("Agent", f"vectara|agt_{i}") for i in range(101)]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    assert await refused(gateway, query, ids=ids) == "`ids`: at most 100 at once"
    body = await gateway.query(query, ids=ids[:100])
    body.pop("extensions")  # the query's cost (test_query_cost.py)
    assert body == {"data": {"nodes": [None] * 100}}  # 100 is fine: none of them exist


async def test_nodes_refuses_a_list_holding_one_bad_id(gateway: Gateway) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    ids = [node_id("Agent", "vectara|agt_billing"), "garbage"]
    gateway.clear_logs()
    body = await gateway.query(query, ids=ids)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "'garbage' is not an id of this API"


async def test_session_and_agent_refuse_each_others_ids(gateway: Gateway) -> None:
    listed = await gateway.query(
        "{ sessions(first: 1, filter: {providers: [VECTARA]}) { nodes { id agent { id } } } }"
    )
    [session] = listed["data"]["sessions"]["nodes"]
    wrong_session = await gateway.query(
        "query($id: ID!) { session(id: $id) { id } }", id=session["agent"]["id"]
    )
    wrong_agent = await gateway.query("query($id: ID!) { agent(id: $id) { id } }", id=session["id"])
    for body, message in (
        (wrong_session, "that id is not a Session id"),
        (wrong_agent, "that id is not an Agent id"),
    ):
        assert body["data"] is not None
        assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
            (message, "BAD_USER_INPUT")
        ]
    right = await gateway.query("query($id: ID!) { session(id: $id) { id } }", id=session["id"])
    assert right["data"] == {"session": {"id": session["id"]}} and "errors" not in right


async def test_a_well_formed_id_of_nothing_is_null_not_an_error(gateway: Gateway) -> None:
    gateway.clear_logs()
    body = await gateway.query(NODE, id=node_id("Session", "vonage|no-such-session||2026-10-01|"))
    assert body["data"] == {"node": None} and "errors" not in body
    body = await gateway.query(NODE, id=node_id("Agent", "vectara|agt_nobody"))
    assert body["data"] == {"node": None} and "errors" not in body


# --- variables and literals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        ("query($n: Int) { sessions(first: $n) { totalCount } }", {"n": "ten"}, "$n"),
        ("query($n: Int!) { sessions(first: $n) { totalCount } }", {}, "$n"),
        ("query($n: Int!) { sessions(first: $n) { totalCount } }", {"n": None}, "$n"),
        (SESSIONS, {"f": {"startedAfter": "last Tuesday"}}, "$f"),
        (SESSIONS, {"f": {"statuses": ["ON_FIRE"]}}, "$f"),
    ],
    ids=["not-an-int", "missing", "null", "not-a-time", "not-a-status"],
)
async def test_a_bad_variable_value_is_bad_user_input_naming_the_variable(
    gateway: Gateway, query: str, variables: dict[str, Any], fragment: str
) -> None:
    # graph/errors.py: "a bad variable value `BAD_USER_INPUT`"; the client must learn which.
    message = await refused(gateway, query, **variables)
    assert fragment in message


async def test_a_bad_literal_is_a_validation_error(gateway: Gateway) -> None:
    gateway.clear_logs()
    body = await gateway.query('{ sessions(filter: {startedAfter: "soon"}) { totalCount } }')
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "DateTime" in body["errors"][0]["message"]
    assert sum(gateway.calls().values()) == 0


# --- cursors signed with this deployment's secret, but not of this version ------------------------


def default_filter_hash() -> str:
    """What the default page's cursors are bound to (the hash is not what these tests check)."""
    return filter_hash({"filter": SessionFilterSpec().canonical(), "order": "desc"})


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(payload: bytes) -> bytes:
    """The documented MAC: HMAC-SHA256(secret, payload || filter hash), first 12 bytes."""
    message = payload + default_filter_hash().encode()
    return hmac.new(b"test-secret", message, hashlib.sha256).digest()[:12]


def payload_of(cursor: str) -> bytes:
    data = unb64(cursor)
    payload, mac = data[:-12], data[-12:]
    assert mac == sign(payload), "the cursor format is not the documented one"
    return payload


def with_version(payload: bytes, version: int) -> bytes:
    return bytes([payload[0] & 0x1F | version << 5]) + payload[1:]


def with_key_provider(payload: bytes, code: int) -> bytes:
    return bytes([payload[0] & 0xF8 | code]) + payload[1:]


def with_samsara_tag(payload: bytes, tag: int) -> bytes:
    return payload[:1] + bytes([payload[1] & 0x0F | tag << 4]) + payload[2:]


@pytest.mark.parametrize(
    "change",
    [
        lambda p: with_version(p, 2),
        lambda p: with_version(p, 4),
        lambda p: p[:-1],  # cut short
        lambda p: p + b"\x00",  # a byte too many
        lambda p: p[:3],  # the header alone
        lambda p: with_key_provider(p, 7),  # no such provider code
        lambda p: with_samsara_tag(p, 15),  # no such position kind
    ],
    ids=[
        "older-version",
        "newer-version",
        "cut-short",
        "trailing",
        "header-only",
        "provider",
        "tag",
    ],
)
async def test_a_signed_cursor_of_another_version_or_shape_is_refused(
    gateway: Gateway, change: Any
) -> None:
    page = await gateway.query("{ sessions(first: 2) { pageInfo { endCursor } } }")
    cursor = page["data"]["sessions"]["pageInfo"]["endCursor"]
    payload = payload_of(cursor)
    assert b64(payload + sign(payload)) == cursor  # the test signs as the gateway does
    changed = change(payload)
    message = await refused(gateway, PAGE, first=2, after=b64(changed + sign(changed)))
    assert message == (
        "`after` is not a cursor of this query (it may be stale, edited, or made for another "
        "filter or order)"
    )


async def test_a_version_2_cursor_is_refused_with_a_reason(gateway: Gateway) -> None:
    """Version 2 was base64url(JSON) "." base64url(HMAC-SHA256[:16]): signed by this very
    secret, it is still refused, and the client is told to start again."""
    body = json.dumps(
        {
            "v": 2,
            "o": "desc",
            "f": default_filter_hash(),
            "w": ["2026-08-03T00:00:00+00:00", "2026-11-01T00:00:00+00:00"],
            "k": ["2026-10-01T00:00:00+00:00", "vonage", "a", "b"],
            "p": {},
        },
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(b"test-secret", body, hashlib.sha256).digest()[:16]
    message = await refused(gateway, PAGE, first=2, after=f"{b64(body)}.{b64(signature)}")
    assert message == (
        "`after` is a cursor of an earlier version of this server: start again from the first page"
    )
