"""The Vonage AI Studio Insights adapter.

Listing: `/insights/sessions` sorts, filters and pages for us, but only over windows of at most
60 days, so the query window is walked in 60-day slices in the query's order (see `search`).
Getting: `/insights/sessions/{id}/parameters` when the start day is known, else the slow
`/insights/sessions/search/{id}`. Vonage answers 401 for bad parameters too: only the message
"Invalid API key" means a bad credential.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any
from urllib.parse import quote

import httpx

from providers.adapter import Adapter, gather_bounded
from providers.errors import (
    ProviderError,
    UpstreamNotFoundError,
    UpstreamRejectedError,
    UserInputError,
)
from providers.query import PagedSession, Position, SessionPage, SessionQuery, matches
from providers.records import Provider, SessionRecord, SessionRef
from providers.settings import VendorConfig
from providers.transport import reading
from providers.vonage.mapping import MAPPED_FIELDS, SUMMARY_FIELDS, format_time, session_record
from providers.vonage.search import (
    MAX_PAGE_SIZE,
    PageGeometry,
    Place,
    Search,
    Slice,
    build_search,
    page_geometry,
    sort_by,
    window_slices,
)

__all__ = ["INVALID_API_KEY", "VonageAdapter"]

INVALID_API_KEY = "Invalid API key"
SESSIONS_PATH = "/insights/sessions"
_FULL = json.dumps(list(MAPPED_FIELDS), separators=(",", ":"))
_SUMMARY = json.dumps(list(SUMMARY_FIELDS), separators=(",", ":"))


def _error_message(response: httpx.Response) -> tuple[str, bool]:
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


def _resume_point(slices: Sequence[Slice], after: Position | None) -> tuple[int, int]:
    """The slice to start in and the offset inside it."""
    if after is None:
        return 0, 0
    place = Place.from_position(after)
    for number, window in enumerate(slices):
        if window.key == place.slice_key:
            return number, place.next_offset
    raise UserInputError("this Vonage position belongs to another query window")


class VonageAdapter(Adapter):
    provider = Provider.VONAGE
    fetches_by_day = True
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

    @classmethod
    def auth_headers(cls, credential: str) -> dict[str, str]:
        return {"X-Vgai-Key": credential}

    @classmethod
    def read_error(cls, response: httpx.Response) -> tuple[str, type[ProviderError] | None]:
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

    async def _list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        if limit < 1:
            return SessionPage(items=(), exhausted=False)
        query = self._scoped(query)
        search = build_search(query)
        slices = window_slices(query)
        if search is None or not slices:
            return SessionPage(items=(), exhausted=True, total=0)
        first, offset = _resume_point(slices, after)
        items: list[PagedSession] = []
        total: int | None = None
        for window in slices[first:]:
            found, slice_done, slice_total = await self._walk_slice(
                query, search, window, offset, limit - len(items)
            )
            items.extend(found)
            offset = 0
            if len(slices) == 1 and search.exact:
                total = slice_total
            if len(items) == limit and not (slice_done and window is slices[-1]):
                return SessionPage(tuple(items), exhausted=False, total=total)
        return SessionPage(tuple(items), exhausted=True, total=total)

    async def _walk_slice(
        self, query: SessionQuery, search: Search, window: Slice, offset: int, wanted: int
    ) -> tuple[list[PagedSession], bool, int]:
        """Up to `wanted` matching sessions of one slice from `offset`; whether the slice has
        nothing after them; the vendor's count for the slice."""
        found: list[PagedSession] = []
        while True:
            # Hits that `matches` may drop make "what is still needed" a guess: take full pages.
            page = page_geometry(offset, wanted - len(found) if search.exact else MAX_PAGE_SIZE)
            hits, total = await self._search_page(query, search, window, page)
            for index in range(page.skip, len(hits)):
                place = Place(window.key, page, index)
                with reading(self.provider):
                    record = session_record(hits[index], _needs_details(query))
                if window.contains(record.started_at) and matches(record, query):
                    found.append(PagedSession(record, place.position()))
                    if len(found) == wanted:
                        return found, place.next_offset >= total, total
            offset = page.first + len(hits)
            if len(hits) < page.size or offset >= total:
                return found, True, total

    async def _search_page(
        self, query: SessionQuery, search: Search, window: Slice, page: PageGeometry
    ) -> tuple[list[Any], int]:
        params: dict[str, str | int] = {
            "from_date": format_time(window.start),
            "to_date": format_time(window.end),  # inclusive: the range clause makes it not
            "page_number": page.number,
            "page_size": page.size,
            "sort_by": sort_by(query.order),
            "filter_by": search.filter_by(window),  # httpx encodes the braces, as Vonage needs
            "project_fields": _FULL if _needs_details(query) else _SUMMARY,
        }
        try:
            body = await self.client.get_json(SESSIONS_PATH, params)
        except UpstreamNotFoundError:  # Vonage's "nothing matches"
            return [], 0
        with reading(self.provider):
            return _hits(body), _total(body)

    # --- getting ------------------------------------------------------------------------------

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


def _needs_details(query: SessionQuery) -> bool:
    """Lookahead: the transcript and flow path are most of a document; leave them out of the
    list call unless the client selected details or a text filter must read the transcript."""
    return query.with_details or query.text is not None
