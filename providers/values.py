"""Reading the scalar values of vendor JSON, shared by the vendor mapping modules.

Every vendor sends both `""` and null for "absent", and times in several ISO 8601 / RFC 3339
shapes: `Z` or an offset, lower-case `t`/`z`, milliseconds, microseconds or nanoseconds, or no
offset at all (meaning UTC). These small typed functions read such values the same way for every
vendor; what only one vendor does (its number rules, its own time format) stays in its mapping.

A value of the wrong type raises TypeError and bad text raises ValueError: callers run inside
`providers.transport.reading`, which turns both into one UpstreamProtocolError.
`__all__` is deliberate: it is the whole shared vocabulary; add only what two vendors need.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = ["json_or_text", "parse_time", "text_or_none", "texts_or_none", "time_or_none"]

# RFC 3339 allows `t` and `z` in lower case, which `datetime.fromisoformat` rejects. Only ASCII
# letters are upper-cased: `str.upper` would also turn a separator such as "ß" into two letters.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_decode_json = msgspec.json.Decoder().decode


def text_or_none(value: object) -> str | None:
    """A string field: `""` and null both mean absent; any other non-string is a TypeError."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def texts_or_none(doc: Mapping[str, Any], names: Iterable[str]) -> list[str | None]:
    """`text_or_none` of the fields `names` of `doc`, in one call: a record reads ten of them,
    and a Python call costs more than the check."""
    found: list[str | None] = []
    for name in names:
        value = doc.get(name)
        if value is None or value == "":
            found.append(None)
        elif isinstance(value, str):
            found.append(value)
        else:
            raise TypeError(f"expected a string, got {type(value).__name__}")
    return found


def parse_time(value: object) -> datetime:
    """A required time: ISO 8601 / RFC 3339 → aware UTC. No offset is read as UTC; digits past
    microseconds are dropped. Not a string (null included): TypeError; `""` or bad text:
    ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"expected a time string, got {type(value).__name__}")
    moment = time_or_none(value)
    if moment is None:
        raise ValueError("an empty time")
    return moment


def time_or_none(value: object) -> datetime | None:
    """An optional time: `""` and null are None, anything else reads as `parse_time`. (The
    reading itself is here: times of turns and tool calls are optional, and the hottest.)"""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a time string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:  # rare: a lower-case `t`/`z` (translating every time costs a scan)
        parsed = datetime.fromisoformat(value.translate(_ASCII_UPPER))
    zone = parsed.tzinfo
    if zone is UTC:  # `Z` and `+00:00`, most times: already what `astimezone` would return
        return parsed
    if zone is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def json_or_text(text: str | None) -> Any:
    """A JSON document sent as a string, decoded once; text that is not JSON is kept as it came
    (a vendor may send either in the same field)."""
    if text is None:
        return None
    try:
        # msgspec: ~4 times faster than json on small documents, and the same values (big
        # ints exact; orjson would turn them into floats)...
        return _decode_json(text)
    except ValueError:
        pass
    try:
        return json.loads(text)  # ...but json also reads NaN and Infinity, which msgspec refuses
    except ValueError:
        return text
