"""Audit records: who tried what on which session, when, and how it ended. One row per
attempt in the index store's `audit` table (per tenant, newest first by `seq`); the gateway
also writes each as a log line (`resolvers.audit`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from providers.errors import NotFoundError

__all__ = ["DELETED", "DELETE_SESSION", "UNKNOWN", "AuditEntry", "forgets"]

DELETE_SESSION = "deleteSession"  # the action of a deletion's record
DELETED = "DELETED"  # the outcome of a session deleted
# The outcome of an attempt cut short during the vendor call (the request's deadline, or its
# client gone): the vendor may or may not have deleted the session.
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    tenant: str
    key_id: str | None  # the API key's public id, never the key; None when auth is off
    action: str  # e.g. "deleteSession"
    target: str  # what the client named (a node id), cut to `TARGET_CHARS`
    provider: str | None  # the vendor, when the target could be read
    session_id: str | None  # the vendor's session id, when the target could be read
    outcome: str  # "DELETED", or the error code the client was answered
    message: str | None = None  # the error's message, for people
    seq: int | None = None  # the row's number: set by the store, increasing

    def as_log(self) -> dict[str, object]:
        """The entry as the audit log line's fields (`seq` is the store's)."""
        return {
            "at": self.at.isoformat(),
            "tenant": self.tenant,
            "key_id": self.key_id,
            "action": self.action,
            "target": self.target,
            "provider": self.provider,
            "session_id": self.session_id,
            "outcome": self.outcome,
            "message": self.message,
        }


TARGET_CHARS = 200  # a client may send any text as an id: the record keeps its head


def forgets(entry: AuditEntry) -> bool:
    """Whether the attempt `entry` records left its session forgotten (`resolvers.deletion`):
    deleted at the vendor, or found gone there (its 404)."""
    return entry.action == DELETE_SESSION and entry.outcome in (DELETED, NotFoundError.code)
