"""Per-vendor connection settings, read by `graph.settings` from the environment."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.records import Provider

__all__ = ["ProviderSettings", "Secret", "VendorConfig"]


class Secret(str):
    """A credential: a str that never prints itself (logs, reprs, tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def reveal(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True, slots=True)
class VendorConfig:
    """How one vendor is configured, declared by its adapter (`Adapter.config`): environment
    variable names (fixed: clients and docs rely on them), TOML keys of its table (named by the
    provider's value), and its default endpoint."""

    credential_env: str
    base_url_env: str
    default_base_url: str
    toml_credential: str = "api_key"
    agent_ids_env: str | None = None  # the agent ids to query, where the API needs them
    toml_agent_ids: str | None = None
    region_env: str | None = None  # a region name that picks the base URL
    regions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    provider: Provider
    base_url: str
    credential: Secret
    agent_ids: tuple[str, ...] = ()  # Samsara agent ids / Vectara agent keys to query
    timeout_s: float = 10.0
    max_connections: int = 32
    demo: bool = False
    tenant: str = "default"
    # "aiohttp": httpx's API on aiohttp's connection pool, which stays fast at 50+ concurrent
    # calls where httpx's own pool turns CPU-bound (httpx #3215; bench/RESULTS.md). "httpx":
    # httpx's own transport.
    http_transport: str = "aiohttp"

    @property
    def cache_scope(self) -> str:
        """What cross-request caches are keyed by: tenant, vendor endpoint and credential (a
        digest: the credential itself is never a key)."""
        material = f"{self.tenant}|{self.base_url}|{self.credential.reveal()}".encode()
        return f"{self.provider.value}:{hashlib.sha256(material).hexdigest()[:16]}"
