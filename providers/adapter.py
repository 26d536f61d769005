"""The adapter contract: one subclass per vendor, registered by its `provider`.

An adapter turns its vendor's REST API into records. Getters are batch-only (the DataLoader
contract): a list of keys in, a list of the same length and order out, `None` for unknown keys.
A vendor without a batch endpoint fans out inside its adapter, bounded by `fan_out`.
"""

from __future__ import annotations

import asyncio
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, Protocol, TypeVar

import httpx

from providers.clock import SYSTEM_CLOCK, Clock
from providers.errors import NotSupportedError, ProviderError, UserInputError
from providers.feed import FeedPage, FeedPosition
from providers.keyset import keyset_position
from providers.query import PagedSession, Position, SessionPage, SessionQuery, matches
from providers.records import AgentRecord, Provider, SessionRecord, SessionRef
from providers.settings import ProviderSettings, VendorConfig
from providers.transport import VendorClient, VendorResponse, open_http

__all__ = ["SAFE_ID", "Adapter", "SessionLister", "gather_bounded"]

T = TypeVar("T")
R = TypeVar("R")

# Ids that may be put in a vendor URL path or a comma-separated list: no separators, no spaces.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


async def gather_bounded(
    items: Sequence[T], fetch: Callable[[T], Awaitable[R]], limit: int
) -> list[R]:
    """`fetch` over `items` concurrently, at most `limit` at once, results in order. The first
    failure cancels the calls still running or waiting and is raised as itself: the answer
    fails anyway, and a vendor that throttles or is down should get no more calls."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with semaphore:
            return await fetch(item)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(item)) for item in items]
    except ExceptionGroup as failures:
        failure = _first_leaf(failures)  # raised out of the handler: its own cause stays
    else:
        return [task.result() for task in tasks]
    raise failure


def _first_leaf(failures: BaseExceptionGroup[Exception]) -> Exception:
    first = failures.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


class SessionLister(Protocol):
    """What pages the merged connection: an adapter (live), or the session index over one."""

    @property
    def provider(self) -> Provider: ...

    async def list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage: ...

    def list_call_bound(self, query: SessionQuery, limit: int) -> int: ...


class Adapter(ABC):
    provider: ClassVar[Provider]
    config: ClassVar[VendorConfig]
    registry: ClassVar[dict[Provider, type[Adapter]]] = {}
    max_page_size: ClassVar[int] = 100  # the vendor's largest page
    # Concurrent calls when the vendor has no batch endpoint: a page of 50 Vectara sessions is
    # then one round of events calls, not several.
    fan_out: ClassVar[int] = 16
    answers_fleet_filters: ClassVar[bool] = False  # vehicle / driver ids
    reports_total: ClassVar[bool] = False  # can say how many sessions match a query
    # The vendor has no batch detail endpoint (one call per session): the loaders then fetch
    # each session on its own, so one failed call costs only its session's details.
    fetches_per_session: ClassVar[bool] = False
    # The vendor's get-by-id needs the session's start day (Vonage): node ids then carry it.
    fetches_by_day: ClassVar[bool] = False
    # The vendor promises no order and has no time filter (StateSet, Vectara): its sessions are
    # kept in the session index by a background sync, through the `feed_*` methods below.
    indexed: ClassVar[bool] = False
    # The vendor's list entries carry the transcript: a text filter can be checked on them.
    lists_transcripts: ClassVar[bool] = True
    # The vendor's list can be read at any offset: a sync can probe its tail for new sessions.
    feed_by_offset: ClassVar[bool] = False
    # The vendor's API can delete a session (`delete_session`); the others answer NOT_SUPPORTED.
    can_delete: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "provider" in cls.__dict__:
            Adapter.registry[cls.provider] = cls

    def __init__(self, settings: ProviderSettings, client: VendorClient) -> None:
        self.settings = settings
        self.client = client

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def auth_headers(cls, credential: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential}"}

    @classmethod
    @abstractmethod
    def read_error(cls, response: VendorResponse) -> tuple[str, type[ProviderError] | None]:
        """The vendor's error body → (message, error class or None for the status default)."""

    @classmethod
    def connect(
        cls,
        settings: ProviderSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Adapter:
        """An adapter with its own client; `transport` is the in-process simulator in demo mode."""
        http = open_http(
            settings.base_url,
            {**cls.auth_headers(settings.credential.reveal()), "Accept": "application/json"},
            timeout_s=settings.timeout_s,
            max_connections=settings.max_connections,
            kind=settings.http_transport,
            transport=transport,
        )
        client = VendorClient(
            cls.provider,
            http,
            cls.read_error,
            deadline_s=settings.timeout_s,
            clock=clock,
            rate_limit_per_min=settings.rate_limit(cls.config),
            secrets=(settings.credential,),
        )
        return cls(settings, client)

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- the contract -------------------------------------------------------------------------

    async def list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage:
        """Up to `limit` sessions matching `query` in `query.order`, starting right after the
        record whose `resume` is `after` (from the start when None). A page is shorter than
        `limit` only when `exhausted`, `truncated`, or `stopped` at `list_call_bound` (then it
        resumes from `next_after`, even with no item)."""
        if query.fleet_scoped and not self.answers_fleet_filters:
            return SessionPage(items=(), exhausted=True, total=0 if self.reports_total else None)
        return await self._list_sessions(query, after, limit)

    @abstractmethod
    async def _list_sessions(
        self, query: SessionQuery, after: Position | None, limit: int
    ) -> SessionPage: ...

    @abstractmethod
    async def get_sessions(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        """Sessions with `details` filled, in the order of `refs`, None for unknown ones."""

    async def get_summaries(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        """Sessions by reference when no detail field is selected: details may be left out
        (None) where the vendor can fetch a session without them. By default, `get_sessions`."""
        return await self.get_sessions(refs)

    async def complete_sessions(
        self, listed: Sequence[SessionRecord]
    ) -> list[SessionRecord | None]:
        """Listed records (details None) with details filled. By default a fresh fetch; a vendor
        whose detail call adds to the list entry (Vectara's events) overrides it to fetch only
        what is missing."""
        return await self.get_sessions([record.ref for record in listed])

    # --- what a query may cost, known before it runs ------------------------------------------

    def list_call_bound(self, query: SessionQuery, limit: int) -> int:
        """The most vendor calls one `list_sessions(query, after, limit)` may make, retries
        aside. A hard bound, from the vendor's scoping (slices, agents, page sizes) and this
        server's configuration, never from the client's window or the vendor's data size: a walk
        that reaches it ends its page there, resumable. Each vendor states its own."""
        return max(1, math.ceil(limit / self.max_page_size))

    def detail_call_bound(self, sessions: int) -> int:
        """The most vendor calls fetching the details of `sessions` sessions (the getters and
        `complete_sessions`), retries aside. By default one call per session."""
        return sessions

    async def delete_session(self, ref: SessionRef) -> None:
        """Deletes the session at the vendor: one DELETE (retried as `VendorClient.delete`
        says). Raises `NotSupportedError` when the vendor cannot delete (no request),
        `UserInputError` for a reference it could not have minted (no request),
        `NotFoundError` when the vendor does not know the session, and the transport's
        `ProviderError`s for the rest."""
        raise NotSupportedError(
            f"{self.provider.name} sessions cannot be deleted: its API has no delete",
            provider=self.provider,
        )

    async def get_agents(self, ids: Sequence[str]) -> list[AgentRecord | None]:
        """Agents by vendor id. Vendors without an agent endpoint know only configured ids."""
        known = set(self.settings.agent_ids)
        return [
            AgentRecord(self.provider, agent_id) if agent_id in known else None for agent_id in ids
        ]

    def check_ref(self, ref: SessionRef) -> None:
        """Refuses a reference that could not have come from this vendor, before any request."""
        if not SAFE_ID.match(ref.id) or (
            ref.agent_id is not None and not SAFE_ID.match(ref.agent_id)
        ):
            raise UserInputError(f"not a {self.provider.name} session id")

    def default_agent_ids(self) -> tuple[str, ...]:
        return self.settings.agent_ids

    # --- what the session index's sync reads (vendors that set `indexed`) -----------------------

    def feed_scopes(self) -> tuple[str, ...]:
        """The lists the index keeps for this vendor (`""`: the vendor has one list)."""
        raise NotImplementedError(f"{self.provider.name} is not indexed")

    async def feed_page(
        self, scope: str, at: FeedPosition, *, active_only: bool = False
    ) -> FeedPage:
        """One page (the vendor's largest) of `scope`'s list from `at`; only the sessions still
        active, by the vendor's own filter, when `active_only`."""
        raise NotImplementedError(f"{self.provider.name} is not indexed")

    def text_call_bound(self, limit: int) -> int:
        """The most vendor calls `take_by_text(…, limit)` makes: none when the listed records
        carry the transcript."""
        return 0

    async def take_by_text(
        self, candidates: Sequence[SessionRecord], query: SessionQuery, limit: int
    ) -> SessionPage:
        """The first `limit` of `candidates` (listed records in the query's order, matching all
        but its text filter) whose conversation has the text: for the index, which orders and
        filters, and leaves the text to a vendor whose list has no transcript. By default the
        listed records carry it. A vendor that reads conversations stops within
        `list_call_bound` and says where (`stopped`)."""
        found = [record for record in candidates if matches(record, query)]
        return SessionPage(
            items=tuple(PagedSession(record, keyset_position(record)) for record in found[:limit]),
            exhausted=len(found) <= limit,
        )

    async def feed_refetch(self, records: Sequence[SessionRecord]) -> list[SessionRecord | None]:
        """`records` again, as the vendor's list would show them now; None: gone."""
        return await self.get_summaries([record.ref for record in records])
