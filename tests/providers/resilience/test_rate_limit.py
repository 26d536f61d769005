"""The client-side rate limit: one bucket per vendor client, at the vendor's documented limit,
waiting while the wait fits the deadline, paused by the vendor's 429, and never letting more
than the limit through in any minute, counted at the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graph.settings import ConfigError, load_settings
from providers.adapter import Adapter
from providers.budget import BackgroundPacing, background_calls, request_budget
from providers.errors import UpstreamRateLimitedError
from providers.records import Provider
from providers.simulators.samsara import SamsaraSimulator
from tests.oracles import expected_records
from tests.providers.resilience.conftest import QUERY
from tests.support import FakeClock, connect


@pytest.fixture
async def slow_lane(sim: SamsaraSimulator, clock: FakeClock) -> AsyncIterator[Adapter]:
    """4 requests a minute: a bucket of one (a quarter), refilled one every 20 s (3 a minute)."""
    adapter = connect(sim, clock=clock, rate_limit_per_min=4)
    yield adapter
    await adapter.aclose()


async def test_a_call_waits_for_its_token_when_the_wait_fits_the_deadline(
    sim: SamsaraSimulator, slow_lane: Adapter, clock: FakeClock
) -> None:
    for _ in range(2):
        with request_budget(30.0, clock):
            await slow_lane.list_sessions(QUERY, None, 5)
    assert len(sim.log) == 2
    assert clock.slept == [20.0]


async def test_a_call_is_refused_when_its_token_comes_after_the_deadline(
    sim: SamsaraSimulator, slow_lane: Adapter, clock: FakeClock
) -> None:
    with request_budget(10.0, clock):
        await slow_lane.list_sessions(QUERY, None, 5)
        clock.advance(5.0)
        with pytest.raises(UpstreamRateLimitedError) as caught:
            await slow_lane.list_sessions(QUERY, None, 5)
    assert caught.value.retry_after == 15.0
    assert caught.value.extensions["code"] == "UPSTREAM_RATE_LIMITED"
    assert len(sim.log) == 1, "the refused call sent nothing"
    assert clock.slept == []


async def test_a_vendor_429_pauses_the_bucket_for_every_caller(
    sim: SamsaraSimulator, clock: FakeClock
) -> None:
    adapter = connect(sim, clock=clock)  # Samsara's documented 100 a minute: tokens to spare
    ref = expected_records(sim)[0].ref
    try:
        sim.faults.error_status, sim.faults.retry_after = 429, "5"  # too long to wait in a call
        with request_budget(10.0, clock), pytest.raises(UpstreamRateLimitedError):
            await adapter.list_sessions(QUERY, None, 5)
        sim.faults.error_status = None
        with request_budget(3.0, clock), pytest.raises(UpstreamRateLimitedError) as caught:
            await adapter.get_sessions([ref])  # the other endpoint: the same bucket
        assert caught.value.retry_after == 5.0
        assert len(sim.log) == 1, "nothing sent while the vendor asked us to wait"
        with request_budget(10.0, clock):
            await adapter.get_sessions([ref])
        assert clock.slept == [5.0]
        assert [entry.status for entry in sim.log.entries] == [429, 200]
    finally:
        await adapter.aclose()


async def test_200_calls_never_pass_the_documented_limit_in_any_minute(
    sim: SamsaraSimulator, clock: FakeClock
) -> None:
    """200 queries back to back over both endpoints, each with the default 10 s deadline: every
    one is served (a wait of one token at most), and the simulator never sees more than 100
    requests in any 60 s, counted on the FakeClock at the moment each arrived."""
    adapter = connect(sim, clock=clock)
    refs = [record.ref for record in expected_records(sim)]
    arrivals: list[float] = []
    try:
        for number in range(200):
            with request_budget(10.0, clock):
                if number % 2:
                    await adapter.get_sessions([refs[number % len(refs)]])
                else:
                    await adapter.list_sessions(QUERY, None, 5)
            arrivals += [clock.monotonic()] * (len(sim.log) - len(arrivals))
    finally:
        await adapter.aclose()
    assert len(arrivals) == len(sim.log) == 200
    assert all(entry.status == 200 for entry in sim.log.entries)
    by_minute = [
        sum(1 for at in arrivals if minute * 60 <= at < minute * 60 + 60) for minute in range(4)
    ]
    assert max(by_minute) <= 100, by_minute
    for first in arrivals:  # any window of 60 s, ends included
        assert sum(1 for at in arrivals if first <= at <= first + 60) <= 100


async def test_no_limit_means_no_wait(sim: SamsaraSimulator, clock: FakeClock) -> None:
    adapter = connect(sim, clock=clock, rate_limit_per_min=0)
    try:
        for _ in range(150):
            await adapter.list_sessions(QUERY, None, 5)
    finally:
        await adapter.aclose()
    assert len(sim.log) == 150
    assert clock.slept == []


# --- configuration --------------------------------------------------------------------------


CREDENTIALS = {
    "SAMSARA_API_TOKEN": "t",
    "STATESET_VOICE_API_KEY": "k",
    "VECTARA_API_KEY": "k",
    "VONAGE_AI_STUDIO_API_KEY": "k",
    "SESSIONGRAPH_AUTH": "off",
}


def test_each_vendor_defaults_to_its_documented_limit_or_ours() -> None:
    settings = load_settings(CREDENTIALS)
    limits = {p: s.rate_limit_per_min for p, s in settings.providers.items()}
    assert limits == {
        Provider.SAMSARA: 100,  # documented, both endpoints together
        Provider.STATESET: 60,  # documented, per IP
        Provider.VECTARA: 600,  # not published: our choice
        Provider.VONAGE: 600,  # not published: our choice
    }


def test_the_environment_wins_over_the_toml_table(tmp_path: Path) -> None:
    config = tmp_path / "sessiongraph.toml"
    config.write_text("[stateset]\nrate_limit_per_min = 30\n[vonage]\nrate_limit_per_min = 0\n")
    settings = load_settings(
        {
            **CREDENTIALS,
            "SESSIONGRAPH_CONFIG": str(config),
            "SAMSARA_RATE_LIMIT_PER_MIN": "0",
            "VECTARA_RATE_LIMIT_PER_MIN": "1200",
            "STATESET_VOICE_RATE_LIMIT_PER_MIN": "",  # empty: not set
        }
    )
    limits = {p: s.rate_limit_per_min for p, s in settings.providers.items()}
    assert limits == {
        Provider.SAMSARA: 0,
        Provider.STATESET: 30,
        Provider.VECTARA: 1200,
        Provider.VONAGE: 0,
    }


@pytest.mark.parametrize("value", ["fast", "-1", "1.5", "1e3"])
def test_a_bad_limit_is_a_clear_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match="SAMSARA_RATE_LIMIT_PER_MIN must be a whole number"):
        load_settings({**CREDENTIALS, "SAMSARA_RATE_LIMIT_PER_MIN": value})


def test_a_bad_limit_in_the_toml_table_is_named(tmp_path: Path) -> None:
    config = tmp_path / "sessiongraph.toml"
    config.write_text("[vectara]\nrate_limit_per_min = true\n")
    with pytest.raises(ConfigError, match="rate_limit_per_min must be a whole number"):
        load_settings({**CREDENTIALS, "SESSIONGRAPH_CONFIG": str(config)})


async def test_background_calls_leave_half_the_burst_to_queries(
    sim: SamsaraSimulator, clock: FakeClock
) -> None:
    """At 40 a minute the bucket holds 10: the sync's calls go at once while more than 5 are
    left, then wait for the refill; a query then still finds 5 tokens and does not wait."""
    adapter = connect(sim, clock=clock, rate_limit_per_min=40)
    try:
        with background_calls(BackgroundPacing(keep_share=0.5)):
            for _ in range(7):
                await adapter.list_sessions(QUERY, None, 5)
        assert len(clock.slept) == 2  # 5 at once, then two waits of a refill each
        waited = len(clock.slept)
        with request_budget(0.001, clock):  # no time to wait at all
            for _ in range(5):
                await adapter.list_sessions(QUERY, None, 5)
        assert len(clock.slept) == waited
        assert len(sim.log) == 12
    finally:
        await adapter.aclose()
