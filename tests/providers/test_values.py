"""The scalar readers every vendor mapping shares: exact values for each shape a vendor sends,
and the error type each wrong value raises (which `reading` turns into one protocol error)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from providers.errors import UpstreamProtocolError
from providers.records import Provider
from providers.transport import reading
from providers.values import json_or_text, parse_time, text_or_none, time_or_none

NOON = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01T12:00:00Z", NOON),
        ("2026-10-01T12:00:00+00:00", NOON),
        ("2026-10-01T14:00:00+02:00", NOON),
        ("2026-10-01T07:30:00-04:30", NOON),
        ("2026-10-01T12:00:00", NOON),  # naive: read as UTC
        ("2026-10-01 12:00:00", NOON),
        ("2026-10-01t12:00:00z", NOON),  # RFC 3339 allows lower case
        ("2026-10-01T12:00:00.455Z", NOON + timedelta(milliseconds=455)),
        ("2026-10-01T12:00:00.455123", NOON + timedelta(microseconds=455123)),
        # digits past microseconds are dropped, not rounded
        ("2026-10-01T12:00:00.455123999Z", NOON + timedelta(microseconds=455123)),
        ("2026-10-01T14:00:00.000000001+02:00", NOON),
        ("2026-10-01", datetime(2026, 10, 1, tzinfo=UTC)),
        ("2026-10-01ß12:00:00", NOON),  # any one separator, as the stdlib allows
    ],
)
def test_parse_time_reads_every_iso_shape_as_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert time_or_none(text) == expected


def test_an_offset_is_converted_to_utc_not_dropped() -> None:
    parsed = parse_time("2026-10-01T23:30:00-05:00")
    assert parsed == datetime(2026, 10, 2, 4, 30, tzinfo=UTC)
    assert (parsed.day, parsed.hour, parsed.tzinfo) == (2, 4, UTC)


@pytest.mark.parametrize("value", [None, 1_759_320_000, 1.5, True, ["2026-10-01"], {}])
def test_parse_time_of_a_non_string_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        parse_time(value)


@pytest.mark.parametrize(
    "text", ["", " ", "yesterday", "2026-13-01T00:00:00Z", "2026-10-01T12:00:00ZZ", "12:00"]
)
def test_parse_time_of_bad_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize("value", [None, ""])
def test_time_or_none_reads_empty_and_null_as_absent(value: Any) -> None:
    assert time_or_none(value) is None


def test_time_or_none_still_rejects_a_wrong_type_or_bad_text() -> None:
    with pytest.raises(TypeError):
        time_or_none(0)
    with pytest.raises(TypeError):
        time_or_none(False)
    with pytest.raises(ValueError):
        time_or_none("not a time")


@pytest.mark.parametrize(("value", "expected"), [("a", "a"), (" ", " "), ("0", "0")])
def test_text_or_none_keeps_text(value: str, expected: str) -> None:
    assert text_or_none(value) == expected


@pytest.mark.parametrize("value", [None, ""])
def test_text_or_none_reads_empty_and_null_as_absent(value: Any) -> None:
    assert text_or_none(value) is None


@pytest.mark.parametrize("value", [0, 12.5, False, True, [], {}, ["a"]])
def test_text_or_none_of_a_non_string_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="expected a string"):
        text_or_none(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ('{"order": 42}', {"order": 42}),
        ("[1, 2]", [1, 2]),
        ("42", 42),
        ("null", None),
        ('"quoted"', "quoted"),
        ("not json", "not json"),
        ("{broken", "{broken"),
        ("", ""),
    ],
)
def test_json_or_text_decodes_once_and_keeps_other_text(text: str | None, expected: Any) -> None:
    assert json_or_text(text) == expected


def test_json_or_text_decodes_only_once() -> None:
    assert json_or_text('"{\\"a\\": 1}"') == '{"a": 1}'


@pytest.mark.parametrize("value", [None, 0, "", "not a time"])
def test_a_bad_required_time_is_one_protocol_error_inside_reading(value: Any) -> None:
    with pytest.raises(UpstreamProtocolError), reading(Provider.VECTARA):
        parse_time(value)
