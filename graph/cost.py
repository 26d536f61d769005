"""A query's cost in vendor calls: priced before it runs, refused over the limit, and reported
on every response as `extensions.cost { estimated actual }` (as Shopify and GitHub report theirs).

`QueryCost` reads the operation to run (fields, arguments, variables, aliases, fragments) into
the asks of `resolvers.cost` and prices them with the request's adapters, right after the
(cached) validation, once the document is known valid. The price depends on the variables and on
the adapters, which the validation cache does not key on, so it is computed per request: by a
direct walk of the operation (graphql-core's `validate` with a rule of its own would build a
type info and a visitor per request for the same answer, ~1 ms). Over
`SESSIONGRAPH_MAX_COST`: one `QUERY_TOO_COSTLY` error with `cost` and `maxCost`, and not a
single vendor call.

An operation that will run is then charged to its API key's cost a minute (graph/quota.py):
over it, one `RATE_LIMITED` error (the router answers 429 with Retry-After), no vendor call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_operation_ast,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.arguments import convert_argument

from graph.federation import MAX_IDS, representation_ids
from graph.inputs import SessionFilter
from graph.lookahead import DETAIL_FIELDS
from graph.quota import KeyLimits
from providers.budget import RequestBudget, current_budget, request_budget
from providers.clock import SYSTEM_CLOCK
from providers.errors import UserInputError
from providers.query import SortOrder
from providers.records import Provider
from resolvers.context import RequestContext
from resolvers.cost import (
    AgentAsk,
    AgentsAsk,
    Ask,
    ConnectionAsk,
    DeleteAsk,
    LookupAsk,
    Pricing,
    SessionAsk,
)
from resolvers.filters import SessionFilterSpec
from resolvers.nodes import parse_agent_node_id, parse_session_node_id

__all__ = ["QueryCost", "cost_extensions"]

# Session fields that may need the vendor's detail call: the detail fields, and the times some
# vendors' lists leave out (Vectara's end is its last event).
_NEEDS_DETAILS = DETAIL_FIELDS | {"endedAt", "durationMs"}
# Agent fields read from the agent lookup.
_AGENT_RECORD = frozenset({"name", "description", "model", "enabled"})


@dataclass
class _Request:
    """What pricing needs of one request."""

    document: DocumentNode
    operation: OperationDefinitionNode
    variables: VariableValues
    pricing: Pricing
    schema: Any  # the Strawberry schema: converts a filter's value as the resolver gets it
    max_cost: int
    tag: str  # the asking tenant's, which node ids carry
    estimated: int = 0


def too_costly(node: OperationDefinitionNode, cost: int, max_cost: int) -> GraphQLError:
    return GraphQLError(
        f"This query may cost up to {cost} vendor calls; this server allows {max_cost}. "
        "Ask for smaller pages, fewer aliases or nested connections, or no detail fields.",
        node,
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": max_cost},
    )


def too_costly_for_key(node: OperationDefinitionNode, cost: int, per_min: int) -> GraphQLError:
    return GraphQLError(
        f"This query may cost up to {cost} vendor calls; this API key may spend {per_min} a "
        "minute, so it can never run. Ask for smaller pages, fewer aliases or nested "
        "connections, or no detail fields.",
        node,
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": per_min},
    )


class QueryCost(SchemaExtension):
    """Prices the operation once validation passed, refuses it over `max_cost` or over its key's
    cost a minute (`quota`), and reports `cost { estimated actual }`: actual is the vendor
    calls the request made."""

    def __init__(self, max_cost: int, quota: KeyLimits | None = None) -> None:
        self.max_cost = max_cost
        self.quota = quota
        self.estimated = 0
        self.budget: RequestBudget | None = None

    def on_operation(self) -> Iterator[None]:
        self.budget = current_budget()
        if self.budget is not None:
            yield
            return
        # The HTTP router opens each request's budget (graph/deadline.py); an execution outside
        # it (`schema.execute` in a script or a test) gets one without a deadline here.
        requested = self.execution_context.context
        clock = requested.sources.clock if isinstance(requested, RequestContext) else SYSTEM_CLOCK
        with request_budget(None, clock) as budget:
            self.budget = budget
            yield

    def on_validate(self) -> Iterator[None]:
        # Before the hook yields: strawberry checks for errors before the hooks resume. The
        # validation cache, listed before this extension, has validated the document by now;
        # without one, it is validated here (and strawberry then skips its own pass).
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document is not None:
            context.pre_execution_errors = validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
        if context.graphql_document is not None and not context.pre_execution_errors:
            errors = self._price(context.graphql_document)  # an invalid one never runs: free
            if errors:
                context.pre_execution_errors = errors  # a new list: the cached one stays as is
        yield

    def _price(self, document: DocumentNode) -> list[GraphQLError]:
        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        operation = get_operation_ast(document, self.execution_context.operation_name)
        if operation is None or _PRICED_ROOTS.isdisjoint(_root_names(operation, fragments.get)):
            # Nothing priced (`{ providers { … } }`, introspection): 0, refused never, charged
            # nothing; without reading variables, the time or the vendors' state.
            return []
        request = self._request(document, operation)
        if request is None:
            return []
        reader = _Reader(self.execution_context.schema._schema, fragments.get, request)
        self.estimated = request.estimated = request.pricing.total(
            reader.operation(request.operation)
        )
        if request.estimated > request.max_cost:
            return [too_costly(request.operation, request.estimated, request.max_cost)]
        return self._charge(request)

    def _charge(self, request: _Request) -> list[GraphQLError]:
        """Charges the estimate of an operation that will run to its key, before any call."""
        requested = self.execution_context.context
        if self.quota is None or not isinstance(requested, RequestContext):
            return []
        key_id = requested.principal.key_id
        per_min = self.quota.cost_per_min(key_id)
        if per_min and request.estimated > per_min:
            return [too_costly_for_key(request.operation, request.estimated, per_min)]
        now = requested.sources.clock.monotonic()
        refused = self.quota.charge_cost(key_id, request.estimated, now)
        if refused is None:
            return []
        return [GraphQLError(refused.message, request.operation, extensions=refused.extensions)]

    def _request(
        self, document: DocumentNode, operation: OperationDefinitionNode
    ) -> _Request | None:
        context = self.execution_context
        requested = context.context
        if not isinstance(requested, RequestContext):
            return None  # no vendors to price against (a script's `schema.execute`)
        variables = get_variable_values(
            context.schema._schema, operation.variable_definitions or (), context.variables or {}
        )
        if isinstance(variables, list):
            return None  # refused as BAD_USER_INPUT before any call
        sources = requested.sources
        pricing = Pricing(
            sources.adapters, requested.limits, sources.clock.now(), listers=sources.listers
        )
        return _Request(
            document,
            operation,
            variables,
            pricing,
            context.schema,
            self.max_cost,
            requested.audience.tag,
        )

    def get_results(self) -> dict[str, Any]:
        actual = self.budget.calls if self.budget is not None else 0
        return {"cost": {"estimated": self.estimated, "actual": actual}}


def cost_extensions(
    max_cost: int, quota: KeyLimits | None = None
) -> list[Callable[[], SchemaExtension]]:
    """The schema's extensions for query cost, to list after the validation cache
    (graph/introspection.py `SchemaDisclosure`, whose answer they read, and which would
    otherwise overwrite a refusal): the rule class is built once,
    the extension per request. `quota`: the app's limits per key (None: none)."""
    return [lambda: QueryCost(max_cost, quota)]


def _root_names(
    node: OperationDefinitionNode | FragmentDefinitionNode | InlineFragmentNode,
    fragment: Callable[[str], FragmentDefinitionNode | None],
) -> Iterator[str]:
    """Every field name selected at the root, through every fragment whatever its type
    condition (more than `_Reader.fields` keeps: enough to tell an operation priced nothing).
    The document is valid: fragments exist and do not cycle."""
    for selection in node.selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, FragmentSpreadNode):
            spread = fragment(selection.name.value)
            if spread is not None:
                yield from _root_names(spread, fragment)
        else:
            yield from _root_names(cast(InlineFragmentNode, selection), fragment)


class _Reader:
    """Reads an operation into `resolvers.cost` asks. Every field counts each time it is
    selected (aliases, fragments); `@skip`/`@include` are not read: the worst case counts them."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragment: Callable[[str], Any],
        request: _Request,
    ) -> None:
        self.schema = schema
        self.fragment = fragment
        self.request = request
        self.types = {
            name: schema.get_type(name)
            for name in (
                *("Session", "Agent"),
                *("SessionConnection", "SessionEdge", "AgentConnection", "AgentEdge"),
            )
        }

    def operation(self, node: OperationDefinitionNode) -> list[Ask]:
        asks: list[Ask] = []
        root = self.schema.get_root_type(node.operation)  # Query or Mutation
        for field, definition in self.fields(node.selection_set, root):
            ask_of = _ROOT_ASKS.get(field.name.value)
            if ask_of is None:
                continue  # no vendor call: free
            ask = ask_of(self, field, self.arguments(field, definition))
            if ask is not None:
                asks.append(ask)
        return asks

    def lookup_id(self, field: FieldNode, args: dict[str, Any]) -> LookupAsk:
        return self.lookup(field, [args["id"]])

    def delete(self, field: FieldNode, args: dict[str, Any]) -> DeleteAsk:
        kind = _node_kind(args["id"], self.request.tag)
        return DeleteAsk(kind[1] if kind is not None and kind[0] == "Session" else None)

    # --- what each field asks -------------------------------------------------------------

    def connection(self, field: FieldNode, args: dict[str, Any]) -> ConnectionAsk | None:
        spec = self.filter(args.get("filter"))
        if spec is None:
            return None  # refused by the resolver before any call
        order = args.get("orderBy")
        each = SessionAsk()
        for nodes in self.nodes(field, "SessionConnection", "SessionEdge"):
            each |= self.session(nodes)
        return ConnectionAsk(
            spec=spec,
            order=order.sort_order if order is not None else SortOrder.NEWEST_FIRST,
            first=args.get("first"),
            last=args.get("last"),
            lookahead=_selects_details(field.selection_set, self.fragment),
            each=each,
        )

    def agents(self, field: FieldNode, args: dict[str, Any]) -> AgentsAsk:
        providers = args.get("providers")
        each = AgentAsk()
        for nodes in self.nodes(field, "AgentConnection", "AgentEdge"):
            each |= self.agent(nodes)
        return AgentsAsk(
            providers=frozenset(providers) if providers else None,
            first=args.get("first"),
            each=each,
        )

    def nodes(
        self, field: FieldNode, connection: str, edge: str
    ) -> Iterator[SelectionSetNode | None]:
        """What a connection selects on its nodes: `nodes { … }`, `edges { node { … } }`."""
        for part, _ in self.fields(field.selection_set, self.types[connection]):
            if part.name.value == "nodes":
                yield part.selection_set
            elif part.name.value == "edges":
                for node, _ in self.fields(part.selection_set, self.types[edge]):
                    if node.name.value == "node":
                        yield node.selection_set

    def lookup(self, field: FieldNode, ids: list[str]) -> LookupAsk:
        sessions: list[Provider] = []
        agents: list[Provider] = []
        for global_id in ids:
            kind = _node_kind(global_id, self.request.tag)
            if kind is not None:
                (sessions if kind[0] == "Session" else agents).append(kind[1])
        return LookupAsk(
            sessions=tuple(sessions),
            agents=tuple(agents),
            lookahead=_selects_details(field.selection_set, self.fragment),
            session=self.session(field.selection_set),
            agent=self.agent(field.selection_set),
        )

    def entities(self, field: FieldNode, representations: list[Any]) -> LookupAsk | None:
        """`_entities`: a lookup of the representations' ids, as `nodes`; None when the
        resolver refuses them (too many, malformed), before any call."""
        try:
            ids = representation_ids(representations)
        except UserInputError:
            return None
        return self.lookup(field, ids)

    def session(self, selection_set: SelectionSetNode | None) -> SessionAsk:
        ask = SessionAsk()
        for field, _ in self.fields(selection_set, self.types["Session"]):
            name = field.name.value
            if name in _NEEDS_DETAILS:
                ask |= SessionAsk(details=True)
            elif name == "agent":
                ask |= SessionAsk(agent=self.agent(field.selection_set))
        return ask

    def agent(self, selection_set: SelectionSetNode | None) -> AgentAsk:
        ask = AgentAsk()
        for field, definition in self.fields(selection_set, self.types["Agent"]):
            name = field.name.value
            if name in _AGENT_RECORD:
                ask |= AgentAsk(record=True)
            elif name == "sessions":
                connection = self.connection(field, self.arguments(field, definition))
                if connection is not None:
                    ask |= AgentAsk(sessions=(connection,))
        return ask

    # --- reading the document -------------------------------------------------------------

    def fields(
        self, selection_set: SelectionSetNode | None, parent: Any
    ) -> Iterator[tuple[FieldNode, GraphQLField]]:
        """The fields selected on an object of type `parent`, through the fragments that apply
        to it (`__typename` left out). The document is valid: every fragment exists."""
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                definition = parent.fields.get(selection.name.value)
                if definition is not None:
                    yield selection, definition
                continue
            fragment: FragmentDefinitionNode | InlineFragmentNode
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragment(selection.name.value)
            else:
                fragment = cast(InlineFragmentNode, selection)
            if self.applies(fragment.type_condition, parent):
                yield from self.fields(fragment.selection_set, parent)

    def applies(self, condition: NamedTypeNode | None, parent: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        named = self.schema.get_type(condition.name.value)
        return named is parent or (
            isinstance(named, GraphQLInterfaceType | GraphQLUnionType)
            and self.schema.is_sub_type(named, parent)
        )

    def arguments(self, field: FieldNode, definition: GraphQLField) -> dict[str, Any]:
        """The field's arguments as its resolver gets them (variables and defaults applied)."""
        return get_argument_values(definition, field, self.request.variables)

    def filter(self, value: Any) -> SessionFilterSpec | None:
        """The validated filter, as the resolver builds it; None when the resolver refuses it."""
        if value is None:
            return SessionFilterSpec()
        schema = self.request.schema
        converted = convert_argument(
            value, SessionFilter, schema.schema_converter.scalar_registry, schema.config
        )
        assert isinstance(converted, SessionFilter)
        try:
            return converted.to_spec(self.request.tag)
        except UserInputError:
            return None


