"""The Vonage AI Studio Insights adapter.

Listing: `/insights/sessions` sorts, filters and pages for us, but only over windows of at most
60 days, so the query window is walked in 60-day slices in the query's order (see `search`).
Getting: `/insights/sessions/{id}/parameters` when the start day is known, else the slow
`/insights/sessions/search/{id}`. Vonage answers 401 for bad parameters too: only the message
"Invalid API key" means a bad credential.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, ClassVar
from urllib.parse import quote

from providers.adapter import Adapter, gather_bounded
from providers.errors import (
    NotFoundError,
    ProviderError,
    UpstreamNotFoundError,
    UpstreamRejectedError,
    UserInputError,
)
from providers.query import (
    PagedSession,
    Position,
    SessionPage,
    SessionQuery,
    SortOrder,
    matches,
)
from providers.records import Provider, SessionRecord, SessionRef, SortKey
from providers.settings import VendorConfig
from providers.transport import VendorResponse, reading
from providers.vonage.mapping import MAPPED_FIELDS, SUMMARY_FIELDS, format_time, session_record
from providers.vonage.search import (
    MAX_PAGE_SIZE,
    PageGeometry,
    Place,
    Search,
    Slice,
    Slices,
    build_search,
    page_geometry,
    read_resume,
    sort_by,
    stop_position,
)
from providers.walk import CallAllowance

__all__ = ["INVALID_API_KEY", "VonageAdapter"]

INVALID_API_KEY = "Invalid API key"
SESSIONS_PATH = "/insights/sessions"
_FULL = json.dumps(list(MAPPED_FIELDS), separators=(",", ":"))
_SUMMARY = json.dumps(list(SUMMARY_FIELDS), separators=(",", ":"))


def _error_message(response: VendorResponse) -> tuple[str, bool]:
    """The message of `{"statusCode", "message", "error"}` (NestJS may send a list of
    messages), and whether the body was that JSON at all; a proxy may answer plain text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip(), False
    if not isinstance(body, dict):
        return "", False
    message = body.get("message") or body.get("error") or ""
    if isinstance(message, list):
        return "; ".join(str(part) for part in message), True
    return str(message), True


def _hits(body: Any) -> list[Any]:
    hits = body["hits"]
    if not isinstance(hits, list):
        raise TypeError("hits is not a list")
    return hits


def _total(body: Any) -> int:
    """An int in the seed; Elasticsearch 7 style `{"value": n}` read too."""
    total = body["total"]
    return int(total["value"] if isinstance(total, Mapping) else total)


def _resume_point(slices: Slices, after: Position | None) -> tuple[int, int]:
    """The slice to start in and the offset inside it."""
    if after is None:
        return 0, 0
    slice_key, offset = read_resume(after)
    return slices.number_of(slice_key), offset


@dataclass(frozen=True, slots=True)
class _Hits:
    """One `/insights/sessions` answer: the page asked, its hits, the slice's count."""

    page: PageGeometry
    hits: list[Any]
    total: int


