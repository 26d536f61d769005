"""The second shard of the generated operations (tests/graph/test_fuzz.py says what is drawn,
sent and checked): a file of its own, so that `make test`, which gives each worker whole
files, runs it on another core than the first shard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.graph.test_fuzz import generated_shard, no_tracebacks_logged  # noqa: F401 (fixture)


async def test_generated_operations_never_fail_the_server_shard_1(
    tmp_path: Path,
    no_tracebacks_logged: Callable[[], list[str]],  # noqa: F811 (the fixture imported above)
) -> None:
    await generated_shard(1, tmp_path, no_tracebacks_logged)
