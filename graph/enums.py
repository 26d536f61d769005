"""GraphQL enums: the records' enums, exposed under their GraphQL names."""

from __future__ import annotations

from enum import Enum

import strawberry

from index.state import IndexState
from providers.query import SortOrder
from providers.records import Channel, Provider, SessionStatus, Speaker, ToolCallStatus

__all__ = [
    "BreakerState",
    "Channel",
    "IndexState",
    "Provider",
    "ProviderMode",
    "SessionOrder",
    "SessionStatus",
    "Speaker",
    "ToolCallStatus",
]

# The records' own enums, registered with Strawberry in place (it returns the same classes).
strawberry.enum(Provider, description="A vendor of AI-agent sessions.")
strawberry.enum(
    SessionStatus,
    description="A session's state in one vocabulary; `rawStatus` keeps the vendor's word.",
)
strawberry.enum(Channel, description="How the user reached the agent.")
strawberry.enum(Speaker, description="Who said a transcript turn.")
strawberry.enum(ToolCallStatus, description="How a tool call ended.")
strawberry.enum(
    IndexState,
    description="The session index of a vendor that promises no order. OFF: no index (or the "
    "vendor is asked live by design). BUILDING: its first full read is under way; queries scan "
    "the vendor live, bounded. READY: queries read the index, no vendor list call. STALE: the "
    "last sync failed; queries still read the index, flagged. FAILED: the build failed; "
    "queries scan live.",
)


@strawberry.enum(
    description="The order of a session connection: by start time, ties broken "
    "by provider, agent and id."
)
class SessionOrder(Enum):
    NEWEST_FIRST = SortOrder.NEWEST_FIRST.value
    OLDEST_FIRST = SortOrder.OLDEST_FIRST.value

    @property
    def sort_order(self) -> SortOrder:
        return SortOrder(self.value)


@strawberry.enum(description="DEMO: the built-in simulator; LIVE: the vendor's API.")
class ProviderMode(Enum):
    DEMO = "demo"
    LIVE = "live"


@strawberry.enum(
    description="A vendor's circuit breaker. CLOSED: calls go through. OPEN: after repeated "
    "failures or timeouts, calls fail at once (`UPSTREAM_UNAVAILABLE`) until a probe is due. "
    "HALF_OPEN: one probe call is let through; its success closes the breaker."
)
class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
