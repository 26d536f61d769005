"""Compact cursors: every position kind round-trips exactly, any edit or foreign cursor is the
client's error, and the positions a cursor stores as a tag resume exactly where they should."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
import zlib
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


# --- near misses: stored as JSON, still exact ----------------------------------------------------

T = "2026-09-09T06:41:12.830000+00:00"


@pytest.mark.parametrize(
    "position",
    [
        {"key": ["not a time", "a", "b"]},
        {"key": [T, 1, "b"]},  # not a string
        {"key": [T, "a"]},  # not three
        {"key": ["2026-09-09T08:41:12.830000+02:00", "a", "b"]},  # not spelled in UTC
        {"key": ["2026-09-09T06:41:12.830000", "a", "b"]},  # naive
        {"slice": "2026-09-02T00:00:01", "page": 0, "size": 5, "index": 1},  # no microseconds
        {"slice": "2026-09-02T00:00:01.000000+00:00", "offset": 3},  # aware
        {"slice": "2026-09-02T00:00:01.000000", "page": True, "size": 5, "index": 1},  # a bool
        {"slice": "2026-09-02T00:00:01.000000", "offset": -1},
        {"streams": "all"},
        {"streams": [[None, 1, 2]]},
        {"streams": [None, [None, -1]]},
        {"streams": [[7, 1]]},
        {"after": T, "before": "later"},
        {"streams": [None, [None, 0], ["WzE1MCwy", 3]]},  # several streams: packed
        {"streams": []},
    ],
)
def test_a_position_that_is_almost_of_a_kind_round_trips(position: dict[str, Any]) -> None:
    cursor = Cursor(SortOrder.OLDEST_FIRST, FILTER, WINDOW, KEY, {"vonage": position})
    assert CODEC.decode(CODEC.encode(cursor), expected_filter=FILTER, argument="a") == cursor


def test_compressible_strings_are_deflated() -> None:
    for value in (
        "A" * 200,
        "x y " * 50,
        "WzE1MCwyLCJmYmQxYzY1NDUyNjIyNDk5IiwxNzkzNDkxMjAxMDAwLDE3OTM0OTEyMjRd",
    ):
        out = Writer()
        out.text(value)
        assert len(out.bytes()) < len(value) * 3 / 4
        assert Reader(out.bytes()).text() == value


# --- payloads signed with the secret that this version never writes -------------------------------


def signed(payload: bytes) -> str:
    """The documented format: base64url(payload || HMAC-SHA256(secret, payload || filter)[:12])."""
    mac = hmac.new(b"secret", payload + FILTER.encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


def head(tags: tuple[int, int, int, int] = (0, 0, 0, 0), flags: int = 0) -> Writer:
    """Version 3, the key of vonage, the given tags, the window and key of TYPICAL."""
    out = Writer()
    out.raw(bytes([3 << 5 | flags | 3, tags[0] << 4 | tags[1], tags[2] << 4 | tags[3]]))
    anchor = 1793491201 * 10**6  # WINDOW's end
    out.time(WINDOW[1], 0)
    out.time(WINDOW[0], anchor)
    out.time(KEY[0], anchor)
    out.text(KEY[2])
    out.text(KEY[3])
    return out


def test_the_forging_helper_writes_what_the_codec_reads() -> None:
    made = CODEC.decode(signed(head().bytes()), expected_filter=FILTER, argument="a")
    assert made == Cursor(SortOrder.NEWEST_FIRST, FILTER, WINDOW, (KEY[0], "vonage", *KEY[2:]), {})


def unreadable_payloads() -> list[bytes]:
    json_list = head((9, 0, 0, 0))
    json_list.text("[1]")  # JSON, but not a position
    stream_kind = head((7, 0, 0, 0))
    stream_kind.raw(bytes([1, 1 << 2 | 3]))  # one stream of kind 3
    text_kind = head((11, 0, 0, 0))
    text_kind.raw(bytes([0, 7]))  # consumed 0, a string of kind 7
    not_deflate = head((11, 0, 0, 0))
    not_deflate.raw(bytes([0, 4 << 3 | 5, 0xFF, 0xFF, 0xFF]))
    short_deflate = head((11, 0, 0, 0))
    short_deflate.uint(0)
    short_deflate.uint(40 << 3 | 5)  # 40 bytes said, 3 inflated
    short_deflate.raw(zlib.compress(b"abc", 9, wbits=-15))
    repeated = head(flags=0x08)
    repeated.raw(bytes([2, 0 << 4 | 1, 0 << 4 | 1]))  # "@window" twice, null
    named_slot = head(flags=0x08)
    named_slot.raw(bytes([1, 1 << 4 | 1]))
    named_slot.text("vonage")  # an extra named like a vendor's slot
    long_varint = head((11, 0, 0, 0))
    long_varint.raw(b"\xff" * 12 + b"\x01")
    return [
        w.bytes() for w in (json_list, stream_kind, text_kind, not_deflate, short_deflate, repeated)
    ] + [named_slot.bytes(), long_varint.bytes()]


@pytest.mark.parametrize("payload", unreadable_payloads())
def test_a_signed_payload_this_version_never_writes_is_refused(payload: bytes) -> None:
    with pytest.raises(UserInputError, match="not a cursor of this query"):
        CODEC.decode(signed(payload), expected_filter=FILTER, argument="after")


def test_packing_refuses_what_it_cannot_hold() -> None:
    with pytest.raises(ValueError, match="aware"):
        Writer().time(datetime(2026, 1, 1), 0)
    with pytest.raises(ValueError, match="negative"):
        Writer().uint(-1)
    with pytest.raises(ValueError, match="cut short"):
        Reader(bytes([2 << 3])).text()  # 2 bytes of UTF-8 said, none there
