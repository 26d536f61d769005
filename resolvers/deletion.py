"""Deleting a session: admins only, at the vendor that holds it (those that can delete), then
out of the tenant's record cache and index rows, so that no later page or lookup shows it,
however warm. Every attempt, whatever its outcome, leaves one audit record
(`resolvers.audit`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from index.audit import DELETE_SESSION, DELETED, TARGET_CHARS, UNKNOWN, AuditEntry
from providers.errors import (
    ForbiddenError,
    NotFoundError,
    ProviderNotConfiguredError,
    SessionGraphError,
)
from providers.records import SessionRef
from resolvers.audit import write_audit
from resolvers.principal import Principal, Role
from resolvers.sources import Sources

__all__ = ["Deletion", "delete_session"]

log = logging.getLogger("sessiongraph")


@dataclass(frozen=True, slots=True)
class Deletion:
    """What a client is answered: the session's id once deleted, or why not."""

    deleted_id: str | None
    error: SessionGraphError | None = None


async def delete_session(
    sources: Sources,
    principal: Principal,
    target: str,
    read_ref: Callable[[], SessionRef],
) -> Deletion:
    """Deletes the session `target` names (`read_ref` reads it, raising `UserInputError` for
    an id that is not a session of this tenant). The role is checked first, before the id is
    trusted for anything but the audit record: a viewer learns nothing of the id."""
    ref: SessionRef | None = None
    error: SessionGraphError | None = None
    try:
        ref = read_ref()
    except SessionGraphError as exc:
        error = exc
    if not principal.may(Role.ADMIN):
        error = ForbiddenError(
            f"deleting a session needs the admin role; this key's role is {principal.role.label}"
        )
    try:
        if error is None and ref is not None:
            error = await _delete(sources, ref)
    except asyncio.CancelledError:
        await _audit(sources, principal, target, ref, UNKNOWN, None)
        raise
    except Exception:  # a bug: answered INTERNAL_SERVER_ERROR by the GraphQL layer
        await _audit(sources, principal, target, ref, "INTERNAL_SERVER_ERROR", None)
        raise
    outcome = DELETED if error is None else error.code
    await _audit(sources, principal, target, ref, outcome, error)
    return Deletion(deleted_id=target if error is None else None, error=error)


async def _delete(sources: Sources, ref: SessionRef) -> SessionGraphError | None:
    adapter = sources.adapter(ref.provider)
    if adapter is None:
        return ProviderNotConfiguredError(
            f"{ref.provider.name} is not configured on this server", provider=ref.provider
        )
    try:
        await adapter.delete_session(ref)
    except NotFoundError as exc:
        await _forget(sources, adapter.settings.cache_scope, ref)  # gone there: gone here too
        return exc
    except SessionGraphError as exc:
        return exc
    await _forget(sources, adapter.settings.cache_scope, ref)
    return None


async def _forget(sources: Sources, scope: str, ref: SessionRef) -> None:
    """Out of the tenant's record cache and index rows. An index that cannot be written now
    still loses the row at the list's next full read (the vendor no longer lists it)."""
    sources.cache.forget_session(scope, ref)
    if sources.index is None:
        return
    try:
        await sources.index.store.forget_session(sources.tenant, ref.provider, ref.id, ref.agent_id)
    except Exception:
        log.exception("index: the deleted session %s could not be dropped", ref.id)


async def _audit(
    sources: Sources,
    principal: Principal,
    target: str,
    ref: SessionRef | None,
    outcome: str,
    error: SessionGraphError | None,
) -> None:
    entry = AuditEntry(
        at=sources.clock.now(),
        tenant=principal.tenant,
        key_id=principal.key_id,
        action=DELETE_SESSION,
        target=target[:TARGET_CHARS],
        provider=ref.provider.name if ref is not None else None,
        session_id=ref.id if ref is not None else None,
        outcome=outcome,
        message=error.message if error is not None else None,
    )
    await write_audit(sources, entry)
