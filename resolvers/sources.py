"""The vendors this process talks to: one adapter (one HTTP client) per vendor and credential,
opened in the app's lifespan and closed on shutdown. In demo mode each adapter talks to its
simulator in-process through httpx's ASGI transport: no network, no credentials. Only demo
mode imports the simulators."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from providers.adapter import Adapter
from providers.clock import SYSTEM_CLOCK, Clock
from providers.records import Provider
from providers.settings import ProviderSettings, Secret
from providers.vendors import adapter_class
from resolvers.cache import RecordCache

if TYPE_CHECKING:
    from providers.simulators import Simulator

__all__ = ["Sources", "build_simulators", "demo_sources", "live_sources"]

log = logging.getLogger("sessiongraph")


@dataclass
class Sources:
    adapters: dict[Provider, Adapter]
    demo: bool
    simulators: dict[Provider, Simulator] = field(default_factory=dict)
    clock: Clock = SYSTEM_CLOCK
    cache: RecordCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = RecordCache(clock=self.clock)

    def adapter(self, provider: Provider) -> Adapter | None:
        return self.adapters.get(provider)

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()


def live_sources(
    configured: Mapping[Provider, ProviderSettings], clock: Clock = SYSTEM_CLOCK
) -> Sources:
    adapters = {
        p: adapter_class(p).connect(settings, clock=clock) for p, settings in configured.items()
    }
    return Sources(adapters=adapters, demo=False, clock=clock)


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
) -> Sources:
    """Adapters over in-process simulators (built here unless handed in, e.g. by tests)."""
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
        )
        adapters[provider] = adapter_class(provider).connect(settings, simulator.transport(), clock)
    return Sources(adapters=adapters, demo=True, simulators=simulators, clock=clock)
