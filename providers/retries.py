"""When a failed vendor call is tried again: the policy (which failures, how many tries, how long
to wait) and the retry budget that keeps retries from multiplying a vendor's trouble.

Back-off uses full jitter (a wait drawn from 0 to the exponential cap): callers that failed
together do not come back together (AWS, "Exponential Backoff and Jitter").

The budget: retries are at most `budget_ratio` of the client's calls over the last minute (the
calls asked for, not their retries, so retries never fund themselves). During a 503 storm a call
then costs about one request instead of `attempts`. The floor lets a quiet client, with too few
calls for a ratio to mean anything, retry a blip anyway: ten a minute covers one failed page's
fan-out (Vectara asks every agent at once) and adds at most ten requests a minute to a vendor
in trouble, a tenth of the smallest documented limit (Samsara's 100).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from providers.clock import Clock

__all__ = ["RetryBudget", "RetryPolicy"]

_WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # total tries of one call
    max_wait_s: float = 2.0  # a Retry-After longer than this is reported, not waited for
    backoff_s: float = 0.05  # the cap of the first back-off; doubles with each try
    budget_ratio: float = 0.1  # retries per call over the last minute
    budget_floor: int = 10  # retries a minute allowed whatever the calls

    def backoff(self, attempt: int) -> float:
        """The wait after failed try number `attempt` when the vendor said nothing."""
        cap = min(self.max_wait_s, self.backoff_s * 2 ** (attempt - 1))
        return random.uniform(0.0, cap)


class RetryBudget:
    """Calls and retries of the last minute, counted per second: at most 60 counters whatever
    the traffic."""

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._seconds: deque[list[int]] = deque()  # [second, calls, retries], oldest first

    def record_call(self) -> None:
        self._current()[1] += 1

    def try_retry(self) -> bool:
        """Spends one retry when the budget has one left."""
        current = self._current()
        calls = sum(second[1] for second in self._seconds)
        retries = sum(second[2] for second in self._seconds)
        allowed = max(self._policy.budget_floor, self._policy.budget_ratio * calls)
        if retries + 1 > allowed:
            return False
        current[2] += 1
        return True

    def _current(self) -> list[int]:
        second = int(self._clock.monotonic())
        while self._seconds and self._seconds[0][0] <= second - _WINDOW_S:
            self._seconds.popleft()
        if not self._seconds or self._seconds[-1][0] != second:
            self._seconds.append([second, 0, 0])
        return self._seconds[-1]
