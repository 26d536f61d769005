"""The Samsara Agent Studio adapter.

Listing reads `GET /agent-studio/voice-sessions/stream`, one stream per chunk of ≤100 agent ids
(times chunks of vehicle and driver ids, when those filters are this long). Pushed down: the
window (`startTime`, `endTime`), agents, statuses (always sent: the vendor's default is
`completed` only), vehicles and drivers. Applied here by `matches`: the window's end again (the
vendor's `endTime` is inclusive, the query's window half-open), phone number and text (the stream
has no transcript: details are fetched for the candidates and kept on the records). Samsara
sessions have no tags and are all voice calls: such filters match nothing, without a request.

NEWEST_FIRST is the vendor's order: the streams are merged by sort key, and a position holds
each stream's native cursor and skip (`stream.StreamReader`). The vendor's pages may be short or
empty while more follow, so a page reads at most `list_call_bound` of them, empty ones included:
a walk that reaches it stops, resumable from each stream's position. OLDEST_FIRST cannot be
asked for: the window is scanned (≤ `scan_cap` sessions, and a bounded number of pages),
sorted, and resumed by keyset; the keyset's start time narrows `startTime` of the rescan.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from providers.adapter import SAFE_ID, Adapter, gather_bounded
from providers.errors import ProviderError, UserInputError
from providers.keyset import after_key, keyset_position, read_keyset
from providers.query import PagedSession, Position, SessionPage, SessionQuery, SortOrder, matches
from providers.records import (
    Channel,
    Provider,
    SessionRecord,
    SessionRef,
    SessionStatus,
    SortKey,
)
from providers.samsara.mapping import (
    RAW_STATUSES,
    format_time,
    session_from_detail,
    session_from_summary,
)
from providers.samsara.stream import MAX_PAGE_SIZE, PageFetch, StreamPage, StreamReader
from providers.settings import VendorConfig
from providers.transport import VendorResponse, reading
from providers.walk import CallAllowance

__all__ = ["SamsaraAdapter", "error_message"]

STREAM_PATH = "/agent-studio/voice-sessions/stream"
DETAILS_PATH = "/agent-studio/voice-sessions"
MAX_IDS = 100  # agentIds, vehicleIds, driverIds and details ids per call

T = TypeVar("T")


def error_message(response: VendorResponse) -> str:
    """`{"message", "requestId"}`, or the plain text of a 5xx."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return response.text.strip()
    request_id = body.get("requestId")
    return f"{body['message']} (requestId {request_id})" if request_id else body["message"]


class SamsaraAdapter(Adapter):
    provider = Provider.SAMSARA
    config = VendorConfig(
        credential_env="SAMSARA_API_TOKEN",
        base_url_env="SAMSARA_BASE_URL",
        default_base_url="https://api.samsara.com",
        toml_credential="api_token",
        agent_ids_env="SAMSARA_AGENT_IDS",
        toml_agent_ids="agent_ids",
        # [doc] 100 requests a minute per organization, the stream and details together.
        rate_limit_env="SAMSARA_RATE_LIMIT_PER_MIN",
        rate_limit_per_min=100,
    )
    max_page_size = MAX_PAGE_SIZE
    answers_fleet_filters = True

    @classmethod
    def read_error(cls, response: VendorResponse) -> tuple[str, type[ProviderError] | None]:
        return error_message(response), None

    # --- listing ----------------------------------------------------------------------------------

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        """NEWEST_FIRST: each stream's first (or resumed) page and one more, then three pages
        per 100 sessions asked (the vendor's pages may be short, or empty while more follow),
        twice as many with a text filter (a details call per page). OLDEST_FIRST: the scan, each
        stream's first page and two pages per 100 sessions of `scan_cap`, plus with a text
        filter a details call per 100 of them."""
        streams = self._stream_count(query)
        if not streams or limit < 1:
            return 0
        if query.order is SortOrder.NEWEST_FIRST:
            per_page = 2 if query.needs_details else 1
            return per_page * (2 * streams + 3 * math.ceil(limit / MAX_PAGE_SIZE))
        scan, details = self._scan_bounds(query, streams)
        return scan + details

    def _scan_bounds(self, query: SessionQuery, streams: int) -> tuple[int, int]:
        """The calls of an OLDEST_FIRST scan, and of the details a text filter reads."""
        pages = math.ceil(query.scan_cap / MAX_PAGE_SIZE)
        return streams + 2 * pages, pages if query.needs_details else 0

    async def _list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        if limit < 1:
            return SessionPage(items=(), exhausted=False)
        if query.order is SortOrder.NEWEST_FIRST:
            return await self._newest_first(query, after, limit)
        return await self._oldest_first(query, after, limit)

    async def _newest_first(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        calls = CallAllowance(self.list_call_bound(query, limit))
        per_page = 2 if query.needs_details else 1
        streams = self._stream_params(query, query.started_after)
        readers = self._readers(query, streams, after)
        items: list[PagedSession] = []
        frontier: SortKey | None = None  # the last session read, matching or not
        while len(items) < limit:
            needing = [reader for reader in readers if reader.needs_page]
            if needing:
                # Every stream needs its head before the newest can be told: load what the
                # bound allows; an empty page counts too, and is read through on the next turn.
                loading: list[StreamReader] = []
                for reader in needing:
                    if not calls.take(per_page):
                        break
                    loading.append(reader)
                await asyncio.gather(*(reader.load_page() for reader in loading))
                if len(loading) < len(needing):
                    return SessionPage(
                        tuple(items),
                        exhausted=False,
                        stopped=True,
                        resume={"streams": [reader.position() for reader in readers]},
                        frontier=frontier,
                    )
                continue
            record = _pop_newest(readers)
            if record is None:
                break
            frontier = record.sort_key
            if matches(record, query):
                position = {"streams": [reader.position() for reader in readers]}
                items.append(PagedSession(record, position))
        return SessionPage(tuple(items), exhausted=all(reader.done for reader in readers))

    def _readers(
        self, query: SessionQuery, streams: list[dict[str, str]], after: Position | None
    ) -> list[StreamReader]:
        text_query = query if query.needs_details else None
        fetches = [self._page_fetch(params, text_query) for params in streams]
        if after is None:
            return [StreamReader(fetch) for fetch in fetches]
        positions = after.get("streams")
        if not isinstance(positions, list) or len(positions) != len(fetches):
            raise UserInputError("the cursor does not belong to this SAMSARA query")
        return [
            StreamReader.resume(fetch, position)
            for fetch, position in zip(fetches, positions, strict=True)
        ]

    async def _oldest_first(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        key = read_keyset(self.provider, after)
        start = query.started_after if key is None else max(query.started_after, key[0])
        streams = self._stream_params(query, start)
        scan_calls, _ = self._scan_bounds(query, len(streams))
        scanned, truncated = await self._scan(streams, query.scan_cap, CallAllowance(scan_calls))
        without_text = replace(query, text=None)
        unique = {r.id: r for r in scanned if matches(r, without_text)}
        candidates = after_key(unique.values(), SortOrder.OLDEST_FIRST, key)
        picked, more = await self._first_matches(candidates, query, limit)
        items = tuple(PagedSession(record, keyset_position(record)) for record in picked)
        return SessionPage(items, exhausted=not more, truncated=truncated)

    async def _scan(
        self, streams: list[dict[str, str]], cap: int, calls: CallAllowance
    ) -> tuple[list[SessionRecord], bool]:
        """Every session of the streams, up to `cap` sessions and the calls allowed; True when
        either cut the scan short."""
        scanned: list[SessionRecord] = []
        for params in streams:
            reader = StreamReader(self._page_fetch(params, None))
            while not reader.done:
                if len(scanned) >= cap or not calls.take():
                    return scanned, True
                await reader.load_page()
                scanned.extend(reader.pop_all())
        if len(scanned) > cap:  # pages are 100 long: what the cap leaves out is reported
            return scanned[:cap], True
        return scanned, False

    async def _first_matches(
        self, candidates: list[SessionRecord], query: SessionQuery, limit: int
    ) -> tuple[list[SessionRecord], bool]:
        """The first `limit` candidates matching `query`, and whether candidates are left after
        them. A text filter reads details, fetched a batch at a time, only as far as needed:
        at most one call per 100 of the `scan_cap` candidates, within the bound."""
        if not query.needs_details:
            return candidates[:limit], len(candidates) > limit
        picked: list[SessionRecord] = []
        for start in range(0, len(candidates), MAX_IDS):
            batch = await self._with_details(candidates[start : start + MAX_IDS])
            for index, record in enumerate(batch, start + 1):
                if matches(record, query):
                    picked.append(record)
                    if len(picked) == limit:
                        return picked, index < len(candidates)
        return picked, False

    # --- vendor calls -----------------------------------------------------------------------------

    def _stream_count(self, query: SessionQuery) -> int:
        """How many streams `_stream_params` makes of `query`, without checking its ids."""
        agent_ids = query.agent_ids if query.agent_ids is not None else self.default_agent_ids()
        if not _can_match(query, agent_ids):
            return 0
        lists = (agent_ids, query.vehicle_ids, query.driver_ids)
        return math.prod(math.ceil(len(set(ids)) / MAX_IDS) for ids in lists if ids is not None)

    def _stream_params(self, query: SessionQuery, start: datetime) -> list[dict[str, str]]:
        """The parameters of each stream to read; none when nothing can match."""
        agent_ids = query.agent_ids if query.agent_ids is not None else self.default_agent_ids()
        if not _can_match(query, agent_ids):
            return []
        window_and_status = {
            "startTime": format_time(start),
            "endTime": format_time(query.started_before),
            "sessionStatus": _status_param(query.statuses),
        }
        return [
            {**window_and_status, **scope}
            for scope in _scopes(agent_ids, query.vehicle_ids, query.driver_ids)
        ]

    def _page_fetch(self, params: dict[str, str], text_query: SessionQuery | None) -> PageFetch:
        async def fetch(after: str | None, size: int) -> StreamPage:
            page = await self._stream_page(params, after, size)
            if text_query is None:
                return page
            records = [page.read(entry) for entry in page.entries]
            return StreamPage(await self._with_text_details(records, text_query), page.end_cursor)

        return fetch

    async def _stream_page(
        self, params: dict[str, str], after: str | None, size: int
    ) -> StreamPage:
        request: dict[str, str | int] = {**params, "limit": size}
        if after is not None:
            request["after"] = after
        body = await self.client.get_json(STREAM_PATH, request)
        with reading(self.provider):
            summaries = body["data"]
            if not isinstance(summaries, list):
                raise TypeError("`data` is not a list")
            pagination = body["pagination"]
            more = pagination.get("hasNextPage") is True
            end_cursor = pagination.get("endCursor") or None
        # Read as the walk reaches them (StreamReader): a merged page uses about half.
        return StreamPage(summaries, end_cursor if more else None, self._read_summary)

    def _read_summary(self, summary: Any) -> SessionRecord:
        with reading(self.provider):
            return session_from_summary(summary)

    async def _with_text_details(
        self, records: list[SessionRecord], query: SessionQuery
    ) -> list[SessionRecord]:
        """`records` with details for those only the text filter can still refuse."""
        without_text = replace(query, text=None)
        ids = [record.id for record in records if matches(record, without_text)]
        return await self._with_details(records, ids)

    async def _with_details(
        self, records: list[SessionRecord], ids: Sequence[str] | None = None
    ) -> list[SessionRecord]:
        """`records` with details filled for `ids` (default: all) where the vendor has them."""
        wanted = [record.id for record in records] if ids is None else ids
        found = await self._details(wanted) if wanted else {}
        return [found.get(record.id, record) for record in records]

    async def _details(self, ids: Sequence[str]) -> dict[str, SessionRecord]:
        found: dict[str, SessionRecord] = {}
        for batch in await gather_bounded(_chunks(ids), self._detail_batch, self.fan_out):
            found.update(batch)
        return found

    async def _detail_batch(self, ids: Sequence[str]) -> dict[str, SessionRecord]:
        body = await self.client.get_json(DETAILS_PATH, {"ids": ",".join(ids)})
        with reading(self.provider):
            records = [session_from_detail(detail) for detail in body["data"]]
        return {record.id: record for record in records}

    # --- getters ----------------------------------------------------------------------------------

    def detail_call_bound(self, sessions: int) -> int:
        """The details endpoint takes 100 ids a call."""
        return math.ceil(sessions / MAX_PAGE_SIZE)

    async def get_sessions(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        for ref in refs:
            self.check_ref(ref)
        found = await self._details(list(dict.fromkeys(ref.id for ref in refs)))
        return [found.get(ref.id) for ref in refs]


# --- query helpers --------------------------------------------------------------------------------


def _can_match(query: SessionQuery, agent_ids: Sequence[str]) -> bool:
    """False when no Samsara session could match, whatever the vendor holds."""
    return (
        query.started_after < query.started_before
        and bool(agent_ids)
        and (query.statuses is None or bool(query.statuses))
        and all(ids is None or ids for ids in (query.vehicle_ids, query.driver_ids))
        and (query.channels is None or Channel.VOICE in query.channels)
        and not query.tags  # the vendor has no tags
    )


def _status_param(statuses: frozenset[SessionStatus] | None) -> str:
    """Always explicit (the vendor's default drops all but completed), in one fixed order so
    that every process sends the same parameters while following a cursor."""
    return ",".join(
        raw for status, raw in RAW_STATUSES.items() if statuses is None or status in statuses
    )


def _scopes(
    agent_ids: Sequence[str],
    vehicle_ids: Sequence[str] | None,
    driver_ids: Sequence[str] | None,
) -> list[dict[str, str]]:
    """One parameter set per stream: the product of the ≤100-id chunks of each id list."""
    lists = {"agentIds": agent_ids, "vehicleIds": vehicle_ids, "driverIds": driver_ids}
    choices = [
        [(name, ",".join(chunk)) for chunk in _chunks(_canonical_ids(ids))]
        for name, ids in lists.items()
        if ids is not None
    ]
    return [dict(scope) for scope in itertools.product(*choices)]


def _canonical_ids(ids: Sequence[str]) -> list[str]:
    """Sorted and unique (the same chunks in every process), each safe in a comma list."""
    for item in ids:
        if not SAFE_ID.match(item):
            raise UserInputError(f"not a SAMSARA id: {item[:40]!r}")
    return sorted(set(ids))


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[start : start + MAX_IDS] for start in range(0, len(items), MAX_IDS)]


def _pop_newest(readers: list[StreamReader]) -> SessionRecord | None:
    """The newest head of the streams, consumed. Streams split by agent, vehicle or driver
    chunks should not share a session; if the vendor ties one session to several vehicles or
    drivers, it is consumed from every stream it heads, and listed once."""
    heads = [(head, reader) for reader in readers if (head := reader.head()) is not None]
    if not heads:
        return None
    newest, source = max(heads, key=lambda pair: pair[0].sort_key)
    for head, reader in heads:
        if reader is source or head.id == newest.id:
            reader.pop()
    return newest
