"""What a `viewer` may read of a session: every phone number it could carry replaced by a keyed
pseudonym, and no recording. `reviewer` and `admin` read records as they are.

A pseudonym is `phone:` and 12 hex digits of an HMAC of the number in E.164, keyed per tenant
from the deployment's secret: the same number reads the same everywhere in a tenant's answers
(however the vendor wrote it), differently in another tenant's, and cannot be turned back into
the number without the secret. Numbers in free text are found by libphonenumber's matcher
(`phonenumbers`), at its most lenient level: the demo's 555-01xx numbers and vendors' odd
area codes are not "valid", and over-redaction is better than a leak.

Field by field (README, Redaction, says the same):

    caller, callee               a whole value that is a number: its pseudonym; else as text
    title, summary               text
    tags (name, category)        text
    parameters (name, value)     text; the entity type is kept
    metadata                     JSON (below)
    transcript turns             text and raw speaker as text
    tool calls                   arguments and output as JSON, name and error as text; id kept
    flow steps                   URL and tags as text; node, type and request ids kept
    recording                    null
    ids, times, statuses, agent  kept: they name things, and loading details needs them

Text: every number the matcher finds is replaced in place. A digit run inside a long
hexadecimal identifier (`3f9a…1234567890ab`) is part of that identifier, not a number.
JSON: strings as text and dict keys too, integers of 7 to 15 digits as numbers, walked to
`MAX_JSON_DEPTH`; anything deeper is replaced whole.

Records are shared by caches across requests: a redacted record is always a new copy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumber, PhoneNumberMatcher

from providers.errors import ForbiddenError
from providers.records import (
    DeferredDetails,
    FlowStep,
    Parameter,
    SessionDetails,
    SessionRecord,
    Tag,
    ToolCall,
    TranscriptTurn,
    evolve,
)
from resolvers.filters import SessionFilterSpec

__all__ = [
    "DEFAULT_PHONE_REGION",
    "MAX_JSON_DEPTH",
    "PHONE_REGIONS",
    "PSEUDONYM_PREFIX",
    "TOO_DEEP",
    "Redactor",
]

DEFAULT_PHONE_REGION = "US"
PHONE_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
PSEUDONYM_PREFIX = "phone:"
PSEUDONYM_HEX = 12  # 48 bits: two numbers of one tenant share one after ~16 million numbers
MAX_JSON_DEPTH = 32
TOO_DEEP = "redacted:too-deep"  # what stands for JSON nested deeper than MAX_JSON_DEPTH
# Texts remembered per tenant (transcripts repeat across pages and requests), each at most
# CACHED_TEXT characters: the cache's size is bounded in bytes, not only in entries.
TEXT_CACHE = 16_384
CACHED_TEXT = 2048

# No phone number has fewer digits: a text with fewer is not looked at (most are not).
_MIN_DIGITS = 7
_DIGIT = re.compile(r"\d")
# A whole value that is a time, as vendors write them in metadata: never a number (the matcher
# rejects them too, at 150 µs each: half of a Samsara page's redaction).
_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"
)
# A whole value that is only a number, however punctuated (caller, callee, a JSON integer).
_ONLY_A_NUMBER = re.compile(r"\+?[\d\s().\-/]+")
# A run of letters and digits around a match: an identifier when it is hexadecimal, long, and
# has letters (`3f9a1c2b7d4e…`), or the match is no number of it.
_TOKEN_CHAR = re.compile(r"[0-9A-Za-z]")
_HEX_ID = re.compile(r"(?=.*[A-Fa-f])[0-9A-Fa-f]{12,}")
_URL_PLUS = "%2b"  # a URL-encoded `+`: the number after it starts there


class Redactor:
    """One tenant's redaction: `redactor(record)` is the copy a viewer reads."""

    def __init__(
        self,
        secret: str,
        tenant: str,
        region: str = DEFAULT_PHONE_REGION,
        cache_size: int = TEXT_CACHE,
    ) -> None:
        if region not in PHONE_REGIONS:
            raise ValueError(f"unknown phone region {region!r}")
        # Its own key: not the cursors' (the same secret, another purpose, another tenant).
        label = f"sessiongraph-phone-pseudonym:{tenant}".encode()
        self._key = hmac.new(secret.encode(), label, hashlib.sha256).digest()
        self.region = region
        self._cached_text: Callable[[str], str] = lru_cache(maxsize=cache_size)(self._text)
        self._whole: Callable[[str], str | None] = lru_cache(maxsize=cache_size)(self._whole_number)

    # --- numbers and text ------------------------------------------------------------------

    def pseudonym(self, e164: str) -> str:
        digest = hmac.new(self._key, e164.encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX]

    def _numbers(self, text: str) -> list[tuple[int, int, PhoneNumber]]:
        """The numbers in `text`: (start, end, number), in order."""
        if len(_DIGIT.findall(text)) < _MIN_DIGITS or _TIMESTAMP.fullmatch(text):
            return []
        found = []
        for match in PhoneNumberMatcher(text, self.region, leniency=Leniency.POSSIBLE):
            if not _inside_identifier(text, match.start, match.end):
                found.append((match.start, match.end, match.number))
        return found

    def text(self, text: str) -> str:
        """`text` with every number in it replaced by its pseudonym."""
        return self._cached_text(text) if len(text) <= CACHED_TEXT else self._text(text)

    def _text(self, text: str) -> str:
        numbers = self._numbers(text)
        if not numbers:
            return text
        parts, at = [], 0
        for start, end, number in numbers:
            parts += [text[at:start], self.pseudonym(_e164(number))]
            at = end
        parts.append(text[at:])
        return "".join(parts)

    def finds_number(self, text: str) -> bool:
        return bool(self._numbers(text))

    def party(self, value: str | None) -> str | None:
        """A caller or callee: a number however written (Vonage's are bare digits), or a name."""
        if value is None:
            return None
        whole = self._whole(value)
        return whole if whole is not None else self.text(value)

    def _whole_number(self, value: str) -> str | None:
        """The pseudonym of `value` when it is nothing but a number."""
        if not _ONLY_A_NUMBER.fullmatch(value):
            return None
        digits = "".join(_DIGIT.findall(value))
        if not _MIN_DIGITS <= len(digits) <= 15:  # E.164: at most 15 digits
            return None
        try:
            number = phonenumbers.parse(value, self.region)
        except NumberParseException:
            # Not a number libphonenumber can read, but only digits: still someone's number.
            return self.pseudonym("+" + digits)
        return self.pseudonym(_e164(number))

    def json(self, value: Any, depth: int = 0) -> Any:
        """Decoded JSON, redacted: strings (keys too) as text, integers that could be numbers."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        if isinstance(value, int):
            return self._whole(str(value)) or value
        if depth >= MAX_JSON_DEPTH:
            return TOO_DEEP
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.json(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.json(item, depth + 1) for item in value]
        return self.text(str(value))  # not JSON: read as text rather than let through

    # --- records ---------------------------------------------------------------------------

    def __call__(self, record: SessionRecord) -> SessionRecord:
        return evolve(
            record,
            caller=self.party(record.caller),
            callee=self.party(record.callee),
            title=self._maybe(record.title),
            summary=self._maybe(record.summary),
            tags=tuple(
                Tag(self.text(t.name), self._maybe(t.category), t.count) for t in record.tags
            ),
            parameters=tuple(
                Parameter(self.text(p.name), self._maybe(p.value), p.type)
                for p in record.parameters
            ),
            metadata=self.json(dict(record.metadata)),
            details=None if record.details is None else self.details(record.details),
        )

    def details(self, details: SessionDetails) -> SessionDetails:
        """Redacted when read: Vonage maps its details on first read (a malformed one fails
        there, as the one typed error of that field), and most queries read few of them."""
        return DeferredDetails(
            recording=None,
            mappers={
                "transcript": lambda: tuple(self._turn(t) for t in details.transcript),
                "tool_calls": lambda: tuple(self._tool_call(c) for c in details.tool_calls),
                "flow_steps": lambda: tuple(self._flow_step(s) for s in details.flow_steps),
            },
        )

    def _maybe(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def _turn(self, turn: TranscriptTurn) -> TranscriptTurn:
        return TranscriptTurn(
            turn.speaker, self.text(turn.text), self.text(turn.raw_speaker), turn.offset_ms, turn.at
        )

    def _tool_call(self, call: ToolCall) -> ToolCall:
        return ToolCall(
            self.text(call.name),  # a webhook's name can be its URL's path
            self.json(call.arguments),
            self.json(call.output),
            call.status,
            self._maybe(call.error),
            call.call_id,
            call.offset_ms,
            call.at,
            call.duration_ms,
        )

    def _flow_step(self, step: FlowStep) -> FlowStep:
        return FlowStep(
            step.node_id,
            step.type,
            step.request_id,
            step.execution_time_ms,
            step.response_code,
            self._maybe(step.url),
            tuple(self.text(tag) for tag in step.tags),
        )

    # --- filters ---------------------------------------------------------------------------

    def refuse_probes(self, spec: SessionFilterSpec) -> None:
        """A viewer's filter must not tell whether a number is there: no `phoneNumber`, no
        digits in `text` (words match whole, in any order: `555` and `0123` would spell one
        piece by piece), no number in a tag."""
        if spec.phone_number is not None:
            raise ForbiddenError("`phoneNumber` needs the reviewer role: viewers see no numbers")
        if spec.text is not None and _DIGIT.search(spec.text):
            raise ForbiddenError("`text` with digits needs the reviewer role: viewers see none")
        if any(self.finds_number(tag) for tag in spec.tags):
            raise ForbiddenError("a tag with a phone number needs the reviewer role")


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _inside_identifier(text: str, start: int, end: int) -> bool:
    """True when the match is a digit run of a longer hexadecimal identifier."""
    glued_before = start > 0 and _TOKEN_CHAR.match(text[start - 1])
    glued_after = end < len(text) and _TOKEN_CHAR.match(text[end])
    if not (glued_before or glued_after):
        return False
    if text[max(0, start - 3) : start].lower() == _URL_PLUS:
        return False
    left = start
    while left > 0 and _TOKEN_CHAR.match(text[left - 1]):
        left -= 1
    right = end
    while right < len(text) and _TOKEN_CHAR.match(text[right]):
        right += 1
    return _HEX_ID.fullmatch(text, left, right) is not None
