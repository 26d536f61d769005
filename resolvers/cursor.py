"""Opaque, versioned, signed, compact cursors.

A cursor is `base64url(payload || mac)`: the payload is binary (resolvers/packing.py) and the
MAC is HMAC-SHA256 under the deployment's secret over `payload || filter hash`, cut to 12
bytes (96 bits: far beyond forging by guessing). The filter hash (of the filter and the order)
is not stored: a cursor of another filter or order fails the MAC like an edited one does.

The payload holds the version, the order the page was walked in, the window the first page
resolved (so "the last 90 days" does not move under a client paging through it), the edge's
sort key and, per vendor, where to resume: the adapter's native `Position`, `DONE` when that
vendor has nothing left, or nothing for "from the start". Times are deltas from the window's
end in the coarsest exact unit, ids are packed by their alphabet (UUIDs in 16 bytes, hex as
bytes, base64url-like text in 6 bits a character), and each position kind has a tag:

- a keyset position equal to `keyset_after(key, vendor)` (the merge puts one there whenever
  it resumes that vendor exactly as its own position would) is the tag alone;
- keyset keys, Vonage places and stop points, Samsara stream positions and the narrowed window
  are packed field by field, and only when they read back equal to what was given;
- anything else is compact JSON, so every position round-trips exactly.

Any cursor that was not signed by this deployment's secret, was made for another tenant,
filter or order, is of another version, or does not parse is a BAD_USER_INPUT error: nothing a
client writes into a cursor ever reaches a vendor request unsigned.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from providers.errors import UserInputError
from providers.keyset import keyset_after
from providers.query import Position, SortOrder
from providers.records import Provider, SortKey
from resolvers.packing import Reader, Writer, micros

__all__ = ["DONE", "VENDOR_WINDOW", "Cursor", "CursorCodec", "filter_hash"]

VERSION = 3  # 2: JSON; 3: binary, MAC over the filter hash
DONE = "done"  # the vendor's list is exhausted up to and including this edge
# A cursor's entry beside the vendors' positions: the window they were taken in, when a keyset
# resume narrowed it (no provider is spelled with "@").
VENDOR_WINDOW = "@window"
MAC_BYTES = 12

ProviderPositions = dict[str, Position | str | None]

# The vendors have a 4-bit tag each in the header; any other entry (the narrowed window, or a
# name this codec does not know) is an extra: its tag, its name's code, then its body.
_PROVIDERS = tuple(Provider)
_SLOTS = tuple(p.value for p in _PROVIDERS)
_NAMED = (VENDOR_WINDOW,)  # extras named by their index here, others spelled out

# Position tags.
(_ABSENT, _NULL, _DONE, _AT_KEY, _KEYSET, _PLACE, _STOP, _STREAMS, _WINDOW, _JSON) = range(10)
# Samsara's usual position, one stream (up to 100 agents): from its first page, or after a cursor.
_ONE_STREAM_FIRST, _ONE_STREAM_AFTER = 10, 11
# The first byte: the version (3 bits), the order, whether extras follow, the key's provider
# (an index into _PROVIDERS, or one of _KEY_EMPTY, _KEY_TEXT: spelled out after the key's time).
_ASC, _EXTRAS = 0x10, 0x08
_KEY_EMPTY, _KEY_TEXT = len(_PROVIDERS), len(_PROVIDERS) + 1
_KEY_CODES = {**{p.value: i for i, p in enumerate(_PROVIDERS)}, "": _KEY_EMPTY}

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class Cursor:
    order: SortOrder
    filter_hash: str
    window: tuple[datetime, datetime]
    key: SortKey
    positions: ProviderPositions  # provider value → Position | DONE | None


def filter_hash(canonical: Any) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CursorCodec:
    def __init__(self, secret: str, tenant: str = "default") -> None:
        # Each tenant signs with its own key, derived from the deployment's secret: a cursor
        # minted for one tenant fails the MAC for every other, like an edited one.
        key = secret.encode()
        if tenant != "default":
            key = hmac.new(key, f"sessiongraph-tenant:{tenant}".encode(), hashlib.sha256).digest()
        self._secret = key

    def encode(self, cursor: Cursor) -> str:
        payload = _pack(cursor)
        return _b64(payload + self._sign(payload, cursor.filter_hash))

    def decode(self, text: str, *, expected_filter: str, argument: str) -> Cursor:
        bad = UserInputError(
            f"`{argument}` is not a cursor of this query (it may be stale, "
            "edited, or made for another filter or order)"
        )
        if _is_version_2(text):
            raise UserInputError(
                f"`{argument}` is a cursor of an earlier version of this server: "
                "start again from the first page"
            )
        try:
            data = _unb64(text)
        except (ValueError, binascii.Error):
            raise bad from None
        payload, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
        if len(data) <= MAC_BYTES or not hmac.compare_digest(
            mac, self._sign(payload, expected_filter)
        ):
            raise bad
        try:
            return _unpack(payload, expected_filter)
        except (ValueError, KeyError, TypeError, IndexError, OverflowError):
            raise bad from None

    def _sign(self, payload: bytes, fhash: str) -> bytes:
        return hmac.new(self._secret, payload + fhash.encode(), hashlib.sha256).digest()[:MAC_BYTES]


# --- the payload -----------------------------------------------------------------------------


def _pack(cursor: Cursor) -> bytes:
    """version+flags+key provider (1 byte), the vendors' tags (2 bytes), the window's end
    (since 1970) and start, the key's time (from the window's end), agent and id, the vendors'
    bodies in tag order, then the extras."""
    window_after, window_before = cursor.window
    moment, provider, agent, session_id = cursor.key
    anchor = micros(window_before)
    body = Writer()
    body.raw(_packed_window(window_after, window_before))
    body.time(moment, anchor)
    key_code = _key_code(provider)
    if key_code == _KEY_TEXT:
        body.text(provider)
    body.text(agent)
    body.text(session_id)
    # A keyset position equal to `keyset_after(key, ...)` is its tag alone: read back, it is
    # made again from the key (whose time must then be spelled the same way).
    at_key = moment.tzinfo is UTC
    tags = []
    for slot, vendor in zip(_SLOTS, _PROVIDERS, strict=True):
        if slot not in cursor.positions:
            tags.append(_ABSENT)
            continue
        value = cursor.positions[slot]
        if at_key and _is_keyset(value) and value == keyset_after(cursor.key, vendor):
            tags.append(_AT_KEY)
        else:
            tag, packed = _packed(value, anchor)
            tags.append(tag)
            body.raw(packed)
    extras = [name for name in cursor.positions if name not in _SLOTS]
    if extras:
        body.uint(len(extras))
        for name in extras:
            tag, packed = _packed(cursor.positions[name], anchor)
            code = _NAMED.index(name) if name in _NAMED else len(_NAMED)
            body.uint(code << 4 | tag)
            if code == len(_NAMED):
                body.text(name)
            body.raw(packed)
    first = VERSION << 5 | key_code
    first |= (_ASC if cursor.order is SortOrder.OLDEST_FIRST else 0) | (_EXTRAS if extras else 0)
    return bytes([first, tags[0] << 4 | tags[1], tags[2] << 4 | tags[3]]) + body.bytes()


def _unpack(payload: bytes, fhash: str) -> Cursor:
    read = Reader(payload)
    first = read.byte()
    if first >> 5 != VERSION:
        raise ValueError("not a cursor of this version")
    order = SortOrder.OLDEST_FIRST if first & _ASC else SortOrder.NEWEST_FIRST
    key_code = first & 7
    pairs = read.byte(), read.byte()
    tags = [pairs[0] >> 4, pairs[0] & 15, pairs[1] >> 4, pairs[1] & 15]
    window_before = read.time(0)
    anchor = micros(window_before)
    window_after = read.time(anchor)
    moment = read.time(anchor)
    if key_code < len(_PROVIDERS):
        provider = _PROVIDERS[key_code].value
    elif key_code == _KEY_EMPTY:
        provider = ""
    elif key_code == _KEY_TEXT:
        provider = read.text()
    else:
        raise ValueError("unknown key provider")
    key: SortKey = (moment, provider, read.text(), read.text())
    positions: ProviderPositions = {}
    for slot, vendor, tag in zip(_SLOTS, _PROVIDERS, tags, strict=True):
        if tag == _AT_KEY:
            positions[slot] = keyset_after(key, vendor)
        elif tag != _ABSENT:
            positions[slot] = _read_position(read, tag, anchor)
    if first & _EXTRAS:
        for _ in range(read.uint()):
            header = read.uint()
            code, tag = header >> 4, header & 15
            name = _NAMED[code] if code < len(_NAMED) else read.text()
            if name in _SLOTS or name in positions or code > len(_NAMED):
                raise ValueError("an extra entry repeats another")
            positions[name] = _read_position(read, tag, anchor)
    if not read.done:
        raise ValueError("trailing bytes")
    return Cursor(order, fhash, (window_after, window_before), key, positions)


@functools.lru_cache(maxsize=64)  # the same on every edge of a page
def _packed_window(window_after: datetime, window_before: datetime) -> bytes:
    out = Writer()
    out.time(window_before, 0)
    out.time(window_after, micros(window_before))
    return out.bytes()


def _key_code(provider: str) -> int:
    return _KEY_CODES.get(provider, _KEY_TEXT)


# --- positions -------------------------------------------------------------------------------


def _packed(value: Position | str | None, anchor: int) -> tuple[int, bytes]:
    """`value`'s tag and body: the packed form of its kind, else JSON. A kind's writer takes
    only what it reads back equal (exact types, times spelled as it spells them), and raises
    on anything else (tests/resolvers/test_cursor.py checks the round trip)."""
    if value is None:
        return _NULL, b""
    if value == DONE:
        return _DONE, b""
    if isinstance(value, dict | Mapping):  # a dict first: the ABC check is slow
        write = _WRITERS.get(frozenset(value))
        if write is not None:
            body = Writer()
            try:
                return write(body, value, anchor), body.bytes()
            except (ValueError, TypeError):
                pass
    body = Writer()
    body.text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    return _JSON, body.bytes()


def _read_position(read: Reader, tag: int, anchor: int) -> Position | str | None:
    if tag == _NULL:
        return None
    if tag == _DONE:
        return DONE
    if tag == _JSON:
        value = json.loads(read.text())
        if value is None or isinstance(value, str | dict):
            return value
        raise ValueError("not a position")
    reader = _READERS.get(tag)
    if reader is None:
        raise ValueError("unknown position tag")
    return reader(read, anchor)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _aware(text: Any) -> datetime:
    """The aware time `text` spells, when `_iso` spells it the same way."""
    moment = datetime.fromisoformat(_string(text))
    if moment.tzinfo is None or _iso(moment) != text:
        raise ValueError("not a time as a cursor spells it")
    return moment


def _string(value: Any) -> str:
    if type(value) is not str:
        raise TypeError("not a string")
    return value


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:  # not a bool either: it would read back an int
        raise TypeError("not a count")
    return value


def _list(value: Any, length: int) -> list[Any]:
    if type(value) is not list or len(value) != length:
        raise TypeError(f"not a list of {length}")
    return value


def _is_keyset(value: Any) -> bool:
    return isinstance(value, dict | Mapping) and len(value) == 1 and "key" in value


def _write_keyset(out: Writer, value: Mapping[str, Any], anchor: int) -> int:
    started_at, agent, session_id = _list(value["key"], 3)
    out.time(_aware(started_at), anchor)
    out.text(_string(agent))
    out.text(_string(session_id))
    return _KEYSET


def _read_keyset(read: Reader, anchor: int) -> Position:
    return {"key": [_iso(read.time(anchor)), read.text(), read.text()]}


# Vonage's slice keys are its own time format, naive UTC with microseconds.
def _write_slice(out: Writer, text: Any, anchor: int) -> None:
    out.raw(_packed_slice(_string(text), anchor))


@functools.lru_cache(maxsize=256)  # a page's edges share a few slices
def _packed_slice(text: str, anchor: int) -> bytes:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None or moment.isoformat(timespec="microseconds") != text:
        raise ValueError("not a slice key as Vonage spells it")
    out = Writer()
    out.time(moment.replace(tzinfo=UTC), anchor)
    return out.bytes()


def _read_slice(read: Reader, anchor: int) -> str:
    return read.time(anchor).replace(tzinfo=None).isoformat(timespec="microseconds")


def _write_place(out: Writer, value: Mapping[str, Any], anchor: int) -> int:
    _write_slice(out, value["slice"], anchor)
    for name in ("page", "size", "index"):
        out.uint(_count(value[name]))
    return _PLACE


def _read_place(read: Reader, anchor: int) -> Position:
    slice_key = _read_slice(read, anchor)
    return {"slice": slice_key, "page": read.uint(), "size": read.uint(), "index": read.uint()}


def _write_stop(out: Writer, value: Mapping[str, Any], anchor: int) -> int:
    _write_slice(out, value["slice"], anchor)
    out.uint(_count(value["offset"]))
    return _STOP


def _read_stop(read: Reader, anchor: int) -> Position:
    return {"slice": _read_slice(read, anchor), "offset": read.uint()}


# A Samsara stream: None once done, else [the vendor's `after` cursor or None, consumed].
_STREAM_DONE, _STREAM_FIRST, _STREAM_AFTER = 0, 1, 2


def _write_streams(out: Writer, value: Mapping[str, Any], anchor: int) -> int:
    streams = value["streams"]
    if type(streams) is not list:
        raise TypeError("not a list of streams")
    if len(streams) == 1 and streams[0] is not None:
        after, consumed = _list(streams[0], 2)
        out.uint(_count(consumed))
        if after is None:
            return _ONE_STREAM_FIRST
        out.text(_string(after))
        return _ONE_STREAM_AFTER
    out.uint(len(streams))
    for stream in streams:
        if stream is None:
            out.uint(_STREAM_DONE)
            continue
        after, consumed = _list(stream, 2)
        out.uint(_count(consumed) << 2 | (_STREAM_FIRST if after is None else _STREAM_AFTER))
        if after is not None:
            out.text(_string(after))
    return _STREAMS


def _read_one_stream_first(read: Reader, anchor: int) -> Position:
    return {"streams": [[None, read.uint()]]}


def _read_one_stream_after(read: Reader, anchor: int) -> Position:
    consumed = read.uint()
    return {"streams": [[read.text(), consumed]]}


def _read_streams(read: Reader, anchor: int) -> Position:
    streams: list[Any] = []
    for _ in range(read.uint()):
        header = read.uint()
        consumed, kind = header >> 2, header & 3
        if kind == _STREAM_DONE and consumed == 0:
            streams.append(None)
        elif kind == _STREAM_FIRST:
            streams.append([None, consumed])
        elif kind == _STREAM_AFTER:
            streams.append([read.text(), consumed])
        else:
            raise ValueError("unknown stream kind")
    return {"streams": streams}


def _write_window(out: Writer, value: Mapping[str, Any], anchor: int) -> int:
    out.time(_aware(value["after"]), anchor)
    out.time(_aware(value["before"]), anchor)
    return _WINDOW


def _read_window(read: Reader, anchor: int) -> Position:
    return {"after": _iso(read.time(anchor)), "before": _iso(read.time(anchor))}


_Write = Callable[[Writer, Mapping[str, Any], int], int]  # → the tag it wrote the body of
_Read = Callable[[Reader, int], Position]
# A position's kind by its keys, and how each tag is read back.
_WRITERS: dict[frozenset[str], _Write] = {
    frozenset({"key"}): _write_keyset,
    frozenset({"slice", "page", "size", "index"}): _write_place,
    frozenset({"slice", "offset"}): _write_stop,
    frozenset({"streams"}): _write_streams,
    frozenset({"after", "before"}): _write_window,
}
_READERS: dict[int, _Read] = {
    _KEYSET: _read_keyset,
    _PLACE: _read_place,
    _STOP: _read_stop,
    _STREAMS: _read_streams,
    _ONE_STREAM_FIRST: _read_one_stream_first,
    _ONE_STREAM_AFTER: _read_one_stream_after,
    _WINDOW: _read_window,
}


# --- text --------------------------------------------------------------------------------------


def _is_version_2(text: str) -> bool:
    """A version-2 cursor: base64url(JSON with "v") "." signature. Said apart from garbage so
    the client learns why (whether it was signed does not matter: it is refused either way)."""
    head, dot, _ = text.partition(".")
    if not dot:
        return False
    try:
        body = json.loads(_unb64(head))
    except (ValueError, binascii.Error):
        return False
    return isinstance(body, dict) and "v" in body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: only the alphabet, and only the one spelling `_b64` gives (the unused low bits
    of the last character are zero), so no edit of the text passes as the same cursor."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical spelling")
    return data
