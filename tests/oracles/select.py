"""The meaning of a `SessionQuery`, restated for the tests from the schema's documentation
(`SessionFilter`): lists match any of their values, `tags` must all be present (any case),
`text` words must all appear in the transcript (any case), `phoneNumber` compares digits with
the caller's or callee's number, the window is [startedAfter, startedBefore). Written apart
from `providers/query.py: matches` on purpose: the two must agree, not share a bug."""

from __future__ import annotations

import re
from collections.abc import Iterable

from providers.query import SessionQuery, SortOrder
from providers.records import SessionRecord

__all__ = ["select", "wanted"]


def _tokens(text: str) -> set[str]:
    # Words: letters, digits and underscores, apostrophes inside words kept ("don't").
    return {token.casefold() for token in re.findall(r"[\w']+", text)}


def wanted(record: SessionRecord, query: SessionQuery) -> bool:
    checks = (
        query.started_after <= record.started_at < query.started_before,
        query.agent_ids is None or record.agent_id in set(query.agent_ids),
        query.statuses is None or record.status in query.statuses,
        query.channels is None or record.channel in query.channels,
        {t.casefold() for t in query.tags} <= {t.name.casefold() for t in record.tags},
    )
    if not all(checks):
        return False
    if query.phone_number is not None:
        digits = re.sub(r"\D", "", query.phone_number)
        numbers = {re.sub(r"\D", "", n or "") for n in (record.caller, record.callee)}
        if digits not in numbers:
            return False
    if query.text is not None:
        if record.details is None:
            return False
        said: set[str] = set()
        for turn in record.details.transcript:
            said |= _tokens(turn.text)
        if not _tokens(query.text) <= said:
            return False
    return True


def select(records: Iterable[SessionRecord], query: SessionQuery) -> list[SessionRecord]:
    """The records `query` matches, in its order: start time, then provider, agent and id."""
    found = [record for record in records if wanted(record, query)]

    def key(record: SessionRecord) -> tuple[object, ...]:
        return (record.started_at, record.provider.value, record.agent_id or "", record.id)

    return sorted(found, key=key, reverse=query.order is SortOrder.NEWEST_FIRST)
