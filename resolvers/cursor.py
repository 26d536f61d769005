"""Opaque, versioned, signed cursors.

A cursor is `base64url(json) + "." + base64url(hmac-sha256[:16])`. The JSON holds the cursor
version, the order, the hash of the filter it was made for, the window the first page resolved
(so "the last 90 days" does not move under a client paging through it), the edge's sort key and,
per vendor, where to resume: the adapter's native `Position`, `DONE` when that vendor has nothing
left, or null for "from the start". Any cursor that was not signed by this deployment's secret,
was made for another filter or order, or does not parse is a BAD_USER_INPUT error: nothing a
client writes into a cursor ever reaches a vendor request unsigned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from providers.errors import UserInputError
from providers.query import Position, SortOrder
from providers.records import SortKey

__all__ = ["DONE", "Cursor", "CursorCodec", "filter_hash"]

VERSION = 2  # 2: keyset positions are {"key": [...]} for every adapter
DONE = "done"  # the vendor's list is exhausted up to and including this edge

ProviderPositions = dict[str, Position | str | None]


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
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def encode(self, cursor: Cursor) -> str:
        body = {
            "v": VERSION,
            "o": cursor.order.value,
            "f": cursor.filter_hash,
            "w": [cursor.window[0].isoformat(), cursor.window[1].isoformat()],
            "k": [cursor.key[0].isoformat(), *cursor.key[1:]],
            "p": cursor.positions,
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, text: str, *, expected_filter: str, argument: str) -> Cursor:
        bad = UserInputError(
            f"`{argument}` is not a cursor of this query (it may be stale, "
            "edited, or made for another filter or order)"
        )
        try:
            payload_text, signature_text = text.split(".", 1)
            payload = _unb64(payload_text)
            if not hmac.compare_digest(_unb64(signature_text), self._sign(payload)):
                raise bad
            body = json.loads(payload)
            if body["v"] != VERSION:
                raise bad
            cursor = Cursor(
                order=SortOrder(body["o"]),
                filter_hash=str(body["f"]),
                window=(datetime.fromisoformat(body["w"][0]), datetime.fromisoformat(body["w"][1])),
                key=(datetime.fromisoformat(body["k"][0]), *map(str, body["k"][1:4])),  # type: ignore[arg-type]
                positions=dict(body["p"]),
            )
        except UserInputError:
            raise
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
            raise bad from None
        if cursor.filter_hash != expected_filter:
            raise bad
        return cursor

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
