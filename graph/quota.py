"""Gateway limits per API key: requests a minute and query cost a minute (vendor calls, as
graph/cost.py prices an operation before it runs). Over either: HTTP 429 with `Retry-After`
and `extensions.code: "RATE_LIMITED"`, before any vendor call.

- **When each is counted.** A request counts once its key is known (before its body is
  parsed); its operation's estimate is charged once priced (before any vendor call), only when
  the operation will run. A request refused for its requests is not parsed: it costs nothing
  else. A request refused for its cost (or refused as invalid or too costly) has used its one
  request, and no cost. The estimate is charged, not the actual calls: it is known up front
  and bounds them.
- **Which window.** At most the limit in any 60 s: each key keeps what it used in the last
  minute, per whole second (a charge counts from the next whole second of the clock, so a
  little longer than 60 s, never less). `Retry-After` is the whole seconds until the window
  has room; 61 slots at most per key and limit, whatever the load.
- **Whose.** Configured keys only, each its own budget (keys are configured: memory is
  bounded). With authentication off (open demo, `SESSIONGRAPH_AUTH=off`) there is no key and
  no limit: one shared bucket would let one client lock out everyone, and a client's address
  is not an identity behind a proxy.
- **Per process.** `serve --workers N` gives every worker its own counters: a key may use up to
  N times its limit on one server (as vendor rate limits, README "Serving").

Not the `limits` package: its in-memory moving window reads `time.time()` (a test could not move
time through the gateway's `Clock`) and stores one entry per unit charged (60 000 entries for a
full cost window), where these windows keep 61 numbers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graph.auth import ApiKey

__all__ = ["RATE_LIMITED", "KeyLimit", "KeyLimits", "RateLimited", "retry_after_of"]

WINDOW_S = 60  # the limits are per minute
RATE_LIMITED = "RATE_LIMITED"


@dataclass(frozen=True, slots=True)
class KeyLimit:
    """One key's limits a minute; 0: no limit."""

    requests_per_min: int
    cost_per_min: int


@dataclass(frozen=True, slots=True)
class RateLimited:
    """A refusal: which limit, and when to come back."""

    what: str  # "requests" or "cost"
    per_minute: int
    retry_after_s: int  # whole seconds, at least 1

    @property
    def message(self) -> str:
        unit = "requests" if self.what == "requests" else "vendor calls of query cost"
        return (
            f"this API key has used its {self.per_minute} {unit} a minute; "
            f"retry in {self.retry_after_s} s"
        )

    @property
    def details(self) -> dict[str, Any]:
        """The error's extensions besides its code."""
        return {"retryAfter": self.retry_after_s, "limit": self.what, "perMinute": self.per_minute}

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": RATE_LIMITED, **self.details}


class Window:
    """What one key used of one limit over the last minute, per whole second of the clock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._slots: deque[list[int]] = deque()  # [second, units], oldest first

    def wait(self, units: int, now: float) -> int:
        """Whole seconds until `units` more fit in the window; 0: they fit now. Units over the
        limit never fit: the caller refuses those first (here, a whole window)."""
        self._expire(now)
        excess = self._used + units - self.limit
        if excess <= 0:
            return 0
        for second, amount in self._slots:  # at most WINDOW_S + 1 slots
            excess -= amount
            if excess <= 0:
                return max(1, math.ceil(second + WINDOW_S - now))
        return WINDOW_S

    def charge(self, units: int, now: float) -> None:
        if units <= 0:
            return
        # The next whole second: a charge counts at least 60 s, so no 60 s holds more than
        # the limit, and it frees at a whole second, which Retry-After can say exactly.
        second = math.ceil(now)
        if self._slots and self._slots[-1][0] == second:
            self._slots[-1][1] += units
        else:
            self._slots.append([second, units])
        self._used += units

    def _expire(self, now: float) -> None:
        while self._slots and self._slots[0][0] + WINDOW_S <= now:
            self._used -= self._slots.popleft()[1]


class KeyLimits:
    """Every configured key's two windows. `now` is the gateway clock's `monotonic()` (the
    request's `Sources.clock`: tests move it). A key not listed, or None (no authentication),
    has no limit."""

    def __init__(self, limits: Mapping[str, KeyLimit]) -> None:
        self._limits = dict(limits)
        self._requests = {
            key: Window(limit.requests_per_min)
            for key, limit in limits.items()
            if limit.requests_per_min > 0
        }
        self._cost = {
            key: Window(limit.cost_per_min)
            for key, limit in limits.items()
            if limit.cost_per_min > 0
        }

    @classmethod
    def of(cls, keys: Iterable[ApiKey], requests_per_min: int, cost_per_min: int) -> KeyLimits:
        """Each key's own limits, or these defaults where its entry sets none."""
        return cls(
            {
                key.key_id: KeyLimit(
                    requests_per_min if key.requests_per_min is None else key.requests_per_min,
                    cost_per_min if key.cost_per_min is None else key.cost_per_min,
                )
                for key in keys
            }
        )

    def cost_per_min(self, key_id: str | None) -> int:
        """The key's cost limit (0: none): an operation priced over it can never run."""
        limit = self._limits.get(key_id) if key_id is not None else None
        return limit.cost_per_min if limit is not None else 0

    def admit_request(self, key_id: str | None, now: float) -> RateLimited | None:
        """Counts one request of `key_id`, or refuses it (counting nothing)."""
        return self._take(self._requests, "requests", key_id, 1, now)

    def charge_cost(self, key_id: str | None, units: int, now: float) -> RateLimited | None:
        """Charges an operation's estimate to `key_id`, or refuses it (charging nothing)."""
        return self._take(self._cost, "cost", key_id, units, now)

    @staticmethod
    def _take(
        windows: Mapping[str, Window], what: str, key_id: str | None, units: int, now: float
    ) -> RateLimited | None:
        window = windows.get(key_id) if key_id is not None else None
        if window is None:
            return None
        wait = window.wait(units, now)
        if wait:
            return RateLimited(what, window.limit, wait)
        window.charge(units, now)
        return None


def retry_after_of(errors: Iterable[Any] | None) -> int | None:
    """The `retryAfter` of a RATE_LIMITED error among a result's errors (the cost refusal,
    which the router answers with 429); None without one."""
    for error in errors or ():
        extensions = getattr(error, "extensions", None) or {}
        if extensions.get("code") == RATE_LIMITED:
            return int(extensions["retryAfter"])
    return None
