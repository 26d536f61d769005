"""What a simulator was asked: tests count vendor calls here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import parse_qs

__all__ = ["LoggedRequest", "RequestLog"]


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    auth_present: bool
    status: int = 0  # filled in when the answer leaves
    at: datetime | None = None  # the simulator's clock when the request came in

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class RequestLog:
    entries: list[LoggedRequest] = field(default_factory=list)
    # Bumped by `clear`: a request still in flight across a clear (a hang) is not written back.
    _generation: int = 0

    def record(
        self,
        method: str,
        path: str,
        raw_query: str,
        auth_present: bool,
        at: datetime | None = None,
    ) -> tuple[int, int]:
        query = parse_qs(raw_query, keep_blank_values=True)
        self.entries.append(LoggedRequest(method, path, query, raw_query, auth_present, at=at))
        return self._generation, len(self.entries) - 1

    def set_status(self, token: tuple[int, int], status: int) -> None:
        generation, index = token
        if generation != self._generation:
            return
        self.entries[index] = replace(self.entries[index], status=status)

    def clear(self) -> None:
        self.entries.clear()
        self._generation += 1

    def count(self, path_prefix: str = "", method: str | None = None) -> int:
        return len(self.matching(path_prefix, method))

    def matching(self, path_prefix: str = "", method: str | None = None) -> list[LoggedRequest]:
        return [
            e
            for e in self.entries
            if e.path.startswith(path_prefix) and (method is None or e.method == method)
        ]

    def __len__(self) -> int:
        return len(self.entries)
