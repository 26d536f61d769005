"""Who is asking: the tenant whose vendors a request reads, and the role that says what it may
see (`viewer` reads redacted PII, `reviewer` reads it all, `admin` may also delete). Set by the
gateway from the request's API key (graph/auth.py); resolvers only read it."""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from index.state import DEFAULT_TENANT
from providers.records import SessionRecord

__all__ = [
    "DEFAULT_TENANT",
    "EVERYTHING",
    "OPEN",
    "TENANT_NAME",
    "Audience",
    "Principal",
    "Role",
    "tenant_tag",
]

# A tenant's name: it is a TOML table name, an index key and part of log lines.
TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class Role(enum.IntEnum):
    """Ordered: a role may do whatever the roles below it may."""

    VIEWER = 1
    REVIEWER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    role: Role
    key_id: str | None  # the key's public id (never the key); None when auth is off

    def may(self, role: Role) -> bool:
        return self.role >= role


# Every request when authentication is off (demo mode on loopback, or SESSIONGRAPH_AUTH=off).
OPEN = Principal(tenant=DEFAULT_TENANT, role=Role.ADMIN, key_id=None)


def tenant_tag(tenant: str) -> str:
    """What a node id or cursor minted for `tenant` carries: empty for the default tenant (its
    ids are those of a single-tenant server), else a digest of the name (ids say which tenant
    they belong to without spelling it)."""
    if tenant == DEFAULT_TENANT:
        return ""
    return hashlib.sha256(f"sessiongraph-tenant:{tenant}".encode()).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Audience:
    """What a request's answers are shaped for: `tag`, the tenant's mark on the node ids it
    mints and accepts; `redact`, the copy of a record its role may read (None: the record as
    it is)."""

    tag: str = ""
    redact: Callable[[SessionRecord], SessionRecord] | None = None

    def shown(self, record: SessionRecord) -> SessionRecord:
        return record if self.redact is None else self.redact(record)


EVERYTHING = Audience()  # the default tenant's, unredacted
