"""Per-request state: the vendors, the cursor codec, and one DataLoader per kind of fetch and
vendor (built inside the request: aiodataloader binds the running loop at construction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiodataloader import DataLoader

from providers.adapter import Adapter
from providers.errors import ProviderNotConfiguredError
from providers.records import AgentRecord, Provider, SessionRecord, SessionRef
from resolvers.connection import PagingLimits
from resolvers.cursor import CursorCodec
from resolvers.sources import Sources

__all__ = ["Loaders", "RequestContext"]


class _SessionLoader(DataLoader[SessionRef, SessionRecord | None]):
    def __init__(self, adapter: Adapter) -> None:
        super().__init__(max_batch_size=100)
        self.adapter = adapter

    async def batch_load_fn(self, refs: Sequence[SessionRef]) -> list[SessionRecord | None]:
        return await self.adapter.get_sessions(list(refs))


class _AgentLoader(DataLoader[str, AgentRecord | None]):
    def __init__(self, adapter: Adapter) -> None:
        super().__init__(max_batch_size=100)
        self.adapter = adapter

    async def batch_load_fn(self, ids: Sequence[str]) -> list[AgentRecord | None]:
        return await self.adapter.get_agents(list(ids))


@dataclass
class Loaders:
    sources: Sources
    _sessions: dict[Provider, _SessionLoader] = field(default_factory=dict)
    _agents: dict[Provider, _AgentLoader] = field(default_factory=dict)

    def _adapter(self, provider: Provider) -> Adapter:
        adapter = self.sources.adapter(provider)
        if adapter is None:
            raise ProviderNotConfiguredError(
                f"{provider.name} is not configured on this server", provider=provider
            )
        return adapter

    async def session(self, ref: SessionRef) -> SessionRecord | None:
        adapter = self._adapter(ref.provider)
        adapter.check_ref(ref)
        loader = self._sessions.get(ref.provider)
        if loader is None:
            loader = self._sessions[ref.provider] = _SessionLoader(adapter)
        record: SessionRecord | None = await loader.load(ref)
        return record

    async def agent(self, provider: Provider, agent_id: str) -> AgentRecord | None:
        adapter = self._adapter(provider)
        loader = self._agents.get(provider)
        if loader is None:
            loader = self._agents[provider] = _AgentLoader(adapter)
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
    # Errors that do not fail their field (a vendor down on a merged page): added to the
    # response's `errors` by graph.errors, with the path of the field that met them.
    partial_errors: list[tuple[list[str | int], Exception]] = field(default_factory=list)

    def report(self, info: Any, error: Exception) -> None:
        self.partial_errors.append((list(info.path.as_list()), error))
