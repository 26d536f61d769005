"""The record types themselves: what `evolve` and `DeferredDetails` promise (the same values
as `dataclasses.replace` and a plain `SessionDetails`), and the values the shared readers give
where a faster decoder could disagree with the standard library."""

from __future__ import annotations

import copy
import dataclasses
import operator
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, get_type_hints

import msgspec
import pytest

from providers.records import (
    Channel,
    DeferredDetails,
    FlowStep,
    Parameter,
    Provider,
    RecordChanges,
    Recording,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    Speaker,
    Tag,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
    evolve,
)
from providers.values import json_or_text, time_or_none

STARTED = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
TURN = TranscriptTurn(Speaker.USER, "hello", "user")
CALL = ToolCall("lookup", {"id": 1}, None, ToolCallStatus.SUCCESS)
STEPS = (FlowStep("n1", "start"), FlowStep("n2", "webhook", url="https://x.test/lookup"))

RECORD = SessionRecord(
    provider=Provider.VONAGE,
    id="s-1",
    status=SessionStatus.COMPLETED,
    raw_status="ended",
    started_at=STARTED,
    agent_id="a-1",
    agent_name="Agent",
    channel=Channel.VOICE,
    caller="1415",
    tags=(Tag("vip"),),
    parameters=(Parameter("email", None),),
    metadata={"language": "en"},
)

# A new value for every field, of its type.
NEW_VALUES: dict[str, Any] = {
    "provider": Provider.STATESET,
    "id": "s-2",
    "status": SessionStatus.FAILED,
    "raw_status": "failed",
    "started_at": datetime(2026, 10, 2, tzinfo=UTC),
    "agent_id": "a-2",
    "agent_name": "Other",
    "ended_at": datetime(2026, 10, 3, tzinfo=UTC),
    "duration_ms": 5,
    "channel": Channel.CHAT,
    "raw_channel": "http",
    "direction": "inbound",
    "caller": "1",
    "callee": "2",
    "title": "t",
    "summary": "s",
    "tags": (Tag("x"),),
    "parameters": (Parameter("p", "v"),),
    "metadata": {"k": "v"},
    "lookup_key": "MZ1",
    "details": SessionDetails(transcript=(TURN,)),
}


def deferred(calls: list[str] | None = None) -> DeferredDetails:
    def mapper(name: str, value: tuple[Any, ...]) -> Callable[[], tuple[Any, ...]]:
        def mapped() -> tuple[Any, ...]:
            if calls is not None:
                calls.append(name)
            return value

        return mapped

    return DeferredDetails(
        mappers={
            "transcript": mapper("transcript", (TURN,)),
            "tool_calls": mapper("tool_calls", (CALL,)),
            "flow_steps": mapper("flow_steps", STEPS),
        }
    )


PLAIN = SessionDetails((TURN,), (CALL,), STEPS)


def test_record_changes_names_every_field_with_its_type() -> None:
    fields = {f.name: f.type for f in dataclasses.fields(SessionRecord)}
    assert set(get_type_hints(RecordChanges)) == set(fields) == set(NEW_VALUES)
    assert get_type_hints(RecordChanges) == get_type_hints(SessionRecord)


@pytest.mark.parametrize("name", sorted(NEW_VALUES))
def test_evolve_changes_one_field_as_replace_does(name: str) -> None:
    changed = evolve(RECORD, **{name: NEW_VALUES[name]})  # type: ignore[misc]
    assert changed == dataclasses.replace(RECORD, **{name: NEW_VALUES[name]})
    assert getattr(changed, name) == NEW_VALUES[name]
    assert RECORD.id == "s-1" and RECORD.details is None  # the original is left as it was


def test_evolve_changes_several_fields_and_refuses_unknown_ones() -> None:
    changed = evolve(RECORD, details=PLAIN, duration_ms=9, ended_at=None)
    assert (changed.details, changed.duration_ms, changed.id) == (PLAIN, 9, "s-1")
    with pytest.raises(KeyError):
        evolve(RECORD, colour="red")  # type: ignore[call-arg]


