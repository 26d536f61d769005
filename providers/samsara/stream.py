"""Reading Samsara's voice-session stream one session at a time, from a native position.

A position is the `after` cursor of a vendor page and how many sessions were consumed since
that cursor. Resuming refetches that page and skips them: the sessions after a cursor are the
same whatever the page size, so the skip also holds when the refetched page is shorter (it then
carries over to the next page).

Every page is asked for with the same `limit`, the vendor's largest: vendors.md asks to keep
every parameter but `after` identical while following a cursor, and a page refetched on resume
is then the page the position was taken on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from providers.errors import UpstreamProtocolError, UserInputError
from providers.records import Provider, SessionRecord

__all__ = ["PageFetch", "StreamPage", "StreamReader"]

MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class StreamPage:
    records: list[SessionRecord]
    end_cursor: str | None  # None: the vendor has no next page


# (after cursor or None for the first page, page size) → one vendor page
PageFetch = Callable[[str | None, int], Awaitable[StreamPage]]


class StreamReader:
    """One stream query (one set of parameters), consumed in the vendor's order."""

    def __init__(self, fetch: PageFetch, after: str | None = None, consumed: int = 0) -> None:
        self._fetch = fetch
        self._after = after  # the cursor of the page being read; None: the first page
        self._consumed = consumed  # sessions consumed since `_after`
        self._buffer: deque[SessionRecord] = deque()
        self._next_after: str | None = None  # the cursor after the loaded page
        self.done = False

    @classmethod
    def resume(cls, fetch: PageFetch, position: Any) -> StreamReader:
        """A reader from `position()`'s value; a malformed one is the client's error."""
        if position is None:
            reader = cls(fetch)
            reader.done = True
            return reader
        match position:
            case [str() | None as after, int() as consumed] if consumed >= 0:
                return cls(fetch, after, consumed)
        raise UserInputError("the cursor does not belong to this SAMSARA query")

    def position(self) -> list[Any] | None:
        """JSON-able: where the next unconsumed session is; None once the stream is done."""
        return None if self.done else [self._after, self._consumed]

    def head(self) -> SessionRecord | None:
        return self._buffer[0] if self._buffer else None

    @property
    def needs_page(self) -> bool:
        return not self._buffer and not self.done

    async def load_page(self) -> None:
        """Fetches one page. It may hold nothing new (the vendor's pages may be empty while
        more follow): the caller decides, within its call bound, whether to ask again."""
        self._take(await self._fetch(self._after, MAX_PAGE_SIZE))

    def pop(self) -> SessionRecord:
        record = self._buffer.popleft()
        self._consumed += 1
        self._after_consuming()
        return record

    def pop_all(self) -> list[SessionRecord]:
        if not self._buffer:
            return []
        records = list(self._buffer)
        self._consumed += len(records)
        self._buffer.clear()
        self._after_consuming()
        return records

    def _take(self, page: StreamPage) -> None:
        if page.end_cursor is not None and page.end_cursor == self._after:
            raise UpstreamProtocolError(
                "SAMSARA returned the cursor it was given: its stream does not move",
                provider=Provider.SAMSARA,
            )
        if len(page.records) <= self._consumed:
            # Consumed already (an empty page, or a shorter one than when the position was
            # taken): the rest of the skip carries over to the next page.
            self._move_to(page.end_cursor, self._consumed - len(page.records))
        else:
            self._buffer.extend(page.records[self._consumed :])
            self._next_after = page.end_cursor

    def _after_consuming(self) -> None:
        # Once the loaded page is used up, point at the next one: positions stay small and a
        # resume does not refetch a page only to skip all of it.
        if not self._buffer:
            self._move_to(self._next_after, 0)

    def _move_to(self, after: str | None, consumed: int) -> None:
        if after is None:
            self.done = True
        else:
            self._after, self._consumed = after, consumed
