"""What every layer reports about itself: the Prometheus metrics, the tracer (None unless
tracing is on) and the request id of the request a task serves. Here, below graph/, so that the
vendor clients, the caches and the index's sync can report without importing the app; the HTTP
side (`/metrics`, the request-id middleware, the log format, the tracer's set-up) is
graph/observability.py.

Every label has a bounded set of values, none of them client text: vendor (four), a vendor's
HTTP status (a known code, else its class), operation type, outcome, cache, breaker state. No
tenant label: /metrics carries no tenant's data, and an operator scrapes it without a key.

Multi-process (`serve --workers N`): prometheus-client picks its value store when it is first
imported, from PROMETHEUS_MULTIPROC_DIR; the supervisor sets it before spawning the workers
(graph/serving.py), each worker writes its own files there, and any worker's /metrics sums them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "BREAKERS",
    "CACHE_LOOKUPS",
    "INDEX_LAST_SYNC",
    "OPERATIONS",
    "OPERATION_SECONDS",
    "RATE_LIMIT_REFUSED",
    "RATE_LIMIT_WAITS",
    "RATE_LIMIT_WAIT_SECONDS",
    "REQUEST_ID",
    "RETRIES",
    "VENDOR_CALLS",
    "VENDOR_CALL_SECONDS",
    "index_synced",
    "status_label",
    "tracer",
    "use_tracer",
    "vendor_span",
]

# The request id of the HTTP request this task serves (set by graph/observability.py's
# middleware); tasks started for it (vendor calls) inherit it, and log lines carry it.
REQUEST_ID: ContextVar[str | None] = ContextVar("sessiongraph_request_id", default=None)

# A GraphQL operation lasts from milliseconds (cache) to the request timeout (10 s).
_OPERATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

OPERATIONS = Counter(
    "sessiongraph_operations",
    "GraphQL operations executed, by type (query, mutation) and outcome (ok: no error; "
    "partial: data and errors; error: no data).",
    ["type", "outcome"],
)
OPERATION_SECONDS = Histogram(
    "sessiongraph_operation_seconds",
    "Time to execute a GraphQL operation (parse to result), by type.",
    ["type"],
    buckets=_OPERATION_BUCKETS,
)
VENDOR_CALLS = Counter(
    "sessiongraph_vendor_calls",
    "HTTP requests sent to a vendor (each try, retries included), by vendor and status: the "
    "HTTP code when it is a common one, else its class (4xx, 5xx), or timeout/unreachable/"
    "failed when no answer came.",
    ["vendor", "status"],
)
VENDOR_CALL_SECONDS = Histogram(
    "sessiongraph_vendor_call_seconds",
    "Time one vendor request took (one try), by vendor.",
    ["vendor"],
    buckets=_OPERATION_BUCKETS,
)
RETRIES = Counter(
    "sessiongraph_vendor_retries", "Tries sent again after a failed one, by vendor.", ["vendor"]
)
CACHE_LOOKUPS = Counter(
    "sessiongraph_cache_lookups",
    "Lookups in the cross-request caches, by cache (session, agent) and outcome (hit, miss).",
    ["cache", "outcome"],
)
BREAKERS = Gauge(
    "sessiongraph_vendor_breakers",
    "Vendor clients (vendor and credential, per tenant) whose circuit breaker is in each state "
    "(CLOSED, OPEN, HALF_OPEN). OPEN turns HALF_OPEN when the breaker is next consulted.",
    ["vendor", "state"],
    multiprocess_mode="livesum",
)
RATE_LIMIT_WAITS = Counter(
    "sessiongraph_rate_limit_waits",
    "Vendor calls that waited for a token of the client-side rate limit, by vendor.",
    ["vendor"],
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "sessiongraph_rate_limit_wait_seconds",
    "Seconds vendor calls waited for the client-side rate limit, by vendor.",
    ["vendor"],
)
RATE_LIMIT_REFUSED = Counter(
    "sessiongraph_rate_limit_refused",
    "Vendor calls not sent: the next token came after their deadline (RATE_LIMITED), by vendor.",
    ["vendor"],
)
INDEX_LAST_SYNC = Gauge(
    "sessiongraph_index_last_sync_timestamp_seconds",
    "Unix time of the last successful sync of the least recently synced list of each vendor "
    "in the index (lag: time() - this).",
    ["vendor"],
    multiprocess_mode="max",  # whichever worker synced last
)

# The vendors' HTTP codes worth a value of their own; any other is counted by its class.
_KNOWN_STATUSES = frozenset({200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504})


def status_label(status: int | str) -> str:
    """A vendor call's status label: one of a bounded set, whatever the vendor sends."""
    if isinstance(status, str):
        return status  # timeout, unreachable, failed: the transport's own words
    if status in _KNOWN_STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


# The last successful sync of each list, by (tenant, vendor, scope): the gauge is the oldest
# of a vendor's. Bounded: the lists are the configured tenants' vendors and Vectara's agents.
_synced: dict[tuple[str, str, str], float] = {}


def index_synced(tenant: str, vendor: str, scope: str, at: float) -> None:
    """A list of the index was synced at `at` (Unix time)."""
    _synced[(tenant, vendor, scope)] = at
    oldest = min(t for (_, v, _), t in _synced.items() if v == vendor)
    INDEX_LAST_SYNC.labels(vendor).set(oldest)


# --- tracing ------------------------------------------------------------------------------------

_tracer: Tracer | None = None


def use_tracer(chosen: Tracer | None) -> None:
    """Spans go to `chosen` from now on; None: no spans (the default, at no cost)."""
    global _tracer
    _tracer = chosen


def tracer() -> Tracer | None:
    return _tracer


@contextmanager
def vendor_span(vendor: str, method: str) -> Iterator[Span | None]:
    """The span of one vendor request (a child of the operation's) when tracing is on, else
    None. No path or parameters: they hold session ids and filter values."""
    chosen = _tracer
    if chosen is None:
        yield None
        return
    attributes = {"http.request.method": method, "sessiongraph.vendor": vendor}
    with chosen.start_as_current_span(
        f"{vendor} {method}", kind=SpanKind.CLIENT, attributes=attributes
    ) as current:
        yield current


class VendorMetrics:
    """One vendor's metric series, looked up once (a `labels()` call costs a lock and a dict
    lookup: the vendor clients report several times per call)."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self._calls: dict[str, Counter] = {}
        self.call_seconds = VENDOR_CALL_SECONDS.labels(vendor)
        self.retries = RETRIES.labels(vendor)
        self.waits = RATE_LIMIT_WAITS.labels(vendor)
        self.wait_seconds = RATE_LIMIT_WAIT_SECONDS.labels(vendor)
        self.refused = RATE_LIMIT_REFUSED.labels(vendor)

    def called(self, status: int | str, seconds: float) -> None:
        label = status_label(status)
        series = self._calls.get(label)
        if series is None:
            series = self._calls[label] = VENDOR_CALLS.labels(self.vendor, label)
        series.inc()
        self.call_seconds.observe(seconds)

    def waited(self, seconds: float) -> None:
        self.waits.inc()
        self.wait_seconds.inc(seconds)