def test_records_are_hashable_and_compared_by_value() -> None:
    assert hash(Tag("a", "b", 2)) == hash(Tag("a", "b", 2))
    assert {Tag("a"), Tag("a")} == {Tag("a")}
    assert dataclasses.replace(RECORD) == RECORD
    assert dataclasses.replace(RECORD, id="other") != RECORD


def test_deferred_fields_are_mapped_each_once_when_first_read() -> None:
    calls: list[str] = []
    details = deferred(calls)
    assert calls == []
    assert details.tool_calls == (CALL,)
    assert details.tool_calls == (CALL,)
    assert calls == ["tool_calls"]
    assert details.flow_steps == STEPS and details.transcript == (TURN,)
    assert details.transcript == (TURN,)
    assert calls == ["tool_calls", "flow_steps", "transcript"]


def test_a_field_without_a_mapper_keeps_the_value_given() -> None:
    details = DeferredDetails((TURN,), mappers={"flow_steps": lambda: STEPS})
    assert (details.transcript, details.tool_calls, details.flow_steps) == ((TURN,), (), STEPS)


def test_deferred_details_equal_a_plain_one_either_way_and_in_a_record() -> None:
    assert deferred() == PLAIN
    assert operator.eq(PLAIN, deferred())  # the plain one on the left: the reflected __eq__
    assert operator.ne(deferred(), PLAIN) is False
    assert deferred() != SessionDetails((TURN,), (CALL,), STEPS[:1])
    assert SessionDetails((TURN,), (CALL,)) != deferred()
    assert evolve(RECORD, details=deferred()) == evolve(RECORD, details=PLAIN)
    assert hash(DeferredDetails(mappers={"flow_steps": lambda: STEPS})) == hash(
        SessionDetails(flow_steps=STEPS)
    )


def test_deferred_details_copy_replace_print_and_encode_as_plain_ones() -> None:
    assert copy.copy(deferred()) == PLAIN
    assert type(copy.deepcopy(deferred())) is SessionDetails
    assert pickle.loads(pickle.dumps(deferred())) == PLAIN
    assert dataclasses.replace(deferred(), recording=Recording("u")) == dataclasses.replace(
        PLAIN, recording=Recording("u")
    )
    assert repr(deferred()).endswith(repr(PLAIN)[len("SessionDetails") :])
    assert msgspec.json.encode(deferred()) == msgspec.json.encode(PLAIN)


def test_a_failed_mapping_is_raised_where_it_is_read_and_stays_pending() -> None:
    outcomes: list[Any] = [ValueError("bad node"), STEPS]

    def mapped() -> tuple[FlowStep, ...]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return tuple(outcome)

    details = DeferredDetails(mappers={"flow_steps": mapped})
    with pytest.raises(ValueError, match="bad node"):
        details.flow_steps  # noqa: B018
    assert details.flow_steps == STEPS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123456789012345678901234567890", 123456789012345678901234567890),  # exact, not a float
        ("[1.5e300, 0.1, -0.0, 5e-324]", [1.5e300, 0.1, -0.0, 5e-324]),
        ('{"a": 1, "a": 2}', {"a": 2}),
        ('"\\ud83d\\ude00"', "\U0001f600"),
    ],
)
def test_json_or_text_gives_the_standard_librarys_values(text: str, expected: Any) -> None:
    decoded = json_or_text(text)
    assert decoded == expected
    assert repr(decoded) == repr(expected)


def test_json_or_text_still_reads_what_only_the_standard_library_reads() -> None:
    nan = json_or_text('{"a": NaN}')
    assert isinstance(nan, dict) and nan["a"] != nan["a"]
    assert json_or_text("Infinity") == float("inf")
    assert json_or_text("1e400") == float("inf")
    assert json_or_text('"\\ud800"') == "\ud800"  # a lone surrogate, escaped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01T12:00:00+00:00", STARTED),
        ("2026-10-01T12:00:00Z", STARTED),
        ("2026-10-01T14:00:00+02:00", STARTED),
        ("2026-10-01T12:00:00", STARTED),
    ],
)
def test_time_or_none_is_always_utc_whatever_the_offset(text: str, expected: datetime) -> None:
    moment = time_or_none(text)
    assert moment == expected
    assert moment is not None and moment.tzinfo is UTC and moment.utcoffset() is not None
