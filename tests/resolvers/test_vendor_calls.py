"""Vendor calls per query, read from the simulators' request logs: a query costs the fewest
calls the vendor APIs allow, details are fetched only when selected, finished sessions are
cached across requests, and identical concurrent requests share their vendor calls."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from providers.records import Provider
from tests.conftest import Gateway, running_gateway

LIST_ONLY = "{ sessions(first: 30) { edges { node { id provider status startedAt } } } }"
WITH_DETAILS = """{ sessions(first: 30) { edges { node { id provider providerSessionId status
  transcript { turns { speaker text } } toolCalls { name arguments status } } } } }"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Session { provider status
  transcript { turns { text } } } } }"""

SAMSARA_DETAILS = "/agent-studio/voice-sessions"
SAMSARA_STREAM = "/agent-studio/voice-sessions/stream"


def calls(gateway: Gateway) -> dict[Provider, Counter[str]]:
    """Calls per vendor, by kind: list, detail."""
    kinds: dict[Provider, Counter[str]] = {}
    for provider, simulator in gateway.simulators.items():
        kinds[provider] = Counter(_kind(provider, e.path, e.query) for e in simulator.log.entries)
    return kinds


def _kind(provider: Provider, path: str, query: dict[str, list[str]]) -> str:
    if provider is Provider.SAMSARA:
        return "list" if path == SAMSARA_STREAM else "detail"
    if provider is Provider.STATESET:
        return "detail" if "stream_id" in query else "list"
    if provider is Provider.VECTARA:
        if path.endswith("/sessions"):
            return "list"
        return "events" if path.endswith("/events") else "detail"
    return "list" if path == "/insights/sessions" else "detail"


def on_page(body: dict[str, Any]) -> Counter[str]:
    return Counter(e["node"]["provider"] for e in body["data"]["sessions"]["edges"])


async def test_a_list_without_detail_fields_makes_no_detail_call(gateway: Gateway) -> None:
    body = await gateway.query(LIST_ONLY)
    assert "errors" not in body
    made = calls(gateway)
    assert {p: made[p]["detail"] + made[p]["events"] for p in Provider} == dict.fromkeys(
        Provider, 0
    )
    assert all(made[p]["list"] >= 1 for p in Provider)


async def test_details_cost_one_batch_for_samsara_and_one_events_call_per_vectara_session(
    gateway: Gateway,
) -> None:
    body = await gateway.query(WITH_DETAILS)
    assert "errors" not in body
    page = on_page(body)
    made = calls(gateway)
    assert made[Provider.SAMSARA]["detail"] == 1  # all of the page's ids in one call (≤ 100)
    assert made[Provider.VECTARA]["events"] == page["VECTARA"]
    assert made[Provider.VECTARA]["detail"] == 0  # the list already gave the session
    assert made[Provider.STATESET]["detail"] == 0  # its list carries transcripts
    assert made[Provider.VONAGE]["detail"] == 0  # so does Vonage's


async def test_nodes_of_fifty_ids_across_vendors_are_batched_per_vendor(gateway: Gateway) -> None:
    listed = await gateway.query("{ sessions(first: 50) { edges { node { id provider } } } }")
    ids = [e["node"]["id"] for e in listed["data"]["sessions"]["edges"]]
    page = on_page(listed)
    gateway.clear_logs()
    body = await gateway.query(NODES, ids=ids)
    assert [n["id"] for n in body["data"]["nodes"]] == ids
    made = calls(gateway)
    assert made[Provider.SAMSARA] == Counter({"detail": 1})
    assert made[Provider.STATESET] == Counter({"detail": page["STATESET"]})
    assert made[Provider.VECTARA] == Counter({"detail": page["VECTARA"], "events": page["VECTARA"]})
    assert made[Provider.VONAGE] == Counter({"detail": page["VONAGE"]})

    # The same query again: finished sessions come from the cache, running ones are asked again.
    gateway.clear_logs()
    again = await gateway.query(NODES, ids=ids)
    assert again["data"] == body["data"]  # fewer calls: the cost's `actual` differs
    running = Counter(n["provider"] for n in body["data"]["nodes"] if n["status"] == "ACTIVE")
    made = calls(gateway)
    assert made[Provider.SAMSARA]["detail"] == (1 if running["SAMSARA"] else 0)
    assert made[Provider.VONAGE]["detail"] == running["VONAGE"]
    assert made[Provider.STATESET]["detail"] == running["STATESET"]
    assert made[Provider.VECTARA]["events"] == running["VECTARA"]


async def test_the_same_list_query_twice_reuses_cached_details(gateway: Gateway) -> None:
    first = await gateway.query(WITH_DETAILS)
    cold = calls(gateway)
    gateway.clear_logs()
    second = await gateway.query(WITH_DETAILS)
    warm = calls(gateway)
    assert second["data"] == first["data"]  # fewer calls: the cost's `actual` differs
    running = Counter(
        e["node"]["provider"]
        for e in first["data"]["sessions"]["edges"]
        if e["node"]["status"] == "ACTIVE"
    )
    assert warm[Provider.VECTARA]["events"] == running["VECTARA"]
    assert warm[Provider.SAMSARA]["detail"] == (1 if running["SAMSARA"] else 0)
    assert {p: warm[p]["list"] for p in Provider} == {p: cold[p]["list"] for p in Provider}


async def test_two_concurrent_identical_queries_share_their_vendor_calls(
    gateway: Gateway,
) -> None:
    async with running_gateway() as alone:  # the same query once, on a cold gateway of its own
        single = await alone.query(WITH_DETAILS)
        once = calls(alone)
    for simulator in gateway.simulators.values():
        simulator.faults.latency_s = 0.02  # keeps both requests' calls in flight together
    one, two = await asyncio.gather(gateway.query(WITH_DETAILS), gateway.query(WITH_DETAILS))
    assert one["data"] == two["data"] == single["data"]  # one made the shared calls
    assert calls(gateway) == once


async def test_vonage_is_asked_only_for_the_fields_the_selection_needs(gateway: Gateway) -> None:
    vonage = gateway.simulators[Provider.VONAGE]
    await gateway.query(LIST_ONLY)
    listed = [e.param("project_fields") or "" for e in vonage.log.entries]
    assert listed and all('"id"' in p and "transcription" not in p for p in listed)
    assert all("flow_path" not in p for p in listed)
    vonage.log.clear()
    await gateway.query(WITH_DETAILS)
    detailed = [e.param("project_fields") or "" for e in vonage.log.entries]
    assert detailed and all("transcription" in p and "flow_path" in p for p in detailed)


async def test_nodes_without_detail_fields_skip_the_detail_calls_they_can(
    gateway: Gateway,
) -> None:
    listed = await gateway.query("{ sessions(first: 50) { edges { node { id provider } } } }")
    ids = [e["node"]["id"] for e in listed["data"]["sessions"]["edges"]]
    page = on_page(listed)
    gateway.clear_logs()
    body = await gateway.query(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Session { status startedAt } } }",
        ids=ids,
    )
    assert [n["id"] for n in body["data"]["nodes"]] == ids
    # Vectara: the session alone, no events call.
    assert calls(gateway)[Provider.VECTARA] == Counter({"detail": page["VECTARA"]})
