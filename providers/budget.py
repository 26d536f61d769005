"""One request's budget: its deadline and the vendor calls it made.

The GraphQL layer opens a budget per request (`request_budget`); everything below reads it from
a context variable, so the tasks a request starts (gathers, loaders, single-flight requests)
share it without passing it around. Outside a request (the index sync, tests of an adapter
alone) there is no budget: no deadline but each attempt's own, and calls are not counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from providers.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "BackgroundPacing",
    "RequestBudget",
    "background_calls",
    "current_budget",
    "current_pacing",
    "request_budget",
]


@dataclass(slots=True)
class RequestBudget:
    clock: Clock
    deadline: float | None  # on `clock.monotonic()`; None: no deadline
    calls: int = 0  # vendor requests sent (retries included): the request's actual cost
    calls_by_provider: dict[str, int] = field(default_factory=dict)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative); None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self.clock.monotonic())

    def count_call(self, provider: str) -> None:
        self.calls += 1
        self.calls_by_provider[provider] = self.calls_by_provider.get(provider, 0) + 1


_current: ContextVar[RequestBudget | None] = ContextVar("sessiongraph_budget", default=None)


def current_budget() -> RequestBudget | None:
    return _current.get()


@contextmanager
def request_budget(timeout_s: float | None, clock: Clock = SYSTEM_CLOCK) -> Iterator[RequestBudget]:
    """A budget for the code inside the block and every task it starts."""
    deadline = None if timeout_s is None else clock.monotonic() + timeout_s
    budget = RequestBudget(clock, deadline)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


@dataclass(frozen=True, slots=True)
class BackgroundPacing:
    """How background work (the index's sync) shares a vendor's rate limit with queries: its
    calls leave `keep_share` of the bucket's burst to interactive queries, and may wait up to
    `max_wait_s` for a token (a query's wait is bounded by its deadline instead)."""

    keep_share: float = 0.5
    max_wait_s: float = 120.0


_pacing: ContextVar[BackgroundPacing | None] = ContextVar("sessiongraph_pacing", default=None)


def current_pacing() -> BackgroundPacing | None:
    return _pacing.get()


@contextmanager
def background_calls(pacing: BackgroundPacing | None = None) -> Iterator[BackgroundPacing]:
    """Vendor calls made inside the block (and the tasks it starts) are background calls."""
    pacing = pacing or BackgroundPacing()
    token = _pacing.set(pacing)
    try:
        yield pacing
    finally:
        _pacing.reset(token)
