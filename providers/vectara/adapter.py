"""Vectara Agents v2 → records.

Vectara lists sessions one agent at a time, in no promised order and with no time filter. So a
page of `list_sessions` is a bounded scan: every wanted agent is read in full (limit=100,
following `page_key`, agents concurrently), the window and filters are applied here, the result
is sorted, and a position is the sort key of an item: a later call rescans and skips everything
up to it. At most `query.scan_cap` sessions are read over all agents; past that the page says
`truncated`.

Pushed down: `enabled`, when the wanted statuses select exactly one value of it. Everything else
(window, channel, tags, phone, text) is checked here; a text filter fetches the events of the
candidates, in sort order, only until the page is full.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

from providers.adapter import SAFE_ID, Adapter, gather_bounded
from providers.errors import (
    NotFoundError,
    ProviderError,
    UpstreamNotFoundError,
    UpstreamProtocolError,
    UserInputError,
)
from providers.feed import FeedPage, FeedPosition
from providers.keyset import after_key, keyset_position, read_keyset
from providers.query import (
    PagedSession,
    Position,
    SessionPage,
    SessionQuery,
    matches,
)
from providers.records import AgentRecord, Provider, SessionRecord, SessionRef, SessionStatus
from providers.settings import VendorConfig
from providers.transport import VendorResponse, reading
from providers.vectara.mapping import add_parameters, agent_record, session_record, with_events
from providers.walk import CallAllowance, OutOfCalls

__all__ = ["VectaraAdapter"]

Json = Mapping[str, Any]
T = TypeVar("T")
R = TypeVar("R")

# Session keys: 1-50 characters of [0-9a-zA-Z_-] (the API reference).
_SESSION_KEY_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")
_ENABLED = {SessionStatus.ACTIVE: "true", SessionStatus.COMPLETED: "false"}


# Most pages of one session's events read (2,000 events): past that the vendor's pages are taken
# for a loop, as a repeated page key is.
MAX_EVENT_PAGES = 20


@dataclass
class _Scan:
    """What one listing's scan may still read, shared by the agents scanned at once: sessions
    (`scan_cap`) and pages past each agent's first (the call bound)."""

    records_left: int
    more_pages: CallAllowance
    truncated: bool = False


class _Unchecked:
    """A text-filter candidate whose events the call bound left unread."""


_UNCHECKED = _Unchecked()


