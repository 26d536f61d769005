"""The queries the benchmark drives, by name, and how their request bodies are built.

`merged_details` and `merged_list` are the merged connection with and without detail fields;
`stateset_page` is StateSet's 50 newest sessions with transcript turns and tool-call names (the
page of issue 10's CPU target, the query of `bench.cpu`); `nodes_50` refetches 50 sessions of
all four vendors by id (the ids are read from the gateway at start-up); `small_cached` needs no
vendor at all and is the query of the ceiling ratio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from providers.records import Provider

__all__ = [
    "ID_QUERY",
    "NODES_COUNT",
    "PAGE_SIZE",
    "QUERIES",
    "STATESET_PAGE",
    "BenchQuery",
    "pick_node_ids",
]

PAGE_SIZE = 50  # `first` of the merged queries
NODES_COUNT = 50  # ids in `nodes_50`


@dataclass(frozen=True, slots=True)
class BenchQuery:
    name: str
    text: str
    kind: str  # "merged" (a `sessions` page), "nodes" or "local" (no vendor)
    details: bool  # selects fields that need the vendors' detail calls
    ceiling: bool = False  # measured against the bare Strawberry app too
    providers: frozenset[Provider] | None = None  # a merged page's `providers` filter

    def body(self, node_ids: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON body of the POST; `nodes` queries take the ids as `$ids`."""
        body: dict[str, Any] = {"query": self.text}
        if self.kind == "nodes":
            body["variables"] = {"ids": list(node_ids)}
        return body


MERGED_DETAILS = BenchQuery(
    name="merged_details",
    kind="merged",
    details=True,
    text=(
        f"query MergedDetails {{ sessions(first: {PAGE_SIZE}) {{ "
        "edges { node { id provider startedAt status "
        "transcript { turns { speaker text } } "
        "toolCalls { name arguments status } } } "
        "pageInfo { hasNextPage endCursor } } }"
    ),
)

# Only fields every vendor's list endpoint carries: none of them may cost a detail call.
MERGED_LIST = BenchQuery(
    name="merged_list",
    kind="merged",
    details=False,
    text=(
        f"query MergedList {{ sessions(first: {PAGE_SIZE}) {{ "
        "edges { node { id provider providerSessionId startedAt status rawStatus channel } } "
        "pageInfo { hasNextPage endCursor } } }"
    ),
)

# Issue 10's "50-session StateSet page" of the CPU target: the text of bench/cpu.py's, so the
# two measure the same work (no `id`: the page check compares its nodes whole).
STATESET_PAGE = BenchQuery(
    name="stateset_page",
    kind="merged",
    details=True,
    providers=frozenset({Provider.STATESET}),
    text=(
        f"query StateSetPage {{ sessions(first: {PAGE_SIZE}, filter: {{providers: [STATESET]}}) "
        "{ edges { node { transcript { turns { speaker text } } toolCalls { name } } } } }"
    ),
)

NODES_50 = BenchQuery(
    name="nodes_50",
    kind="nodes",
    details=False,
    text=(
        "query Nodes50($ids: [ID!]!) { nodes(ids: $ids) { id "
        "... on Session { provider providerSessionId startedAt status } } }"
    ),
)

SMALL_CACHED = BenchQuery(
    name="small_cached",
    kind="local",
    details=False,
    ceiling=True,
    text="{ providers { name mode enabled } }",
)

QUERIES: Mapping[str, BenchQuery] = {
    q.name: q for q in (MERGED_DETAILS, MERGED_LIST, STATESET_PAGE, NODES_50, SMALL_CACHED)
}

# Read once at start-up: the ids `nodes_50` asks for.
ID_QUERY = "{ sessions(first: 100) { edges { node { id provider } } } }"


def pick_node_ids(edges: Sequence[Mapping[str, Any]], count: int = NODES_COUNT) -> list[str]:
    """`count` session ids spread over the vendors: round robin in each vendor's page order."""
    by_provider: dict[str, list[str]] = {}
    for edge in edges:
        node = edge["node"]
        by_provider.setdefault(str(node["provider"]), []).append(str(node["id"]))
    queues = [by_provider[p] for p in sorted(by_provider)]
    picked: list[str] = []
    for index in range(max((len(q) for q in queues), default=0)):
        for queue in queues:
            if index < len(queue) and len(picked) < count:
                picked.append(queue[index])
    if len(picked) < count:
        raise RuntimeError(f"the gateway listed only {len(picked)} sessions, {count} are needed")
    return picked
