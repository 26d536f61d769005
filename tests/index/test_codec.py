"""The stored form of a record and its search columns, written out by hand."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from index import codec
from providers.records import SessionDetails, Tag
from tests.index.factory import record, said


def test_search_columns() -> None:
    tagged = record("a", tags=(Tag("Billing"), Tag("50%|x"), Tag("billing")))
    assert codec.tags_field(tagged) == "|50%25%7Cx|billing|"
    assert codec.tag_token("BILLING") == "|billing|"
    assert codec.tags_field(record("b")) == ""
    spoken = record("c", details=said("It's my user_name,", "IT'S ok 42"))
    assert codec.words_field(spoken) == " 42 it's my ok user_name "
    assert codec.words_field(record("d", details=SessionDetails())) == " "
    assert codec.words_field(record("e")) is None
    assert codec.phone_field("+1 (555) 010") == "1555010"
    assert codec.phone_field(None) == ""


def test_times_are_microseconds_since_the_epoch() -> None:
    assert codec.micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    assert codec.micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
    assert codec.from_micros(-1) == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_a_record_encodes_to_json_and_back() -> None:
    full = record("a", agent_id="ag", tags=(Tag("x", "c", 2),), metadata={"k": [1, {"z": None}]})
    data = codec.encode_record(full)
    assert zlib.decompress(data).startswith(b'{"provider":"stateset","id":"a"')
    assert codec.decode_record(data) == full
