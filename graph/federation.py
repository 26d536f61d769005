"""sessiongraph as an Apollo Federation 2 subgraph.

`Session` and `Agent` are entities keyed by their Relay id (`@key(fields: "id")`): a router
(Apollo Router, Hive Gateway, Cosmo) that holds a reference to one asks `Query._entities`, which
loads them as `nodes` does (one batch per vendor, the same errors), and reads this subgraph's
SDL from `Query._service { sdl }` (Strawberry's federation schema prints it).

The SDL a router reads imports the federation directives by `@link` and, as the spec wants,
does not define them; `schema.graphql` is read by tools that know no federation (graphql-core's
`build_schema`, relay-compiler), so `self_contained` appends those definitions to it, as the
specs write them (routers check them, and compose that file too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from graphql import specified_directives
from graphql.language import DirectiveDefinitionNode, DirectiveNode, Visitor, parse, visit
from strawberry import relay
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from providers.errors import UserInputError

__all__ = [
    "ENTITY_KEY",
    "FEDERATION_VERSION",
    "MAX_IDS",
    "representation_ids",
    "self_contained",
]

# The lowest version with everything used here (`@key` with `resolvable`): every router that
# speaks Federation 2 composes it. A directive of a later version makes the schema refuse to
# build (Strawberry checks), so raising it is a deliberate change.
FEDERATION_VERSION: Final = "2.0"
# The key of both entities: the Relay id, which already holds what a refetch needs.
ENTITY_KEY = Key(fields=FieldSet("id"))
# The most ids `nodes` takes, and references `_entities` takes (a router sends one `_entities`
# call per subgraph and plan step, batching every reference of that step): refused above it,
# before any vendor call. The one place the figure lives (the resolvers and the cost reader).
MAX_IDS: Final = 100
_ENTITIES = ("Session", "Agent")
# The definitions `@link` imports, as Federation v2.0 (`@key`) and link v1.0 (`@link`) write
# them; a type the link does not import by name is `federation__…` (Apollo's composition
# refuses `@key` on Federation 1's `_FieldSet`, the type Strawberry's own schema uses).
_SPEC_DEFINITIONS = {
    "key": (
        "directive @key(fields: federation__FieldSet!, resolvable: Boolean = true) "
        "repeatable on OBJECT | INTERFACE\n\nscalar federation__FieldSet"
    ),
    "link": (
        "directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) "
        "repeatable on SCHEMA\n\nscalar link__Import\n\n"
        "enum link__Purpose {\n  SECURITY\n  EXECUTION\n}"
    ),
}


def representation_ids(representations: Sequence[object]) -> list[str]:
    """The ids of the representations, each checked before any vendor call: an object with
    `__typename` Session or Agent and a string `id` of that type (whether the id is one of this
    API is `node`'s check, made when it loads). BAD_USER_INPUT otherwise, for the whole field,
    as `nodes` refuses a malformed id."""
    if len(representations) > MAX_IDS:
        raise UserInputError(f"`representations`: at most {MAX_IDS} at once")
    ids: list[str] = []
    for index, representation in enumerate(representations):
        where = f"`representations[{index}]`"
        if not isinstance(representation, dict):
            raise UserInputError(f"{where}: an object with `__typename` and `id`")
        typename, global_id = representation.get("__typename"), representation.get("id")
        if typename not in _ENTITIES:
            raise UserInputError(f"{where}: `__typename` is Session or Agent")
        if not isinstance(global_id, str):
            raise UserInputError(f"{where}: `id` is a string")
        if _type_name(global_id) not in (typename, None):
            raise UserInputError(f"{where}: that id is not one of type {typename}")
        ids.append(global_id)
    return ids


def _type_name(global_id: str) -> str | None:
    """The type an id names; None when it does not parse (`node` refuses it then)."""
    try:
        return relay.GlobalID.from_id(global_id).type_name
    except Exception:
        return None


def self_contained(printed: str) -> str:
    """`printed` (Strawberry's SDL) with the definitions of the directives it applies but does
    not define, as their specs write them. A directive without one here is an error: its
    spec's definition belongs in `_SPEC_DEFINITIONS` (a router checks it against the spec)."""
    document = parse(printed)
    defined = {
        node.name.value
        for node in document.definitions
        if isinstance(node, DirectiveDefinitionNode)
    }
    applied: set[str] = set()

    class Applied(Visitor):
        def enter_directive(self, node: DirectiveNode, *_args: object) -> None:
            applied.add(node.name.value)

    visit(document, Applied())
    missing = sorted(applied - defined - {d.name for d in specified_directives})
    unknown = [name for name in missing if name not in _SPEC_DEFINITIONS]
    if unknown:
        raise ValueError(f"graph/federation.py: add the spec's definition of @{unknown[0]}")
    return "\n\n".join([printed, *(_SPEC_DEFINITIONS[name] for name in missing)])
