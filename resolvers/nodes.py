"""Node ids: what a refetch of a session or an agent needs, packed into the opaque Relay id.

Session: `provider|id|agent|day|lookup` (Vectara needs the agent key, a vendor that
`fetches_by_day` the start day, StateSet its stream id); Agent: `provider|id`. Parts are
vendor ids, which never hold `|` (`SAFE_ID`); a decoded id is checked again before it reaches
a vendor. An id minted for a tenant other than `default` ends with `|` and the tenant's tag
(`resolvers.principal.tenant_tag`): another tenant reading it gets BAD_USER_INPUT, never a
vendor call with its own credentials.
"""

from __future__ import annotations

from datetime import UTC, datetime

from providers.adapter import SAFE_ID
from providers.errors import UserInputError
from providers.records import Provider, SessionRecord, SessionRef
from providers.vendors import adapter_class

__all__ = ["agent_node_id", "parse_agent_node_id", "parse_session_node_id", "session_node_id"]


def session_node_id(record: SessionRecord, tag: str = "") -> str:
    by_day = adapter_class(record.provider).fetches_by_day
    day = record.started_at.date().isoformat() if by_day else ""
    parts = [record.provider.value, record.id, record.agent_id or "", day, record.lookup_key or ""]
    return _tagged("|".join(parts), tag)


def parse_session_node_id(node_id: str, tag: str = "") -> SessionRef:
    parts = _untagged(node_id, tag, "Session").split("|")
    if len(parts) != 5:
        raise UserInputError("not a Session id")
    provider = _provider(parts[0])
    _check(parts[1], parts[2], parts[4])
    started_at = None
    if parts[3]:
        try:
            started_at = datetime.fromisoformat(parts[3]).replace(tzinfo=UTC)
        except ValueError:
            raise UserInputError("not a Session id") from None
    return SessionRef(provider, parts[1], parts[2] or None, started_at, parts[4] or None)


def agent_node_id(provider: Provider, agent_id: str, tag: str = "") -> str:
    return _tagged(f"{provider.value}|{agent_id}", tag)


def parse_agent_node_id(node_id: str, tag: str = "") -> tuple[Provider, str]:
    parts = _untagged(node_id, tag, "Agent").split("|")
    if len(parts) != 2:
        raise UserInputError("not an Agent id")
    _check(parts[1])
    return _provider(parts[0]), parts[1]


def _tagged(node_id: str, tag: str) -> str:
    return f"{node_id}|~{tag}" if tag else node_id


def _untagged(node_id: str, tag: str, kind: str) -> str:
    """The id without its tenant's tag; BAD_USER_INPUT when it was minted for another tenant
    (the message does not say which: a tenant learns nothing of another)."""
    body, marker, found = node_id.rpartition("|~")
    if (found if marker else "") != tag:
        raise UserInputError(f"not a {kind} id of this tenant")
    return body if marker else node_id


def _provider(text: str) -> Provider:
    try:
        return Provider(text)
    except ValueError:
        raise UserInputError("the id names no known provider") from None


def _check(required: str, *optional: str) -> None:
    if not SAFE_ID.match(required) or any(part and not SAFE_ID.match(part) for part in optional):
        raise UserInputError("the id holds characters no vendor id has")