class VectaraAdapter(Adapter):
    provider = Provider.VECTARA
    fetches_per_session = True
    indexed = True  # no order, no time filter
    lists_transcripts = False  # the conversation is in the events
    can_delete = True  # DELETE /v2/agents/{agent_key}/sessions/{session_key} → 204 [doc]
    config = VendorConfig(
        credential_env="VECTARA_API_KEY",
        base_url_env="VECTARA_BASE_URL",
        default_base_url="https://api.vectara.io",
        agent_ids_env="VECTARA_AGENT_KEYS",
        toml_agent_ids="agent_keys",
        # Not published (429s exist). Ours: a page of 100 sessions with transcripts is one
        # events call per session, and fits in the bucket's burst (a quarter: 150); 10 a
        # second at most is modest for an API, and a 429 pauses the bucket anyway.
        rate_limit_env="VECTARA_RATE_LIMIT_PER_MIN",
        rate_limit_per_min=600,
    )
    max_page_size: ClassVar[int] = 100

    # --- building ------------------------------------------------------------------------------

    @classmethod
    def auth_headers(cls, credential: str) -> dict[str, str]:
        return {"x-api-key": credential}

    @classmethod
    def read_error(cls, response: VendorResponse) -> tuple[str, type[ProviderError] | None]:
        """`{"messages": ["code: …"], "request_id", "field_errors"?}`; a proxy's 5xx may be
        text. Every status means what it usually does."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip(), None
        if not isinstance(body, Mapping):
            return str(body), None
        messages = body.get("messages")
        parts = [messages] if isinstance(messages, str) else [str(m) for m in messages or ()]
        field_errors = body.get("field_errors")
        if isinstance(field_errors, Mapping):
            parts += [f"{field}: {problem}" for field, problem in field_errors.items()]
        text = "; ".join(parts)
        if body.get("request_id"):
            text = f"{text} (request {body['request_id']})"
        return text, None

    # --- listing -------------------------------------------------------------------------------

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        """The scan: each wanted agent's first page, then pages of 100 up to `scan_cap` over all
        of them. A text filter adds the events calls of its candidates: two per session the
        page asks for (at least two batches' worth), and enough for one long conversation, so
        that every page checks at least one candidate and a walk always moves on."""
        agents = len(self._agents_to_scan(query))
        if _enabled_param(query.statuses) is None or not agents:
            return 0
        scan = agents + math.ceil(query.scan_cap / self.max_page_size)
        return scan + (self._text_calls(limit) if query.needs_details else 0)

    def text_call_bound(self, limit: int) -> int:
        return self._text_calls(limit)

    def _text_calls(self, limit: int) -> int:
        return MAX_EVENT_PAGES + 2 * max(limit, self.fan_out)

    async def _list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        resume_key = read_keyset(self.provider, after)
        enabled = _enabled_param(query.statuses)
        agent_keys = self._agents_to_scan(query)
        if enabled is None or not agent_keys:
            return SessionPage(items=(), exhausted=True)
        more_pages = math.ceil(query.scan_cap / self.max_page_size)
        scan = _Scan(query.scan_cap, CallAllowance(more_pages))
        scanned = await gather_bounded(
            agent_keys, lambda agent_key: self._scan_agent(agent_key, enabled, scan), self.fan_out
        )
        candidates = after_key(_matching(_unique(scanned), query), query.order, resume_key)
        if query.needs_details:
            text_calls = CallAllowance(self._text_calls(limit))
            return await self._take_by_text(candidates, query, limit, text_calls, scan.truncated)
        page = candidates[:limit]
        return SessionPage(
            items=_paged(page),
            exhausted=len(candidates) <= limit,
            truncated=scan.truncated,
        )

    def _agents_to_scan(self, query: SessionQuery) -> list[str]:
        """The wanted agents that could be Vectara's: an id of another vendor in a cross-vendor
        filter matches nothing here, without a request."""
        wanted = self.default_agent_ids() if query.agent_ids is None else query.agent_ids
        return list(dict.fromkeys(key for key in wanted if SAFE_ID.match(key)))

    async def _scan_agent(
        self, agent_key: str, enabled: dict[str, str], scan: _Scan
    ) -> list[SessionRecord]:
        records: list[SessionRecord] = []
        pages = self._pages(_agent_path(agent_key) + "/sessions", enabled, scan.more_pages.spend)
        try:
            async with aclosing(pages):
                async for body in pages:
                    with reading(self.provider):
                        found = [
                            session_record(raw, agent_key, with_parameters=False)
                            for raw in body["sessions"]
                        ]
                    records += found
                    scan.records_left -= len(found)
                    if scan.records_left <= 0 and _next_page_key(body):
                        scan.truncated = True
                        break
        except OutOfCalls:  # more pages than the bound: what was read is sorted, and said so
            scan.truncated = True
        except UpstreamNotFoundError:
            return []  # no such agent (maybe another vendor's id): none of its sessions
        return records

    async def _take_by_text(
        self,
        candidates: list[SessionRecord],
        query: SessionQuery,
        limit: int,
        calls: CallAllowance,
        truncated: bool,
    ) -> SessionPage:
        """The first `limit` candidates whose conversation has the text. Their events are read
        in sort order, a batch at a time, while the calls last. When they run out the page
        stops after the last candidate checked, and resumes right after it."""
        found: list[SessionRecord] = []
        checked = 0
        while len(found) < limit and checked < len(candidates):
            if checked and not calls.left:
                return _stopped(found, candidates[checked - 1], truncated)
            # The page's first candidate may read all of its events: a page always gets past it.
            lead = None if checked else calls.split(MAX_EVENT_PAGES)
            size = min(max(limit - len(found), self.fan_out), 1 + calls.left)
            batch = candidates[checked : checked + size]
            allowances = [lead or calls] + [calls] * (len(batch) - 1)
            results = await gather_bounded(
                list(zip(batch, allowances, strict=True)), self._checked, self.fan_out
            )
            if lead is not None:
                calls.give_back(lead)
            for result in results:
                if isinstance(result, _Unchecked):
                    return _stopped(found, candidates[checked - 1], truncated)
                checked += 1
                if result is not None and matches(result, query):
                    found.append(result)
                    if len(found) == limit:
                        break
        return SessionPage(
            items=_paged(found), exhausted=checked == len(candidates), truncated=truncated
        )

    async def take_by_text(
        self, candidates: Sequence[SessionRecord], query: SessionQuery, limit: int
    ) -> SessionPage:
        calls = CallAllowance(self._text_calls(limit))
        return await self._take_by_text(list(candidates), query, limit, calls, truncated=False)

    async def _checked(
        self, candidate: tuple[SessionRecord, CallAllowance]
    ) -> SessionRecord | _Unchecked | None:
        record, calls = candidate
        try:
            return await self._with_events(record, calls)
        except OutOfCalls:
            return _UNCHECKED

    # --- the index's feed ----------------------------------------------------------------------

    def feed_scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for key in self.default_agent_ids() if SAFE_ID.match(key)))

    async def feed_page(
        self, scope: str, at: FeedPosition, *, active_only: bool = False
    ) -> FeedPage:
        params: dict[str, str | int] = {"limit": self.max_page_size}
        if isinstance(at, str):
            params["page_key"] = at
        if active_only:
            params["enabled"] = "true"
        body = _object(await self.client.get_json(_agent_path(scope) + "/sessions", params))
        with reading(self.provider):
            records = tuple(session_record(raw, scope) for raw in body["sessions"])
            metadata = body.get("metadata")
            total = metadata.get("total_count") if isinstance(metadata, Mapping) else None
        return FeedPage(records, total if isinstance(total, int) else None, _next_page_key(body))

    # --- getters -------------------------------------------------------------------------------

    def check_ref(self, ref: SessionRef) -> None:
        super().check_ref(ref)
        if ref.provider is not self.provider or not _is_session_key(ref.id):
            raise UserInputError(f"not a {self.provider.name} session id")
        if ref.agent_id is None:
            raise UserInputError(
                f"a {self.provider.name} session is known by its agent key and its own key"
            )

    def detail_call_bound(self, sessions: int) -> int:
        """Per session: the session itself and its events, at most `MAX_EVENT_PAGES` pages."""
        return sessions * (1 + MAX_EVENT_PAGES)

    async def get_sessions(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        return await self._by_key(refs, self._fetch_session)

    async def get_summaries(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        # The session alone, without its events: one call instead of two.
        return await self._by_key(refs, self._fetch_summary)

    async def _by_key(
        self,
        refs: Sequence[SessionRef],
        fetch: Callable[[tuple[str, str]], Awaitable[SessionRecord | None]],
    ) -> list[SessionRecord | None]:
        for ref in refs:
            self.check_ref(ref)
        wanted = list(dict.fromkeys((ref.agent_id or "", ref.id) for ref in refs))
        found = await gather_bounded(wanted, fetch, self.fan_out)
        by_key = dict(zip(wanted, found, strict=True))
        return [by_key[(ref.agent_id or "", ref.id)] for ref in refs]

    async def _fetch_summary(self, key: tuple[str, str]) -> SessionRecord | None:
        agent_key, session_key = key
        session = await self._get_or_none(_session_path(agent_key, session_key))
        if session is None:
            return None
        with reading(self.provider):
            return session_record(session, agent_key)

    async def complete_sessions(
        self, listed: Sequence[SessionRecord]
    ) -> list[SessionRecord | None]:
        # The list entry is the session: only its events are missing.
        return await gather_bounded(list(listed), self._with_events, self.fan_out)

    async def get_agents(self, ids: Sequence[str]) -> list[AgentRecord | None]:
        wanted = list(dict.fromkeys(key for key in ids if SAFE_ID.match(key)))
        bodies = await gather_bounded(
            wanted, lambda key: self._get_or_none(_agent_path(key)), self.fan_out
        )
        with reading(self.provider):
            agents = {
                key: agent_record(body)
                for key, body in zip(wanted, bodies, strict=True)
                if body is not None
            }
        return [agents.get(key) for key in ids]

    async def _fetch_session(self, key: tuple[str, str]) -> SessionRecord | None:
        agent_key, session_key = key
        session, events = await asyncio.gather(
            self._get_or_none(_session_path(agent_key, session_key)),
            self._events(agent_key, session_key),
        )
        if session is None or events is None:
            return None
        with reading(self.provider):
            return with_events(session_record(session, agent_key), events)

    async def _with_events(
        self, record: SessionRecord, calls: CallAllowance | None = None
    ) -> SessionRecord | None:
        """`record` with its conversation; None when it was deleted since it was listed."""
        events = await self._events(record.agent_id or "", record.id, calls)
        if events is None:
            return None
        with reading(self.provider):
            return with_events(record, events)

    # --- requests ------------------------------------------------------------------------------

    async def _events(
        self, agent_key: str, session_key: str, calls: CallAllowance | None = None
    ) -> list[Json] | None:
        """Every event of a session, in the vendor's (chronological) order; None: no session.
        Each page draws on `calls` when given (`OutOfCalls` once spent). More than
        `MAX_EVENT_PAGES` pages is the vendor's fault, like a repeated page key."""
        pages_read = 1

        def before_next_page() -> None:
            nonlocal pages_read
            if pages_read == MAX_EVENT_PAGES:
                raise UpstreamProtocolError(
                    f"{self.provider.name} sent more than {MAX_EVENT_PAGES * self.max_page_size} "
                    "events for one session",
                    provider=self.provider,
                )
            pages_read += 1
            if calls is not None:
                calls.spend()

        if calls is not None:
            calls.spend()
        path = _session_path(agent_key, session_key) + "/events"
        events: list[Json] = []
        try:
            async for body in self._pages(path, {}, before_next_page):
                with reading(self.provider):
                    events += [_object(event) for event in body["events"]]
        except UpstreamNotFoundError:
            return None
        return events

    async def _pages(
        self, path: str, params: Mapping[str, str], before_next_page: Callable[[], None]
    ) -> AsyncGenerator[Json]:
        """The pages of a listing, following `page_key` while it is present and non-empty.
        `before_next_page` bounds the walk: it raises to end it."""
        seen: set[str] = set()
        page_key: str | None = None
        while True:
            request: dict[str, str | int] = {**params, "limit": self.max_page_size}
            if page_key:
                request["page_key"] = page_key
            body = _object(await self.client.get_json(path, request))
            yield body
            page_key = _next_page_key(body)
            if page_key is None:
                return
            if page_key in seen:
                raise UpstreamProtocolError(
                    f"{self.provider.name} sent the same page_key twice", provider=self.provider
                )
            seen.add(page_key)
            before_next_page()

    # --- deleting -------------------------------------------------------------------------------

    async def delete_session(self, ref: SessionRef) -> None:
        self.check_ref(ref)  # a session key is unique per agent only: the agent key is needed
        agent_key = ref.agent_id or ""
        try:
            await self.client.delete(_session_path(agent_key, ref.id))
        except UpstreamNotFoundError:  # no such session, or no such agent [doc]
            raise NotFoundError(
                f"{self.provider.name} has no session {ref.id!r} of agent {agent_key!r}",
                provider=self.provider,
            ) from None

    async def _get_or_none(self, path: str) -> Json | None:
        try:
            return _object(await self.client.get_json(path))
        except UpstreamNotFoundError:
            return None


# --- positions and order --------------------------------------------------------------------


def _unique(scanned: list[list[SessionRecord]]) -> list[SessionRecord]:
    """Each (agent, key) once, should a page repeat a session."""
    by_key = {(r.agent_id, r.id): r for records in scanned for r in records}
    return list(by_key.values())


def _matching(records: list[SessionRecord], query: SessionQuery) -> list[SessionRecord]:
    """The records that match all but the text filter (it needs events)."""
    without_text = replace(query, text=None)
    return [record for record in records if matches(record, without_text)]


def _paged(records: list[SessionRecord]) -> tuple[PagedSession, ...]:
    return tuple(PagedSession(add_parameters(r), keyset_position(r)) for r in records)


def _stopped(found: list[SessionRecord], last: SessionRecord, truncated: bool) -> SessionPage:
    """A page the call bound ended after `last`, the last candidate checked."""
    return SessionPage(
        items=_paged(found),
        exhausted=False,
        truncated=truncated,
        stopped=True,
        resume=keyset_position(last),
        frontier=last.sort_key,
    )


# --- small helpers --------------------------------------------------------------------------


def _enabled_param(statuses: frozenset[SessionStatus] | None) -> dict[str, str] | None:
    """`enabled` when the statuses select exactly one value of it; `{}` when the vendor cannot
    narrow; None when no Vectara session can have any of them (FAILED)."""
    if statuses is None or SessionStatus.UNKNOWN in statuses:
        return {}  # a session without `enabled` is UNKNOWN: a push-down would hide it
    values = {_ENABLED[status] for status in statuses if status in _ENABLED}
    if not values:
        return None
    return {"enabled": values.pop()} if len(values) == 1 else {}


def _next_page_key(body: Json) -> str | None:
    """The next page's key; absent, null, `""` or no `metadata` at all: the last page."""
    metadata = body.get("metadata")
    page_key = metadata.get("page_key") if isinstance(metadata, Mapping) else None
    return page_key if isinstance(page_key, str) and page_key else None


def _object(value: Any) -> Json:
    if not isinstance(value, Mapping):
        raise UpstreamProtocolError(
            f"{Provider.VECTARA.name} sent a response sessiongraph cannot read (not an object)",
            provider=Provider.VECTARA,
        )
    return value


def _is_session_key(key: str) -> bool:
    return 1 <= len(key) <= 50 and set(key) <= _SESSION_KEY_CHARS


def _agent_path(agent_key: str) -> str:
    return f"/v2/agents/{quote(agent_key, safe='')}"


def _session_path(agent_key: str, session_key: str) -> str:
    return f"{_agent_path(agent_key)}/sessions/{quote(session_key, safe='')}"
