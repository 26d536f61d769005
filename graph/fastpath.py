"""Compiled execution of synchronous subtrees, with the standard executor as the fallback.

graphql-core completes every field of every object the same general way: a `ResolveInfo`, a
path, argument coercion, an awaitable check and a dispatch on the return type, 3-5 µs a field.
A page of 50 sessions with transcripts is ~2,000 fields, so that is most of a request's CPU.

Here, the first time an object type is completed with a given selection, the selection is
compiled into a plan: one getter
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
one twice changes nothing. `tests/graph/test_fastpath.py` checks the two executors give
identical answers for generated queries and variables.

A connection whose nodes' details are still loading holds futures of those nodes (`WAITING`):
its plan completes everything else at once, while the vendor calls are out, and leaves an empty
dict where each future is, filled by the node's plan when the future is done.

A plan holds nothing of its request, so plans are kept across requests (`_SHARED`) when the
operation has no directive at all: without `@skip`/`@include` (which read the variables) and
`@defer`, a selection's fields depend on the document only, and the parsed document is the same
object for every request of the same text (Strawberry's `ParserCache`): its field nodes name the
selection. Other operations compile their plans per request, as graphql-core collects fields.
"""

from __future__ import annotations

import asyncio
import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from keyword import iskeyword
from typing import Any, cast

from cachetools import LRUCache
from graphql import (
    GraphQLBoolean,
    GraphQLField,
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

__all__ = ["WAITING", "Bail", "FastExecutionContext"]

_DEFINITION = "strawberry-definition"  # where Strawberry keeps its definitions in graphql-core

Getter = Callable[[Any], Any]
Completer = Callable[[Any], Any]
Plan = Callable[[Any], dict[str, Any]]


class Bail(Exception):  # not an error: the signal to take the standard path
    """Raised by a fast getter whose data is not there yet (the standard resolver loads it)."""


# An object whose attribute of this name is true holds futures of objects below it (values
# still loading, e.g. the nodes of a page whose details are being fetched). Its plan completes
# what is there now and leaves an empty dict where each future is; the answer is then an
# awaitable that fills each dict by the same plan once its future is done. Anything else (a
# future's error, a loaded value its plan refuses) and graphql-core completes the object from
# the start, futures and all.
WAITING = "fastpath_waiting"

# (the dict left in the answer, the future, the plan that fills it), for the waiting object
# whose plan is running: plans are synchronous, so the innermost such object is the last here.
_Hole = tuple[dict[str, Any], "asyncio.Future[Any]", "Plan"]
_HOLES: list[list[_Hole]] = []

_BAIL = Bail()
_NO_INFO: Any = None

# (object type, ids of the selection's field nodes) → (plan or None, the field details, which
# keep those nodes alive so their ids are not reused while the entry is here).
_SharedKey = tuple[GraphQLObjectType, tuple[int, ...]]
_SHARED: LRUCache[_SharedKey, tuple[Plan | None, FieldDetailsList]] = LRUCache(maxsize=4096)


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (type, id(field details)) → (plan or None, the field details kept alive so the id
        # cannot be reused during the request), as graphql-core memoizes `collect_subfields`.
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Plan | None, object]] = {}
        location = self.operation.loc
        # No "@" in the text, no directive (an "@" in a string value only costs the sharing).
        self._shared = location is not None and "@" not in location.source.body

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
            if getattr(result, WAITING, False):
                standard = (return_type, field_details_list, info, path, result, position_context)
                return self._complete_waiting(plan, result, standard)
            try:
                return plan(result)
            except Exception:  # the standard path below gives the exact answer
                pass
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _complete_waiting(self, plan: Plan, result: Any, standard: tuple[Any, ...]) -> Any:
        """See `WAITING`: the plan's answer, with holes filled as their futures are done;
        `standard`: graphql-core's arguments, for its own path."""
        holes: list[_Hole] = []
        _HOLES.append(holes)
        try:
            data = plan(result)
        except Exception:
            data = None
        finally:
            _HOLES.pop()
        if data is None:
            return super().complete_object_value(*standard)
        if not holes:
            return data
        return self._fill(data, holes, standard)

    async def _fill(
        self, data: dict[str, Any], holes: list[_Hole], standard: tuple[Any, ...]
    ) -> dict[str, Any]:
        try:
            for hole, future, fill in holes:
                hole.update(fill(await future))
        except Exception:  # as if no plan had run: graphql-core awaits the same futures (a
            # failed fetch is kept by the loaders: nothing is fetched again)
            completed: Any = super().complete_object_value(*standard)
            if self.is_awaitable(completed):
                completed = await completed
            return cast("dict[str, Any]", completed)
        return data

    def _plan(self, object_type: GraphQLObjectType, fields: FieldDetailsList) -> Plan | None:
        key = (object_type, id(fields))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[0]
        shared_key = None
        if self._shared:
            shared_key = (object_type, tuple(id(details.node) for details in fields))
            shared = _SHARED.get(shared_key)
            if shared is not None:
                self._plans[key] = shared
                return shared[0]
        self._plans[key] = (None, fields)  # a selection reaching itself is not compiled
        try:
            plan = self._compile_object(object_type, fields)
        except Exception:  # whatever a plan cannot be made of is the standard path's
            plan = None
        self._plans[key] = (plan, fields)
        if shared_key is not None:
            _SHARED[shared_key] = (plan, fields)
        return plan

    def _compile_object(
        self, object_type: GraphQLObjectType, fields: FieldDetailsList
    ) -> Plan | None:
        grouped, new_defer_usages, *_ = self.collect_subfields(object_type, fields)
        if new_defer_usages:
            return None
        steps: list[_Step] = []
        for response_name, field_details in grouped.items():
            node = field_details[0].node
            name = node.name.value
            if name == "__typename":
                steps.append(_Step(response_name, _constant(object_type.name), _identity))
                continue
            field_def = self.schema.get_field(object_type, name)
            if field_def is None or field_def.args or node.arguments:
                return None
            definition = field_def.extensions.get(_DEFINITION)
            getter = _getter(object_type, name, definition)
            completer = self._completer(field_def.type, field_details)
            if getter is None or completer is None:
                return None
            attribute = None
            if isinstance(getter, operator.attrgetter):
                attribute = getattr(definition, "python_name", None)
            steps.append(_Step(response_name, getter, completer, attribute, _unchanged(field_def)))
        return _generate(steps, object_type.is_type_of)

    def _completer(
        self, output_type: GraphQLOutputType, fields: FieldDetailsList
    ) -> Completer | None:
        if isinstance(output_type, GraphQLNonNull) and isinstance(
            output_type.of_type, GraphQLObjectType
        ):
            plan = self._plan(output_type.of_type, fields)
            if plan is None:
                return None

            def required_object(value: Any) -> dict[str, Any]:  # one call where two would do
                if value is None or isinstance(value, Exception):
                    raise _BAIL
                if _HOLES and isinstance(value, asyncio.Future):
                    hole: dict[str, Any] = {}  # filled when the future is done (`WAITING`)
                    _HOLES[-1].append((hole, value, plan))
                    return hole
                return plan(value)

            return required_object
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


