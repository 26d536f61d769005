"""The simulator base: an ASGI app per vendor that logs every request, applies the fault knobs,
checks the vendor's auth header, then serves the vendor's routes.

A simulator serves in-process (demo mode and tests: `transport()`) or as a real HTTP server
(`sessiongraph simulate`, the benchmark). Its data is generated from a seed, relative to an
anchor time (default: now, to the minute), so the default query window always holds it.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import httpx
import orjson
from starlette.applications import Starlette
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from providers.simulators.faults import Faults
from providers.simulators.request_log import RequestLog

__all__ = ["LIST_ORDERS", "JSONResponse", "SessionKey", "Simulator"]

# How a vendor without a promised order serves its list (StateSet, Vectara), so a sync can be
# tested against each: by start time, newest first; in the order sessions were added (the
# initial data oldest first, arrivals appended at the end); or a seeded shuffle, arrivals put
# anywhere. Vendors that promise an order ignore it.
LIST_ORDERS = ("newest-first", "insertion", "shuffled")


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Where one session sits in the vendor's data, in the simulator's own terms: what the
    benchmark's call minimums and the tests' oracles start from."""

    id: str
    agent_id: str | None  # the agent (Samsara id, Vectara key, …) the session belongs to
    started_at: datetime  # aware UTC


class Simulator(ABC):
    vendor: ClassVar[str]  # the vendor's name, as the gateway's `Provider` values spell it
    registry: ClassVar[dict[str, type[Simulator]]] = {}
    auth_header: ClassVar[str] = "authorization"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "vendor" in cls.__dict__:
            Simulator.registry[cls.vendor] = cls

    def __init__(
        self,
        *,
        size: int = 300,
        seed: int = 1,
        anchor: datetime | None = None,
        api_key: str | None = None,
        clock: Callable[[], datetime] | None = None,
        order: str = "shuffled",
        arrivals_per_hour: float = 0.0,
        deletions_per_hour: float = 0.0,
    ) -> None:
        # "Now" for the vendor's defaults, cursor and URL expiry and rate windows; tests pin it.
        self.clock: Callable[[], datetime] = clock or _utc_now
        self.size = size
        self.seed = seed
        self.anchor = anchor or self.clock().replace(second=0, microsecond=0)
        if order not in LIST_ORDERS:
            raise ValueError(f"order must be one of {', '.join(LIST_ORDERS)}")
        if arrivals_per_hour < 0 or deletions_per_hour < 0:
            raise ValueError("arrival and deletion rates cannot be negative")
        # The data changes over time (after the anchor, by `clock`): new sessions arrive at a
        # steady rate, active ones complete, some are deleted. 0: the data stays as generated.
        self.order = order
        self.arrivals_per_hour = arrivals_per_hour
        self.deletions_per_hour = deletions_per_hour
        self.api_key = api_key or f"demo-{self.vendor}-key"
        self.rng = random.Random(f"{self.vendor}:{seed}")
        self.log = RequestLog()
        self.faults = Faults()
        self.generate()
        self.app: ASGIApp = _Guard(self, Starlette(routes=list(self.routes())))

    # --- what each vendor's simulator supplies --------------------------------------------------

    @abstractmethod
    def generate(self) -> None:
        """Builds the dataset from `self.rng`, `self.size` and `self.anchor`."""

    @abstractmethod
    def routes(self) -> Sequence[BaseRoute]: ...

    @abstractmethod
    def error_response(self, status: int, message: str) -> Response:
        """The vendor's own error body for `status`."""

    @abstractmethod
    def authorized(self, header_value: str | None) -> bool:
        """Whether the value of `auth_header` carries this simulator's key."""

    @abstractmethod
    def session_keys(self) -> list[SessionKey]:
        """Every session the simulator holds, whatever its status."""

    @abstractmethod
    def agent_ids(self) -> tuple[str, ...]:
        """The agent ids to configure (Samsara ids, Vectara keys) to see every session."""

    def advance(self, now: datetime) -> None:
        """Brings the data up to `now` (arrivals, completions, deletions due by then). Called
        before every request is served; tests may call it to read the model as of a moment.
        Must be cheap when nothing is due. By default the data never changes."""
        return None

    # --- serving ----------------------------------------------------------------------------------

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    @property
    def base_url(self) -> str:
        return f"http://{self.vendor}.simulator"


class JSONResponse(StarletteJSONResponse):
    """Starlette's JSON answer (compact, UTF-8), encoded by orjson: the simulators share the
    benchmark's two cores with the gateway, and the stdlib encoder was a seventh of their CPU
    on a merged page."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Guard:
    """Log → faults → auth → routes, for every request."""

    def __init__(self, simulator: Simulator, app: ASGIApp) -> None:
        self.simulator = simulator
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sim = self.simulator
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth_value = headers.get(sim.auth_header)
        path: str = scope["path"]
        index = sim.log.record(
            scope["method"],
            path,
            scope.get("query_string", b"").decode("latin-1"),
            bool(auth_value),
            sim.clock(),
        )

        # The latency is the vendor's answer time: the answer starts `latency_s` after the
        # request came in (plus `hang_s` for a hang), this simulator's own work included, so a
        # big page costs no more than a small one and "every call takes 50 ms" holds. (Added
        # after the work, a page's rendering would count as the vendor's distance.)
        loop = asyncio.get_running_loop()
        faults: Faults = sim.faults
        due = loop.time() + faults.latency_s

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                sim.log.set_status(index, message["status"])  # answered: status known
            await send(message)

        sim.advance(sim.clock())
        decision = faults.decide(path, sim.clock().timestamp())
        if decision.hang:
            due += faults.hang_s
        if decision.status is not None:
            response = sim.error_response(decision.status, _REASONS.get(decision.status, "error"))
            if decision.retry_after is not None:
                response.headers["Retry-After"] = decision.retry_after
            await response(scope, receive, logged_send)
            return
        if decision.malformed or decision.wrong_shape:
            body = _WRONG_SHAPE if decision.wrong_shape else '{"data": [{"id": '
            broken = Response(body, media_type="application/json")
            await broken(scope, receive, logged_send)
            return
        if not sim.authorized(auth_value):
            await sim.error_response(401, "unauthorized")(scope, receive, logged_send)
            return
        await self.app(scope, receive, logged_send)


# Valid JSON that no vendor sends: every key an adapter reads is missing or of another type.
_WRONG_SHAPE = '{"data": {"unexpected": [1, 2]}, "sessions": 7, "hits": null, "events": "x"}'

_REASONS = {
    400: "bad request",
    429: "rate limit exceeded",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}
