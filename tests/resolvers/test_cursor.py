"""Compact cursors: every position kind round-trips exactly, any edit or foreign cursor is the
client's error, and the positions a cursor stores as a tag resume exactly where they should."""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.errors import UserInputError
from providers.keyset import keyset_after, read_keyset
from providers.query import SortOrder
from providers.records import Provider, SortKey
from resolvers.cursor import DONE, VENDOR_WINDOW, Cursor, CursorCodec
from resolvers.packing import Reader, Writer

FILTER = "0123456789abcdef"
CODEC = CursorCodec("secret")
B64 = string.ascii_letters + string.digits + "-_"

zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)
utc_moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
texts = st.one_of(
    st.uuids().map(str),
    st.text(alphabet="0123456789abcdef", max_size=40),
    st.text(alphabet=B64, max_size=120),
    st.text(max_size=30),
)
providers = st.one_of(st.sampled_from([p.value for p in Provider]), st.just(""), texts)
keys = st.tuples(utc_moments | moments, providers, texts, texts)
counts = st.integers(0, 2**70)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def iso(moment: datetime) -> str:
    return moment.isoformat()


positions = st.one_of(
    st.none(),
    st.just(DONE),
    st.text(max_size=8),
    st.builds(lambda t, a, i: {"key": [iso(t), a, i]}, moments, texts, texts),
    st.builds(
        lambda t, page, size, index: {"slice": t, "page": page, "size": size, "index": index},
        utc_moments.map(lambda t: t.replace(tzinfo=None).isoformat(timespec="microseconds")),
        counts,
        counts,
        counts,
    ),
    st.builds(
        lambda t, offset: {"slice": t, "offset": offset},
        utc_moments.map(lambda t: t.replace(tzinfo=None).isoformat(timespec="microseconds")),
        counts,
    ),
    st.builds(
        lambda streams: {"streams": streams},
        st.lists(st.none() | st.tuples(st.none() | texts, counts).map(list), max_size=3),
    ),
    st.builds(lambda a, b: {"after": iso(a), "before": iso(b)}, moments, moments),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
)
names = st.sampled_from([*(p.value for p in Provider), VENDOR_WINDOW]) | st.text(max_size=8)


@st.composite
def cursors(draw: st.DrawFn) -> Cursor:
    key: SortKey = draw(keys)
    entries: dict[str, Any] = draw(st.dictionaries(names, positions, max_size=6))
    for provider in Provider:  # the positions the merge derives from the key
        if draw(st.booleans()):
            entries[provider.value] = keyset_after(key, provider)
    return Cursor(
        order=draw(st.sampled_from(list(SortOrder))),
        filter_hash=FILTER,
        window=(draw(moments), draw(moments)),
        key=key,
        positions=entries,
    )


@settings(max_examples=400, deadline=None)
@given(cursors())
def test_every_cursor_round_trips_exactly(cursor: Cursor) -> None:
    text = CODEC.encode(cursor)
    assert set(text) <= set(B64)
    assert CODEC.decode(text, expected_filter=FILTER, argument="after") == cursor


@settings(max_examples=300, deadline=None)
@given(texts | st.text())
def test_strings_pack_exactly(value: str) -> None:
    out = Writer()
    out.text(value)
    out.text("after")
    read = Reader(out.bytes())
    assert (read.text(), read.text(), read.done) == (value, "after", True)


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(-(2**62), 2**62))
def test_times_pack_exactly(moment: datetime, anchor: int) -> None:
    out = Writer()
    out.time(moment, anchor)
    assert Reader(out.bytes()).time(anchor) == moment


def test_ids_take_the_bytes_their_alphabet_needs() -> None:
    for value, size in (
        ("a8d332df-f0fa-422d-9743-48c5d6557711", 1 + 16),  # a UUID
        ("cbcb21fa829af63d476a7d8c", 1 + 12),  # hex
        ("ase_Webcz2qHee4Q", 2 + 12),  # 6 bits a character (16 of them: a 2-byte length)
        ("support primary", 1 + 15),  # UTF-8
    ):
        out = Writer()
        out.text(value)
        assert len(out.bytes()) == size, value


# --- a typical cursor, and what the client may do to it ---------------------------------------

WINDOW = (datetime(2026, 8, 3, 0, 0, 1, tzinfo=UTC), datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC))
KEY: SortKey = (
    datetime(2026, 9, 9, 6, 41, 12, 830000, tzinfo=UTC),
    "samsara",
    "8534f56b-a8c5-409c-b968-81533393c5f2",
    "28a26ea9-66a5-4e64-99ac-197d3aa2d95b",
)
SAMSARA_AFTER = "WzE1MCwyLCJmYmQxYzY1NDUyNjIyNDk5IiwxNzkzNDkxMjAxMDAwLDE3OTM0OTEyMjRd"
TYPICAL = Cursor(
    SortOrder.NEWEST_FIRST,
    FILTER,
    WINDOW,
    KEY,
    {
        "samsara": {"streams": [[SAMSARA_AFTER, 32]]},
        "stateset": keyset_after(KEY, Provider.STATESET),
        "vectara": keyset_after(KEY, Provider.VECTARA),
        "vonage": {"slice": "2026-09-02T00:00:01.000000", "page": 3, "size": 56, "index": 3},
    },
)


