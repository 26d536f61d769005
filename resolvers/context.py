"""Per-request state: the vendors, the cursor codec, and one DataLoader per kind of fetch and
vendor (built inside the request: aiodataloader binds the running loop at construction)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiodataloader import DataLoader

from providers.adapter import Adapter
from providers.errors import (
    ProviderNotConfiguredError,
    SessionGraphError,
    UpstreamProtocolError,
)
from providers.records import AgentRecord, Provider, SessionRecord, SessionRef
from resolvers.cache import RecordCache
from resolvers.connection import PagingLimits
from resolvers.cursor import CursorCodec
from resolvers.principal import EVERYTHING, OPEN, Audience, Principal
from resolvers.sources import Sources

__all__ = ["Loaders", "RequestContext"]

log = logging.getLogger("sessiongraph")


class _SessionLoader(DataLoader[SessionRef, SessionRecord | None]):
    """Details of sessions, one vendor: the cross-request cache first, then one batch call."""

    def __init__(self, adapter: Adapter, cache: RecordCache, summaries: bool = False) -> None:
        super().__init__(max_batch_size=100)
        self.adapter = adapter
        self.records = cache
        self.summaries = summaries  # details may be left out: no detail field is selected
        self.listed: dict[SessionRef, SessionRecord] = {}  # what a list call already gave

    # An exception in a key's place fails that key's load only: aiodataloader does this,
    # though its types say a batch returns values only.
    async def batch_load_fn(  # type: ignore[override]
        self, refs: Sequence[SessionRef]
    ) -> list[SessionRecord | SessionGraphError | None]:
        scope = self.adapter.settings.cache_scope
        found: list[SessionRecord | SessionGraphError | None] = [
            self.records.session(scope, ref) for ref in refs
        ]
        missing = [i for i, record in enumerate(found) if record is None]
        if self.adapter.fetches_per_session:
            fetched = await self._each([refs[i] for i in missing])
        else:
            fetched = list(await self._fetch([refs[i] for i in missing]))
        for i, record in zip(missing, fetched, strict=True):
            found[i] = record
            if isinstance(record, SessionRecord):
                self.records.keep_session(scope, refs[i], record)  # kept only with details
        return found  # an error in a key's place fails that key's load only (DataLoader)

    async def _each(self, refs: list[SessionRef]) -> list[SessionRecord | SessionGraphError | None]:
        """A vendor with one call per session: each fetched on its own (`fan_out` at once), so
        a call that fails costs only its session. The transport's breaker and rate limit keep a
        failing vendor from being asked on and on."""
        gate = asyncio.Semaphore(self.adapter.fan_out)

        async def one(ref: SessionRef) -> SessionRecord | SessionGraphError | None:
            async with gate:
                try:
                    return (await self._fetch([ref]))[0]
                except SessionGraphError as exc:
                    return exc

        return list(await asyncio.gather(*(one(ref) for ref in refs)))

    async def _fetch(self, refs: list[SessionRef]) -> list[SessionRecord | None]:
        """Listed sessions are completed (cheaper on some vendors), the others fetched."""
        if not refs:
            return []
        if self.summaries:
            return await self.adapter.get_summaries(refs)
        listed = [self.listed[ref] for ref in refs if ref in self.listed]
        bare = [ref for ref in refs if ref not in self.listed]
        done = await self.adapter.complete_sessions(listed) if listed else []
        got = await self.adapter.get_sessions(bare) if bare else []
        by_ref = dict(zip([r.ref for r in listed], done, strict=True))
        by_ref.update(zip(bare, got, strict=True))
        return [by_ref[ref] for ref in refs]


class _AgentLoader(DataLoader[str, AgentRecord | None]):
    def __init__(self, adapter: Adapter, cache: RecordCache) -> None:
        super().__init__(max_batch_size=100)
        self.adapter = adapter
        self.records = cache

    async def batch_load_fn(self, ids: Sequence[str]) -> list[AgentRecord | None]:
        scope = self.adapter.settings.cache_scope
        known = [self.records.agent(scope, agent_id) for agent_id in ids]
        missing = [i for i, (hit, _) in enumerate(known) if not hit]
        found = [record for _, record in known]
        if missing:
            fetched = await self.adapter.get_agents([ids[i] for i in missing])
            for i, record in zip(missing, fetched, strict=True):
                found[i] = record
                self.records.keep_agent(scope, ids[i], record)
        return found


@dataclass
class Loaders:
    sources: Sources
    _sessions: dict[Provider, _SessionLoader] = field(default_factory=dict)
    _summaries: dict[Provider, _SessionLoader] = field(default_factory=dict)
    _agents: dict[Provider, _AgentLoader] = field(default_factory=dict)
    # Detail fetches that failed in this request: asked again (another field, another page of
    # the same request), they fail the same way without another vendor call.
    _failed: dict[SessionRef, Exception] = field(default_factory=dict)

    def _adapter(self, provider: Provider) -> Adapter:
        adapter = self.sources.adapter(provider)
        if adapter is None:
            raise ProviderNotConfiguredError(
                f"{provider.name} is not configured on this server", provider=provider
            )
        return adapter

    async def summary(self, ref: SessionRef) -> SessionRecord | None:
        """The session, possibly without details (when none is selected): some vendors then
        answer with fewer calls. A cached full record is a summary too."""
        adapter = self._adapter(ref.provider)
        adapter.check_ref(ref)
        loader = self._summaries.get(ref.provider)
        if loader is None:
            loader = self._summaries[ref.provider] = _SessionLoader(
                adapter, self.sources.cache, summaries=True
            )
        record: SessionRecord | None = await loader.load(ref)
        return record

    def _session_loader(self, ref: SessionRef) -> _SessionLoader:
        adapter = self._adapter(ref.provider)
        adapter.check_ref(ref)
        loader = self._sessions.get(ref.provider)
        if loader is None:
            loader = self._sessions[ref.provider] = _SessionLoader(adapter, self.sources.cache)
        return loader

    async def session(
        self, ref: SessionRef, listed: SessionRecord | None = None
    ) -> SessionRecord | None:
        """The session with details; `listed` is its list entry, when there is one."""
        failed = self._failed.get(ref)
        if failed is not None:
            raise failed
        loader = self._session_loader(ref)
        if listed is not None:
            loader.listed[ref] = listed
        try:
            record: SessionRecord | None = await loader.load(ref)
        except Exception as exc:
            self._failed[ref] = exc
            raise
        return record

    def start(self, listed: SessionRecord) -> asyncio.Future[SessionRecord | None]:
        """The detail fetch of a listed session, started now and shared with every later ask
        of this request (`session`, through the loader's cache); done at once when the record
        cache has it. A failure is kept in `_failed` when it happens, so a field that asks
        afterwards fails the same way without another call (a batch that fails whole leaves
        the loader's cache)."""
        ref = listed.ref
        future: asyncio.Future[SessionRecord | None]
        try:
            failed = self._failed.get(ref)
            if failed is not None:
                raise failed
            loader = self._session_loader(ref)  # not configured, a malformed ref: raises
        except Exception as exc:  # the fields report it, with their own path
            self._failed[ref] = exc
            future = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
            future.exception()  # seen: whoever asks again meets `_failed`
            return future
        kept = self.sources.cache.session_if_kept(loader.adapter.settings.cache_scope, ref)
        if kept is not None:
            future = asyncio.get_running_loop().create_future()
            future.set_result(kept)
            return future
        loader.listed[ref] = listed
        future = loader.load(ref)
        future.add_done_callback(partial(self._settled, ref))
        return future

    def _settled(self, ref: SessionRef, loading: asyncio.Future[Any]) -> None:
        """Keeps a started fetch's failure (and marks it seen: asyncio logs unretrieved ones;
        a session that does not make the page never has it asked for)."""
        if not loading.cancelled() and isinstance(error := loading.exception(), Exception):
            self._failed.setdefault(ref, error)

    def prefetch(self, provider: Provider, listed: Sequence[SessionRecord]) -> None:
        """Start the detail fetch of listed sessions now, for a vendor whose detail calls are
        batched (Samsara: 100 ids a call, so every candidate of a page costs the one call the
        page's own sessions would): by the time the page is merged, the call is under way or
        done. Vendors with one call per session wait for the merged page: a candidate that
        does not make it would cost a call. A failure surfaces when a field awaits it."""
        adapter = self.sources.adapter(provider)
        if adapter is None or adapter.fetches_per_session:
            return
        loader = self._sessions.get(provider)
        if loader is None:
            loader = self._sessions[provider] = _SessionLoader(adapter, self.sources.cache)
        for record in listed:
            if record.details is None and record.ref not in self._failed:
                loader.listed[record.ref] = record
                loader.load(record.ref).add_done_callback(partial(self._settled, record.ref))

    def release(self) -> None:
        """Drops what this request loaded, once it is answered: a loader and its futures hold
        each other (a cycle), and with them every record of the page, which the garbage
        collector would otherwise have to find; freed now by reference counting."""
        for loaders in (self._sessions, self._summaries, self._agents):
            for loader in loaders.values():
                loader.clear_all()
                if isinstance(loader, _SessionLoader):
                    loader.listed.clear()
            loaders.clear()
        self._failed.clear()

    async def agent(self, provider: Provider, agent_id: str) -> AgentRecord | None:
        adapter = self._adapter(provider)
        loader = self._agents.get(provider)
        if loader is None:
            loader = self._agents[provider] = _AgentLoader(adapter, self.sources.cache)
        record: AgentRecord | None = await loader.load(agent_id)
        return record


@dataclass
class RequestContext:
    sources: Sources
    codec: CursorCodec
    limits: PagingLimits
    loaders: Loaders
    request: Any = None
    response: Any = None
    principal: Principal = OPEN  # who asks: the tenant of `sources`, and a role
    audience: Audience = EVERYTHING  # node ids' tenant tag, and the redaction the role needs
    # Errors that do not fail their field (a vendor down on a merged page): added to the
    # response's `errors` by graph.errors, with the path of the field that met them.
    partial_errors: list[tuple[list[str | int], Exception]] = field(default_factory=list)
    # The detail failures reported so far, by the identity of the exception the loader raised
    # (kept here too, so that an identity is never reused while the request lives).
    _detail_failures: dict[int, Exception] = field(default_factory=dict)

    def report(self, info: Any, error: Exception) -> None:
        log.warning("partial result: %s", error)
        self.partial_errors.append((list(info.path.as_list()), error))

    def report_detail_failure(self, info: Any, error: Exception, provider: Provider) -> None:
        """A failed detail fetch, reported once per failed vendor call: every session of a
        failed batch, and every detail field of each, meets the same exception object. The
        entry carries the path of the first field that met it. A bug in an adapter is logged
        with its traceback and reported as that vendor's unreadable answer, like a list's."""
        if id(error) in self._detail_failures:
            return
        self._detail_failures[id(error)] = error
        if not isinstance(error, SessionGraphError):
            log.error("details from %s failed", provider.value, exc_info=error)
            error = UpstreamProtocolError(f"{provider.name} could not be read", provider=provider)
        self.report(info, error)