class VonageAdapter(Adapter):
    provider = Provider.VONAGE
    fetches_by_day = True
    fetches_per_session = True
    can_delete = True  # DELETE /insights/sessions/{id}?session_start_time=… [doc]
    config = VendorConfig(
        credential_env="VONAGE_AI_STUDIO_API_KEY",
        base_url_env="VONAGE_AI_STUDIO_BASE_URL",
        default_base_url="https://studio-api-eu.ai.vonage.com",
        region_env="VONAGE_AI_STUDIO_REGION",
        regions={
            "eu": "https://studio-api-eu.ai.vonage.com",
            "us": "https://studio-api-us.ai.vonage.com",
        },
        # Not published. Ours, as for Vectara: a page's detail calls (one per session, by day)
        # fit in the burst, 10 a second at most, and a 429 pauses the bucket.
        rate_limit_env="VONAGE_AI_STUDIO_RATE_LIMIT_PER_MIN",
        rate_limit_per_min=600,
    )
    max_page_size = MAX_PAGE_SIZE
    reports_total = True
    # Most calls one page may make: any query window is walked at most this many vendor pages
    # (slices) at a time, and the cursor goes on from where it stopped.
    walk_calls: ClassVar[int] = 16

    @classmethod
    def auth_headers(cls, credential: str) -> dict[str, str]:
        return {"X-Vgai-Key": credential}

    @classmethod
    def read_error(cls, response: VendorResponse) -> tuple[str, type[ProviderError] | None]:
        message, from_vonage = _error_message(response)
        if response.status_code == 401 and from_vonage and message != INVALID_API_KEY:
            return message, UpstreamRejectedError  # "401 for invalid parameters" [doc]
        return message, None

    # --- listing ------------------------------------------------------------------------------

    def _scoped(self, query: SessionQuery) -> SessionQuery:
        """Vonage needs no agent scoping: configured agents narrow the list only when set."""
        if query.agent_ids is None and self.default_agent_ids():
            return dataclasses.replace(query, agent_ids=self.default_agent_ids())
        return query

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        """An exact search needs at most a page per slice walked plus the pages `limit` fills
        (and one for a page resumed mid-way); a search that `matches` finishes may read any
        number of pages. Either way at most `walk_calls`."""
        search = build_search(self._scoped(query))
        slices = len(Slices.of(query))
        if search is None or not slices or limit < 1:
            return 0
        if not search.exact:
            return self.walk_calls
        return min(self.walk_calls, slices + math.ceil(limit / MAX_PAGE_SIZE) + 1)

    async def _list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        if limit < 1:
            return SessionPage(items=(), exhausted=False)
        calls = CallAllowance(self.list_call_bound(query, limit))
        query = self._scoped(query)
        search = build_search(query)
        slices = Slices.of(query)
        if search is None or not slices:
            return SessionPage(items=(), exhausted=True, total=0)
        number, offset = _resume_point(slices, after)
        walk = _SliceWalk(self, query, search, slices, calls, limit)
        return await walk.run(number, offset)

    async def search_page(
        self, query: SessionQuery, search: Search, window: Slice, page: PageGeometry
    ) -> tuple[list[Any], int]:
        params: dict[str, str | int] = {
            "from_date": format_time(window.start),
            "to_date": format_time(window.end),  # inclusive: the range clause makes it not
            "page_number": page.number,
            "page_size": page.size,
            "sort_by": sort_by(query.order),
            "filter_by": search.filter_by(window),  # the client encodes the braces: Vonage needs it
            "project_fields": _FULL if _needs_details(query) else _SUMMARY,
        }
        try:
            body = await self.client.get_json(SESSIONS_PATH, params)
        except UpstreamNotFoundError:  # Vonage's "nothing matches"
            return [], 0
        with reading(self.provider):
            return _hits(body), _total(body)

    # --- getting ------------------------------------------------------------------------------

    def detail_call_bound(self, sessions: int) -> int:
        """One call per session: by start day, or the (slower) search when the day is unknown."""
        return sessions

    async def get_sessions(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        for ref in refs:
            self.check_ref(ref)
        return await gather_bounded(refs, self._get_session, self.fan_out)

    async def _get_session(self, ref: SessionRef) -> SessionRecord | None:
        session_id = quote(ref.id, safe="")
        try:
            if ref.started_at is not None:
                day = ref.started_at.astimezone(UTC).date().isoformat()
                doc = await self.client.get_json(
                    f"{SESSIONS_PATH}/{session_id}/parameters", {"session_start_time": day}
                )
            else:  # much slower on Vonage's side: only when the day is unknown
                doc = await self.client.get_json(f"{SESSIONS_PATH}/search/{session_id}")
        except UpstreamNotFoundError:
            return None
        with reading(self.provider):
            return session_record(doc)

    # --- deleting -----------------------------------------------------------------------------

    async def delete_session(self, ref: SessionRef) -> None:
        """By id and start day, the day as the getter sends it (`YYYY-MM-DD`: the vendor's
        start time "may be just the day" and the session must be on that day)."""
        self.check_ref(ref)
        if ref.started_at is None:
            raise UserInputError(
                f"a {self.provider.name} session is deleted by its id and its start day:"
                " use the id of a listed session"
            )
        day = ref.started_at.astimezone(UTC).date().isoformat()
        try:
            await self.client.delete(
                f"{SESSIONS_PATH}/{quote(ref.id, safe='')}", {"session_start_time": day}
            )
        except UpstreamNotFoundError:  # no session of that id on that day [doc]
            raise NotFoundError(
                f"{self.provider.name} has no session {ref.id!r} started on {day}",
                provider=self.provider,
            ) from None


class _SliceWalk:
    """One `list_sessions` over the slices, from a slice and an offset in it, until the page
    is full, the last slice is read, or the call allowance is spent (then it stops, with a
    position that goes on exactly there).

    Slices go out one page at a time while they hold sessions. A slice with nothing in it
    (Vonage answers 404 or a zero total) makes the next round ask the first pages of the
    following slices together, twice as many after each empty round, within the allowance: a
    long empty stretch (a window from year 1) then costs a few round trips per page instead of
    one per slice, and a page that finds sessions at once asks for no slice it does not need."""

    def __init__(
        self,
        adapter: VonageAdapter,
        query: SessionQuery,
        search: Search,
        slices: Slices,
        calls: CallAllowance,
        limit: int,
    ) -> None:
        self.adapter = adapter
        self.query = query
        self.search = search
        self.slices = slices
        self.calls = calls
        self.limit = limit
        self.items: list[PagedSession] = []
        self.frontier: SortKey | None = None  # how far the walk has read, in the query's order
        self.ready: dict[int, _Hits] = {}  # first pages of slices asked ahead
        self.empty_run = 0  # slices in a row that held nothing

    async def run(self, number: int, offset: int) -> SessionPage:
        total = None
        while number < len(self.slices):
            hits = self.ready.pop(number, None)
            if hits is None:
                fetched = await self._fetch(number, offset)
                if fetched is None:
                    return self._stopped(number, offset, total)
                hits = fetched
            window = self.slices[number]
            if len(self.slices) == 1 and self.search.exact:
                total = hits.total
            full_at = self._read(window, hits)
            if full_at is not None:  # the page is full; is anything left after it?
                last = number == len(self.slices) - 1 and full_at >= hits.total
                return SessionPage(tuple(self.items), exhausted=last, total=total)
            offset = hits.page.first + len(hits.hits)
            if len(hits.hits) < hits.page.size or offset >= hits.total:  # the slice is read
                self.empty_run = self.empty_run + 1 if hits.total == 0 else 0
                self.frontier = _boundary(window, self.query.order)
                number, offset = number + 1, 0
        return SessionPage(tuple(self.items), exhausted=True, total=total)

    def _read(self, window: Slice, hits: _Hits) -> int | None:
        """Takes the matching hits of one vendor page; the offset after the hit that filled the
        page, or None while it is not full."""
        with_details = _needs_details(self.query)
        slice_key = window.key
        with reading(self.adapter.provider):  # once for the page: a context per hit costs
            for index in range(hits.page.skip, len(hits.hits)):
                record = session_record(hits.hits[index], with_details)
                if not window.contains(record.started_at):
                    continue
                self.frontier = record.sort_key
                if matches(record, self.query):
                    place = Place(slice_key, hits.page, index)
                    self.items.append(PagedSession(record, place.position()))
                    if len(self.items) == self.limit:
                        return place.next_offset
        return None

    async def _fetch(self, number: int, offset: int) -> _Hits | None:
        """The page of slice `number` at `offset`, and the first pages of slices ahead when the
        last ones were empty; None when no call is left."""
        if not self.calls.take():
            return None
        ahead: list[int] = []
        if offset == 0 and self.empty_run:
            wanted = min(2 ** min(self.empty_run, 8), self.adapter.fan_out) - 1
            for later in range(number + 1, min(number + 1 + wanted, len(self.slices))):
                if not self.calls.take():
                    break
                ahead.append(later)
        pages = await asyncio.gather(
            self._search(number, offset), *(self._search(later, 0) for later in ahead)
        )
        self.ready.update(zip(ahead, pages[1:], strict=True))
        return pages[0]

    async def _search(self, number: int, offset: int) -> _Hits:
        # Hits that `matches` may drop make "what is still needed" a guess: take full pages.
        wanted = self.limit - len(self.items) if self.search.exact else MAX_PAGE_SIZE
        page = page_geometry(offset, wanted)
        hits, total = await self.adapter.search_page(
            self.query, self.search, self.slices[number], page
        )
        return _Hits(page, hits, total)

    def _stopped(self, number: int, offset: int, total: int | None) -> SessionPage:
        return SessionPage(
            tuple(self.items),
            exhausted=False,
            total=total,
            stopped=True,
            resume=stop_position(self.slices[number].key, offset),
            frontier=self.frontier,
        )


def _boundary(window: Slice, order: SortOrder) -> SortKey:
    """A sort key past every session of `window` (read) and before any session after it: its
    far end, with the smallest tie-break (no provider name is empty)."""
    moment = window.start if order is SortOrder.NEWEST_FIRST else window.end
    return (moment, "", "", "")


def _needs_details(query: SessionQuery) -> bool:
    """Lookahead: the transcript and flow path are most of a document; leave them out of the
    list call unless the client selected details or a text filter must read the transcript."""
    return query.with_details or query.text is not None
