"""StateSet Voice adapter.

The vendor lists voice sessions by limit/offset in no promised order and has no time filter, so
every listing is a bounded scan: read the whole (pushed-down) list with 100-record pages, keep
what `matches` the query, sort, and resume by keyset (the sort key of the last item). The list
entries carry transcripts and function calls, so listed records come with details.

Push-downs: `agent_key` when exactly one agent is asked; `status` when the asked statuses are
exactly one vendor value (ACTIVE → `active`, FAILED → `failed`). COMPLETED is two vendor values
(`completed`, `reviewed`): two pushed scans would read nearly everything anyway (most calls
complete) at no fewer calls than one unfiltered scan, and at least twice the calls for a tenant
under 100 sessions, so it is filtered locally. Time window, tags, phone number and text are
always local: the vendor cannot answer them.

There is no get-by-id endpoint: a session is fetched with `stream_id=<lookup_key>` (its media
stream SID, which every record carries); only a reference without one costs a scan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from providers.adapter import SAFE_ID, Adapter, gather_bounded
from providers.errors import ProviderError, UserInputError
from providers.feed import FeedPage, FeedPosition
from providers.keyset import after_key, keyset_position, read_keyset
from providers.query import PagedSession, Position, SessionPage, SessionQuery, matches
from providers.records import AgentRecord, Provider, SessionRecord, SessionRef
from providers.settings import VendorConfig
from providers.stateset.mapping import (
    VoiceSessionPage,
    add_details,
    vendor_statuses,
    voice_session_page,
)
from providers.transport import VendorResponse, reading

__all__ = ["StateSetAdapter"]

SESSIONS_PATH = "/api/v1/voice-sessions"


@dataclass(frozen=True, slots=True)
class _Scan:
    records: list[SessionRecord]
    complete: bool  # every record the vendor holds for the pushed-down filters was read
    docs: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # by session id


class StateSetAdapter(Adapter):
    provider = Provider.STATESET
    config = VendorConfig(
        credential_env="STATESET_VOICE_API_KEY",
        base_url_env="STATESET_VOICE_BASE_URL",
        default_base_url="https://voice.stateset.app",
        # [doc] 60 requests a minute per IP (and 1000 per tenant): the IP's is the smaller.
        rate_limit_env="STATESET_VOICE_RATE_LIMIT_PER_MIN",
        rate_limit_per_min=60,
    )
    max_page_size = 100
    reports_total = True  # after a complete scan the count of matches is exact
    indexed = True  # no order, no time filter
    feed_by_offset = True
    # Most records a get-by-id scan reads for references without a stream id.
    id_scan_cap: ClassVar[int] = 10_000

    @classmethod
    def read_error(cls, response: VendorResponse) -> tuple[str, type[ProviderError] | None]:
        """`{"ok": false, "error": "..."}`; anything else is kept as text."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip(), None
        if isinstance(body, Mapping) and isinstance(body.get("error"), str):
            return body["error"], None
        return response.text.strip(), None

    def check_ref(self, ref: SessionRef) -> None:
        super().check_ref(ref)
        if ref.lookup_key is not None and not SAFE_ID.match(ref.lookup_key):
            raise UserInputError(f"not a {self.provider.name} stream id")

    # --- listing ------------------------------------------------------------------------------

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        """The scan: pages of 100 up to `scan_cap`, whatever `limit`. `_scan` moves its offset
        a full page per call and stops before the cap, so it never makes more."""
        return max(1, math.ceil(query.scan_cap / self.max_page_size))

    async def _list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        resume_key = read_keyset(self.provider, after)
        scoped = self._scoped(query)
        if scoped.agent_ids == () or scoped.statuses == frozenset():
            return SessionPage(items=(), exhausted=True, total=0)
        # Only a text filter reads transcripts of every scanned session; otherwise details are
        # mapped for the sessions returned (most of the mapping work of a scan).
        scan = await self._scan(
            _push_downs(scoped), cap=query.scan_cap, details=query.needs_details
        )
        found = [record for record in scan.records if matches(record, scoped)]
        rest = after_key(found, query.order, resume_key)
        return SessionPage(
            items=tuple(
                PagedSession(add_details(record, scan.docs[record.id]), keyset_position(record))
                for record in rest[:limit]
            ),
            exhausted=scan.complete and len(rest) <= limit,
            truncated=not scan.complete,
            total=len(found) if scan.complete else None,
        )

    def _scoped(self, query: SessionQuery) -> SessionQuery:
        """The query with its agents resolved: the configured ones when it names none. StateSet
        needs no agent to list, so no configured agent means every agent."""
        if query.agent_ids is not None:
            return query
        return replace(query, agent_ids=self.default_agent_ids() or None)

    async def _scan(
        self,
        filters: Mapping[str, str],
        cap: int,
        wanted: frozenset[str] = frozenset(),
        details: bool = True,
    ) -> _Scan:
        """Every session the vendor holds for `filters`, reading at most `cap` of them (or
        until every id in `wanted` was seen). The first page says the total; the pages after it
        go out `fan_out` at a time. The end is `offset ≥ total` or a short page. A session seen
        twice (the list shifted under us) is kept once."""
        seen: dict[str, SessionRecord] = {}
        docs: dict[str, Mapping[str, Any]] = {}
        offset, total = 0, None
        end = cap  # where reading stops: `cap`, or the vendor's total once it is known
        while offset < end:
            # Without a total, one page at a time: there is no knowing how far the list goes.
            offsets = range(offset, end, self.max_page_size)[: 1 if total is None else self.fan_out]
            pages = await gather_bounded(
                offsets, lambda at: self._page_at(filters, at, cap, details), self.fan_out
            )
            for page in pages:
                seen.update((record.id, record) for record in page.sessions)
                docs.update(zip((record.id for record in page.sessions), page.docs, strict=True))
            last_size = _page_size(offsets[-1], cap, self.max_page_size)
            if len(pages[-1].sessions) < last_size:  # a short page: the end of the list
                return _Scan(list(seen.values()), complete=True, docs=docs)
            offset = offsets[-1] + last_size
            if pages[-1].total is not None:
                total = pages[-1].total
                end = min(cap, total)
            if wanted and wanted <= seen.keys():
                break
        return _Scan(list(seen.values()), total is not None and offset >= total, docs)

    async def _page_at(
        self, filters: Mapping[str, str], offset: int, cap: int, details: bool
    ) -> VoiceSessionPage:
        size = _page_size(offset, cap, self.max_page_size)
        return await self._page({**filters, "limit": str(size), "offset": str(offset)}, details)

    async def _page(self, params: Mapping[str, str], details: bool = True) -> VoiceSessionPage:
        body = await self.client.get_json(SESSIONS_PATH, params)
        with reading(self.provider):
            return voice_session_page(body, details)

    # --- the index's feed ---------------------------------------------------------------------

    def feed_scopes(self) -> tuple[str, ...]:
        return ("",)  # one list for the whole account

    async def feed_page(
        self, scope: str, at: FeedPosition, *, active_only: bool = False
    ) -> FeedPage:
        offset = at if isinstance(at, int) else 0
        params = {"limit": str(self.max_page_size), "offset": str(offset)}
        if active_only:
            params["status"] = "active"
        page = await self._page(params)
        end = offset + len(page.sessions)
        more = len(page.sessions) == self.max_page_size and (page.total is None or end < page.total)
        return FeedPage(page.sessions, page.total, end if more else None, offset)

    # --- getting ------------------------------------------------------------------------------

    def detail_call_bound(self, sessions: int) -> int:
        """One lookup by stream id per session; a reference without one (a bare id) is found
        by reading the list, at most `id_scan_cap` sessions, once for all of them."""
        return sessions + math.ceil(self.id_scan_cap / self.max_page_size)

    async def get_sessions(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        for ref in refs:
            self.check_ref(ref)
        streams = sorted({ref.lookup_key for ref in refs if ref.lookup_key})
        fetched = await gather_bounded(streams, self._by_stream, self.fan_out)
        by_stream = dict(zip(streams, fetched, strict=True))
        unkeyed = frozenset(ref.id for ref in refs if not ref.lookup_key)
        by_id = await self._find_by_scan(unkeyed) if unkeyed else {}
        return [
            _pick(by_stream[ref.lookup_key], ref.id) if ref.lookup_key else by_id.get(ref.id)
            for ref in refs
        ]

    async def _by_stream(self, stream_id: str) -> tuple[SessionRecord, ...]:
        page = await self._page({"stream_id": stream_id, "limit": str(self.max_page_size)})
        return page.sessions

    async def _find_by_scan(self, ids: frozenset[str]) -> dict[str, SessionRecord]:
        """Only for references that lost their stream id (built from a bare id): the vendor has
        no other way to find one session than reading the list."""
        scan = await self._scan({}, self.id_scan_cap, wanted=ids)
        return {record.id: record for record in scan.records if record.id in ids}

    async def get_agents(self, ids: Sequence[str]) -> list[AgentRecord | None]:
        """No agent endpoint: an agent key exists when it is configured or has a session."""
        return await gather_bounded(ids, self._agent, self.fan_out)

    async def _agent(self, agent_id: str) -> AgentRecord | None:
        if agent_id in self.settings.agent_ids:
            return AgentRecord(self.provider, agent_id)
        if not SAFE_ID.match(agent_id):
            return None
        page = await self._page({"agent_key": agent_id, "limit": "1"})
        return AgentRecord(self.provider, agent_id) if page.sessions else None


def _push_downs(query: SessionQuery) -> dict[str, str]:
    """The vendor filters that narrow the scan without changing what `matches` keeps."""
    params: dict[str, str] = {}
    if query.agent_ids is not None and len(query.agent_ids) == 1:
        params["agent_key"] = query.agent_ids[0]
    if query.statuses is not None:
        raw = {value for status in query.statuses for value in vendor_statuses(status)}
        # UNKNOWN has no vendor value: pushing would drop sessions with an undocumented status.
        if len(raw) == 1 and all(vendor_statuses(status) for status in query.statuses):
            params["status"] = raw.pop()
    return params


def _page_size(offset: int, cap: int, max_page_size: int) -> int:
    """The vendor's largest page, or what is left before `cap`."""
    return min(max_page_size, cap - offset)


def _pick(records: Sequence[SessionRecord], session_id: str) -> SessionRecord | None:
    return next((record for record in records if record.id == session_id), None)