@dataclass(frozen=True, slots=True)
class _Step:
    """One response key of a plan: where its value comes from and how it is completed."""

    key: str
    getter: Getter
    completer: Completer
    attribute: str | None = None  # the getter reads this attribute: read inline
    unchanged: type | None = None  # a leaf's value of exactly this type is its own answer


def _generate(steps: list[_Step], is_type_of: Any) -> Plan:
    """The plan as one generated function: a dict display with one entry per key, attributes
    read inline and leaves of the exact type taken as they are (the technique of graphql-jit:
    a closure per field costs calls and tuple unpacking for every object of a page). Only
    `repr` of the response keys and attribute names that are identifiers reach the source.
    The source depends on the selection's shape only: compiled once per shape (`_factory`),
    the request's getters and completers are passed to it."""
    entries, values = [], []
    for i, step in enumerate(steps):
        values += [step.getter, step.completer, step.unchanged]
        read = f"get{i}(source)"
        attribute = step.attribute
        if attribute is not None and attribute.isidentifier() and not iskeyword(attribute):
            read = f"source.{attribute}"
        value = f"complete{i}({read})"
        if step.unchanged is not None:
            value = f"(value if type(value := {read}) is kind{i} else complete{i}(value))"
        entries.append(f"            {step.key!r}: {value},")
    parameters = ", ".join(f"get{i}, complete{i}, kind{i}" for i in range(len(steps)))
    check = ""
    if is_type_of is not None:
        # Strawberry's is_type_of reads no info (an isinstance check on the Node types).
        check = "        if not is_type_of(source, NO_INFO):\n            raise BAIL\n"
    body = "\n".join(entries)
    source = (
        f"def make(BAIL, NO_INFO, is_type_of, {parameters}):\n"
        f"    def plan(source):\n{check}        return {{\n{body}\n        }}\n"
        "    return plan\n"
    )
    plan: Plan = _factory(source)(_BAIL, _NO_INFO, is_type_of, *values)
    return plan


@functools.lru_cache(maxsize=1024)
def _factory(source: str) -> Callable[..., Plan]:
    names: dict[str, Any] = {}
    exec(compile(source, "<graph.fastpath plan>", "exec"), names)
    make: Callable[..., Plan] = names["make"]
    return make


def _unchanged(field_def: GraphQLField) -> type | None:
    """The Python type whose values a leaf field answers as they are (see `_leaf`); Int is
    left to its completer, which also checks the range."""
    output_type = field_def.type
    if isinstance(output_type, GraphQLNonNull):
        output_type = output_type.of_type
    if output_type in _BUILT_IN and output_type.name != "Int":
        return _UNCHANGED[output_type.name]
    return None


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
