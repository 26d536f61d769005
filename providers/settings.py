"""Per-vendor connection settings, read by `graph.settings` from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from providers.records import Provider

__all__ = ["ProviderSettings", "Secret"]


class Secret(str):
    """A credential: a str that never prints itself (logs, reprs, tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def reveal(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    provider: Provider
    base_url: str
    credential: Secret
    agent_ids: tuple[str, ...] = ()  # Samsara agent ids / Vectara agent keys to query
    timeout_s: float = 10.0
    max_connections: int = 20
    demo: bool = False
