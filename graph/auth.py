"""API keys: `Authorization: Bearer <key>`, checked against the SHA-256 digests in the
configuration (the keys themselves are never stored), each naming a tenant and a role.

Configuration: TOML `[[keys]]` entries (`sha256`, `tenant`, `role`, optional `id`,
`requests_per_min` and `cost_per_min`: the key's own limits, graph/quota.py), and
`SESSIONGRAPH_API_KEY` for a one-key setup (role admin, tenant `default`). Authentication is
required whenever a key is configured; without keys the server runs open only in demo mode (on
loopback: `serve` checks the host) or with `SESSIONGRAPH_AUTH=off`, and refuses to start with a
live vendor otherwise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resolvers.principal import OPEN, TENANT_NAME, Principal, Role

__all__ = ["ApiKey", "AuthPolicy", "Unauthenticated", "digest", "read_keys"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# A key as clients send it: printable ASCII without spaces, bounded (a 64 KB header is not a key).
_KEY = re.compile(r"[\x21-\x7e]{1,512}")
_LIMITS = ("requests_per_min", "cost_per_min")


class Unauthenticated(Exception):
    """No key, or a key this server does not know: HTTP 401, UNAUTHENTICATED."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str  # what logs and audit records name: never the key
    sha256: str
    tenant: str
    role: Role
    # The key's own limits a minute (graph/quota.py); None: the server's defaults, 0: none.
    requests_per_min: int | None = None
    cost_per_min: int | None = None

    def principal(self) -> Principal:
        return Principal(tenant=self.tenant, role=self.role, key_id=self.key_id)


@dataclass(frozen=True)
class AuthPolicy:
    """`required`: every GraphQL request needs a known key; else every request is `OPEN`."""

    required: bool = False
    keys: Mapping[str, ApiKey] = field(default_factory=dict)  # by SHA-256 of the key

    def authenticate(self, authorization: str | None) -> Principal:
        if not self.required:
            return OPEN
        if not authorization:
            raise Unauthenticated(
                "send an API key as `Authorization: Bearer <key>`: this server requires one"
            )
        scheme, _, key = authorization.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not _KEY.fullmatch(key):
            raise Unauthenticated("the Authorization header must be `Bearer <key>`")
        found = self.keys.get(digest(key))
        if found is None:
            raise Unauthenticated("this API key is not known to this server")
        return found.principal()


def read_keys(entries: object, env_key: str | None, tenants: Iterable[str]) -> tuple[ApiKey, ...]:
    """The keys of TOML `[[keys]]` and SESSIONGRAPH_API_KEY. `ValueError` naming the entry and
    the setting when one cannot be used: a tenant that is not configured, an unknown role, a
    digest that is not 64 hex digits, two entries with one digest or one id."""
    known = set(tenants)
    keys: list[ApiKey] = []
    if env_key:
        if not _KEY.fullmatch(env_key):
            raise ValueError(
                "SESSIONGRAPH_API_KEY must be 1-512 printable characters without spaces"
            )
        sha = digest(env_key)
        keys.append(ApiKey(f"key-{sha[:8]}", sha, "default", Role.ADMIN))
    if entries is not None and not isinstance(entries, list):
        raise ValueError("keys must be a list of tables ([[keys]] entries)")
    for number, entry in enumerate(entries or [], start=1):
        keys.append(_read_entry(number, entry, known))
    for attribute, what in (("sha256", "sha256"), ("key_id", "id")):
        seen: set[str] = set()
        for key in keys:
            value = getattr(key, attribute)
            if value in seen:
                raise ValueError(f"two keys have the same {what} {value[:12]!r}…: one per key")
            seen.add(value)
    return tuple(keys)


def _read_entry(number: int, entry: Any, tenants: set[str]) -> ApiKey:
    where = f"[[keys]] entry {number}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table with sha256, tenant and role")
    unknown = set(entry) - {"sha256", "tenant", "role", "id", *_LIMITS}
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    sha = str(entry.get("sha256", "")).strip().lower()
    if not _SHA256.fullmatch(sha):
        raise ValueError(
            f"{where}: sha256 must be the key's SHA-256 as 64 hex digits "
            '(e.g. `printf %s "$KEY" | sha256sum`)'
        )
    tenant = str(entry.get("tenant", "default"))
    if not TENANT_NAME.fullmatch(tenant) or tenant not in tenants:
        names = ", ".join(sorted(tenants))
        raise ValueError(f"{where}: tenant {tenant!r} is not configured (tenants: {names})")
    role_name = str(entry.get("role", ""))
    try:
        role = Role[role_name.upper()]
    except KeyError:
        raise ValueError(
            f"{where}: role must be viewer, reviewer or admin, not {role_name!r}"
        ) from None
    key_id = str(entry.get("id", f"key-{sha[:8]}"))
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"{where}: id must be 1-64 letters, digits, '.', '_' or '-'")
    requests, cost = (_read_limit(where, name, entry.get(name)) for name in _LIMITS)
    return ApiKey(key_id, sha, tenant, role, requests, cost)


def _read_limit(where: str, name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: {name} must be a whole number (0: no limit), not {value!r}")
    return value
