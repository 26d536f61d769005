"""/metrics says what the simulators saw: vendor requests by vendor and status equal their logs,
retries are the repeated requests in them, cache hits are the reads that reached no vendor, a
breaker opened by five failed requests is counted OPEN, the index's last sync is the clock's
time. Metrics are process-wide (other tests count too): each test reads differences."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from graph.settings import load_settings
from providers import telemetry
from providers.budget import request_budget
from providers.errors import UpstreamRateLimitedError
from providers.records import Provider
from providers.simulators.samsara import SamsaraSimulator
from tests.conftest import ANCHOR, Gateway, running_gateway
from tests.providers.resilience.conftest import QUERY
from tests.support import FakeClock, connect

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

PAGE = """{ sessions(first: 30) { nodes { provider providerSessionId transcript { text } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Session { transcript { text } } } }"


async def scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grown(before: Samples, after: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The series of `name` that grew (or shrank) between two scrapes, by their labels."""
    keys = {labels for (n, labels) in (*before, *after) if n == name}
    moved = {k: value(after, name, **dict(k)) - value(before, name, **dict(k)) for k in keys}
    return {k: v for k, v in moved.items() if v}


def logged_calls(gateway: Gateway) -> Mapping[frozenset[tuple[str, str]], float]:
    """Vendor requests by vendor and status, from the simulators' own logs."""
    seen = Counter(
        frozenset({("vendor", provider.value), ("status", str(entry.status))})
        for provider, simulator in gateway.simulators.items()
        for entry in simulator.log.entries
    )
    return {labels: float(count) for labels, count in seen.items()}


async def test_vendor_calls_by_vendor_and_status_equal_the_simulators_logs(
    gateway: Gateway,
) -> None:
    gateway.simulators[Provider.STATESET].faults.error_status = 404  # answered, not retried
    gateway.clear_logs()
    before = await scrape(gateway.client)
    body = await gateway.query(PAGE)
    after = await scrape(gateway.client)
    assert body["data"]["sessions"]["nodes"]
    expected = logged_calls(gateway)
    assert sum(expected.values()) >= 4  # every vendor was asked
    assert frozenset({("vendor", "stateset"), ("status", "404")}) in expected
    assert grown(before, after, "sessiongraph_vendor_calls_total") == expected
    # One operation, a query, with data and an error (StateSet's): partial.
    assert grown(before, after, "sessiongraph_operations_total") == {
        frozenset({("type", "query"), ("outcome", "partial")}): 1.0
    }
    assert grown(before, after, "sessiongraph_operation_seconds_count") == {
        frozenset({("type", "query")}): 1.0
    }


async def test_retries_are_the_repeated_requests_in_the_vendors_log(gateway: Gateway) -> None:
    node_id = await gateway.first_session_id(Provider.VONAGE)
    gateway.simulators[Provider.VONAGE].faults.error_status = 503  # retried
    gateway.clear_logs()
    before = await scrape(gateway.client)
    body = await gateway.query(NODE, id=node_id)
    after = await scrape(gateway.client)
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    entries = gateway.simulators[Provider.VONAGE].log.entries
    distinct = {(e.method, e.path, e.raw_query) for e in entries}
    assert len(entries) > len(distinct)  # the same request was sent again
    assert grown(before, after, "sessiongraph_vendor_retries_total") == {
        frozenset({("vendor", "vonage")}): float(len(entries) - len(distinct))
    }
    assert grown(before, after, "sessiongraph_vendor_calls_total") == logged_calls(gateway)


async def test_a_session_read_twice_is_a_miss_then_a_hit_with_no_second_vendor_call(
    gateway: Gateway,
) -> None:
    node_id = await gateway.first_session_id(Provider.SAMSARA)
    gateway.clear_logs()
    first = await scrape(gateway.client)
    await gateway.query(NODE, id=node_id)
    middle = await scrape(gateway.client)
    asked = len(gateway.simulators[Provider.SAMSARA].log.entries)
    await gateway.query(NODE, id=node_id)
    last = await scrape(gateway.client)
    assert asked >= 1 and len(gateway.simulators[Provider.SAMSARA].log.entries) == asked
    assert grown(first, middle, "sessiongraph_cache_lookups_total") == {
        frozenset({("cache", "session"), ("outcome", "miss")}): 1.0
    }
    assert grown(middle, last, "sessiongraph_cache_lookups_total") == {
        frozenset({("cache", "session"), ("outcome", "hit")}): 1.0
    }


async def test_five_failed_requests_move_one_breaker_from_closed_to_open(gateway: Gateway) -> None:
    node_id = await gateway.first_session_id(Provider.VONAGE)
    gateway.simulators[Provider.VONAGE].faults.error_status = 500  # not retried: one call each
    before = await scrape(gateway.client)
    for _ in range(5):  # the breaker's policy: five failed requests in a row
        await gateway.query(NODE, id=node_id)
    after = await scrape(gateway.client)
    assert grown(before, after, "sessiongraph_vendor_breakers") == {
        frozenset({("vendor", "vonage"), ("state", "CLOSED")}): -1.0,
        frozenset({("vendor", "vonage"), ("state", "OPEN")}): 1.0,
    }
    ready = await gateway.client.get("/readyz")
    assert ready.json()["providers"]["vonage"]["state"] == "OPEN"


async def test_closing_the_app_takes_its_breakers_out_of_the_gauge() -> None:
    async with running_gateway() as gateway:
        during = await scrape(gateway.client)
        client = gateway.client
        app_transport = client._transport  # the app, still reachable after its lifespan
    after_client = httpx.AsyncClient(transport=app_transport, base_url="http://gateway")
    async with after_client:
        after = await scrape(after_client)
    assert grown(during, after, "sessiongraph_vendor_breakers") == {
        frozenset({("vendor", p.value), ("state", "CLOSED")}): -1.0 for p in Provider
    }


async def test_the_index_last_sync_is_the_clocks_time_of_the_sync(tmp_path: object) -> None:
    telemetry._synced.clear()  # lists synced by other tests' gateways, long closed
    environ = {"SESSIONGRAPH_INDEX_URL": f"sqlite:///{tmp_path}/index.db"}
    async with running_gateway(environ=environ) as gateway:
        await gateway.sync()
        synced_at = gateway.clock.now().timestamp()
        gateway.clock.advance(120)
        samples = await scrape(gateway.client)
    indexed = grown({}, samples, "sessiongraph_index_last_sync_timestamp_seconds")
    assert indexed, "no list was synced"
    assert set(indexed.values()) == {synced_at}


async def test_metrics_off_removes_the_endpoint() -> None:
    async with running_gateway(environ={"SESSIONGRAPH_METRICS": "off"}) as gateway:
        assert (await gateway.client.get("/metrics")).status_code == 404
    assert load_settings({"SESSIONGRAPH_METRICS": "off"}).metrics is False
    assert load_settings({}).metrics is True


def test_a_vendors_status_label_is_one_of_a_bounded_set() -> None:
    assert telemetry.status_label(200) == "200"
    assert telemetry.status_label(418) == "4xx"
    assert telemetry.status_label(599) == "5xx"
    assert telemetry.status_label(999) == "other"
    assert telemetry.status_label("timeout") == "timeout"


async def test_rate_limit_waits_and_refusals_are_counted_with_the_seconds_waited() -> None:
    clock = FakeClock(ANCHOR)
    sim = SamsaraSimulator(size=40, anchor=ANCHOR, clock=clock.now)
    # 4 a minute: a bucket of one, refilled one every 20 s (providers/ratelimit.py's model).
    adapter = connect(sim, clock=clock, rate_limit_per_min=4)
    names = ("waits_total", "wait_seconds_total", "refused_total")

    def counts() -> list[float]:
        return [
            REGISTRY.get_sample_value(f"sessiongraph_rate_limit_{n}", {"vendor": "samsara"}) or 0.0
            for n in names
        ]

    before = counts()
    try:
        for _ in range(2):  # the second waits 20 s for its token
            with request_budget(30.0, clock):
                await adapter.list_sessions(QUERY, None, 5)
        with request_budget(10.0, clock), pytest.raises(UpstreamRateLimitedError):
            await adapter.list_sessions(QUERY, None, 5)  # its token: 20 s away, past 10 s
    finally:
        await adapter.aclose()
    assert clock.slept == [20.0] and len(sim.log) == 2
    assert [after - was for after, was in zip(counts(), before, strict=True)] == [1.0, 20.0, 1.0]
