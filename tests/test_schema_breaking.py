"""The schema built from the code must not break clients of the last released one
(schema.released.graphql) unless the break is allowed, with its reason, in schema-breaks.allowed.

graphql-core's find_breaking_changes (a removed field, a nullable result made required, ...) and
find_dangerous_changes (an enum value added: an exhaustive client switch misses it; a default
changed: the same query answers differently) are both held to the allow-list."""

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema
from graphql.utilities import DangerousChangeType, find_breaking_changes, find_dangerous_changes

from graph.schema import schema

ROOT = Path(__file__).parent.parent
RELEASED = ROOT / "schema.released.graphql"
ALLOWED = ROOT / "schema-breaks.allowed"

# An optional argument or input field changes nothing for a client that does not send it: these
# additions are how the API grows, and need no entry.
_HARMLESS = {DangerousChangeType.OPTIONAL_ARG_ADDED, DangerousChangeType.OPTIONAL_INPUT_FIELD_ADDED}


def changes(released: GraphQLSchema, current: GraphQLSchema) -> list[str]:
    """Each break or danger, as `TYPE: description`: the line an allow-list entry starts with."""
    found = [f"{c.type.name}: {c.description}" for c in find_breaking_changes(released, current)]
    found += [
        f"{c.type.name}: {c.description}"
        for c in find_dangerous_changes(released, current)
        if c.type not in _HARMLESS
    ]
    return found


def allowed(text: str) -> dict[str, str]:
    """The allow-list: change -> reason. A line without a reason is refused."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        change, _, reason = line.partition(" # ")
        if not reason.strip():
            raise ValueError(f"schema-breaks.allowed:{number}: say why after ' # '")
        entries[change.strip()] = reason.strip()
    return entries


def verdict(found: list[str], allow: dict[str, str]) -> tuple[list[str], list[str]]:
    """(changes not allowed, allow-list entries matching no change)."""
    return [c for c in found if c not in allow], [a for a in allow if a not in found]


def test_the_code_breaks_no_client_of_the_released_schema_unless_allowed() -> None:
    found = changes(build_schema(RELEASED.read_text()), build_schema(schema.as_str()))
    not_allowed, stale = verdict(found, allowed(ALLOWED.read_text()))
    assert not_allowed == [], "a client of the released schema breaks: see schema-breaks.allowed"
    assert stale == [], "these allowed changes are no longer made: drop them"


_RELEASED = """
type Query { session(id: ID!): Session, sessions(first: Int = 10): [Session!]! }
type Session { id: ID!, title: String, vendor: Vendor! }
enum Vendor { SAMSARA VONAGE }
"""


def test_removals_widened_results_new_enum_values_and_defaults_are_reported() -> None:
    # The optional argument `vendor` added to Query.sessions is not: it needs no entry.
    current = """
    type Query { session(id: ID!): Session, sessions(first: Int = 20, vendor: Vendor): [Session!]! }
    type Session { id: ID!, vendor: Vendor }
    enum Vendor { SAMSARA VONAGE VECTARA }
    """
    found = changes(build_schema(_RELEASED), build_schema(current))
    assert sorted(found) == [
        "ARG_DEFAULT_VALUE_CHANGE: Query.sessions(first:) has changed defaultValue from 10 to 20.",
        "FIELD_CHANGED_KIND: Field Session.vendor changed type from Vendor! to Vendor.",
        "FIELD_REMOVED: Field Session.title was removed.",
        "VALUE_ADDED_TO_ENUM: Enum value Vendor.VECTARA was added.",
    ]


def test_an_allowed_change_passes_and_an_allowance_for_no_change_is_stale() -> None:
    found = ["FIELD_REMOVED: Field Session.title was removed."]
    allow = allowed(
        "# header\n\n"
        "FIELD_REMOVED: Field Session.title was removed. # unused; clients told\n"
        "TYPE_REMOVED: Ghost was removed. # left over\n"
    )
    assert verdict(found, allow) == ([], ["TYPE_REMOVED: Ghost was removed."])
    assert verdict(found, {}) == (found, [])


def test_an_allowance_without_a_reason_is_refused() -> None:
    with pytest.raises(ValueError, match=r"schema-breaks\.allowed:2: say why"):
        allowed("# header\nFIELD_REMOVED: Field Session.title was removed.\n")
