"""The simulators' shared conversation material: outlines drawn apart from their words."""

from __future__ import annotations

import gc
import random
from collections import Counter

import pytest

from providers.simulators.fake_data import (
    Conversation,
    Outline,
    conversation,
    conversation_for,
    generating,
    outline,
    sketch,
)

TOPICS = ("order_status", "appointment", "billing", "roadside", "faq")
EVERY_OUTLINE = [Outline(topic, False) for topic in TOPICS] + [
    Outline("order_status", True),
    Outline("billing", True),
]


def shape(talk: Conversation) -> tuple[object, ...]:
    """Everything but the values: what a simulator may know from the outline alone."""
    return (
        talk.topic,
        [turn.role for turn in talk.turns],
        [(tool.name, tool.after_turn, tool.error is None) for tool in talk.tools],
        talk.tags,
        sorted(talk.parameters),
    )


@pytest.mark.parametrize("plan", EVERY_OUTLINE, ids=lambda p: f"{p.topic}-{p.twist}")
def test_every_conversation_of_an_outline_has_its_sketchs_shape(plan: Outline) -> None:
    rng = random.Random(f"shape:{plan}")
    talks = [conversation_for(rng, plan) for _ in range(200)]
    assert {repr(shape(talk)) for talk in talks} == {repr(shape(sketch(plan)))}
    assert len({talk.summary for talk in talks}) > 1  # the values do vary


def test_twists_change_the_shape() -> None:
    for topic in ("order_status", "billing"):
        assert shape(sketch(Outline(topic, True))) != shape(sketch(Outline(topic, False)))


def test_outlines_keep_to_the_topics_and_conversations_odds() -> None:
    rng = random.Random(7)
    drawn = Counter(outline(rng, ["order_status", "faq"]) for _ in range(20_000))
    assert {plan.topic for plan in drawn} == {"order_status", "faq"}
    assert not drawn[Outline("faq", True)]
    orders = drawn[Outline("order_status", True)] + drawn[Outline("order_status", False)]
    assert 9_500 < orders < 10_500  # one topic in two
    assert 0.18 < drawn[Outline("order_status", True)] / orders < 0.22  # a lookup fails 1 in 5
    # `conversation` takes that twist as often: its failed lookups are callbacks.
    rng = random.Random(7)
    talks = [conversation(rng, ["order_status"]) for _ in range(10_000)]
    assert 0.18 < sum("callback" in talk.tags for talk in talks) / len(talks) < 0.22


@pytest.mark.parametrize("enabled", [True, False])
def test_generating_pauses_the_collector_and_restores_it(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with generating():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
