"""Fault knobs of a simulator: latency, error statuses (429 carries Retry-After), hangs,
malformed bodies and the vendor's own rate limit. Tests and the benchmark turn them on."""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, field

__all__ = ["FaultDecision", "Faults"]


@dataclass
class FaultDecision:
    status: int | None = None  # answer with this error status
    retry_after: str | None = None
    hang: bool = False
    malformed: bool = False
    wrong_shape: bool = False


@dataclass
class Faults:
    latency_s: float = 0.0  # every answer starts this long after its request (work included)
    error_status: int | None = None  # e.g. 503 or 429
    error_rate: float = 1.0  # share of requests that get error_status
    error_budget: int | None = None  # fail only this many requests, then recover
    retry_after: str = "1"  # the Retry-After sent with 429 (Samsara sends fractions)
    hang_rate: float = 0.0
    hang_s: float = 30.0
    malformed_rate: float = 0.0  # 200 with a body that is not JSON
    wrong_shape_rate: float = 0.0  # 200 with JSON of a shape the vendor never sends
    rate_limit_per_minute: int | None = None  # the vendor's documented limit, when enforced
    path_pattern: str | None = None  # faults only for paths matching this regex
    seed: int = 7
    _rng: random.Random = field(init=False, repr=False)
    _recent: deque[float] = field(init=False, repr=False, default_factory=deque)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def decide(self, path: str, now_s: float) -> FaultDecision:
        """What to do with a request for `path` at `now_s` (the simulator's clock, seconds)."""
        if self.path_pattern is not None and not re.search(self.path_pattern, path):
            return FaultDecision()
        if self.rate_limit_per_minute is not None and self._over_rate_limit(now_s):
            return FaultDecision(status=429, retry_after=self.retry_after)
        budget_left = self.error_budget is None or self.error_budget > 0
        if self.error_status is not None and budget_left and self._rng.random() < self.error_rate:
            if self.error_budget is not None:
                self.error_budget -= 1
            retry_after = self.retry_after if self.error_status == 429 else None
            return FaultDecision(status=self.error_status, retry_after=retry_after)
        if self.hang_rate and self._rng.random() < self.hang_rate:
            return FaultDecision(hang=True)
        if self.malformed_rate and self._rng.random() < self.malformed_rate:
            return FaultDecision(malformed=True)
        if self.wrong_shape_rate and self._rng.random() < self.wrong_shape_rate:
            return FaultDecision(wrong_shape=True)
        return FaultDecision()

    def _over_rate_limit(self, now: float) -> bool:
        while self._recent and now - self._recent[0] > 60.0:
            self._recent.popleft()
        assert self.rate_limit_per_minute is not None
        if len(self._recent) >= self.rate_limit_per_minute:
            return True
        self._recent.append(now)
        return False
