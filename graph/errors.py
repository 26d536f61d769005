"""The one place errors become GraphQL errors.

- `SessionGraphError` (providers.errors): its message and its `extensions` (code, provider,
  retryable, retryAfter) go to the client as they are.
- Parse and validation errors get `GRAPHQL_PARSE_FAILED` / `GRAPHQL_VALIDATION_FAILED`, and a
  bad variable value `BAD_USER_INPUT`.
- Anything else is a bug: logged with its traceback, sent as `INTERNAL_SERVER_ERROR` with no
  detail.

Partial errors (a vendor down on a merged page), reported by resolvers through
`RequestContext.report`, are appended by `PartialErrors` with the path of their field, and
translated here like the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from providers.errors import SessionGraphError

__all__ = ["PartialErrors", "is_expected", "translate", "translate_result"]

log = logging.getLogger("sessiongraph")


def translate(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, SessionGraphError):
        return _with(error, original.message, original.extensions)
    if error.message.startswith("Variable '$"):
        # A variable's value the schema cannot take (wrong type, missing, a scalar that does
        # not parse): the client's mistake, and graphql-core's message names the variable.
        return _with(error, error.message, {"code": "BAD_USER_INPUT"})
    if isinstance(original, GraphQLError):
        return translate(original)
    if original is None:
        code = error.extensions.get("code") if error.extensions else None
        if code:
            return error
        if error.message.startswith("Syntax Error"):
            return _with(error, error.message, {"code": "GRAPHQL_PARSE_FAILED"})
        return _with(error, error.message, {"code": "GRAPHQL_VALIDATION_FAILED"})
    if error.path is None:
        # Raised while coercing arguments (a scalar's parser): the client's value is wrong.
        return _with(error, error.message, {"code": "BAD_USER_INPUT"})
    return _with(error, "Internal server error.", {"code": "INTERNAL_SERVER_ERROR"})


def is_expected(error: GraphQLError) -> bool:
    """A client's mistake or a vendor's failure: answered with a code, not worth a traceback
    in the log (a vendor failure is logged once, at warning level, without one)."""
    extensions = translate(error).extensions or {}
    return extensions.get("code") != "INTERNAL_SERVER_ERROR"


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def translate_result(result: ExecutionResult) -> ExecutionResult:
    """Called by the HTTP view on every result, parse failures included (Strawberry skips the
    extensions' post-operation hooks for those)."""
    if result.errors:
        result.errors = [translate(error) for error in result.errors]
    return result


class PartialErrors(SchemaExtension):
    """Adds the errors resolvers reported without failing their field."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        reported = getattr(self.execution_context.context, "partial_errors", ())
        if result is None or not reported:
            return
        errors = list(result.errors or ())
        for path, exc in reported:
            errors.append(GraphQLError(str(exc), path=path, original_error=exc))
        result.errors = errors
