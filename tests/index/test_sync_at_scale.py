"""The index at volume: four vendors of 100,000 sessions each, merged pages against the
simulators' own order. A file of its own (from test_sync.py): its two cases take ~3 min each,
and pytest-xdist hands out whole files (`--dist loadfile`), so it now runs beside the other
sync tests instead of after them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from providers.records import Provider
from tests.index.test_sync import indexed

MERGED = """
query($first: Int, $after: String, $order: SessionOrder, $filter: SessionFilter) {
  sessions(first: $first, after: $after, orderBy: $order, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { node { provider providerSessionId startedAt } }
    sources { provider fromIndex }
  }
}
"""


async def test_merged_pages_equal_the_ground_truth_at_100k_sessions_per_vendor(
    index_url: str,
) -> None:
    """Four vendors of 100,000 sessions each: the first pages of the merged connection, both
    orders, unfiltered and in a window, are the simulators' own sessions in the one order, with
    no StateSet or Vectara list call once the index is READY."""
    # Samsara's oldest-first scan waits for its rate limit: on the test clock, that is no time.
    environ = {"SESSIONGRAPH_REQUEST_TIMEOUT_S": "600"}
    async with indexed(index_url, size=100_000, environ=environ) as gateway:
        await gateway.sync()
        now = gateway.clock.now()
        end = now.replace(microsecond=0) + timedelta(seconds=1)
        window = (now - timedelta(days=30), now - timedelta(days=20))
        keys = [
            (key.started_at, provider.value, key.agent_id or "", key.id)
            for provider, simulator in gateway.simulators.items()
            for key in simulator.session_keys()
        ]
        gateway.clear_logs()
        for newest_first in (True, False):
            for bounds in ((end - timedelta(days=90), end), window):
                # Oldest first, Samsara's stream (newest first only) is a scan bounded by
                # SESSIONGRAPH_SCAN_CAP, truncated at this volume (README: Bounded walks).
                vendors = [p for p in Provider if newest_first or p is not Provider.SAMSARA]
                wanted = sorted(
                    (
                        k
                        for k in keys
                        if bounds[0] <= k[0] < bounds[1] and Provider(k[1]) in vendors
                    ),
                    reverse=newest_first,
                )
                variables: dict[str, Any] = {
                    "order": "NEWEST_FIRST" if newest_first else "OLDEST_FIRST",
                    "filter": {
                        "startedAfter": bounds[0].isoformat(),
                        "startedBefore": bounds[1].isoformat(),
                        "providers": [p.name for p in vendors],
                    },
                }
                seen: list[tuple[str, str]] = []
                after = None
                for _ in range(2):
                    body = await gateway.query(MERGED, first=100, after=after, **variables)
                    assert "errors" not in body, body["errors"]
                    page = body["data"]["sessions"]
                    seen += [
                        (e["node"]["provider"].lower(), e["node"]["providerSessionId"])
                        for e in page["edges"]
                    ]
                    after = page["pageInfo"]["endCursor"]
                assert seen == [(k[1], k[3]) for k in wanted[: len(seen)]]
                assert len(seen) == 200
        calls = gateway.calls()
        assert calls[Provider.STATESET] == calls[Provider.VECTARA] == 0
