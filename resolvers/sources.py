"""The vendors this process talks to for one tenant: one adapter (one HTTP client, with its
own rate limit, breaker and single flight) per vendor and credential, one record cache, and the
tenant's reader and sync of the shared session index; opened in the app's lifespan and closed
on shutdown. Each tenant has its own `Sources`: nothing in one is reachable from another.
In demo mode each adapter talks to its simulator in-process through httpx's ASGI transport: no
network, no credentials. Only demo mode imports the simulators."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from index.reader import IndexReader, UnindexedLister
from index.state import DEFAULT_TENANT, IndexState
from index.store import IndexStore, IndexVersionError
from index.sync import Syncer, SyncLimits
from providers.adapter import Adapter, SessionLister
from providers.clock import SYSTEM_CLOCK, Clock
from providers.records import Provider
from providers.settings import ProviderSettings, Secret
from providers.vendors import adapter_class
from resolvers.cache import RecordCache
from resolvers.deletions_elsewhere import DeletionFeed

if TYPE_CHECKING:
    from providers.simulators import Simulator

__all__ = ["IndexRuntime", "Sources", "build_simulators", "demo_sources", "live_sources"]

log = logging.getLogger("sessiongraph")


@dataclass
class IndexRuntime:
    """The open session index: its store, what queries read, and the background sync."""

    store: IndexStore
    reader: IndexReader
    syncer: Syncer
    deletions: DeletionFeed  # other processes' deletions, out of this one's record cache


@dataclass
class Sources:
    adapters: dict[Provider, Adapter]
    demo: bool
    simulators: dict[Provider, Simulator] = field(default_factory=dict)
    clock: Clock = SYSTEM_CLOCK
    cache: RecordCache = field(init=False)
    index: IndexRuntime | None = None
    index_error: str | None = None  # the index was asked for and could not be opened
    tenant: str = DEFAULT_TENANT
    _owns_store: bool = field(default=True, init=False)  # closed with these sources

    def __post_init__(self) -> None:
        self.cache = RecordCache(clock=self.clock)

    def adapter(self, provider: Provider) -> Adapter | None:
        return self.adapters.get(provider)

    @property
    def listers(self) -> dict[Provider, SessionLister]:
        """What pages each vendor's sessions: the index over an indexed vendor, else the
        adapter itself."""
        listers: dict[Provider, SessionLister] = dict(self.adapters)
        for provider, adapter in self.adapters.items():
            if not adapter.indexed:
                continue
            if self.index is not None:
                listers[provider] = self.index.reader.lister(adapter)
            else:
                failed = self.index_error is not None
                state = IndexState.FAILED if failed else IndexState.OFF
                listers[provider] = UnindexedLister(adapter, state)
        return listers

    async def open_index(self, url: str, limits: SyncLimits, *, start_sync: bool = True) -> None:
        """Opens the index at `url` and starts its sync. A store that cannot be opened (or is
        of a newer schema) leaves the server running on live scans, and says why."""
        store = await open_store(url)
        if isinstance(store, str):
            self.index_error = store
            return
        log.info("index: %s", store.describe())
        self.attach_index(store, limits, start_sync=start_sync)

    def attach_index(
        self, store: IndexStore, limits: SyncLimits, *, start_sync: bool, owned: bool = True
    ) -> None:
        """This tenant's reader and sync over `store` (`owned`: closed with these sources;
        a store shared by tenants is closed by whoever opened it)."""
        reader = IndexReader(store, limits.retention_days, self.clock, tenant=self.tenant)
        syncer = Syncer(
            store,
            list(self.adapters.values()),
            limits,
            self.clock,
            tenant=self.tenant,
            on_status=reader.note,
        )
        deletions = DeletionFeed(store, self.cache, self.tenant, self._cache_scope, self.clock)
        self.index = IndexRuntime(store, reader, syncer, deletions)
        self._owns_store = owned
        if start_sync:
            syncer.start()
            deletions.start()

    def _cache_scope(self, provider: Provider) -> str | None:
        adapter = self.adapter(provider)
        return adapter.settings.cache_scope if adapter is not None else None

    async def aclose(self) -> None:
        if self.index is not None:
            await self.index.deletions.stop()
            await self.index.syncer.stop()
            if self._owns_store:
                await self.index.store.aclose()
        for adapter in self.adapters.values():
            await adapter.aclose()


async def open_store(url: str) -> IndexStore | str:
    """The index at `url`, or why it could not be opened (the server then runs on live scans)."""
    try:
        return await IndexStore.open(url)
    except (IndexVersionError, OSError, ValueError) as exc:
        log.error("index: not opened, vendors without order are scanned live: %s", exc)
        return str(exc)


def live_sources(
    configured: Mapping[Provider, ProviderSettings],
    clock: Clock = SYSTEM_CLOCK,
    tenant: str = DEFAULT_TENANT,
) -> Sources:
    adapters = {
        p: adapter_class(p).connect(settings, clock=clock) for p, settings in configured.items()
    }
    return Sources(adapters=adapters, demo=False, clock=clock, tenant=tenant)


def build_simulators(
    size: int = 300,
    seed: int = 1,
    anchor: datetime | None = None,
    clock: Clock = SYSTEM_CLOCK,
    *,
    order: str = "shuffled",
    arrivals_per_hour: float = 0.0,
    deletions_per_hour: float = 0.0,
    providers: Collection[Provider] | None = None,
) -> dict[Provider, Simulator]:
    """The simulator of every vendor (of `providers` only, when given); `order`,
    `arrivals_per_hour`, `deletions_per_hour`: see `Simulator` (a vendor that promises an order
    ignores `order`)."""
    # Imported here: demo mode and tests only, live mode never loads the fakes.
    from providers.simulators import simulator_class

    return {
        p: simulator_class(p.value)(
            size=size,
            seed=seed,
            anchor=anchor,
            clock=clock.now,
            order=order,
            arrivals_per_hour=arrivals_per_hour,
            deletions_per_hour=deletions_per_hour,
        )
        for p in Provider
        if providers is None or p in providers
    }


def demo_sources(
    size: int = 300,
    seed: int = 1,
    timeout_s: float = 10.0,
    anchor: datetime | None = None,
    simulators: dict[Provider, Simulator] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    rate_limit_per_min: int | None = None,
    tenant: str = DEFAULT_TENANT,
) -> Sources:
    """Adapters over in-process simulators (built here unless handed in, e.g. by tests);
    `rate_limit_per_min`: every client's limit (None: each vendor's default, 0: none);
    `tenant`: whose (tests give two tenants simulators with different data)."""
    simulators = simulators or build_simulators(size, seed, anchor, clock)
    adapters: dict[Provider, Adapter] = {}
    for provider, simulator in simulators.items():
        settings = ProviderSettings(
            provider=provider,
            base_url=simulator.base_url,
            credential=Secret(simulator.api_key),
            agent_ids=simulator.agent_ids(),
            timeout_s=timeout_s,
            demo=True,
            rate_limit_per_min=rate_limit_per_min,
            tenant=tenant,
        )
        adapters[provider] = adapter_class(provider).connect(settings, simulator.transport(), clock)
    return Sources(adapters=adapters, demo=True, simulators=simulators, clock=clock, tenant=tenant)
