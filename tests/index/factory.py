"""Records and queries for the index tests, written out plainly (no code under test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from index.state import DEFAULT_TENANT, ScopeKey
from providers.query import SessionQuery
from providers.records import (
    Provider,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    Speaker,
    TranscriptTurn,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STATESET = ScopeKey(DEFAULT_TENANT, Provider.STATESET, "")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def vectara(agent: str, tenant: str = DEFAULT_TENANT) -> ScopeKey:
    return ScopeKey(tenant, Provider.VECTARA, agent)


def said(*texts: str) -> SessionDetails:
    return SessionDetails(transcript=tuple(TranscriptTurn(Speaker.USER, t, "user") for t in texts))


def record(
    id: str,
    started: datetime = T0,
    *,
    provider: Provider = Provider.STATESET,
    status: SessionStatus = SessionStatus.COMPLETED,
    **fields: Any,
) -> SessionRecord:
    return SessionRecord(provider, id, status, status.value, started, **fields)


def query(**fields: Any) -> SessionQuery:
    """A query over a wide window, newest first unless told."""
    fields.setdefault("started_after", T0 - timedelta(days=365))
    fields.setdefault("started_before", T0 + timedelta(days=365))
    return SessionQuery(**fields)


def ids(records: list[SessionRecord]) -> list[str]:
    return [r.id for r in records]
