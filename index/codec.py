"""How a `SessionRecord` is stored in the index: the whole record as msgspec JSON (deflated),
plus the columns that ordering and filters read, each derived here so that the filters in SQL ask
exactly what `providers.query.matches` asks of the record."""

from __future__ import annotations

import functools
import zlib
from datetime import UTC, datetime, timedelta

import msgspec

from providers.query import digits, words
from providers.records import SessionRecord

__all__ = [
    "CorruptRecordError",
    "decode_record",
    "encode_record",
    "from_micros",
    "micros",
    "phone_field",
    "tag_token",
    "tags_field",
    "word_token",
    "words_field",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SessionRecord)


def encode_record(record: SessionRecord) -> bytes:
    """msgspec JSON, deflated (level 1: ~40 µs a record): transcripts shrink 2-3 times, and
    so does an SQLite index, which has no compression of its own."""
    return zlib.compress(_encoder.encode(record), 1)


class CorruptRecordError(Exception):
    """A stored record that does not decode (a file written by another layout, or damaged)."""


@functools.lru_cache(maxsize=4096)
def decode_record(data: bytes) -> SessionRecord:
    """The record stored as `data`. Kept by content (records are immutable): a page read again
    costs a hash of its bytes per row instead of inflating and decoding each (~50 µs a record
    with its transcript); a row the sync rewrote has other bytes, so nothing is ever stale.
    4096 records: a few tens of MiB at most."""
    try:
        return _decoder.decode(zlib.decompress(data))
    except (zlib.error, msgspec.DecodeError) as exc:
        raise CorruptRecordError(str(exc)) from exc


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: exact, and ordered the same way on every backend (a
    timestamp column would round on one and carry a time zone on the other)."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def tag_token(name: str) -> str:
    """One tag as it is found in `tags_field`: lowercased (tags match case-insensitively), with
    `%` and the separator `|` percent-encoded, so a token holds no separator and `|token|` occurs
    in the field only where that exact tag is."""
    return "|" + name.lower().replace("%", "%25").replace("|", "%7C") + "|"


def tags_field(record: SessionRecord) -> str:
    """`|a|b|`: every tag name of the record, lowercased and encoded (`""` without tags)."""
    names = sorted({tag_token(tag.name)[1:-1] for tag in record.tags})
    return "|" + "|".join(names) + "|" if names else ""


def word_token(word: str) -> str:
    """One word as it is found in `words_field` (words hold no space: `[\\w']+`, lowercased)."""
    return f" {word} "


def words_field(record: SessionRecord) -> str | None:
    """` w1 w2 `: the set of words of the transcript, as `providers.query.words` splits them;
    None without details (a text filter then never matches, as in `matches`)."""
    if record.details is None:
        return None
    # One pass over the whole transcript: no word spans a line break, so the words are those
    # of each turn (the one split the sync pays for every record it writes).
    spoken = sorted(set(words("\n".join(turn.text for turn in record.details.transcript))))
    return " " + " ".join(spoken) + " " if spoken else " "


def phone_field(phone: str | None) -> str:
    return digits(phone or "")
