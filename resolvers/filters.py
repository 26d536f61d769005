"""A client's session filter, validated, and the per-vendor `SessionQuery` built from it.

Client text is checked here, before any vendor sees it: ids must be plain identifiers (they go
into vendor paths and comma-separated lists), free text and lists are bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from providers.adapter import SAFE_ID
from providers.errors import UserInputError
from providers.query import Criteria, SessionQuery, SortOrder, digits
from providers.records import Provider

__all__ = ["AgentScope", "SessionFilterSpec", "resolve_window"]

MAX_IDS = 500
MAX_TEXT = 200
# The span a window may cover. No session started before the Unix epoch (vendors count time from
# it), and a year short of datetime.max leaves room for the vendors' window arithmetic (60-day
# slices, durations): a window reaching past either end is cut there, which changes no answer
# and keeps every later `±timedelta` inside what datetime can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_FIRST, _LAST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AgentScope:
    """Agent ids from the filter: raw vendor ids apply to every vendor, Agent node ids only to
    their own vendor."""

    anywhere: tuple[str, ...] = ()
    by_provider: tuple[tuple[Provider, str], ...] = ()

    def for_provider(self, provider: Provider) -> tuple[str, ...]:
        return self.anywhere + tuple(a for p, a in self.by_provider if p is provider)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFilterSpec(Criteria):
    """A client's filter, validated: the criteria every vendor gets, plus which vendors and
    agents, and the window bounds the client gave (the default window is resolved per page)."""

    providers: frozenset[Provider] | None = None
    agents: AgentScope | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None

    def __post_init__(self) -> None:
        for name, ids in (("vehicleIds", self.vehicle_ids), ("driverIds", self.driver_ids)):
            _check_ids(name, ids or ())
        if self.agents is not None:
            _check_ids("agentIds", self.agents.anywhere)
        if self.text is not None and not (0 < len(self.text.strip()) <= MAX_TEXT):
            raise UserInputError(f"`text` must be 1 to {MAX_TEXT} characters")
        if len(self.tags) > 20 or any(not (0 < len(tag) <= 100) for tag in self.tags):
            raise UserInputError("`tags`: at most 20 tags of 1 to 100 characters")
        if self.phone_number is not None and not (6 <= len(digits(self.phone_number)) <= 20):
            raise UserInputError("`phoneNumber` must hold 6 to 20 digits")
        for name, moment in (
            ("startedAfter", self.started_after),
            ("startedBefore", self.started_before),
        ):
            if moment is not None:
                _check_moment(name, moment)
        if self.started_before is not None and self.started_before <= EARLIEST:
            raise UserInputError(f"`startedBefore` must be after {_text(EARLIEST)}")
        if self.started_after is not None and self.started_after >= LATEST:
            raise UserInputError(f"`startedAfter` must be before {_text(LATEST)}")
        if self.started_after and self.started_before and self.started_after >= self.started_before:
            raise UserInputError("`startedAfter` must be before `startedBefore`")

    def canonical(self) -> dict[str, Any]:
        """What the cursor's filter hash covers: every field, in a form that does not depend
        on the order the client listed values in (the resolved window travels in the cursor)."""
        return {field.name: _canonical(getattr(self, field.name)) for field in fields(self)}

    def query_for(
        self,
        provider: Provider,
        window: tuple[datetime, datetime],
        order: SortOrder,
        scan_cap: int,
        with_details: bool = True,
    ) -> SessionQuery | None:
        """The provider's share of the filter; None when the filter rules the provider out."""
        agent_ids = None
        if self.agents is not None:
            agent_ids = self.agents.for_provider(provider)
            if not agent_ids:
                return None
        return SessionQuery(
            **self.criteria(),
            started_after=window[0],
            started_before=window[1],
            order=order,
            agent_ids=agent_ids,
            scan_cap=scan_cap,
            with_details=with_details,
        )

    def with_agent(self, provider: Provider, agent_id: str) -> SessionFilterSpec:
        return replace(
            self,
            providers=frozenset({provider}),
            agents=AgentScope(by_provider=((provider, agent_id),)),
        )


def resolve_window(
    spec: SessionFilterSpec, default_days: int, now: datetime
) -> tuple[datetime, datetime]:
    """[after, before) in UTC: the filter's bounds, else the last `default_days` days; cut to
    [EARLIEST, LATEST]."""
    if spec.started_before is None:
        # "Now", rounded up to the next whole second: identical queries sent together then ask
        # the vendors identical questions, which the transport answers with one request.
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    before = min((spec.started_before or now).astimezone(UTC), LATEST)
    if spec.started_after is not None:
        after = max(spec.started_after.astimezone(UTC), EARLIEST)
    else:
        # Stopped at EARLIEST, so a window of any configured length cannot overflow.
        after = before - min(timedelta(days=default_days), before - EARLIEST)
    if after >= before:
        raise UserInputError("`startedAfter` must be before `startedBefore` (or now)")
    return after, before


def _canonical(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, frozenset | tuple):  # every list of the filter is a set of values
        return sorted(_canonical(item) for item in value)
    if isinstance(value, AgentScope):
        return [sorted(value.anywhere), sorted(f"{p.value}/{a}" for p, a in value.by_provider)]
    return value


def _check_moment(name: str, moment: datetime) -> None:
    if moment.tzinfo is None:
        raise UserInputError(f"`{name}` needs a time zone (e.g. 2026-05-14T18:40:02Z)")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 or 9999-12-31T23:59:59-14:00: no such instant in UTC.
        raise UserInputError(
            f"`{name}` is out of range: {moment.isoformat()} is not a time between "
            f"{_text(_FIRST)} and {_text(_LAST)}"
        ) from None


def _text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_ids(name: str, ids: tuple[str, ...]) -> None:
    if len(ids) > MAX_IDS:
        raise UserInputError(f"`{name}`: at most {MAX_IDS} ids")
    for value in ids:
        if not SAFE_ID.match(value):
            raise UserInputError(f"`{name}`: {value[:40]!r} is not a valid id")
