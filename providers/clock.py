"""Time, as the gateway reads it: one object handed to everything that asks "what time is it"
or waits, so a test can move time by hand instead of waiting for it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

__all__ = ["SYSTEM_CLOCK", "Clock"]


class Clock:
    """The real clock. Subclasses (tests) override all three together."""

    def now(self) -> datetime:
        """Wall-clock time, aware UTC: windows, expiry of vendor URLs."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: ages of cache entries."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Back-off and Retry-After waits."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = Clock()
