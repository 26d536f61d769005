"""Every ```graphql block of README.md runs as pasted against the demo app and answers data.

A block may hold several operations: each must be named (GraphiQL runs one by its name), and
each is run by name, in the block's order. An operation whose `$id: ID!` has no default takes
the first id the block's previous operation answered, as a reader pastes it (the README says
so where it does that); any other variable without a default fails the test. "Answers data":
no `errors`, every root field non-null, no connection (`edges`, `nodes`) empty anywhere in
the answer, and no mutation payload holding `errors`.

The app is demo mode as `serve` runs it: the demo's default size and seed (from `Settings`),
open (no key), its index on a file (as demo mode's temporary one, which `auditRecords`
needs), at a fixed anchor and clock so that the answer does not depend on the day.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import NonNullTypeNode, OperationDefinitionNode, parse, print_ast

from graph.app import create_app
from graph.settings import Settings, load_settings
from resolvers.sources import demo_sources
from tests.conftest import ANCHOR
from tests.support import FakeClock

README = Path(__file__).parent.parent / "README.md"


def blocks() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)


def operations(block: str) -> list[OperationDefinitionNode]:
    return [d for d in parse(block).definitions if isinstance(d, OperationDefinitionNode)]


def required_variables(operation: OperationDefinitionNode) -> list[tuple[str, str]]:
    return [
        (v.variable.name.value, print_ast(v.type))
        for v in operation.variable_definitions or ()
        if isinstance(v.type, NonNullTypeNode) and v.default_value is None
    ]


def ids_in(value: Any) -> Iterator[str]:
    """The `id` values of an answer, depth first, in the order they appear."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                yield item
            else:
                yield from ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from ids_in(item)


def emptiness(value: Any, path: str = "") -> Iterator[str]:
    """Where an answer is empty: an empty connection, or a payload's non-empty `errors`."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key in ("edges", "nodes") and item == []:
                yield f"{here} is empty"
            elif key == "errors" and item:
                yield f"{here}: {item}"
            else:
                yield from emptiness(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from emptiness(item, f"{path}[{index}]")


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    clock = FakeClock(ANCHOR)
    settings = load_settings(
        {
            "SESSIONGRAPH_CURSOR_SECRET": "readme-examples",
            "SESSIONGRAPH_INDEX_URL": f"sqlite:///{tmp_path / 'index.db'}",
        }
    )
    sources = demo_sources(
        size=settings.demo_size, seed=settings.demo_seed, anchor=ANCHOR, clock=clock
    )
    app = create_app(settings, sources=sources, start_sync=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            yield client


def test_the_demo_is_the_documented_default() -> None:
    # README, Configuration: SESSIONGRAPH_DEMO_SIZE 300, SESSIONGRAPH_DEMO_SEED 1.
    assert (Settings.demo_size, Settings.demo_seed) == (300, 1)


def test_every_operation_of_every_block_is_named() -> None:
    found = [(index, op.name) for index, block in enumerate(blocks()) for op in operations(block)]
    assert len(found) >= 10  # the examples, the deletion and the audit
    assert [index for index, name in found if name is None] == []


@pytest.mark.parametrize("index", range(len(blocks())))
async def test_every_readme_block_runs_as_pasted_and_answers_data(
    demo: httpx.AsyncClient, index: int
) -> None:
    block = blocks()[index]
    previous: dict[str, Any] | None = None
    for operation in operations(block):
        assert operation.name is not None
        name = operation.name.value
        variables: dict[str, Any] = {}
        for variable, type_ in required_variables(operation):
            assert (variable, type_) == ("id", "ID!"), f"{name} needs ${variable}: {type_}"
            assert previous is not None, f"{name} needs an id and no operation came before"
            variables["id"] = next(ids_in(previous))
        response = await demo.post(
            "/graphql", json={"query": block, "operationName": name, "variables": variables}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, (name, body["errors"])
        data = body["data"]
        assert data and all(value is not None for value in data.values()), (name, data)
        assert list(emptiness(data)) == [], name
        previous = data


def test_the_readme_names_the_failed_refund_example_that_used_to_answer_nothing() -> None:
    # Issue 12: its text filter and window found nothing in demo mode; it now runs above.
    names = [op.name.value for block in blocks() for op in operations(block) if op.name]
    assert {"FailedRefunds", "OneAgent", "SessionById", "Delete", "Audit"} <= set(names)
