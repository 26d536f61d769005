"""Seeded, realistic conversation material shared by the four simulators.

Every function takes a `random.Random`, so a simulator built with the same seed, size and
anchor serves the same data every time.

A conversation can also be drawn in two steps: its `outline` (topic, and which way it goes)
first, cheaply, and its words later (`conversation_for`). Everything but the values (names,
numbers, carriers, days, questions) follows from the outline: the count and roles of the turns,
the tools, after which turn each runs and whether it fails, the tags and the parameters' names,
as `sketch(outline)` shows. A simulator holding many sessions can then list and filter them
from their outlines and generate what was said only when it is read.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

__all__ = [
    "Conversation",
    "Outline",
    "ToolUse",
    "Turn",
    "conversation",
    "conversation_for",
    "generating",
    "outline",
    "person_name",
    "phone_number",
    "sketch",
    "spread_start_times",
]

FIRST_NAMES = [
    "Ava",
    "Liam",
    "Maya",
    "Noah",
    "Zoe",
    "Ethan",
    "Priya",
    "Mateo",
    "Chloe",
    "Omar",
    "Hana",
    "Lucas",
    "Ines",
    "Kofi",
    "Sara",
    "Diego",
    "Mei",
    "Jonas",
    "Leila",
    "Tom",
]
LAST_NAMES = [
    "Garcia",
    "Nguyen",
    "Smith",
    "Okafor",
    "Rossi",
    "Kim",
    "Patel",
    "Müller",
    "Silva",
    "Cohen",
    "Johnson",
    "Haddad",
    "Larsen",
    "Dubois",
    "Tanaka",
]


@dataclass(frozen=True)
class Turn:
    role: str  # "agent" | "user" | "system"
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    after_turn: int  # the tool ran after this turn index
    duration_ms: int


@dataclass(frozen=True)
class Conversation:
    topic: str
    turns: list[Turn]
    tools: list[ToolUse] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    summary: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


@contextmanager
def generating() -> Iterator[None]:
    """Around the generation of a large dataset: the cyclic garbage collector waits. Building
    100,000 sessions triggers collections that scan them all and free nothing (they are kept),
    a fifth of the time taken."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class Outline:
    """What a conversation is about and which way it goes, drawn before any of its words."""

    topic: str
    twist: bool  # the topic's less usual branch (a failed lookup, an escalation); False if none


# How often a topic takes its twist; topics not listed have none.
_TWIST_ODDS = {"order_status": 0.2, "billing": 0.35}


def _twist(rng: random.Random, topic: str, forced: bool | None) -> bool:
    """The twist an outline forced, or drawn here (where `conversation` always drew it)."""
    return forced if forced is not None else rng.random() < _TWIST_ODDS[topic]


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def phone_number(rng: random.Random) -> str:
    """A US number in the 555-01xx fictional range, E.164."""
    return f"+1{rng.randint(200, 989)}55501{rng.randint(0, 99):02d}"


