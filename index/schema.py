"""The index's tables, and the version of their layout.

The index is a cache of vendor data: when the layout changes, SCHEMA_VERSION goes up and an
index of an older version is dropped and rebuilt by the next sync (see `IndexStore.open`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

__all__ = [
    "INDEX_TABLES",
    "SCHEMA_VERSION",
    "IndexVersionError",
    "audit",
    "leases",
    "meta",
    "metadata",
    "scopes",
    "sessions",
]

SCHEMA_VERSION = 2  # 2: records deflated (a version-1 file holds plain JSON records)

# Every table an index of any version has held: a rebuild drops them all (add, never remove).
# Not `audit`: audit records are not a cache of vendor data, so a rebuild keeps them, and an
# index of this version that lacks the table gets it, empty, when opened (no version bump).
INDEX_TABLES = ("sessions", "scopes", "leases", "meta")


class IndexVersionError(RuntimeError):
    """The index was written by a newer server: it is left untouched (run without it)."""


# Text compared or ordered in SQL: on PostgreSQL in the "C" collation, so that its order is
# Python's (code points), as SQLite's BINARY collation (UTF-8 bytes) already is.
Key = Text().with_variant(Text(collation="C"), "postgresql")

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Key, primary_key=True),
    Column("value", Text, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("tenant", Key, primary_key=True),
    Column("provider", Key, primary_key=True),
    Column("scope", Key, primary_key=True),
    Column("id", Key, primary_key=True),
    Column("agent_id", Key, nullable=False),  # "" when None: the sort key's agent
    Column("has_agent", Boolean, nullable=False),  # an agent filter never matches None
    Column("started_at", BigInteger, nullable=False),  # microseconds since the epoch, UTC
    Column("status", Key, nullable=False),
    Column("channel", Key, nullable=True),
    Column("caller_digits", Key, nullable=False),
    Column("callee_digits", Key, nullable=False),
    Column("tags", Key, nullable=False),  # codec.tags_field
    Column("words", Key, nullable=True),  # codec.words_field: NULL without details
    Column("generation", BigInteger, nullable=False),
    Column("record", LargeBinary, nullable=False),  # codec.encode_record
    # A page of one scope in either order, resumed after a sort key.
    Index("ix_sessions_order", "tenant", "provider", "scope", "started_at", "agent_id", "id"),
    # A page merged over several scopes (every Vectara agent): one ordered scan.
    Index("ix_sessions_merged", "tenant", "provider", "started_at", "agent_id", "id"),
    # The active sessions a sync re-checks, and status filters.
    Index("ix_sessions_status", "tenant", "provider", "scope", "status"),
)

# A phone number is one session or a handful: PostgreSQL finds them by index (a bitmap OR of
# these two); SQLite's planner keeps to the ordered scan for an OR, so it is spared their cost.
for _side in ("caller", "callee"):
    Index(
        f"ix_sessions_{_side}",
        sessions.c.tenant,
        sessions.c.provider,
        sessions.c[f"{_side}_digits"],
    ).ddl_if(dialect="postgresql")

scopes = Table(
    "scopes",
    metadata,
    Column("tenant", Key, primary_key=True),
    Column("provider", Key, primary_key=True),
    Column("scope", Key, primary_key=True),
    Column("state", Text, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("vendor_total", BigInteger, nullable=True),
    Column("active_total", BigInteger, nullable=True),
    Column("list_order", Text, nullable=False),
    Column("progress", BigInteger, nullable=False),
    Column("built_at", BigInteger, nullable=True),  # times: microseconds since the epoch
    Column("synced_at", BigInteger, nullable=True),
    Column("reconciled_at", BigInteger, nullable=True),
    Column("reconcile_due", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
)

leases = Table(
    "leases",
    metadata,
    Column("tenant", Key, primary_key=True),
    Column("provider", Key, primary_key=True),
    Column("scope", Key, primary_key=True),
    Column("holder", Key, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # microseconds since the epoch
)

audit = Table(
    "audit",
    metadata,
    # SQLite numbers rows itself only for an INTEGER PRIMARY KEY; PostgreSQL: a bigserial.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("tenant", Key, nullable=False),
    Column("at", BigInteger, nullable=False),  # microseconds since the epoch
    Column("key_id", Text, nullable=True),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("provider", Text, nullable=True),
    Column("session_id", Text, nullable=True),
    Column("outcome", Text, nullable=False),
    Column("message", Text, nullable=True),
    # A tenant's records, newest first, resumed before a `seq`.
    Index("ix_audit_tenant", "tenant", "seq"),
)
