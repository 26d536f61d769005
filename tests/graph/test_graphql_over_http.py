"""GraphQL over HTTP: a client whose `Accept` names `application/graphql-response+json` gets that
media type and its status codes (400 and no `data` for a request that could not run, 200 once
execution ran, partial or null data included); any other client keeps `application/json` with
200 for every GraphQL answer."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from graph.app import create_app
from graph.settings import load_settings
from providers.records import Provider
from tests.conftest import SIZE, Gateway
from tests.support import sans_cost

GRAPHQL_RESPONSE = "application/graphql-response+json"
PROVIDERS = "{ providers { name } }"
NAMES = {"providers": [{"name": n} for n in ("SAMSARA", "STATESET", "VECTARA", "VONAGE")]}


async def post(gateway: Gateway, accept: str | None, payload: dict[str, Any]) -> Any:
    headers = {"accept": accept} if accept is not None else {}
    return await gateway.client.post("/graphql", json=payload, headers=headers)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"query": "{ providers { name "}, 400, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ providers { nam } }"}, 400, "GRAPHQL_VALIDATION_FAILED"),
        (
            {"query": "query($n: Int!) { sessions(first: $n) { totalCount } }", "variables": {}},
            400,
            "BAD_USER_INPUT",
        ),
    ],
    ids=["parse", "validation", "variables"],
)
async def test_a_request_that_cannot_run_is_400_without_data(
    gateway: Gateway, payload: dict[str, Any], status: int, code: str
) -> None:
    strict = await post(gateway, GRAPHQL_RESPONSE, payload)
    assert strict.status_code == status
    assert strict.headers["content-type"] == GRAPHQL_RESPONSE
    body = strict.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    legacy = await post(gateway, "application/json", payload)
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert legacy.json() == {"data": None, **body}
    assert sum(gateway.calls().values()) == 0


@pytest.mark.parametrize(
    "accept",
    [
        GRAPHQL_RESPONSE,
        f"{GRAPHQL_RESPONSE}, application/json;q=0.9",
        f"application/json;q=0.9, {GRAPHQL_RESPONSE};charset=utf-8",
    ],
)
async def test_an_answer_is_200_with_the_media_type_asked_for(
    gateway: Gateway, accept: str
) -> None:
    response = await post(gateway, accept, {"query": PROVIDERS})
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert sans_cost(response.json()) == {"data": NAMES}


@pytest.mark.parametrize(
    "accept", [None, "application/json", "*/*", f"{GRAPHQL_RESPONSE};q=0", "text/html;q=x"]
)
async def test_other_clients_get_application_json(gateway: Gateway, accept: str | None) -> None:
    response = await post(gateway, accept, {"query": PROVIDERS})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert sans_cost(response.json()) == {"data": NAMES}


async def test_a_field_error_after_execution_began_is_200_with_its_data(gateway: Gateway) -> None:
    """`sessions` refuses its arguments while executing: `data` is null by propagation, yet
    the request ran, so GraphQL over HTTP answers 200 with the `data` entry."""
    response = await post(
        gateway, GRAPHQL_RESPONSE, {"query": "{ sessions(first: 101) { totalCount } }"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["sessions"], "BAD_USER_INPUT")
    ]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
async def test_an_unknown_operation_name_is_a_bad_request(gateway: Gateway, accept: str) -> None:
    response = await post(gateway, accept, {"query": PROVIDERS, "operationName": "Nope"})
    assert response.status_code == 400
    assert sans_cost(response.json()) == {
        "errors": [
            {"message": 'Unknown operation named "Nope".', "extensions": {"code": "BAD_REQUEST"}}
        ]
    }


async def test_a_malformed_body_is_answered_in_the_media_type_asked_for(
    gateway: Gateway,
) -> None:
    response = await gateway.client.post(
        "/graphql",
        content=b"null",
        headers={"content-type": "application/json", "accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert [e["extensions"] for e in response.json()["errors"]] == [{"code": "BAD_REQUEST"}]


async def test_a_get_query_reads_its_variables_from_the_query_string(gateway: Gateway) -> None:
    query = "query($p: [Provider!]) { sessions(first: 1, filter: {providers: $p}) { totalCount } }"
    answer = await gateway.client.get(
        "/graphql", params={"query": query, "variables": '{"p": ["STATESET"]}'}
    )
    assert answer.status_code == 200
    # Every session of the simulator lies in the default window (tests/conftest.py).
    assert sans_cost(answer.json()) == {"data": {"sessions": {"totalCount": SIZE}}}
    assert gateway.calls()[Provider.STATESET] == 1
    broken = await gateway.client.get("/graphql", params={"query": query, "variables": "{p"})
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["message"].startswith("`variables` is not JSON: ")


async def test_another_method_on_graphql_is_405_with_a_graphql_error_body(
    gateway: Gateway,
) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        answer = await gateway.client.request(method, "/graphql", json={"query": "{ __typename }"})
        assert answer.status_code == 405
        assert answer.json() == {
            "errors": [
                {"message": "Method Not Allowed", "extensions": {"code": "METHOD_NOT_ALLOWED"}}
            ]
        }
        assert set(answer.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    elsewhere = await gateway.client.get("/nowhere")
    assert (elsewhere.status_code, elsewhere.json()) == (404, {"detail": "Not Found"})


def test_graphql_answers_without_dependency_injection() -> None:
    """GET and POST /graphql: one endpoint taking the request alone (the context is built in
    it), not Strawberry's, whose nested FastAPI dependencies were ~15% of a small query."""
    app = create_app(load_settings({}))
    # FastAPI 0.165 keeps an included router whole (`original_router`), its paths unprefixed.
    [router] = [r.original_router for r in app.routes if hasattr(r, "original_router")]
    routes = [r for r in router.routes if isinstance(r, APIRoute) and r.path == ""]
    assert [sorted(r.methods) for r in routes] == [["GET", "POST"]]
    [route] = routes
    assert route.dependant.dependencies == []
    assert [p.name for p in route.dependant.query_params + route.dependant.body_params] == []
