"""What the session index's sync may ask a vendor that promises no order (StateSet, Vectara).

Such a vendor lists its sessions in scopes (StateSet: one list, scope `""`; Vectara: one list
per agent key), a page at a time, with a `total` for the filters and, for some, the whole list
addressable by offset. The sync reads whole scopes (a build, a reconcile), probes their ends for
new sessions, and re-reads the active ones through the vendor's own filter; nothing here
decides when or how much: that is the sync's job (`index.sync`), paced by the vendor's rate
limit.

Records read here are what the vendor's list returns (StateSet's carry details: transcript and
function calls; Vectara's do not).
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.records import SessionRecord

__all__ = ["FEED_PAGE_SIZE", "FeedPage", "FeedPosition"]

FEED_PAGE_SIZE = 100  # both vendors' largest page

# Where a page starts: an offset (`int`) for a vendor addressable by offset, else the vendor's
# opaque next-page token (`str`); None: the first page.
FeedPosition = int | str | None


@dataclass(frozen=True, slots=True)
class FeedPage:
    records: tuple[SessionRecord, ...]
    # Sessions the listing holds for its filters (the vendor's `total` / `total_count`), None
    # when the vendor did not say.
    total: int | None
    # Where the next page starts; None: this was the last page.
    next: FeedPosition
    # The offset of `records[0]` for a vendor addressable by offset, else None.
    offset: int | None = None
