"""Who may read the schema: introspection (`__schema`, `__type`, and federation's
`_service { sdl }`, which prints the schema) and the "Did you mean …?" suggestions of error
messages, which spell out field, type and enum names just as well.

Demo mode: everyone. Live mode: only requests authenticated with a key, and only with
`SESSIONGRAPH_INTROSPECTION=on`; `off` turns both off everywhere. Decided per request, from
the context's principal; refused introspection is a validation error, `INTROSPECTION_DISABLED`.
`__typename` is not introspection: clients add it everywhere, it stays allowed.

`SchemaDisclosure` replaces Strawberry's `ValidationCache`: the rules and graphql-core's own
`hide_suggestions` switch (Strawberry does not pass it) differ per request, so both are part of
the cache's key, next to the document and the schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    ValidationRule,
    validate,
)
from graphql.language import SKIP, VisitorAction
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from resolvers.principal import Principal

__all__ = ["EVERYONE", "IntrospectionPolicy", "NoIntrospection", "SchemaDisclosure"]

# The rules Strawberry adds to every validation (strawberry.schema.schema.validate_document).
_STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (
    MaybeNullValidationRule,
    OneOfInputValidationRule,
)
# `_service { sdl }` (federation, graph/federation.py) prints the whole schema: the same.
_INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "_service"})
# graphql-core's `did_you_mean` ends a message with " Did you mean …?". Validation takes the
# switch; this is for the errors the executor raises while coercing variables, where
# Strawberry gives no way to pass it.
_SUGGESTION = re.compile(r" Did you mean .*\?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class IntrospectionPolicy:
    """`everyone`: demo mode; `keys`: live mode with SESSIONGRAPH_INTROSPECTION=on."""

    everyone: bool = True
    keys: bool = False

    @classmethod
    def of(cls, demo: bool, setting: bool | None) -> IntrospectionPolicy:
        if setting is False:
            return cls(everyone=False, keys=False)
        return cls(everyone=demo, keys=bool(setting))

    def allows(self, principal: Principal | None) -> bool:
        if self.everyone:
            return True
        return self.keys and principal is not None and principal.key_id is not None


EVERYONE = IntrospectionPolicy()  # demo mode's, and a schema built without settings


class NoIntrospection(ValidationRule):
    """Refuses `__schema`, `__type` and `_service`, once each (not every field below them)."""

    def enter_field(self, node: FieldNode, *_args: Any) -> VisitorAction:
        if node.name.value not in _INTROSPECTION_FIELDS:
            return None
        self.report_error(
            GraphQLError(
                f"introspection is disabled on this server (`{node.name.value}`): it is on "
                "with SESSIONGRAPH_INTROSPECTION=on, for requests with an API key",
                node,
                extensions={"code": "INTROSPECTION_DISABLED"},
            )
        )
        return SKIP


@lru_cache(maxsize=256)
def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return validate(
        schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=hide_suggestions
    )


class SchemaDisclosure(SchemaExtension):
    """Validation (cached) under the request's policy; suggestions taken out of request
    errors when the schema is not shown."""

    def __init__(self, policy: IntrospectionPolicy) -> None:
        super().__init__()
        self.policy = policy

    def _shown(self) -> bool:
        principal = getattr(self.execution_context.context, "principal", None)
        return self.policy.allows(principal if isinstance(principal, Principal) else None)

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if self._shown() or result is None or not result.errors:
            return
        result.errors = [_without_suggestion(error) for error in result.errors]

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        shown = self._shown()
        rules = tuple(context.validation_rules)
        if not shown:
            rules = (*rules, NoIntrospection)
        assert context.graphql_document is not None  # validation follows a successful parse
        context.pre_execution_errors = _validate(
            context.schema._schema, context.graphql_document, rules, not shown
        )
        yield


def _without_suggestion(error: GraphQLError) -> GraphQLError:
    if error.path is not None or " Did you mean " not in error.message:
        return error  # a field's error: its message is ours or a vendor's, never a suggestion
    return GraphQLError(
        _SUGGESTION.sub("", error.message),
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )
