"""Bounded walks: the vendor calls one `list_sessions` may still make.

Every walk of an adapter (Vonage slices, Samsara stream pages, Vectara agents and pages, the
events read for a text filter) draws from one `CallAllowance`, sized by the adapter's
`list_call_bound(query, limit)` before the first call, whatever the window or the vendor's data.
A walk that finds it spent ends its page there: resumable (`SessionPage.stopped`) where the
vendor's order lets a position say where it stopped, else `truncated` (a scan that must read
everything before it can sort).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CallAllowance", "OutOfCalls"]


class OutOfCalls(Exception):
    """Raised inside a walk when its allowance has no call left; caught by the walk itself,
    which ends its page. Never leaves an adapter."""


@dataclass(slots=True)
class CallAllowance:
    """Vendor calls a walk may still make. Calls are reserved before they are sent, so walks
    running concurrently (gathers, prefetches) can never pass the bound together."""

    bound: int
    made: int = 0

    @property
    def left(self) -> int:
        return self.bound - self.made

    def take(self, calls: int = 1) -> bool:
        """Reserves `calls` more calls; False, reserving nothing, when they would pass the bound."""
        if calls > self.left:
            return False
        self.made += calls
        return True

    def spend(self) -> None:
        """Reserves one call or raises `OutOfCalls`: for a call deep inside a walk."""
        if not self.take():
            raise OutOfCalls

    def split(self, calls: int) -> CallAllowance | None:
        """A part of this allowance for one sub-walk that must be able to finish (None when
        fewer than `calls` are left); `give_back` returns what it did not use."""
        if not self.take(calls):
            return None
        return CallAllowance(calls)

    def give_back(self, part: CallAllowance) -> None:
        self.made -= part.left
        part.made = part.bound
