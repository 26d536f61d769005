"""The audit trail: one record per attempt at a change (who, tenant, what, when, outcome),
written as a JSON log line on the `sessiongraph.audit` logger and, when the index store is
open, as a row of its `audit` table, which admins page through (`audit_page`). A record names
the API key by its public id, never the key."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging

import orjson

from index.audit import AuditEntry
from providers.errors import AuditUnavailableError, ForbiddenError, UserInputError
from resolvers.principal import Role
from resolvers.sources import Sources

__all__ = ["AUDIT_LOGGER", "MAX_AUDIT_PAGE", "audit_cursor", "audit_page", "write_audit"]

AUDIT_LOGGER = "sessiongraph.audit"
MAX_AUDIT_PAGE = 100

audit_log = logging.getLogger(AUDIT_LOGGER)
log = logging.getLogger("sessiongraph")

_CURSOR_PREFIX = b"audit:"


async def write_audit(sources: Sources, entry: AuditEntry) -> None:
    """The log line first (it is the record when the store is off or failing), then the row.
    A row that cannot be written is logged as an error, never the caller's failure: the
    change it records has happened (or not) either way. When the caller is cancelled
    meanwhile (the request's deadline), the write goes on by itself."""
    audit_log.info("%s", orjson.dumps(entry.as_log()).decode())
    if sources.index is None:
        return
    write = asyncio.ensure_future(sources.index.store.add_audit(entry))
    write.add_done_callback(_written)
    _writing.add(write)  # held until done: a task only the loop knows may be collected
    with contextlib.suppress(Exception):  # logged by `_written`
        await asyncio.shield(write)


_writing: set[asyncio.Future[int]] = set()


def _written(write: asyncio.Future[int]) -> None:
    _writing.discard(write)
    if not write.cancelled() and write.exception() is not None:
        log.error("audit: a record could not be stored", exc_info=write.exception())


async def audit_page(
    sources: Sources, role: Role, first: int, after: str | None
) -> list[AuditEntry]:
    """The tenant's audit records, newest first: at most `first` (1-100), after the record
    whose cursor is `after`. Admins only."""
    if role < Role.ADMIN:
        raise ForbiddenError(f"audit records are for admins; this key's role is {role.label}")
    if not 1 <= first <= MAX_AUDIT_PAGE:
        raise UserInputError(f"`first` must be between 1 and {MAX_AUDIT_PAGE}")
    before = _read_cursor(after) if after is not None else None
    if sources.index is None:
        why = sources.index_error or "the index is off (SESSIONGRAPH_INDEX_URL=off)"
        raise AuditUnavailableError(
            f"audit records are kept in the index store, which is not open here: {why};"
            " they are in the `sessiongraph.audit` log only"
        )
    return await sources.index.store.audit_records(sources.tenant, before, first)


def audit_cursor(entry: AuditEntry) -> str:
    """Where a page after `entry` starts. Not signed: it only says where in the asking
    tenant's own records to go on, and no vendor is ever asked anything from it."""
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + str(entry.seq).encode()).decode()


def _read_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    digits = raw.removeprefix(_CURSOR_PREFIX)
    if raw == digits or not digits.isdigit() or len(digits) > 19:
        raise UserInputError("`after` is not a cursor of auditRecords")
    return int(digits)
