"""Compiled execution of synchronous subtrees, with the standard executor as the fallback.

graphql-core completes every field of every object the same general way: a `ResolveInfo`, a
path, argument coercion, an awaitable check and a dispatch on the return type, 3-5 µs a field.
A page of 50 sessions with transcripts is ~2,000 fields, so that is most of a request's CPU.

Here, the first time an object type is completed with a given selection (per request, as
graphql-core memoizes its field collection), the selection is compiled into a plan: one getter
and one completer closure per response key, nested plans for object-typed fields. A field takes
part only when it is plain data: no arguments, no `@defer`, a Strawberry field without
extensions whose value is an attribute, a sync resolver taking only `self`, or a getter the type
names in `__fast_fields__` (data that is sometimes still to be loaded: the getter raises `Bail`
then). Interfaces and unions are not compiled. When a selection holds anything else there is no
plan and graphql-core completes the object as before.

A plan never produces an error or a null the standard path would not: any exception (a getter
that bails, a null in a non-null position, a value a scalar refuses, an unexpected list type)
abandons the plan for that object and graphql-core completes it from the start, with its exact
errors, paths and nulls. Fast getters and sync resolvers are pure reads of the record, so running
one twice changes nothing. `tests/test_fastpath.py` checks the two executors give identical
answers for generated queries and variables.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

__all__ = ["Bail", "FastExecutionContext"]

_DEFINITION = "strawberry-definition"  # where Strawberry keeps its definitions in graphql-core

Getter = Callable[[Any], Any]
Completer = Callable[[Any], Any]
Plan = Callable[[Any], dict[str, Any]]


class Bail(Exception):  # not an error: the signal to take the standard path
    """Raised by a fast getter whose data is not there yet (the standard resolver loads it)."""


_BAIL = Bail()
_NO_INFO: Any = None


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (type, id(field details)) → (plan or None, the field details kept alive so the id
        # cannot be reused during the request), as graphql-core memoizes `collect_subfields`.
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Plan | None, object]] = {}

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        plan = self._plan(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except Exception:  # the standard path below gives the exact answer
                pass
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _plan(self, object_type: GraphQLObjectType, fields: FieldDetailsList) -> Plan | None:
        key = (object_type, id(fields))
        cached = self._plans.get(key)
        if cached is None:
            self._plans[key] = (None, fields)  # a selection reaching itself is not compiled
            try:
                plan = self._compile_object(object_type, fields)
            except Exception:  # whatever a plan cannot be made of is the standard path's
                plan = None
            cached = self._plans[key] = (plan, fields)
        return cached[0]

    def _compile_object(
        self, object_type: GraphQLObjectType, fields: FieldDetailsList
    ) -> Plan | None:
        grouped, new_defer_usages, *_ = self.collect_subfields(object_type, fields)
        if new_defer_usages:
            return None
        steps: list[tuple[str, Getter, Completer]] = []
        for response_name, field_details in grouped.items():
            node = field_details[0].node
            name = node.name.value
            if name == "__typename":
                steps.append((response_name, _constant(object_type.name), _identity))
                continue
            field_def = self.schema.get_field(object_type, name)
            if field_def is None or field_def.args or node.arguments:
                return None
            getter = _getter(object_type, name, field_def.extensions.get(_DEFINITION))
            completer = self._completer(field_def.type, field_details)
            if getter is None or completer is None:
                return None
            steps.append((response_name, getter, completer))
        is_type_of = object_type.is_type_of

        def plan(source: Any) -> dict[str, Any]:
            # Strawberry's is_type_of reads no info (an isinstance check on the Node types).
            if is_type_of is not None and not is_type_of(source, _NO_INFO):
                raise _BAIL
            return {key: complete(get(source)) for key, get, complete in steps}

        return plan

    def _completer(
        self, output_type: GraphQLOutputType, fields: FieldDetailsList
    ) -> Completer | None:
        if isinstance(output_type, GraphQLNonNull):
            required = self._inner(output_type.of_type, fields)
            if required is None:
                return None

            def non_null(value: Any) -> Any:
                if value is None:
                    raise _BAIL
                return required(value)

            return non_null
        inner = self._inner(output_type, fields)
        if inner is None:
            return None

        def nullable(value: Any) -> Any:
            return None if value is None else inner(value)

        return nullable

    def _inner(self, output_type: GraphQLOutputType, fields: FieldDetailsList) -> Completer | None:
        if isinstance(output_type, GraphQLList):
            item = self._completer(output_type.of_type, fields)
            if item is None:
                return None

            def complete_list(value: Any) -> list[Any]:
                if not isinstance(value, list | tuple):
                    raise _BAIL  # other iterables: the standard path's rules
                return [item(element) for element in value]

            return complete_list
        if is_leaf_type(output_type):
            return _leaf(output_type)
        if isinstance(output_type, GraphQLObjectType):
            plan = self._plan(output_type, fields)
            if plan is None:
                return None

            def complete_object(value: Any) -> dict[str, Any]:
                if isinstance(value, Exception):
                    raise _BAIL
                return plan(value)

            return complete_object
        return None  # interfaces and unions: resolve_type is the standard path's


def _getter(object_type: GraphQLObjectType, name: str, field: object) -> Getter | None:
    if not isinstance(field, StrawberryField) or field.extensions:
        return None  # permissions and field extensions run in Strawberry's resolver only
    origin = getattr(object_type.extensions.get(_DEFINITION), "origin", None)
    fast_fields: dict[str, str] = getattr(origin, "__fast_fields__", {})
    if name in fast_fields:
        getter: Getter = getattr(origin, fast_fields[name])
        return getter
    resolver = field.base_resolver
    if resolver is None:
        return operator.attrgetter(field.python_name)
    function = resolver.wrapped_func
    if (
        resolver.is_async
        or resolver.arguments
        or resolver.info_parameter is not None
        or resolver.root_parameter is not None
        or resolver.parent_parameter is not None
        or resolver.self_parameter is None
        or isinstance(function, staticmethod | classmethod)
    ):
        return None
    return function


def _leaf(leaf_type: GraphQLLeafType) -> Completer:
    """`coerce_output_value`, with its answer taken directly where it is the value itself (a
    str for String and ID, a bool for Boolean, an int in 32 bits for Int) or a name looked up
    once per enum member (Strawberry's enum coercion loops over the values every time)."""
    coerce = leaf_type.coerce_output_value
    same = _UNCHANGED.get(leaf_type.name) if leaf_type in _BUILT_IN else None
    wrapped = getattr(leaf_type, "wrapped_cls", None)
    names = {member: coerce(member) for member in wrapped} if wrapped is not None else {}

    def complete_leaf(value: Any) -> Any:
        kind = type(value)
        if kind is same and (kind is not int or _INT_MIN <= value <= _INT_MAX):
            return value
        if kind is wrapped:
            return names[value]
        if isinstance(value, Exception):
            raise _BAIL
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _BAIL
        return coerced

    return complete_leaf


# Values graphql-core's built-in scalars return unchanged when their type is exactly this.
_UNCHANGED: dict[str, type] = {"String": str, "ID": str, "Boolean": bool, "Int": int}
_BUILT_IN = (GraphQLString, GraphQLID, GraphQLBoolean, GraphQLInt)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _constant(value: Any) -> Getter:
    return lambda _source: value


def _identity(value: Any) -> Any:
    return value