def test_a_cursor_of_all_four_vendors_with_a_samsara_cursor_fits_in_160_characters() -> None:
    # The demo's longest: a Samsara stream cursor of 68 characters (the simulator's) and UUIDs.
    assert len(CODEC.encode(TYPICAL)) <= 160


def test_any_edited_byte_or_character_is_refused() -> None:
    text = CODEC.encode(TYPICAL)
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    edits = []
    for at in range(len(data)):
        for bit in (0x01, 0x80):
            changed = data[:at] + bytes([data[at] ^ bit]) + data[at + 1 :]
            edits.append(base64.urlsafe_b64encode(changed).rstrip(b"=").decode())
    for at in range(len(text)):
        for char in B64:
            if char != text[at]:
                edits.append(text[:at] + char + text[at + 1 :])
    edits += [text + "A", text[:-1], "A" + text, text + "=", text.replace(text[5], "+", 1), ""]
    for edited in edits:
        with pytest.raises(UserInputError, match="not a cursor of this query"):
            CODEC.decode(edited, expected_filter=FILTER, argument="after")


def test_a_cursor_of_another_filter_or_secret_is_refused() -> None:
    text = CODEC.encode(TYPICAL)
    with pytest.raises(UserInputError, match="not a cursor of this query"):
        CODEC.decode(text, expected_filter="fedcba9876543210", argument="after")
    with pytest.raises(UserInputError, match="`before` is not a cursor of this query"):
        CursorCodec("other").decode(text, expected_filter=FILTER, argument="before")


def test_a_version_2_cursor_says_so() -> None:
    old = (
        base64.urlsafe_b64encode(b'{"v":2,"o":"desc","f":"0123456789abcdef"}').rstrip(b"=")
        + b".c2lnbmF0dXJl"
    ).decode()
    with pytest.raises(UserInputError, match="an earlier version of this server"):
        CODEC.decode(old, expected_filter=FILTER, argument="after")
    with pytest.raises(UserInputError, match="not a cursor of this query"):
        CODEC.decode("bm90LWpzb24.c2ln", expected_filter=FILTER, argument="after")


def test_a_position_derived_from_the_key_is_stored_as_a_tag() -> None:
    explicit = {
        **TYPICAL.positions,
        "stateset": {"key": ["2026-09-09T06:41:12.830001+00:00", "", ""]},
        "vectara": {"key": ["2026-09-09T06:41:12.830001+00:00", "", ""]},
    }
    derived = len(CODEC.encode(TYPICAL))
    stored = len(CODEC.encode(Cursor(*_fields(TYPICAL)[:4], explicit)))  # type: ignore[arg-type]
    assert stored - derived >= 8  # two keys of 1 + 5 + 1 + 1 bytes, at least


def _fields(cursor: Cursor) -> tuple[Any, ...]:
    return (cursor.order, cursor.filter_hash, cursor.window, cursor.key, cursor.positions)


# --- keyset_after: the position a vendor resumes from after a merged key -------------------------

sort_times = st.sampled_from(
    [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=n) for n in (0, 1, 2, 999_999)]
)
vendors = st.sampled_from(list(Provider))
short = st.sampled_from(["", "a", "b", "zz"])
records = st.tuples(sort_times, st.sampled_from(["", "a", "b"]), st.sampled_from(["1", "2", "x"]))


@settings(max_examples=500, deadline=None)
@given(
    st.tuples(sort_times, st.sampled_from([""] + [p.value for p in Provider]), short, short),
    vendors,
    st.lists(records, max_size=6),
    st.sampled_from(list(SortOrder)),
)
def test_a_vendor_resumed_after_the_key_skips_exactly_what_the_key_does(
    key: SortKey, vendor: Provider, sessions: list[tuple[datetime, str, str]], order: SortOrder
) -> None:
    resumed = read_keyset(vendor, keyset_after(key, vendor))
    assert resumed is not None
    for moment, agent, session_id in sessions:
        full = (moment, vendor.value, agent, session_id)
        # The oracle: plain tuple order, newest first the reverse of oldest first.
        after_key = full > key if order is SortOrder.OLDEST_FIRST else full < key
        after_resumed = full > resumed if order is SortOrder.OLDEST_FIRST else full < resumed
        assert after_key == after_resumed, (full, key, resumed)
