"""What the index knows about each list it keeps: one `ScopeStatus` per tenant, vendor and
scope (StateSet's one list, scope `""`; each Vectara agent's list, scope = the agent key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from providers.records import Provider

__all__ = ["DEFAULT_TENANT", "IndexState", "ListOrder", "ScopeKey", "ScopeStatus"]

DEFAULT_TENANT = "default"  # every key carries a tenant; tenants arrive with authentication


class IndexState(StrEnum):
    OFF = "off"  # no index (disabled, or a vendor served live)
    BUILDING = "building"  # the first full read is under way: queries scan live
    READY = "ready"  # queries read the index
    STALE = "stale"  # the last sync failed: queries read the index, flagged
    FAILED = "failed"  # the build failed: queries scan live


class ListOrder(StrEnum):
    """Where the vendor's list was seen to put new sessions (learned, re-checked every sync)."""

    UNKNOWN = "unknown"
    HEAD = "head"  # newest first: new sessions at offset 0
    TAIL = "tail"  # insertion order: new sessions at the end
    NONE = "none"  # anywhere: only a full read finds them


@dataclass(frozen=True, slots=True)
class ScopeKey:
    tenant: str
    provider: Provider
    scope: str


@dataclass(frozen=True, slots=True)
class ScopeStatus:
    key: ScopeKey
    state: IndexState = IndexState.BUILDING
    generation: int = 0  # bumped by each full read; rows it did not see are then deleted
    vendor_total: int | None = None  # the vendor's list total at the last sync
    active_total: int | None = None  # the vendor's active-filter total at the last sync
    order: ListOrder = ListOrder.UNKNOWN
    progress: int = 0  # sessions read by the full read under way
    built_at: datetime | None = None  # the first full read ended
    synced_at: datetime | None = None  # the last successful sync (any kind) ended
    reconciled_at: datetime | None = None  # the last full read ended
    reconcile_due: datetime | None = None  # a full read is wanted from then (brought forward)
    error: str | None = None  # why the last sync failed
