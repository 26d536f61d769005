"""Configuration: environment variables, over an optional TOML file named by
`SESSIONGRAPH_CONFIG`. A vendor is live when its credential is set; when none is, the server
runs in demo mode (all four simulators in-process).

The TOML file uses one table per vendor and one for the gateway; every key is optional and the
environment wins:

    [sessiongraph]                       [samsara]
    cursor_secret = "…"                  api_token = "…"
    default_window_days = 90             base_url = "https://api.eu.samsara.com"
                                         agent_ids = ["a1", "a2"]

Tenants and keys (graph/auth.py): the top-level vendor tables are tenant `default`; another
tenant's vendors are `[tenants.<name>.<vendor>]` tables (TOML only: the environment configures
the default tenant); `[[keys]]` entries name a key's SHA-256, tenant and role.

    [tenants.acme.vonage]                [[keys]]
    api_key = "…"                        sha256 = "9f86d0…"   # of the key, never the key
                                         tenant = "acme"
                                         role = "viewer"
"""

from __future__ import annotations

import logging
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from graph.auth import AuthPolicy, read_keys
from graph.cors import CorsPolicy, read_origins
from graph.persisted import PersistedConfig, read_persisted
from providers.query import DEFAULT_SCAN_CAP
from providers.records import Provider
from providers.settings import ProviderSettings, Secret, VendorConfig
from providers.vendors import adapter_class
from resolvers.principal import DEFAULT_TENANT, TENANT_NAME
from resolvers.redaction import DEFAULT_PHONE_REGION, PHONE_REGIONS

__all__ = ["MAX_AUTO_WORKERS", "ConfigError", "Settings", "load_settings", "read_workers"]

log = logging.getLogger("sessiongraph")
N = TypeVar("N", int, float)

# `auto` workers stop here: past it, more processes mostly add memory, caches that do not share,
# and connections to the index.
MAX_AUTO_WORKERS = 8


class ConfigError(ValueError):
    """The configuration cannot be used: the message says which setting and why."""


@dataclass(frozen=True)
class Settings:
    providers: Mapping[Provider, ProviderSettings]  # the live vendors (all four in demo mode)
    demo: bool
    cursor_secret: Secret
    cursor_secret_generated: bool = False
    default_window_days: int = 90
    scan_cap: int = DEFAULT_SCAN_CAP
    max_page_size: int = 100
    default_page_size: int = 20
    max_query_depth: int = 12
    demo_size: int = 300
    demo_seed: int = 1
    timeout_s: float = 10.0  # one vendor request
    request_timeout_s: float = 10.0  # one client request, every vendor call of it included
    max_body_bytes: int = 1024 * 1024
    demo_anchor: datetime | None = None  # the simulators' "now" (default: start-up time)
    http_transport: str = "aiohttp"
    # The most vendor calls one query may cost (resolvers.cost). The README's examples cost tens
    # to a few hundred; 30 aliases of nested 100-session pages with transcripts, 300 000.
    max_cost: int = 5000
    # The session index of the vendors without order (index/): "off", "sqlite:///path" or
    # "postgresql://user@host/db". Default: a file under ./.sessiongraph/ in live mode, a
    # temporary file in demo mode (the demo's data is generated afresh at each start).
    index_url: str | None = None
    sync_interval_s: float = 30.0
    reconcile_interval_s: float = 3600.0
    index_retention_days: int | None = None  # default: default_window_days + 7
    index_max_sessions: int = 1_000_000  # per vendor list (a Vectara agent's, StateSet's)
    # Processes `serve` runs (`--workers`, SESSIONGRAPH_WORKERS): a number, or "auto" (the CPUs
    # this process may use, at most MAX_AUTO_WORKERS) in live mode; 1 in demo mode, whose
    # simulators live in the process.
    workers: int = 1
    # Which browser origins may read answers (graph/cors.py): none in live mode by default.
    cors: CorsPolicy = field(default_factory=CorsPolicy)
    # Who may ask (graph/auth.py). Not required: every request is the default tenant's admin.
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    auth_off: bool = False  # SESSIONGRAPH_AUTH=off: open on purpose, on any interface
    # Every key's limits a minute unless its [[keys]] entry says (graph/quota.py); 0: none.
    # 600 is 10 a second; 60 000 lets each of them be priced at 100 vendor calls (the README's
    # examples are priced at tens to a few hundred).
    key_requests_per_min: int = 600
    key_cost_per_min: int = 60_000
    # The tenants other than `default` (whose vendors are `providers`): name → live vendors.
    other_tenants: Mapping[str, Mapping[Provider, ProviderSettings]] = field(default_factory=dict)
    # Where numbers written without a country code are read as from (resolvers/redaction.py).
    phone_region: str = DEFAULT_PHONE_REGION
    # Persisted queries (graph/persisted.py): APQ by default, or a safelist read at start-up.
    persisted: PersistedConfig = field(default_factory=PersistedConfig)
    # Introspection and "Did you mean" (graph/introspection.py): None, the mode's default (on
    # in demo mode, off in live); True: on for requests with a key in live mode; False: off.
    introspection: bool | None = None
    # Observability (graph/observability.py): GET /metrics (no key; no tenant data in it), and
    # OpenTelemetry traces over OTLP (the exporter reads the standard OTEL_* variables).
    metrics: bool = True
    otel: bool = False

    @property
    def tenants(self) -> dict[str, Mapping[Provider, ProviderSettings]]:
        """Every tenant's live vendors, `default` first."""
        return {DEFAULT_TENANT: self.providers, **self.other_tenants}

    @property
    def retention_days(self) -> int:
        if self.index_retention_days is not None:
            return self.index_retention_days
        return self.default_window_days + 7

    def per_worker(self) -> Settings:
        """These settings as one of `workers` processes sees them: each vendor's rate limit
        is shared by the workers (every worker has its own token bucket, the vendor counts
        them all), so each takes its part. Demo mode's simulators are per worker: unchanged."""
        if self.workers == 1 or self.demo:
            return self

        def shared(
            vendors: Mapping[Provider, ProviderSettings],
        ) -> dict[Provider, ProviderSettings]:
            return {p: replace(v, rate_limit_share=self.workers) for p, v in vendors.items()}

        others = {name: shared(vendors) for name, vendors in self.other_tenants.items()}
        return replace(self, providers=shared(self.providers), other_tenants=others)


# Each setting's default is stated once, on `Settings`.
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Settings)}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    toml = _read_toml(env.get("SESSIONGRAPH_CONFIG"))
    gateway = toml.get("sessiongraph", {})

    def setting(name: str, default: str | None = None) -> str:
        value = env.get(f"SESSIONGRAPH_{name.upper()}")
        if value not in (None, ""):
            return value
        fallback = _DEFAULTS[name] if default is None else default
        return str(gateway.get(name, "" if fallback is None else fallback))

    def number(name: str, kind: type[N]) -> N:
        return _number(setting(name), f"SESSIONGRAPH_{name.upper()}", kind)

    timeout_s = number("timeout_s", float)
    http_transport = setting("http_transport")
    if http_transport not in ("aiohttp", "httpx"):
        raise ConfigError(
            f"SESSIONGRAPH_HTTP_TRANSPORT must be aiohttp or httpx, not {http_transport!r}"
        )
    live = {
        provider: vendor
        for provider in Provider
        if (
            vendor := _vendor_settings(
                provider, env, toml.get(provider.value, {}), timeout_s, http_transport
            )
        )
    }
    others = _other_tenants(toml.get("tenants"), timeout_s, http_transport)
    demo = not live and not others
    auth_off = _auth_off(setting("auth", "on"))
    try:
        keys = read_keys(
            toml.get("keys"), env.get("SESSIONGRAPH_API_KEY"), [DEFAULT_TENANT, *others]
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not demo and not keys and not auth_off:
        raise ConfigError(
            "live vendors are configured but no API key is: anyone reaching the port would read "
            "every transcript. Set SESSIONGRAPH_API_KEY (or [[keys]] in SESSIONGRAPH_CONFIG), or "
            "SESSIONGRAPH_AUTH=off to run open on purpose"
        )
    auth = AuthPolicy(required=bool(keys) and not auth_off, keys={key.sha256: key for key in keys})
    secret_text = setting("cursor_secret", "")
    generated = not secret_text
    if generated:
        # Cursors then work only against this process: say so, once, at start-up.
        secret_text = secrets.token_urlsafe(32)
    return Settings(
        providers=live,
        demo=demo,
        cursor_secret=Secret(secret_text),
        cursor_secret_generated=generated,
        default_window_days=number("default_window_days", int),
        scan_cap=number("scan_cap", int),
        default_page_size=number("default_page_size", int),
        max_query_depth=number("max_query_depth", int),
        demo_size=number("demo_size", int),
        demo_seed=number("demo_seed", int),
        timeout_s=timeout_s,
        request_timeout_s=number("request_timeout_s", float),
        max_body_bytes=number("max_body_bytes", int),
        demo_anchor=_moment(setting("demo_anchor"), "SESSIONGRAPH_DEMO_ANCHOR"),
        http_transport=http_transport,
        max_cost=number("max_cost", int),
        index_url=_index_url(setting("index_url", "")),
        sync_interval_s=number("sync_interval_s", float),
        reconcile_interval_s=number("reconcile_interval_s", float),
        index_retention_days=(
            number("index_retention_days", int) if setting("index_retention_days", "") else None
        ),
        index_max_sessions=number("index_max_sessions", int),
        workers=read_workers(setting("workers", "auto" if live else "1"), "SESSIONGRAPH_WORKERS"),
        cors=_cors(env.get("SESSIONGRAPH_CORS_ORIGINS"), gateway.get("cors_origins"), demo),
        auth=auth,
        auth_off=auth_off,
        key_requests_per_min=_limit(setting("key_requests_per_min"), "KEY_REQUESTS_PER_MIN"),
        key_cost_per_min=_limit(setting("key_cost_per_min"), "KEY_COST_PER_MIN"),
        other_tenants=others,
        phone_region=_phone_region(setting("phone_region")),
        persisted=_persisted(
            setting("persisted_queries", "apq"), setting("persisted_queries_path", "")
        ),
        introspection=_on_off(setting("introspection", ""), "SESSIONGRAPH_INTROSPECTION"),
        # Empty (a TOML ""): the default, as for any setting.
        metrics=_on_off(setting("metrics", "on"), "SESSIONGRAPH_METRICS") is not False,
        otel=_on_off(setting("otel", "off"), "SESSIONGRAPH_OTEL") is True,
    )


def _phone_region(text: str) -> str:
    region = text.strip().upper()
    if region not in PHONE_REGIONS:
        raise ConfigError(
            f"SESSIONGRAPH_PHONE_REGION must be a two-letter region (US, GB, FR, …), not {text!r}"
        )
    return region


def _persisted(mode: str, path: str) -> PersistedConfig:
    try:
        return read_persisted(mode, path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _on_off(text: str, name: str) -> bool | None:
    value = text.strip().lower()
    if value not in ("", "on", "off"):
        raise ConfigError(f"{name} must be on or off, not {text!r}")
    return None if not value else value == "on"


def _auth_off(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise ConfigError(f"SESSIONGRAPH_AUTH must be on or off, not {text!r}")
    return value == "off"


def _other_tenants(
    tables: object, timeout_s: float, http_transport: str
) -> dict[str, dict[Provider, ProviderSettings]]:
    """`[tenants.<name>.<vendor>]` tables: each tenant's live vendors (from TOML only)."""
    if tables is None:
        return {}
    if not isinstance(tables, dict):
        raise ConfigError("tenants must be tables: [tenants.<name>.<vendor>]")
    vendors_by_name = {p.value: p for p in Provider}
    found: dict[str, dict[Provider, ProviderSettings]] = {}
    for name, table in tables.items():
        if name == DEFAULT_TENANT:
            raise ConfigError(
                "[tenants.default] is the top-level vendor tables ([samsara], …): "
                "configure the default tenant there"
            )
        if not TENANT_NAME.fullmatch(name):
            raise ConfigError(
                f"tenant name {name!r}: lower-case letters, digits, '_' and '-', at most 40"
            )
        if not isinstance(table, dict) or not table:
            raise ConfigError(f"[tenants.{name}] must hold vendor tables ([tenants.{name}.vonage])")
        unknown = set(table) - set(vendors_by_name)
        if unknown:
            raise ConfigError(
                f"[tenants.{name}]: {', '.join(sorted(unknown))} is not a vendor "
                f"({', '.join(vendors_by_name)})"
            )
        for vendor, vendor_table in table.items():
            if not isinstance(vendor_table, dict):
                raise ConfigError(f"[tenants.{name}.{vendor}] must be a table")
        vendors = {
            vendors_by_name[vendor]: settings
            for vendor, vendor_table in table.items()
            if (
                settings := _vendor_settings(
                    vendors_by_name[vendor], {}, vendor_table, timeout_s, http_transport, name
                )
            )
        }
        if not vendors:
            raise ConfigError(f"tenant {name!r} has no vendor credential: its tables set none")
        found[name] = vendors
    return found


def _cors(from_env: str | None, from_toml: object, demo: bool) -> CorsPolicy:
    """SESSIONGRAPH_CORS_ORIGINS, else TOML `cors_origins` (a list or one comma-separated
    string), else the mode's default."""
    if from_env:
        text, name = from_env, "SESSIONGRAPH_CORS_ORIGINS"
    elif isinstance(from_toml, list):
        text, name = ",".join(str(origin) for origin in from_toml), "cors_origins"
    else:
        text, name = str(from_toml or ""), "cors_origins"
    try:
        return read_origins(text, name, demo=demo)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def read_workers(text: str, name: str) -> int:
    """A worker count as written by the user: a whole number >= 1, or `auto`: the CPUs this
    process may run on (its affinity, not the machine's count: a container pinned to two
    cores gets two), at most MAX_AUTO_WORKERS."""
    text = text.strip()
    if text.lower() == "auto":
        return min(MAX_AUTO_WORKERS, _usable_cpus())
    if not text.isdecimal() or int(text) < 1:
        raise ConfigError(
            f"{name} must be a whole number of processes (1 or more) or auto, not {text!r}"
        )
    return int(text)


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # macOS, Windows: no affinity to read


_INDEX_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def _index_url(text: str) -> str | None:
    if not text:
        return None
    if text.lower() == "off" or text.startswith(_INDEX_SCHEMES):
        return "off" if text.lower() == "off" else text
    raise ConfigError(
        "SESSIONGRAPH_INDEX_URL must be off, sqlite:///<path> or postgresql://…,"
        f" not {text.split('://')[0]!r}://…"
    )


def _moment(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{name} must be an ISO 8601 time, not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _vendor_settings(
    provider: Provider,
    env: Mapping[str, str],
    table: Mapping[str, Any],
    timeout_s: float,
    http_transport: str,
    tenant: str = DEFAULT_TENANT,
) -> ProviderSettings | None:
    config = adapter_class(provider).config
    credential = env.get(config.credential_env) or table.get(config.toml_credential)
    if not credential:
        return None
    base_url = env.get(config.base_url_env) or table.get("base_url") or ""
    if not base_url and config.region_env:
        region = (env.get(config.region_env) or table.get("region") or "").lower()
        if region and region not in config.regions:
            names = " or ".join(config.regions)
            raise ConfigError(f"{config.region_env} must be {names}, not {region!r}")
        base_url = config.regions.get(region, "")
    agent_ids: tuple[str, ...] = ()
    if config.agent_ids_env:
        raw = env.get(config.agent_ids_env)
        listed = (
            raw.split(",") if raw is not None else list(table.get(config.toml_agent_ids or "", []))
        )
        agent_ids = tuple(a.strip() for a in listed if a.strip())
    return ProviderSettings(
        provider=provider,
        base_url=(base_url or config.default_base_url).rstrip("/"),
        credential=Secret(str(credential)),
        agent_ids=agent_ids,
        timeout_s=timeout_s,
        http_transport=http_transport,
        rate_limit_per_min=_rate_limit(config, env, table),
        tenant=tenant,
    )


def _rate_limit(config: VendorConfig, env: Mapping[str, str], table: Mapping[str, Any]) -> int:
    try:
        return config.read_rate_limit(env, table)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _read_toml(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"SESSIONGRAPH_CONFIG={path}: {exc}") from exc


def _limit(text: str, name: str) -> int:
    """A limit a minute: a whole number, 0 for none."""
    if not text.strip().isdecimal():
        raise ConfigError(f"SESSIONGRAPH_{name} must be a whole number (0: no limit), not {text!r}")
    return int(text)


def _number(text: str, name: str, kind: type[N]) -> N:
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {text!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {text!r}")
    return value
