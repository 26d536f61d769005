"""The garbage collector's settings for a serving process.

CPython's cyclic collector runs after every 700 net allocations of container objects; a merged
page decodes and maps a few hundred kilobytes of vendor JSON (tens of thousands of dicts, lists
and records), so one request triggered ~7 young collections and, every twenty requests or so, a
full one over every cached record: ~5 ms of CPU per merged page (a quarter of it), measured with
`gc.callbacks` in `python -m bench.cpu`. Almost all of that garbage is freed by reference
counting as soon as the request ends; the collector is only needed for cycles (asyncio's
futures and exceptions make a few), and finds them just as well ten thousand allocations later.

So a serving process never traverses what it built before serving: the imported modules, the
schema, compiled plans (`gc.freeze`, CPython's advice for long-lived servers,
https://docs.python.org/3/library/gc.html#gc.freeze), and collects less often than CPython's
default, but not rarely. Measured with `gc.callbacks` over 300 merged pages with details
(in-process, bench/RESULTS.md): at 5,000 the collections cost 0.56 ms a page, the longest
pause 1.6 ms; at 50,000, 0.09 ms a page, but each young collection was one pause of up to
26 ms, every few hundred small requests: p99 of `{ providers { ... } }` at one client 12.6 ms
against 1.8 ms at 5,000 (bare Strawberry 1.3 ms; `python -m bench --queries
small_cached,merged_details --concurrency 1`).
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "settle"]

# Young collection every 5,000 net allocations (not 700); the older generations as CPython's.
THRESHOLDS = (5_000, 10, 10)


def settle() -> None:
    """Called once a process has built its app, before it serves a request."""
    gc.collect()
    gc.freeze()  # what exists now lives as long as the process: never traversed again
    gc.set_threshold(*THRESHOLDS)
