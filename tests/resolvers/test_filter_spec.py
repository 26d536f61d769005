"""The validated filter: every field is covered by the cursor's filter hash, and reaches the
vendors' queries."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime

import pytest

from providers.query import SessionQuery, SortOrder
from providers.records import Channel, Provider, SessionStatus
from resolvers.filters import AgentScope, SessionFilterSpec

# One value per field that differs from the default. A field added to the filter without a
# value here fails the test below: the author then decides how it is hashed and passed on.
SAMPLES: dict[str, object] = {
    "providers": frozenset({Provider.VONAGE}),
    "agents": AgentScope(anywhere=("a1",)),
    "statuses": frozenset({SessionStatus.FAILED}),
    "started_after": datetime(2026, 1, 1, tzinfo=UTC),
    "started_before": datetime(2026, 2, 1, tzinfo=UTC),
    "text": "refund",
    "tags": ("billing",),
    "phone_number": "+1 555 0100",
    "channels": frozenset({Channel.VOICE}),
    "vehicle_ids": ("v1",),
    "driver_ids": ("d1",),
}
WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize("name", [field.name for field in fields(SessionFilterSpec)])
def test_every_field_changes_the_canonical_form(name: str) -> None:
    assert name in SAMPLES, f"new filter field {name!r}: add a sample"
    empty = SessionFilterSpec()
    assert replace(empty, **{name: SAMPLES[name]}).canonical() != empty.canonical()


def test_lists_are_hashed_whatever_their_order() -> None:
    one = SessionFilterSpec(tags=("a", "b"), vehicle_ids=("v1", "v2"))
    other = SessionFilterSpec(tags=("b", "a"), vehicle_ids=("v2", "v1"))
    assert one.canonical() == other.canonical()


def test_every_criterion_reaches_the_vendor_query() -> None:
    spec = SessionFilterSpec(
        **{k: v for k, v in SAMPLES.items() if k not in ("started_after", "started_before")}
    )
    query = spec.query_for(Provider.VONAGE, WINDOW, SortOrder.OLDEST_FIRST, scan_cap=7)
    assert query == SessionQuery(
        started_after=WINDOW[0],
        started_before=WINDOW[1],
        order=SortOrder.OLDEST_FIRST,
        agent_ids=("a1",),
        statuses=frozenset({SessionStatus.FAILED}),
        text="refund",
        tags=("billing",),
        phone_number="+1 555 0100",
        channels=frozenset({Channel.VOICE}),
        vehicle_ids=("v1",),
        driver_ids=("d1",),
        scan_cap=7,
    )


def test_an_agent_scope_of_another_vendor_rules_the_vendor_out() -> None:
    spec = SessionFilterSpec(agents=AgentScope(by_provider=((Provider.SAMSARA, "a1"),)))
    assert spec.query_for(Provider.VONAGE, WINDOW, SortOrder.NEWEST_FIRST, 10) is None
