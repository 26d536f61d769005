"""Per-vendor connection settings, read by `graph.settings` from the environment."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from providers.records import Provider

__all__ = ["ProviderSettings", "Secret", "VendorConfig"]


class Secret:
    """A credential that cannot leave by accident. Not a `str`: `json.dumps`, orjson, `+`,
    `.encode()` and pickling refuse it; `str`, `repr` and f-strings give the mask; `reveal()`
    is the one way to its value, so every place a secret is sent or hashed says so."""

    __slots__ = ("_value",)

    MASK = "**********"

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a secret is text, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{self.MASK}')"

    def __str__(self) -> str:
        return self.MASK

    def __format__(self, spec: str) -> str:
        return format(self.MASK, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __copy__(self) -> Secret:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not pickled: reveal() it where it must go")


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
    # Requests a minute this client allows itself (0: no limit): the vendor's documented limit,
    # or this project's choice where none is published. Also TOML `rate_limit_per_min`.
    rate_limit_env: str = field(kw_only=True)
    rate_limit_per_min: int = field(kw_only=True)

    def read_rate_limit(self, env: Mapping[str, str], table: Mapping[str, Any]) -> int:
        """The configured limit: environment, else the vendor's TOML table, else the default.
        `ValueError`, naming the setting, when it is not a whole number >= 0."""
        text = env.get(self.rate_limit_env)
        if text not in (None, ""):
            raw, name = text, self.rate_limit_env
        else:
            raw, name = (
                table.get("rate_limit_per_min", self.rate_limit_per_min),
                "rate_limit_per_min",
            )
        if isinstance(raw, str) and re.fullmatch(r"\s*[0-9]+\s*", raw):
            return int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
            return raw
        raise ValueError(
            f"{name} must be a whole number of requests a minute (0: no limit), not {raw!r}"
        )


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
    # "aiohttp": aiohttp's client, which stays fast at 50+ concurrent calls where httpx's own
    # pool turns CPU-bound (httpx #3215; bench/RESULTS.md) and costs the least CPU per call
    # (`python -m bench.mapping`). "httpx": httpx's own client (see providers.transport).
    http_transport: str = "aiohttp"
    rate_limit_per_min: int | None = None  # None: the vendor's default (`VendorConfig`)
    # Processes that share the vendor's limit (`serve --workers`), each with its own client.
    rate_limit_share: int = 1

    def rate_limit(self, config: VendorConfig) -> int:
        """Requests a minute this process's client allows itself; 0: no limit. Shared by
        `rate_limit_share` processes, each takes the limit divided among them, rounded down
        so that together they stay within it (and its burst, a quarter of it, goes down with
        it). At least 1: a limit below one a minute per process cannot be split, and
        the processes together may then exceed it (`serve` warns)."""
        limit = (
            config.rate_limit_per_min
            if self.rate_limit_per_min is None
            else self.rate_limit_per_min
        )
        if limit == 0 or self.rate_limit_share == 1:
            return limit
        return max(1, limit // self.rate_limit_share)

    @property
    def cache_scope(self) -> str:
        """What cross-request caches are keyed by: tenant, vendor endpoint and credential (a
        digest: the credential itself is never a key)."""
        material = f"{self.tenant}|{self.base_url}|{self.credential.reveal()}".encode()
        return f"{self.provider.value}:{hashlib.sha256(material).hexdigest()[:16]}"
