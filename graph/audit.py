"""`auditRecords`: the asking tenant's audit trail, newest first, for admin keys."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from graph.enums import Provider
from index.audit import AuditEntry
from resolvers.audit import MAX_AUDIT_PAGE, audit_cursor, audit_page
from resolvers.context import RequestContext

__all__ = ["AuditRecord", "resolve_audit_records"]

Ctx = Info[RequestContext, None]


@strawberry.type(description="One attempt at a change: who, what, when, and how it ended.")
class AuditRecord:
    at: datetime
    tenant: str
    key_id: str | None = strawberry.field(
        description="The API key's id (never the key); null when authentication is off."
    )
    action: str = strawberry.field(description="What was attempted: `deleteSession`.")
    target_id: str = strawberry.field(
        description="The id the client named, as sent (its first 200 characters)."
    )
    provider: Provider | None = strawberry.field(
        description="The vendor, when the id could be read."
    )
    provider_session_id: str | None = strawberry.field(
        description="The vendor's session id, when the id could be read."
    )
    outcome: str = strawberry.field(
        description="DELETED, the error code the client was answered (FORBIDDEN, NOT_FOUND, "
        "…), or UNKNOWN when the request was cut short during the vendor call."
    )
    message: str | None = strawberry.field(description="The error's message, for people.")
    cursor: str = strawberry.field(description="`after` this record: the older ones.")

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRecord:
        return cls(
            at=entry.at,
            tenant=entry.tenant,
            key_id=entry.key_id,
            action=entry.action,
            target_id=entry.target,
            provider=_provider(entry.provider),
            provider_session_id=entry.session_id,
            outcome=entry.outcome,
            message=entry.message,
            cursor=audit_cursor(entry),
        )


def _provider(name: str | None) -> Provider | None:
    """A stored vendor name; None for one this server no longer knows."""
    return Provider.__members__.get(name) if name is not None else None


async def resolve_audit_records(info: Ctx, first: int, after: str | None) -> list[AuditRecord]:
    context = info.context
    entries = await audit_page(context.sources, context.principal.role, first, after)
    return [AuditRecord.of(entry) for entry in entries]


AUDIT_DESCRIPTION = (
    "This tenant's audit records (every attempt at a change), newest first: at most `first` "
    f"(1-{MAX_AUDIT_PAGE}), older than the record whose `cursor` is `after`. Admin keys only "
    "(FORBIDDEN otherwise); AUDIT_UNAVAILABLE when the index store is off (the records are then "
    "in the `sessiongraph.audit` log only)."
)
