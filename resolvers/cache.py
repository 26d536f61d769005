"""Cross-request caches (cachetools), for what is immutable or slow to change: the details of
finished sessions, and agents.

Every key starts with the adapter's `cache_scope` (tenant, endpoint, credential digest), so
one tenant never reads another's entries. Both caches are bounded in size and age. An entry
holding a recording URL expires before the URL does; running sessions are never cached.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from cachetools import TLRUCache, TTLCache

from providers.clock import SYSTEM_CLOCK, Clock
from providers.records import AgentRecord, Provider, SessionRecord, SessionRef, SessionStatus
from providers.telemetry import CACHE_LOOKUPS

__all__ = ["RecordCache"]

# A recording URL is dropped this long before the vendor says it expires: a client needs a
# moment to use it.
URL_MARGIN_S = 60.0

_SESSION_HIT, _SESSION_MISS = (CACHE_LOOKUPS.labels("session", o) for o in ("hit", "miss"))
_AGENT_HIT, _AGENT_MISS = (CACHE_LOOKUPS.labels("agent", o) for o in ("hit", "miss"))


class RecordCache:
    def __init__(
        self,
        max_sessions: int = 5000,
        session_ttl_s: float = 600.0,
        max_agents: int = 1000,
        agent_ttl_s: float = 300.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._clock = clock
        self._session_ttl_s = session_ttl_s
        self.sessions: TLRUCache[Hashable, SessionRecord] = TLRUCache(
            maxsize=max_sessions, ttu=self._time_to_use, timer=clock.monotonic
        )
        self.agents: TTLCache[Hashable, AgentRecord | None] = TTLCache(
            maxsize=max_agents, ttl=agent_ttl_s, timer=clock.monotonic
        )
        # Agents seen on sessions, per vendor scope (a set each): discovering them scans.
        self.seen_agents: TTLCache[str, Any] = TTLCache(
            maxsize=64, ttl=agent_ttl_s, timer=clock.monotonic
        )

    def _time_to_use(self, _key: Hashable, record: SessionRecord, now: float) -> float:
        ttl = self._session_ttl_s
        recording = record.details.recording if record.details else None
        if recording is not None and recording.expires_at is not None:
            left = (recording.expires_at - self._clock.now()).total_seconds() - URL_MARGIN_S
            ttl = min(ttl, left)
        return now + ttl  # a ttl at or below zero: the entry is already expired, never served

    def session(self, scope: str, ref: SessionRef) -> SessionRecord | None:
        found = self.sessions.get((scope, ref.provider, ref.id, ref.agent_id))
        (_SESSION_MISS if found is None else _SESSION_HIT).inc()
        return found

    def session_if_kept(self, scope: str, ref: SessionRef) -> SessionRecord | None:
        """`session` for a caller that fetches on a miss through a loader, which looks again
        and counts the miss: only a hit is counted here."""
        found = self.sessions.get((scope, ref.provider, ref.id, ref.agent_id))
        if found is not None:
            _SESSION_HIT.inc()
        return found

    def keep_session(self, scope: str, ref: SessionRef, record: SessionRecord) -> None:
        if record.status is SessionStatus.ACTIVE or record.details is None:
            return  # a running session still changes
        self.sessions[(scope, ref.provider, ref.id, ref.agent_id)] = record

    def forget_session(self, scope: str, ref: SessionRef) -> None:
        """Drop a session deleted at the vendor: the next fetch asks the vendor (and finds
        nothing) instead of serving the copy."""
        self.sessions.pop((scope, ref.provider, ref.id, ref.agent_id), None)

    def forget_any(self, scope: str, provider: Provider, session_id: str) -> int:
        """`forget_session` for a deletion made by another process, whose record names the
        vendor and the session only: dropped whatever agent it was kept under. Looks at every
        entry (deletions are rare, the cache bounded); how many were dropped."""
        wanted = (scope, provider, session_id)
        found = [key for key in list(self.sessions) if isinstance(key, tuple) and key[:3] == wanted]
        for key in found:
            self.sessions.pop(key, None)
        return len(found)

    def agent(self, scope: str, agent_id: str) -> tuple[bool, AgentRecord | None]:
        key = (scope, agent_id)
        known = key in self.agents
        (_AGENT_HIT if known else _AGENT_MISS).inc()
        return (known, self.agents.get(key))

    def keep_agent(self, scope: str, agent_id: str, record: AgentRecord | None) -> None:
        self.agents[(scope, agent_id)] = record
