"""The redactor on its own: numbers found in text however written, the same number always the
same pseudonym (per tenant), JSON walked, identifiers and other digits left alone, records
copied and never changed, Vonage's details still mapped (and failing) when read."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from providers.errors import ForbiddenError
from providers.records import (
    DeferredDetails,
    FlowStep,
    Parameter,
    Provider,
    Recording,
    SessionDetails,
    SessionRecord,
    SessionStatus,
    Speaker,
    Tag,
    ToolCall,
    ToolCallStatus,
    TranscriptTurn,
)
from resolvers.filters import SessionFilterSpec
from resolvers.redaction import CACHED_TEXT, MAX_JSON_DEPTH, TOO_DEEP, Redactor

PSEUDONYM = re.compile(r"phone:[0-9a-f]{12}")
# One number, as people and vendors write it.
WRITINGS = [
    "+12125550147",
    "12125550147",
    "2125550147",
    "(212) 555-0147",
    "212-555-0147",
    "212.555.0147",
    "+1 212 555 0147",
    "+1 (212) 555-0147",
    "1-212-555-0147",
]
redactor = Redactor("secret", "default")


def pseudonyms(text: str) -> list[str]:
    return PSEUDONYM.findall(text)


def test_one_number_however_written_is_one_pseudonym_in_text_and_as_a_party() -> None:
    found = {redactor.text(f"Call me at {w} please.") for w in WRITINGS}
    [only] = found
    [pseudonym] = pseudonyms(only)
    assert only == f"Call me at {pseudonym} please."
    assert {redactor.party(w) for w in WRITINGS} == {pseudonym}


def test_a_pseudonym_is_keyed_by_tenant_and_secret() -> None:
    number = "(212) 555-0147"
    mine = redactor.party(number)
    assert Redactor("secret", "default").party(number) == mine  # stable: a restart, a replica
    assert Redactor("secret", "acme").party(number) != mine
    assert Redactor("another secret", "default").party(number) != mine
    assert redactor.party("(212) 555-0148") != mine


def test_several_numbers_in_a_sentence_each_replaced_in_place() -> None:
    text = "Try 212.555.0147, else +44 20 7946 0958 (office) or 415-555-0199 after 6pm."
    shown = redactor.text(text)
    first, second, third = pseudonyms(shown)
    assert shown == f"Try {first}, else {second} (office) or {third} after 6pm."
    assert len({first, second, third}) == 3
    assert redactor.party("+442079460958") == second


def test_fictional_and_unassigned_numbers_are_numbers_too() -> None:
    """The demo's 555-01xx numbers, area codes no carrier uses: better hidden than shown."""
    for text in ("+12995550101", "call 999-555-0123", "555-0123"):
        assert pseudonyms(redactor.text(text)), text


@pytest.mark.parametrize(
    "text",
    [
        "Order 12345 shipped with UPS; invoice INV-123456, refund RF-1234.",
        "Booked for Monday 9:00 on 2026-10-05T12:34:56.789Z, 3 to 5 days.",
        "Charged 123.45 twice.",
        "request 3f9a1c2b-7d4e-4a1b-8c3d-1234567890ab, version 5f1c2125550147aa0b3c4d5e",
        "category 0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "",
    ],
)
def test_other_digits_and_identifiers_are_left_alone(text: str) -> None:
    assert redactor.text(text) == text


def test_a_url_encoded_number_is_found() -> None:
    shown = redactor.text("https://hooks.example.com/sms?to=%2B12125550147&from=2125550148")
    to, sender = pseudonyms(shown)
    assert shown == f"https://hooks.example.com/sms?to=%2B{to}&from={sender}"
    assert to == redactor.party("+12125550147")


def test_redacting_twice_changes_nothing_more() -> None:
    once = redactor.text("Call (212) 555-0147 or 212 555 0148.")
    assert redactor.text(once) == once


def test_names_stay_numbers_go_as_parties() -> None:
    assert redactor.party("Ava Garcia") == "Ava Garcia"
    assert redactor.party(None) is None
    assert redactor.party("Ava, 212-555-0147") == f"Ava, {redactor.party('2125550147')}"


def test_json_strings_keys_and_integers_are_walked() -> None:
    number = redactor.party("+12125550147")
    arguments: dict[str, Any] = {
        "to": "+1 212 555 0147",
        "numbers": [{"home": 12125550147, "note": "or 212.555.0147"}],
        "+12125550147": {"count": 3, "ratio": 1.5, "ok": True, "none": None},
        "order": 12345,
    }
    assert redactor.json(arguments) == {
        "to": number,
        "numbers": [{"home": number, "note": f"or {number}"}],
        number: {"count": 3, "ratio": 1.5, "ok": True, "none": None},
        "order": 12345,
    }
    assert arguments["to"] == "+1 212 555 0147"  # the original is untouched


def test_json_nested_past_the_bound_is_replaced_whole() -> None:
    deep: Any = "212-555-0147"
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    shown = redactor.json(deep)
    for _ in range(MAX_JSON_DEPTH):
        (shown,) = shown
    assert shown == TOO_DEEP


START = datetime(2026, 10, 1, tzinfo=UTC)