def _node_kind(global_id: str, tag: str) -> tuple[str, Provider] | None:
    """The type and vendor a node id names; None for an id the resolver refuses (no call)."""
    try:
        parsed = relay.GlobalID.from_id(global_id)
        if parsed.type_name == "Session":
            return "Session", parse_session_node_id(parsed.node_id, tag).provider
        if parsed.type_name == "Agent":
            return "Agent", parse_agent_node_id(parsed.node_id, tag)[0]
    except Exception:  # whatever does not parse, the resolver refuses the same way
        return None
    return None


def _selects_details(
    selection_set: SelectionSetNode | None, fragment: Callable[[str], Any]
) -> bool:
    """The resolvers' lookahead (graph.lookahead.selects_any) on the document: a detail field
    named anywhere below, through every fragment."""
    pending = [selection_set]
    while pending:
        current = pending.pop()
        for selection in current.selections if current is not None else ():
            if isinstance(selection, FieldNode) and selection.name.value in DETAIL_FIELDS:
                return True
            if isinstance(selection, FragmentSpreadNode):
                pending.append(fragment(selection.name.value).selection_set)
            else:
                pending.append(cast(FieldNode | InlineFragmentNode, selection).selection_set)
    return False


# What each priced root field asks (`_Reader.operation`); any other root field costs nothing.
_ROOT_ASKS: dict[str, Callable[[_Reader, FieldNode, dict[str, Any]], Ask | None]] = {
    "sessions": _Reader.connection,
    "agents": _Reader.agents,
    "node": _Reader.lookup_id,
    "session": _Reader.lookup_id,
    "agent": _Reader.lookup_id,
    # Over MAX_IDS the resolver refuses the ids before any call.
    "nodes": lambda reader, field, args: (
        reader.lookup(field, args["ids"]) if len(args["ids"]) <= MAX_IDS else None
    ),
    "_entities": lambda reader, field, args: reader.entities(field, args["representations"]),
    "deleteSession": _Reader.delete,
}
_PRICED_ROOTS = frozenset(_ROOT_ASKS)
