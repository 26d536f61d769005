"""graph/hooks.py: the schema's extension hooks, wrapped once per hook function, behave as
Strawberry's own runner makes them: the same hooks, entered and left in the same order, seeing
the same exceptions, whatever kind of hook (generator, plain or async function, async
generator) an extension has."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from graph.hooks import CachedHooksRunner


class Boom(Exception):
    pass


def recording(name: str, log: list[str]) -> list[SchemaExtension]:
    class Generator(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append(f"{name}:generator operation in")
            try:
                yield
            except Boom:
                log.append(f"{name}:generator operation saw Boom")
                raise
            log.append(f"{name}:generator operation out")

        def on_validate(self) -> Iterator[None]:
            log.append(f"{name}:generator validate in")
            yield
            log.append(f"{name}:generator validate out")

    class Plain(SchemaExtension):
        def on_operation(self) -> None:  # type: ignore[override]
            log.append(f"{name}:plain operation")

        async def on_parse(self) -> None:  # type: ignore[override]
            log.append(f"{name}:coroutine parse")

    class AsyncGenerator(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
            log.append(f"{name}:async generator operation in")
            yield
            log.append(f"{name}:async generator operation out")

    class NoHooks(SchemaExtension):
        pass

    return [Generator(), NoHooks(), Plain(), AsyncGenerator(), Generator()]


async def run_phases(runner_kind: type[SchemaExtensionsRunner], fail: bool) -> list[str]:
    log: list[str] = []
    runner: Any = runner_kind(None, recording("x", log))  # type: ignore[arg-type]
    try:
        async with runner.operation():
            async with runner.parsing():
                log.append("parse body")
            async with runner.validation():
                log.append("validate body")
            async with runner.executing():
                if fail:
                    raise Boom
                log.append("execute body")
    except Boom:
        log.append("Boom left the operation")
    return log


@pytest.mark.parametrize("fail", [False, True])
async def test_the_same_hooks_run_in_the_same_order_as_strawberrys_runner(fail: bool) -> None:
    ours = await run_phases(CachedHooksRunner, fail)
    strawberrys = await run_phases(SchemaExtensionsRunner, fail)
    assert ours == strawberrys
    # And the recording is not empty of the kinds it means to compare.
    assert ours.count("x:generator operation in") == 2
    assert "x:coroutine parse" in ours and "x:async generator operation in" in ours
    assert ("x:generator operation saw Boom" in ours) is fail


async def test_each_request_gets_its_own_hook_instances() -> None:
    """The wrapper is shared; the generator, and the extension it runs for, are the request's."""
    first: list[str] = []
    second: list[str] = []
    runner_a: Any = CachedHooksRunner(None, recording("a", first))  # type: ignore[arg-type]
    runner_b: Any = CachedHooksRunner(None, recording("b", second))  # type: ignore[arg-type]
    async with runner_a.validation(), runner_b.validation():
        pass
    assert first == ["a:generator validate in"] * 2 + ["a:generator validate out"] * 2
    assert second == ["b:generator validate in"] * 2 + ["b:generator validate out"] * 2
