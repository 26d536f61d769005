"""The GraphQL-over-HTTP status of an answer, from the result alone: 200 once execution ran; with
`application/graphql-response+json`, 400 for a request that could not run, 504 for one the
gateway stopped at its deadline, 500 for a failure of its own; the media type from `Accept`."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError
from strawberry.types import ExecutionResult

from graph.over_http import GRAPHQL_RESPONSE, ResponseFormat

STRICT = ResponseFormat(GRAPHQL_RESPONSE)
LEGACY = ResponseFormat("application/json")


def error(code: str, path: list[str | int] | None = None) -> GraphQLError:
    return GraphQLError("x", path=path, extensions={"code": code})


@pytest.mark.parametrize(
    ("data", "errors", "status"),
    [
        ({"providers": []}, None, 200),
        ({"sessions": None}, [error("UPSTREAM_UNAVAILABLE", ["sessions"])], 200),
        (None, [error("BAD_USER_INPUT", ["sessions"])], 200),  # ran; null by propagation
        (None, [error("GRAPHQL_PARSE_FAILED")], 400),
        (None, [error("GRAPHQL_VALIDATION_FAILED"), error("GRAPHQL_VALIDATION_FAILED")], 400),
        (None, [error("BAD_USER_INPUT")], 400),  # a variable's value
        (None, [error("QUERY_TOO_COSTLY")], 400),
        (None, [error("UPSTREAM_TIMEOUT")], 504),
        (None, [error("INTERNAL_SERVER_ERROR")], 500),
        (None, [error("GRAPHQL_VALIDATION_FAILED"), error("INTERNAL_SERVER_ERROR")], 500),
        (None, None, 200),
    ],
)
def test_the_status_of_a_result(
    data: dict[str, Any] | None, errors: list[GraphQLError] | None, status: int
) -> None:
    result = ExecutionResult(data=data, errors=errors)
    assert STRICT.status(result) == status
    assert LEGACY.status(result) == 200
    assert ("data" in STRICT.document(result)) is (status == 200)
    assert "data" in LEGACY.document(result)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("Application/GraphQL-Response+JSON", GRAPHQL_RESPONSE),
        (f"text/html, {GRAPHQL_RESPONSE} ; q=0.5", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0.0, application/json", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=high", GRAPHQL_RESPONSE),  # an unreadable weight: still listed
        ("application/graphql-response", "application/json"),
    ],
)
def test_the_media_type_from_accept(accept: str, media_type: str) -> None:
    assert ResponseFormat.of({"accept": accept}).media_type == media_type