def full_record(details: SessionDetails) -> SessionRecord:
    return SessionRecord(
        provider=Provider.VONAGE,
        id="s-1",
        status=SessionStatus.COMPLETED,
        raw_status="ended",
        started_at=START,
        agent_id="agent-2125550147",
        caller="12125550147",
        callee="Dispatch (415) 555-0199",
        title="Callback for 212-555-0147",
        summary="Asked to be called on +1 212 555 0147.",
        tags=(Tag("callback-2125550147", "cat 212.555.0147"),),
        parameters=(Parameter("phone", "+12125550147", "sys.phone_number"),),
        metadata={"customer": {"phone": "212 555 0147"}},
        lookup_key="key",
        details=details,
    )


DETAILS = SessionDetails(
    transcript=(TranscriptTurn(Speaker.USER, "It's 212 555 0147.", "2125550147", 10, START),),
    tool_calls=(
        ToolCall(
            "sms_2125550147",
            {"to": "+12125550147"},
            {"sent": 12125550147},
            ToolCallStatus.ERROR,
            "could not reach 212-555-0147",
            "call-1",
            5,
            START,
            40,
        ),
    ),
    flow_steps=(
        FlowStep(
            "node-1",
            "webhook",
            "req-1",
            30,
            200,
            "https://x.example.com/sms/2125550147",
            ("t 2125550147",),
        ),
    ),
    recording=Recording("https://x.example.com/audio.mp3"),
)


def test_every_field_of_a_record_that_can_carry_a_number_is_redacted_in_a_copy() -> None:
    original = full_record(DETAILS)
    before = repr(original)
    shown = redactor(original)
    p = redactor.text("2125550147")
    assert repr(original) == before  # never changed: caches share records across requests
    assert (shown.caller, shown.callee) == (p, f"Dispatch {redactor.party('4155550199')}")
    assert (shown.title, shown.summary) == (f"Callback for {p}", f"Asked to be called on {p}.")
    assert shown.tags == (Tag(f"callback-{p}", f"cat {p}"),)
    assert shown.parameters == (Parameter("phone", p, "sys.phone_number"),)
    assert shown.metadata == {"customer": {"phone": p}}
    # What names the session and fetches its details again is kept as it is.
    assert (shown.id, shown.agent_id, shown.lookup_key, shown.ref) == (
        "s-1",
        "agent-2125550147",
        "key",
        original.ref,
    )
    details = shown.details
    assert details is not None
    assert details.recording is None
    assert details.transcript == (TranscriptTurn(Speaker.USER, f"It's {p}.", p, 10, START),)
    assert details.tool_calls == (
        ToolCall(
            f"sms_{p}",
            {"to": p},
            {"sent": p},
            ToolCallStatus.ERROR,
            f"could not reach {p}",
            "call-1",
            5,
            START,
            40,
        ),
    )
    assert details.flow_steps == (
        FlowStep(
            "node-1", "webhook", "req-1", 30, 200, f"https://x.example.com/sms/{p}", (f"t {p}",)
        ),
    )


def test_deferred_details_are_redacted_when_read_and_a_failing_field_still_fails() -> None:
    """Vonage maps each detail field on first read; a malformed one raises there, for that
    field only, and the redacted copy must read (and fail) the same way."""
    reads: list[str] = []

    def transcript() -> tuple[TranscriptTurn, ...]:
        reads.append("transcript")
        return DETAILS.transcript

    def broken() -> tuple[ToolCall, ...]:
        raise ValueError("malformed")

    deferred = DeferredDetails(mappers={"transcript": transcript, "tool_calls": broken})
    shown = redactor(full_record(deferred)).details
    assert shown is not None and reads == []  # nothing mapped yet
    p = redactor.text("2125550147")
    assert shown.transcript[0].text == f"It's {p}."
    assert reads == ["transcript"]
    with pytest.raises(ValueError, match="malformed"):
        _ = shown.tool_calls
    assert shown.flow_steps == ()


def test_a_viewers_filter_may_not_probe_for_numbers() -> None:
    for spec in (
        SessionFilterSpec(phone_number="+12125550147"),
        SessionFilterSpec(text="0147"),
        SessionFilterSpec(tags=("callback-2125550147",)),
    ):
        with pytest.raises(ForbiddenError) as refused:
            redactor.refuse_probes(spec)
        assert refused.value.extensions == {"code": "FORBIDDEN"}
    redactor.refuse_probes(SessionFilterSpec(text="order shipped", tags=("billing",)))


def test_the_region_reads_national_formats() -> None:
    british = Redactor("secret", "default", region="GB")
    text = "Ring 020 7946 0958 today."
    assert redactor.text(text) == text  # not a US number
    assert british.text(text) == f"Ring {british.party('+44 20 7946 0958')} today."
    with pytest.raises(ValueError, match="region"):
        Redactor("secret", "default", region="XX")


def test_a_long_text_is_redacted_too() -> None:
    """Texts past CACHED_TEXT characters are not remembered, and read all the same."""
    text = "word " * (CACHED_TEXT // 5 + 10) + "call 212-555-0147"
    assert len(text) > CACHED_TEXT
    assert redactor.text(text) == text.replace("212-555-0147", redactor.text("212-555-0147"))
    assert pseudonyms(redactor.text(text))
