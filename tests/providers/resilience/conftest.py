"""What the transport's resilience tests (this folder) share: a pinned clock, a Samsara
simulator on it (its two endpoints share one documented rate limit), a query over its data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from providers.query import SessionQuery
from providers.simulators.samsara import SamsaraSimulator
from tests.conftest import ANCHOR
from tests.support import FakeClock

__all__ = ["ANCHOR", "QUERY"]

QUERY = SessionQuery(started_after=ANCHOR - timedelta(days=90), started_before=ANCHOR)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ANCHOR)


@pytest.fixture
def sim(clock: FakeClock) -> SamsaraSimulator:
    return SamsaraSimulator(size=40, anchor=ANCHOR, clock=clock.now)
