"""Reading Samsara's voice-session stream one session at a time, from a native position.

A position is the `after` cursor of a vendor page and how many sessions were consumed since
that cursor. Resuming refetches that page and skips them: the sessions after a cursor are the
same whatever the page size, so the skip also holds when the refetched page is shorter (it then
carries over to the next page).

Every page is asked for with the same `limit`, the vendor's largest: vendors.md asks to keep
every parameter but `after` identical while following a cursor, and a page refetched on resume
is then the page the position was taken on. A page's entries are read into records as the walk
reaches them: a merged page of 50 reads about half of a vendor page of 100.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from providers.errors import UpstreamProtocolError, UserInputError
from providers.records import Provider, SessionRecord

__all__ = ["PageFetch", "StreamPage", "StreamReader"]

MAX_PAGE_SIZE = 100


def _record(entry: Any) -> SessionRecord:
    record: SessionRecord = entry  # read already
    return record


@dataclass(frozen=True, slots=True)
class StreamPage:
    """One vendor page: its entries, each turned into a record by `read` when first used (a
    malformed entry is then that read's typed error); by default they are records already."""

    entries: Sequence[Any]
    end_cursor: str | None  # None: the vendor has no next page
    read: Callable[[Any], SessionRecord] = _record


# (after cursor or None for the first page, page size) → one vendor page
PageFetch = Callable[[str | None, int], Awaitable[StreamPage]]


class StreamReader:
    """One stream query (one set of parameters), consumed in the vendor's order."""

    def __init__(self, fetch: PageFetch, after: str | None = None, consumed: int = 0) -> None:
        self._fetch = fetch
        self._after = after  # the cursor of the page being read; None: the first page
        self._consumed = consumed  # sessions consumed since `_after`
        self._buffer: deque[Any] = deque()  # the loaded page's entries not consumed yet
        self._read: Callable[[Any], SessionRecord] = _record  # the loaded page's
        self._head: SessionRecord | None = None  # the first entry of the buffer, once read
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
        if self._head is None and self._buffer:
            self._head = self._read(self._buffer[0])
        return self._head

    @property
    def needs_page(self) -> bool:
        return not self._buffer and not self.done

    async def load_page(self) -> None:
        """Fetches one page. It may hold nothing new (the vendor's pages may be empty while
        more follow): the caller decides, within its call bound, whether to ask again."""
        self._take(await self._fetch(self._after, MAX_PAGE_SIZE))

    def pop(self) -> SessionRecord:
        record = self.head()
        if record is None:
            raise IndexError("pop from a stream with no session loaded")
        self._buffer.popleft()
        self._head = None
        self._consumed += 1
        self._after_consuming()
        return record

    def pop_all(self) -> list[SessionRecord]:
        first = self.head()
        if first is None:
            return []
        records = [first, *map(self._read, islice(self._buffer, 1, None))]
        self._consumed += len(records)
        self._buffer.clear()
        self._head = None
        self._after_consuming()
        return records

    def _take(self, page: StreamPage) -> None:
        # Pages are loaded once the last one is consumed (`needs_page`): one `read` at a time.
        if self._buffer:
            raise RuntimeError("a stream page loaded before the last one was consumed")
        if page.end_cursor is not None and page.end_cursor == self._after:
            raise UpstreamProtocolError(
                "SAMSARA returned the cursor it was given: its stream does not move",
                provider=Provider.SAMSARA,
            )
        if len(page.entries) <= self._consumed:
            # Consumed already (an empty page, or a shorter one than when the position was
            # taken): the rest of the skip carries over to the next page.
            self._move_to(page.end_cursor, self._consumed - len(page.entries))
        else:
            self._buffer.extend(islice(page.entries, self._consumed, None))
            self._read = page.read
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
