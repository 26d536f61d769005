"""GraphQL enums: the records' enums, exposed under their GraphQL names."""

from __future__ import annotations

from enum import Enum

import strawberry

from providers import records
from providers.query import SortOrder

__all__ = [
    "Channel",
    "Provider",
    "ProviderMode",
    "SessionOrder",
    "SessionStatus",
    "Speaker",
    "ToolCallStatus",
]

Provider = strawberry.enum(records.Provider, description="A vendor of AI-agent sessions.")
SessionStatus = strawberry.enum(
    records.SessionStatus,
    description="A session's state in one vocabulary; `rawStatus` keeps the vendor's word.",
)
Channel = strawberry.enum(records.Channel, description="How the user reached the agent.")
Speaker = strawberry.enum(records.Speaker, description="Who said a transcript turn.")
ToolCallStatus = strawberry.enum(records.ToolCallStatus, description="How a tool call ended.")


@strawberry.enum(description="The order of a session connection: by start time, ties broken "
                 "by provider, agent and id.")
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