def spread_start_times(
    rng: random.Random, count: int, anchor: datetime, days: float = 89.0
) -> list[datetime]:
    """`count` distinct start times in the `days` before `anchor` (to the millisecond), newest
    first; a handful within the last hour so that some sessions are still running."""
    seconds = int(days * 86400)
    picked: set[int] = set()
    recent = max(1, count // 40)
    while len(picked) < recent:
        picked.add(rng.randint(30_000, 3600 * 1000))
    while len(picked) < count:
        picked.add(rng.randint(30_000, seconds * 1000))
    one_ms = timedelta(milliseconds=1)  # multiplying it is exact, and cheaper than building one
    return [anchor - one_ms * ms for ms in sorted(picked)]


def _order_status(rng: random.Random, name: str, twist: bool | None = None) -> Conversation:
    order = f"{rng.randint(10000, 99999)}"
    failed = _twist(rng, "order_status", twist)
    turns = [
        Turn("agent", "Thanks for calling, this is the order desk. How can I help?"),
        Turn("user", f"Hi, I'm {name}. Where is my order {order}? It was due yesterday."),
        Turn("agent", "Let me look that up for you."),
    ]
    if failed:
        tool = ToolUse(
            "lookup_order", {"order_id": order}, None, "order service timed out", 2, 5000
        )
        turns += [
            Turn("agent", "I'm sorry, our order system is not answering right now."),
            Turn("user", "That's frustrating. Can someone call me back?"),
            Turn("agent", "Yes, I've asked a colleague to call you back within the hour."),
        ]
        return Conversation(
            "order_status",
            turns,
            [tool],
            ["order", "callback"],
            f"Order {order} lookup failed; callback promised.",
            {"order_id": order},
        )
    carrier = rng.choice(["UPS", "FedEx", "DHL"])
    tool = ToolUse(
        "lookup_order",
        {"order_id": order},
        {"status": "shipped", "carrier": carrier, "eta_days": rng.randint(1, 4)},
        None,
        2,
        rng.randint(150, 900),
    )
    turns += [
        Turn("agent", f"Your order shipped with {carrier} and should arrive within two days."),
        Turn("user", "Great, thank you."),
        Turn("agent", "You're welcome. Anything else?"),
        Turn("user", "No, that's all."),
    ]
    return Conversation(
        "order_status",
        turns,
        [tool],
        ["order"],
        f"Caller asked about order {order}; shipped with {carrier}.",
        {"order_id": order},
    )


def _appointment(rng: random.Random, name: str, twist: bool | None = None) -> Conversation:
    day = rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])
    hour = rng.randint(9, 16)
    slot = f"{day} {hour}:00"
    tools = [
        ToolUse(
            "check_availability",
            {"day": day},
            {"slots": [f"{hour}:00", f"{hour + 1}:00"]},
            None,
            2,
            rng.randint(100, 600),
        ),
        ToolUse(
            "book_appointment",
            {"day": day, "time": f"{hour}:00", "name": name},
            {"confirmation": f"APT-{rng.randint(1000, 9999)}"},
            None,
            4,
            rng.randint(200, 800),
        ),
    ]
    turns = [
        Turn("agent", "Hello, you've reached the clinic scheduling line."),
        Turn("user", f"I'd like to book an appointment for {day}, please."),
        Turn("agent", f"I have {hour}:00 or {hour + 1}:00 on {day}. Which suits you?"),
        Turn("user", f"{hour}:00 works."),
        Turn("agent", f"Booked for {slot}. You'll get a text confirmation."),
        Turn("user", "Perfect, thanks."),
    ]
    return Conversation(
        "appointment",
        turns,
        tools,
        ["appointment"],
        f"Booked an appointment on {slot} for {name}.",
        {"slot": slot},
    )


def _billing(rng: random.Random, name: str, twist: bool | None = None) -> Conversation:
    amount = f"{rng.randint(20, 400)}.{rng.randint(0, 99):02d}"
    escalate = _twist(rng, "billing", twist)
    turns = [
        Turn("agent", "Billing support, how can I help you today?"),
        # "refund" said by the caller, early: a call cut short still mentions it, so the
        # README's "failed sessions that mention a refund" finds some in demo mode.
        Turn("user", f"I was charged {amount} twice on my last invoice. I'd like a refund."),
        Turn("agent", "I can check that. Can you confirm the email on the account?"),
        Turn("user", f"It's {name.split()[0].lower()}@example.com."),
    ]
    tools = [
        ToolUse(
            "find_invoice",
            {"email": f"{name.split()[0].lower()}@example.com"},
            {"invoice": f"INV-{rng.randint(100000, 999999)}", "duplicate": True},
            None,
            3,
            rng.randint(200, 700),
        )
    ]
    if escalate:
        turns += [
            Turn(
                "agent",
                "I see the duplicate charge. I'm transferring you to a specialist "
                "who can issue the refund.",
            )
        ]
        tags = ["billing", "escalated"]
        summary = f"Duplicate charge of {amount}; escalated to a billing specialist."
    else:
        tools.append(
            ToolUse(
                "issue_refund",
                {"amount": amount, "reason": "duplicate"},
                {"refund_id": f"RF-{rng.randint(1000, 9999)}"},
                None,
                4,
                rng.randint(300, 1200),
            )
        )
        turns += [
            Turn("agent", f"I've refunded {amount}. It will show in 3 to 5 days."),
            Turn("user", "Thank you so much."),
        ]
        tags = ["billing", "refund"]
        summary = f"Refunded a duplicate charge of {amount}."
    return Conversation("billing", turns, tools, tags, summary, {"amount": amount})


