"""Byte packing for cursors: varints, times as deltas from an anchor, and strings in the
fewest bytes their alphabet allows.

Everything here is exact: a value is written only in a form that reads back to the same value
(the writer checks, and falls back to a wider form). Reading text that was not written here
raises ValueError (or OverflowError for an impossible time): the cursor codec turns both into
the client's error.
"""

from __future__ import annotations

import base64
import functools
import re
import uuid
import zlib
from datetime import UTC, datetime, timedelta

__all__ = ["EPOCH", "Reader", "Writer"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

# A time is a count of one of these units (a 2-bit code), the coarsest that holds it exactly:
# windows are whole seconds or days, vendor times milliseconds or microseconds.
_UNITS = (86_400_000_000, 1_000_000, 1_000, 1)

# How a string is stored (3 bits beside its length): the shortest that fits it exactly. The
# deflated kinds are for vendors' opaque cursors, often base64 of JSON (Samsara's simulator's
# are): raw deflate of their bytes, kept only when shorter; the stream ends itself.
_UTF8, _HEX, _UUID, _B64, _UTF8_DEFLATED, _B64_DEFLATED = range(6)
_DEFLATE_FROM = 24  # bytes: shorter strings never get smaller
_UUID_TEXT = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)  # as str(UUID)
_HEX_TEXT = re.compile(r"(?:[0-9a-f]{2})+")
_B64_TEXT = re.compile(r"[A-Za-z0-9_-]{4,}")


def _unzigzag(n: int) -> int:
    return n // 2 if n % 2 == 0 else -(n + 1) // 2


def micros(moment: datetime) -> int:
    """Microseconds since 1970 of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("a cursor holds aware times only")
    return (moment - EPOCH) // _MICRO


class Writer:
    def __init__(self) -> None:
        self.data = bytearray()

    def raw(self, data: bytes) -> None:
        self.data += data

    def uint(self, value: int) -> None:
        """LEB128: 7 bits a byte, the high bit says more follow."""
        if 0 <= value < 0x80:
            self.data.append(value)
            return
        if value < 0:
            raise ValueError("uint is never negative")
        while value >= 0x80:
            self.data.append((value & 0x7F) | 0x80)
            value >>= 7
        self.data.append(value)

    def time(self, moment: datetime, anchor: int) -> None:
        """`moment` as a signed count of the coarsest exact unit since `anchor` (µs)."""
        delta = micros(moment) - anchor
        code = 0
        while delta % _UNITS[code]:
            code += 1
        count = delta // _UNITS[code]
        self.uint((count * 2 if count >= 0 else -count * 2 - 1) << 2 | code)  # zigzag

    def text(self, value: str) -> None:
        self.data += _packed_text(value)

    def bytes(self) -> bytes:
        return bytes(self.data)


class Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def done(self) -> bool:
        return self._at == len(self._data)

    def byte(self) -> int:
        return self._take(1)[0]

    def uint(self) -> int:
        data, at = self._data, self._at
        value = shift = 0
        while at < len(data):
            part = data[at]
            at += 1
            value |= (part & 0x7F) << shift
            if part < 0x80:
                self._at = at
                return value
            shift += 7
            if shift > 70:  # no count of ours is this long
                break
        raise ValueError("not a varint")

    def time(self, anchor: int) -> datetime:
        header = self.uint()
        delta = _unzigzag(header >> 2) * _UNITS[header & 3]
        return EPOCH + (anchor + delta) * _MICRO

    def text(self) -> str:
        header = self.uint()
        length, kind = header >> 3, header & 7
        if kind == _UUID and length == 0:
            return str(uuid.UUID(bytes=self._take(16)))
        if kind == _HEX and length:
            return self._take(length).hex()
        if kind == _B64:
            return _unpack_b64(self._take(_b64_width(length)), length)
        if kind == _B64_DEFLATED:
            return _unpack_b64(self._inflate(_b64_width(length)), length)
        if kind == _UTF8:
            return self._take(length).decode()
        if kind == _UTF8_DEFLATED:
            return self._inflate(length).decode()
        raise ValueError("unknown string kind")

    def _inflate(self, size: int) -> bytes:
        """`size` bytes from the deflate stream here; reading goes on where the stream ends.
        (Only signed payloads get here, so what a stream inflates to was written by us.)"""
        unpacker = zlib.decompressobj(-15)
        try:
            data = unpacker.decompress(self._data[self._at :])
        except zlib.error as error:
            raise ValueError("not a deflate stream") from error
        if len(data) != size or not unpacker.eof:
            raise ValueError("deflate stream of another length")
        self._at = len(self._data) - len(unpacker.unused_data)
        return data

    def _take(self, count: int) -> bytes:
        end = self._at + count
        if end > len(self._data):
            raise ValueError("cursor cut short")
        chunk = self._data[self._at : end]
        self._at = end
        return chunk


@functools.lru_cache(maxsize=4096)  # agents, vendor cursors: the same on every edge of a page
def _packed_text(value: str) -> bytes:
    """A length (characters; bytes for hex and UTF-8) and a kind, then the packed string."""
    out = Writer()
    if _UUID_TEXT.fullmatch(value):
        out.uint(_UUID)
        out.raw(uuid.UUID(value).bytes)
    elif _HEX_TEXT.fullmatch(value):
        out.uint(len(value) // 2 << 3 | _HEX)  # bytes: the length fits in fewer bits
        out.raw(bytes.fromhex(value))
    elif _B64_TEXT.fullmatch(value):
        # 6 bits a character: base64 of the text padded with "A" (zero bits), cut after them.
        packed = base64.urlsafe_b64decode(value + "A" * (-len(value) % 4))
        _with_length(out, len(value), packed[: _b64_width(len(value))], _B64, _B64_DEFLATED)
    else:
        encoded = value.encode()
        _with_length(out, len(encoded), encoded, _UTF8, _UTF8_DEFLATED)
    return out.bytes()


def _with_length(out: Writer, length: int, data: bytes, plain: int, deflated: int) -> None:
    if len(data) > _DEFLATE_FROM:
        smaller = zlib.compress(data, 9, wbits=-15)
        if len(smaller) < len(data):
            out.uint(length << 3 | deflated)
            out.raw(smaller)
            return
    out.uint(length << 3 | plain)
    out.raw(data)


def _b64_width(length: int) -> int:
    return -(-length * 6 // 8)


def _unpack_b64(data: bytes, length: int) -> str:
    return base64.urlsafe_b64encode(data + b"\0" * (-len(data) % 3))[:length].decode()
