"""The circuit breaker of one vendor client (vendor and credential): after a run of failed calls
it stops asking the vendor for a while, so a vendor that is down or hanging costs each query
nothing instead of a full timeout, and gets no traffic while it recovers.

    CLOSED ──N failed requests in a row──▶ OPEN ──cool-down over──▶ HALF_OPEN
       ▲                                 ▲                          │ one probe call
       └──────────── probe answered ─────┼──────────────────────────┤
                                         └──────── probe failed ────┘

A failure is the vendor not serving the call: 5xx, a timeout, a refused connection. A 4xx (bad
request, auth, not found, 429) is the vendor answering, and counts as a success: a client's
mistake or a bad credential must not cut every other caller off the vendor. Outcomes are
counted per call, after its retries: a 503 retried away is a success.

Failures are counted per request: the calls of one request (a page asking five Vectara agents
at once) fail together for one reason, and are one piece of evidence, not five. Five failed
requests in a row open the breaker; outside a request (no budget) every call counts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from providers.clock import Clock
from providers.telemetry import BREAKERS

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "CircuitOpen", "Health", "Pass"]

log = logging.getLogger("sessiongraph")


class BreakerState(StrEnum):
    CLOSED = "CLOSED"  # calls go through
    OPEN = "OPEN"  # calls fail at once, until the cool-down is over
    HALF_OPEN = "HALF_OPEN"  # one probe call goes through; the others fail at once


@dataclass(frozen=True, slots=True)
class Health:
    """What the breaker says about its vendor (GraphQL `providers { health }`, `/readyz`)."""

    state: BreakerState
    failures: int  # failed requests in a row (calls, outside a request)
    since: datetime | None  # aware UTC: the last change of state; None: never changed


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    # Five in a row: one failed request (its calls and their retries) is a blip, five an outage.
    failures: int = 5
    # Long enough that a hanging vendor costs one slow query per half minute, short enough
    # that a recovered vendor is back within one.
    cooldown_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Pass:
    """A call let through: its outcome is reported with it."""

    request: object | None  # the request the call serves (its budget), None outside one
    probe: bool  # the half-open probe: its outcome alone decides the state; never retried


class CircuitOpen(Exception):
    """The breaker refuses the call; `retry_after` is the seconds until a probe may go."""

    def __init__(self, retry_after: float, failures: int) -> None:
        super().__init__(f"open after {failures} failures, probe in {retry_after:.3f} s")
        self.retry_after = retry_after
        self.failures = failures


class CircuitBreaker:
    def __init__(
        self,
        clock: Clock,
        policy: BreakerPolicy | None = None,
        *,
        probe_timeout_s: float,
        name: str,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._probe_timeout_s = probe_timeout_s  # the longest a probe can take: its attempt's
        self._name = name  # for the log
        self._state = BreakerState.CLOSED
        # This breaker's count in the gauge of breakers by state (moved on each change).
        self._gauge = {state: BREAKERS.labels(name.lower(), state.value) for state in BreakerState}
        self._gauge[self._state].inc()
        self._failures = 0
        self._since: datetime | None = None
        self._opened_at = 0.0  # monotonic
        self._probe_started: float | None = None  # monotonic, while a probe is out
        # Set when the probe out has told (answered, failed or was given up): the calls that
        # came meanwhile wait for it rather than fail, so a page whose calls go out together
        # (Vectara's agents) does not cancel its own probe by failing around it.
        self._probe_told: asyncio.Event | None = None
        # The requests counted in the current run of failures (at most `policy.failures`).
        self._failed_requests: list[object] = []

    def health(self) -> Health:
        self._cool_down()
        return Health(self._state, self._failures, self._since)

    def admit(self, request: object | None = None) -> Pass:
        """Lets a call of `request` through, or raises `CircuitOpen`."""
        self._cool_down()
        now = self._clock.monotonic()
        if self._state is BreakerState.CLOSED:
            return Pass(request, probe=False)
        if self._state is BreakerState.HALF_OPEN and self._probe_started is None:
            self._probe_started = now
            self._probe_told = asyncio.Event()
            return Pass(request, probe=True)
        if self._state is BreakerState.OPEN:
            wait = self._opened_at + self.policy.cooldown_s - now
        else:  # a probe is out: the next one comes when it fails, at its timeout at the latest
            assert self._probe_started is not None
            wait = self._probe_started + self._probe_timeout_s - now
        raise CircuitOpen(max(0.0, wait), self._failures)

    def probe_out(self) -> asyncio.Event | None:
        """The event the probe out sets when it has told; None when no probe is out."""
        return self._probe_told if self._probe_started is not None else None

    def _probe_over(self) -> None:
        self._probe_started = None
        if self._probe_told is not None:
            self._probe_told.set()
            self._probe_told = None

    def succeeded(self, call: Pass) -> None:
        if call.probe:
            self._probe_over()
        if call.probe or self._state is BreakerState.CLOSED:
            self._failures = 0
            self._failed_requests.clear()
            if self._state is not BreakerState.CLOSED:
                log.info("%s answered again: calls go through", self._name)
                self._move(BreakerState.CLOSED)
        # A call let through before the breaker opened says nothing about the vendor now.

    def failed(self, call: Pass) -> None:
        if call.probe:
            self._failures += 1
            self._open()
            self._probe_over()
        elif self._state is BreakerState.CLOSED and not self._counted(call.request):
            self._failures += 1
            if call.request is not None:
                self._failed_requests.append(call.request)
            if self._failures >= self.policy.failures:
                self._open()

    def released(self, call: Pass) -> None:
        """The call ended without telling anything (cancelled, refused before it was sent): a
        probe slot it held goes to the next call."""
        if call.probe:
            self._probe_over()

    def _counted(self, request: object | None) -> bool:
        return request is not None and any(seen is request for seen in self._failed_requests)

    def _open(self) -> None:
        log.warning(
            "%s failed %d times in a row: not asked for %g s",
            self._name,
            self._failures,
            self.policy.cooldown_s,
        )
        self._opened_at = self._clock.monotonic()
        self._move(BreakerState.OPEN)

    def _cool_down(self) -> None:
        """OPEN turns HALF_OPEN when the cool-down is over (read lazily: no timer task)."""
        if self._state is not BreakerState.OPEN:
            return
        over_for = self._clock.monotonic() - (self._opened_at + self.policy.cooldown_s)
        if over_for >= 0:
            self._count_move(BreakerState.HALF_OPEN)
            self._state = BreakerState.HALF_OPEN
            self._since = self._clock.now() - timedelta(seconds=over_for)

    def _move(self, state: BreakerState) -> None:
        self._count_move(state)
        self._state = state
        self._since = self._clock.now()

    def _count_move(self, state: BreakerState) -> None:
        if self._gauge:  # not retired
            self._gauge[self._state].dec()
            self._gauge[state].inc()

    def retire(self) -> None:
        """Its client is closed: no longer counted among the breakers (once)."""
        if self._gauge:
            self._gauge[self._state].dec()
            self._gauge = {}
