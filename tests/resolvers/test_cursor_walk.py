"""Every cursor of a walk through the demo's data (its size and seed: Samsara's stream then runs
over several vendor pages, so its cursors hold the vendor's own) is at most 160 characters, the
walk is the simulators' truth, and a cursor taken from the middle of a page resumes right after
its edge."""

from __future__ import annotations

from typing import Any

import pytest

from providers.query import SessionQuery, SortOrder
from providers.records import Provider
from resolvers.filters import EARLIEST, LATEST
from tests.conftest import running_gateway
from tests.resolvers.test_merged_connection import truth

DEMO_SIZE, DEMO_SEED = 300, 1  # resolvers.sources.demo_sources' defaults
PAGE = """
query Page($first: Int, $after: String, $order: SessionOrder) {
  sessions(first: $first, after: $after, orderBy: $order) {
    edges { cursor late node { provider providerSessionId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def ids(connection: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (e["node"]["provider"].lower(), e["node"]["providerSessionId"]) for e in connection["edges"]
    ]


@pytest.mark.parametrize("order", list(SortOrder), ids=lambda o: o.name)
async def test_a_demo_walk_has_cursors_of_160_characters_at_most(order: SortOrder) -> None:
    order_name = order.name
    async with running_gateway(size=DEMO_SIZE, seed=DEMO_SEED) as gateway:
        query = SessionQuery(started_after=EARLIEST, started_before=LATEST, order=order)
        expected = [(r.provider.value, r.id) for r in truth(gateway, query, set(Provider))]
        seen: list[tuple[str, str]] = []
        lengths: list[int] = []
        after = None
        while True:
            body = await gateway.query(PAGE, first=50, after=after, order=order_name)
            assert "errors" not in body, body
            connection = body["data"]["sessions"]
            edges = connection["edges"]
            lengths += [len(e["cursor"]) for e in edges]
            start = len(seen)
            seen += ids(connection)
            # A cursor from inside the page resumes right after its edge.
            middle = len(edges) // 3
            if edges and middle < len(edges) - 1:
                resumed = await gateway.query(
                    PAGE, first=4, after=edges[middle]["cursor"], order=order_name
                )
                assert ids(resumed["data"]["sessions"]) == expected[start + middle + 1 :][:4]
                assert not any(e["late"] for e in resumed["data"]["sessions"]["edges"])
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        assert seen == expected
        assert len(seen) == 4 * DEMO_SIZE
        assert max(lengths) <= 160, sorted(lengths)[-5:]
