"""GraphQL inputs and their translation to the resolvers' validated filter."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import strawberry
from strawberry import relay

from graph.enums import Channel, Provider, SessionStatus
from providers import records
from providers.errors import UserInputError
from resolvers.filters import AgentScope, SessionFilterSpec
from resolvers.nodes import parse_agent_node_id

__all__ = ["SessionFilter"]

T = TypeVar("T")
E = TypeVar("E")


@strawberry.input(
    description="Which sessions to return. Every field narrows the result; "
    "lists match any of their values, but `tags` must all be present."
)
class SessionFilter:
    providers: list[Provider] | None = strawberry.UNSET
    agent_ids: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Vendor agent ids (applied to every vendor) or `Agent.id` values (applied "
        "to that agent's vendor only).",
    )
    statuses: list[SessionStatus] | None = strawberry.UNSET
    started_after: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="Inclusive. Default: `startedBefore` minus the configured window (90 days).",
    )
    started_before: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="Exclusive. Default: now."
    )
    text: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Words that must all appear in the transcript (any order, any case).",
    )
    tags: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Tags the session must all carry."
    )
    phone_number: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The caller's or callee's number; digits are compared, formatting ignored.",
    )
    channels: list[Channel] | None = strawberry.UNSET
    vehicle_ids: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Samsara only: other vendors match nothing."
    )
    driver_ids: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Samsara only: other vendors match nothing."
    )

    def to_spec(self, tag: str = "") -> SessionFilterSpec:
        """The filter as the resolvers read it; `tag`: the asking tenant's, which agent ids
        must carry."""
        return SessionFilterSpec(
            providers=_set(self.providers, records.Provider),
            agents=_agent_scope(ids, tag) if (ids := _listed(self.agent_ids)) is not None else None,
            statuses=_set(self.statuses, records.SessionStatus),
            started_after=_value(self.started_after),
            started_before=_value(self.started_before),
            text=_value(self.text),
            tags=tuple(self.tags or ()),
            phone_number=_value(self.phone_number),
            channels=_set(self.channels, records.Channel),
            vehicle_ids=_ids(self.vehicle_ids),
            driver_ids=_ids(self.driver_ids),
        )


def _listed(values: list[E] | None) -> list[E] | None:
    """A list the client gave, None when left out; an empty one would match nothing, which is
    never what was meant: refused."""
    if not _given(values):
        return None
    if not values:
        raise UserInputError("an empty list matches nothing: leave the field out instead")
    return values


def _ids(values: list[str] | None) -> tuple[str, ...] | None:
    listed = _listed(values)
    return None if listed is None else tuple(listed)


def _given(value: object) -> bool:
    return value is not strawberry.UNSET and value is not None


def _value(value: T | None) -> T | None:
    return value if _given(value) else None


def _set(values: list[E] | None, kind: type[E]) -> frozenset[E] | None:
    listed = _listed(values)
    return None if listed is None else frozenset(kind(v) for v in listed)  # type: ignore[call-arg]


def _agent_scope(ids: list[str], tag: str) -> AgentScope:
    anywhere: list[str] = []
    scoped: list[tuple[records.Provider, str]] = []
    for value in ids:
        try:
            global_id = relay.GlobalID.from_id(value)
        except Exception:
            anywhere.append(value)
            continue
        if global_id.type_name != "Agent":
            anywhere.append(value)
            continue
        scoped.append(parse_agent_node_id(global_id.node_id, tag))
    return AgentScope(anywhere=tuple(anywhere), by_provider=tuple(scoped))
