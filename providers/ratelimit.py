"""The client-side rate limit: one token bucket per vendor client (vendor and credential), so
that sessiongraph does not draw a vendor's 429 under normal load.

A vendor documents "L requests a minute" without saying how it counts the minute; the safe
reading is *any* 60 s window. A bucket of B tokens refilled at R tokens a minute lets at most
B + R requests through in any 60 s, so the bucket holds a quarter of the limit (one page's
fan-out goes out at once) and refills the other three quarters over the minute: B + R = L.

The bucket is kept in its GCRA form (one number, the time the next token is due): a caller
reserves its token and is told how long to wait for it, so concurrent callers queue in order
without polling, and a wait that would pass a deadline is refused before anything is reserved.

Not aiolimiter: it reads the event loop's clock (a test could not move time) and cannot give up
when the wait would pass a deadline.
"""

from __future__ import annotations

import math

from providers.clock import Clock

__all__ = ["TokenBucket", "WaitTooLong"]

WINDOW_S = 60.0  # the vendors state their limits per minute


class WaitTooLong(Exception):
    """The next token comes later than the caller can wait."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the next request may go in {wait_s:.3f} s")
        self.wait_s = wait_s


class TokenBucket:
    def __init__(self, per_minute: int, clock: Clock) -> None:
        if per_minute < 1:
            raise ValueError("a rate limit is at least one request a minute")
        self.per_minute = per_minute
        self.capacity = max(1, per_minute // 4)
        refill = per_minute - self.capacity
        # With a limit of 1 the whole minute is the burst: the next token comes a hair after
        # the 60 s, so that two requests are never exactly 60 s apart inside one window.
        self._interval = WINDOW_S / refill if refill else math.nextafter(WINDOW_S, math.inf)
        self._tolerance = (self.capacity - 1) * self._interval  # how far ahead `_due` may run
        self._clock = clock
        self._due = clock.monotonic()  # when the bucket would be empty again at the steady rate

    def reserve(self, max_wait_s: float, keep: int = 0) -> float:
        """Takes the next token and returns how many seconds to wait before using it. When that
        wait would be longer than `max_wait_s`, takes nothing and raises `WaitTooLong`.

        `keep` tokens stay in the bucket for others: a background caller (the index's sync)
        passes a share of the burst, so interactive queries never find the bucket drained."""
        now = self._clock.monotonic()
        keep = min(keep, self.capacity - 1)
        wait = max(0.0, self._due - self._tolerance + keep * self._interval - now)
        if wait > max_wait_s:
            raise WaitTooLong(wait)
        self._due = max(self._due, now) + self._interval
        return wait

    def pause(self, seconds: float) -> None:
        """The vendor said "not before `seconds`" (a 429's Retry-After): no token is handed out
        before then, and none are saved up meanwhile (no burst the moment the pause ends)."""
        until = self._clock.monotonic() + max(0.0, seconds)
        self._due = max(self._due, until + self._tolerance)