def _roadside(rng: random.Random, name: str, twist: bool | None = None) -> Conversation:
    route = f"R-{rng.randint(100, 999)}"
    delay = rng.randint(10, 90)
    turns = [
        Turn(
            "agent", f"Hi {name.split()[0]}, this is dispatch. I see you stopped on route {route}."
        ),
        Turn("user", "Yeah, there's an accident ahead. Traffic isn't moving."),
        Turn("agent", f"Understood. I'll tell the customer you're about {delay} minutes late."),
        Turn("user", "Thanks. Can you reroute me?"),
        Turn("agent", "Sending an alternate route to your tablet now. Drive safe."),
    ]
    tools = [
        ToolUse(
            "update_eta",
            {"route_id": route, "delay_minutes": delay},
            {"notified": True},
            None,
            2,
            rng.randint(100, 500),
        ),
        ToolUse(
            "send_reroute", {"route_id": route}, {"sent": True}, None, 4, rng.randint(100, 500)
        ),
    ]
    return Conversation(
        "roadside",
        turns,
        tools,
        ["delay", "reroute"],
        f"Driver delayed {delay} min on {route}; rerouted.",
        {"route_id": route},
    )


def _faq(rng: random.Random, name: str, twist: bool | None = None) -> Conversation:
    question = rng.choice(
        [
            ("What are your opening hours?", "We're open 8am to 8pm, Monday to Saturday."),
            ("Do you ship internationally?", "Yes, to over 40 countries; rates show at checkout."),
            ("How do I reset my password?", "Use 'Forgot password' on the sign-in page."),
        ]
    )
    turns = [
        Turn("agent", "Hi! How can I help?"),
        Turn("user", question[0]),
        Turn("agent", question[1]),
        Turn("user", "Got it, thanks."),
    ]
    return Conversation("faq", turns, [], ["faq"], f"Answered: {question[0]}", {})


_Maker = Callable[[random.Random, str, bool | None], Conversation]
_TOPICS: list[_Maker] = [_order_status, _appointment, _billing, _roadside, _faq]
_MAKERS = {maker.__name__.lstrip("_"): maker for maker in _TOPICS}


def _makers(topics: list[str] | None) -> list[_Maker]:
    return [m for m in _TOPICS if topics is None or m.__name__.lstrip("_") in topics]


def conversation(rng: random.Random, topics: list[str] | None = None) -> Conversation:
    """One conversation on a random topic (restricted to `topics` when given)."""
    return rng.choice(_makers(topics))(rng, person_name(rng), None)


@cache
def _topic_names(topics: tuple[str, ...] | None) -> tuple[str, ...]:
    return tuple(
        maker.__name__.lstrip("_") for maker in _makers(None if topics is None else [*topics])
    )


# Every outline there is: `outline` hands out these, not copies.
_OUTLINES = {(topic, twist): Outline(topic, twist) for topic in _MAKERS for twist in (False, True)}


def outline(rng: random.Random, topics: list[str] | None = None) -> Outline:
    """The outline of one conversation on a random topic (restricted to `topics` when given),
    with the same odds as `conversation`'s."""
    topic = rng.choice(_topic_names(None if topics is None else tuple(topics)))
    return _OUTLINES[topic, topic in _TWIST_ODDS and rng.random() < _TWIST_ODDS[topic]]


def conversation_for(rng: random.Random, plan: Outline) -> Conversation:
    """A conversation that follows `plan`: its values drawn from `rng`."""
    return _MAKERS[plan.topic](rng, person_name(rng), plan.twist)


@cache
def sketch(plan: Outline) -> Conversation:
    """One conversation of `plan`, for what every conversation of `plan` shares (the turns'
    count and roles, the tools and which fail, the tags, the parameters' names): its values
    are those of an arbitrary seed."""
    return conversation_for(random.Random(0), plan)
