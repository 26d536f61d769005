"""The HTTP boundary: the only place where HTTP libraries and vendor error bodies are turned
into `providers.errors`. One `VendorClient` per vendor and credential wraps one HTTP client
(`open_http`) and everything that protects the vendor and the request from each other, per call:

    circuit breaker ─▶ rate limit ─▶ deadline ─▶ send ─▶ retry?
    (`breaker`)        (`ratelimit`)  (`budget`)           (`retries`)

- Deadline: each attempt gets min(its own timeout, what is left of the request's budget); with
  nothing left, nothing is sent. Every request sent is counted in the budget (the actual cost).
- Rate limit: a call waits for a token while the wait fits the deadline, else fails as rate
  limited with the wait as `retry_after`. Background calls (`budget.background_calls`) leave a
  share of the burst to queries. A vendor's 429 pauses the bucket until its Retry-After.
- Breaker: while open, calls fail at once as unavailable, `retry_after` the time to the probe.
- Retries: 429 (when the vendor's Retry-After is short), 502/503/504 and refused connections,
  at most `RetryPolicy.attempts` tries, full-jitter back-off, within the client's retry budget
  and never past the deadline; timeouts are not retried (the time is spent).

The HTTP client (SESSIONGRAPH_HTTP_TRANSPORT): "aiohttp", aiohttp's own client, the default:
its pool stays fast at 50+ concurrent calls where httpx's turns CPU-bound (httpx #3215), and a
call costs 0.4-0.6 ms less CPU than through httpx's API over aiohttp (`python -m bench.mapping`);
"httpx", httpx's own; and httpx over a transport the caller gives (the in-process simulators of
demo mode, test doubles). Whichever it is, its low-level failures are read through one table
(`_LOW_LEVEL`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import aiohttp
import httpx
import orjson
from yarl import URL

from providers.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    Health,
    Pass,
)
from providers.budget import current_budget, current_pacing
from providers.clock import SYSTEM_CLOCK, Clock
from providers.errors import (
    ProviderError,
    UpstreamAuthError,
    UpstreamNotFoundError,
    UpstreamProtocolError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from providers.ratelimit import TokenBucket, WaitTooLong
from providers.records import Provider
from providers.retries import RetryBudget, RetryPolicy
from providers.settings import Secret
from providers.telemetry import VendorMetrics, vendor_span

__all__ = [
    "BreakerState",
    "ErrorReader",
    "Health",
    "Http",
    "RetryPolicy",
    "VendorClient",
    "VendorResponse",
    "open_http",
    "parse_retry_after",
    "reading",
    "sanitised",
]

log = logging.getLogger("sessiongraph")

if TYPE_CHECKING:
    from opentelemetry.trace import Span

Params = Mapping[str, str | int | float | bool]


class VendorResponse(Protocol):
    """A vendor's answer, whichever client carried it (`httpx.Response` is one)."""

    @property
    def status_code(self) -> int: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def headers(self) -> Mapping[str, str]: ...  # names in any case
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class Http(Protocol):
    """One vendor's HTTP client: requests relative to its base URL, with its headers."""

    async def request(self, method: str, path: str, params: Params | None) -> VendorResponse: ...
    async def aclose(self) -> None: ...


# Reads a vendor's error body: returns the message and, where the vendor's status code means
# something unusual (Vonage's 401 for bad parameters), the error class to raise instead.
ErrorReader = Callable[[VendorResponse], tuple[str, type[ProviderError] | None]]

_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; Samsara sends fractions (`0.40235`)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare for APIs; treat as unknown
    return max(0.0, seconds)


def status_error_class(status: int) -> type[ProviderError]:
    if status in (401, 403):
        return UpstreamAuthError
    if status == 404:
        return UpstreamNotFoundError
    if status == 429:
        return UpstreamRateLimitedError
    if status >= 500:
        return UpstreamUnavailableError
    return UpstreamRejectedError


# What was wrong with a body we could not map, in words: clients read the message, and a Python
# class name tells them nothing. The class goes to the log.
_UNREADABLE = {
    orjson.JSONDecodeError: "the body is not JSON",
    KeyError: "a field it always sends is missing",
    TypeError: "a value is not of the expected type",
    AttributeError: "a part of it does not have the expected shape",
    IndexError: "a list is shorter than expected",
    ValueError: "a value is not in the expected format",
}


@contextmanager
def reading(provider: Provider) -> Iterator[None]:
    """Turns a body we cannot map (missing key, wrong type, bad value) into one typed error."""
    try:
        yield
    except ProviderError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        log.debug("%s: unreadable response: %s: %s", provider.name, type(exc).__name__, exc)
        what = next(text for kind, text in _UNREADABLE.items() if isinstance(exc, kind))
        if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
            what = f"the field {exc.args[0]!r} is missing"
        raise UpstreamProtocolError(
            f"{provider.name} sent a response sessiongraph cannot read: {what}",
            provider=provider,
        ) from exc


def open_http(
    base_url: str,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    max_connections: int,
    kind: str = "aiohttp",
    transport: httpx.AsyncBaseTransport | None = None,
) -> Http:
    """The client of `kind` ("aiohttp" or "httpx"); httpx whenever a `transport` is given."""
    if transport is None and kind == "aiohttp":
        return _AiohttpHttp(base_url, headers, max_connections)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    client = httpx.AsyncClient(
        base_url=base_url,
        headers=dict(headers),
        timeout=httpx.Timeout(timeout_s),
        limits=limits,
        transport=transport,
    )
    return _HttpxHttp(client)


class _HttpxHttp:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(self, method: str, path: str, params: Params | None) -> VendorResponse:
        if self.client.is_closed:  # as `_AiohttpHttp`: unreachable, not httpx's RuntimeError
            raise httpx.ConnectError("the vendor client is closed")
        return await self.client.request(method, path, params=params)

    async def aclose(self) -> None:
        await self.client.aclose()


class _AiohttpHttp:
    """aiohttp's client, as lean as a call can be: the URL is built once as text (encoded the
    way httpx encodes it: Vonage needs its JSON braces percent-encoded) and handed over as
    already encoded; no timer of its own (`VendorClient` bounds every attempt); TCP_NODELAY on
    every connection (aiohttp's default), idle connections kept 5 s (httpx's default)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], max_connections: int) -> None:
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None  # made in the loop, at first use
        self._closed = False

    async def request(self, method: str, path: str, params: Params | None) -> VendorResponse:
        if self._closed:
            # A task that outlived the server (a detail fetch of a finished request) must not
            # open a session nobody will close: it fails like an unreachable vendor.
            raise aiohttp.ClientConnectionError("the vendor client is closed")
        session = self._session or self._open()
        url = self._base + path
        if params:
            url = f"{url}?{urlencode([(k, _query_value(v)) for k, v in params.items()])}"
        async with session.request(method, URL(url, encoded=True)) as response:
            content = await response.read()
            return _Answer(response.status, response.headers, content, response.charset)

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=5.0)
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
            auto_decompress=True,
        )
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


def _query_value(value: str | int | float | bool) -> str:
    """A query value as httpx writes it: JSON's true/false for booleans."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class _Answer:
    """An aiohttp answer, read whole: what `VendorResponse` asks, as httpx gives it."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    charset: str | None

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


# What a DELETE whose 204 was lost answers once a retry finds the session gone.
_DONE = _Answer(204, {}, b"", None)

_InFlightKey = tuple[str, tuple[tuple[str, Any], ...]]  # a GET: its path and sorted params


@dataclass(slots=True)
class _Shared:
    """One vendor GET and how many callers wait for it."""

    task: asyncio.Future[Any]
    waiters: int = 0


class VendorClient:
    def __init__(
        self,
        provider: Provider,
        http: Http,
        read_error: ErrorReader,
        retry: RetryPolicy | None = None,
        deadline_s: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        *,
        rate_limit_per_min: int = 0,
        breaker: BreakerPolicy | None = None,
        secrets: Sequence[Secret] = (),
    ) -> None:
        self.provider = provider
        self._secrets = secrets  # never in what a vendor's error body tells a client
        self.clock = clock
        self.http = http
        self._read_error = read_error
        self._retry = retry or RetryPolicy()
        # One deadline per attempt, whatever the client: httpx's own timeouts are per phase,
        # its in-process ASGI transport (demo mode) has none at all, and aiohttp's are off.
        self._deadline_s = deadline_s
        self._in_flight: dict[_InFlightKey, _Shared] = {}
        self._bucket = TokenBucket(rate_limit_per_min, clock) if rate_limit_per_min else None
        self._breaker = CircuitBreaker(
            clock, breaker, probe_timeout_s=deadline_s, name=provider.name
        )
        self._retry_budget = RetryBudget(self._retry, clock)
        self._metrics = VendorMetrics(provider.value)

    def health(self) -> Health:
        """The breaker's view of this vendor and credential."""
        return self._breaker.health()

    async def get_json(self, path: str, params: Params | None = None) -> Any:
        """The decoded body of a GET. Identical GETs in flight at once (two clients asking the
        same page) share one vendor request; callers must not mutate what they get."""
        key = (path, tuple(sorted((params or {}).items())))
        shared = self._in_flight.get(key)
        if shared is None:
            shared = self._in_flight[key] = _Shared(
                asyncio.ensure_future(self._get_json(path, params))
            )
            shared.task.add_done_callback(lambda _: self._forget(key, shared))
        shared.waiters += 1
        try:
            # shield: one caller cancelled (its client went away) must not cancel the others...
            return await asyncio.shield(shared.task)
        except asyncio.CancelledError:
            # ...but when the last one is gone, the request (and its retries) stops too, and
            # is forgotten at once: it ends a few loop turns later, and a caller that joined
            # it meanwhile would get its CancelledError without having been cancelled.
            if shared.waiters == 1:
                shared.task.cancel()
                self._forget(key, shared)
            raise
        finally:
            shared.waiters -= 1

    def _forget(self, key: _InFlightKey, shared: _Shared) -> None:
        # Only this request's entry: a newer one for the same GET may have replaced it.
        if self._in_flight.get(key) is shared:
            del self._in_flight[key]

    async def _get_json(self, path: str, params: Params | None) -> Any:
        response = await self._send("GET", path, params)
        with reading(self.provider):
            # orjson: vendor pages of 100 transcripts are the gateway's largest decoding job.
            return orjson.loads(response.content)

    async def delete(self, path: str, params: Params | None = None) -> None:
        """A DELETE (204 or any 2xx: done), through the same breaker, rate limit, deadline and
        retries as a GET, never shared with another call. A DELETE is idempotent, so it is
        retried on the same failures as a GET (429, 502/503/504, refused connection). A 404
        answering a retry after a try whose outcome is unknown (a 5xx or a connection lost:
        the vendor may have deleted and its 204 been lost) means done: the session is gone,
        which is what was asked. A 404 to the first try, or after a 429 (refused, nothing
        done), is the vendor's `UpstreamNotFoundError`."""
        await self._send("DELETE", path, params, gone_is_done=True)

    async def aclose(self) -> None:
        self._breaker.retire()
        await self.http.aclose()

    # --- one call: tries, each through breaker, bucket and deadline ---------------------------

    async def _send(
        self, method: str, path: str, params: Params | None, *, gone_is_done: bool = False
    ) -> VendorResponse:
        """`gone_is_done` (a DELETE): a 404 after a try whose outcome is unknown is a success."""
        attempt = 1
        unknown_outcome = False  # the last try may have done its work before failing
        while True:  # at most `attempts` tries: `_retry_wait` answers None for the last one
            admitted = await self._admit()
            try:
                outcome = await self._attempt(method, path, params, first=attempt == 1)
            except BaseException:
                self._breaker.released(admitted)  # cancelled, or not sent: nothing learned
                raise
            if isinstance(outcome, _Failure) and (
                gone_is_done and unknown_outcome and outcome.error.status == 404
            ):
                self._breaker.succeeded(admitted)
                return _DONE
            if not isinstance(outcome, _Failure):
                self._breaker.succeeded(admitted)
                return outcome
            unknown_outcome = outcome.vendor_down
            # A probe is one try: its outcome alone decides whether the breaker closes.
            wait = None if admitted.probe else self._retry_wait(outcome, attempt)
            if wait is None:
                if outcome.vendor_down:
                    self._breaker.failed(admitted)
                else:
                    self._breaker.succeeded(admitted)  # a 4xx: the vendor is up and answering
                raise outcome.error
            self._metrics.retries.inc()
            await self.clock.sleep(wait)
            attempt += 1

    async def _admit(self) -> Pass:
        """The breaker's pass for one try. While a half-open probe is out, a call waits for its
        outcome (within the probe's timeout and this call's time) and asks again: let through
        when the probe closed the breaker, refused when it opened it again."""
        refused: CircuitOpen | None = None
        for _ in range(3):  # a probe given up makes the next caller the probe: three looks do
            try:
                return self._breaker.admit(current_budget())
            except CircuitOpen as exc:
                refused = exc
            told = self._breaker.probe_out()
            if told is None:
                break
            try:
                # The probe's own attempt is bounded by its timeout, so it tells by then; this
                # call waits no longer than its own time either.
                async with asyncio.timeout(self._time_left()):
                    await told.wait()
            except TimeoutError:
                break
        assert refused is not None
        raise UpstreamUnavailableError(
            f"{self.provider.name} is failing ({refused.failures} failures in a row):"
            f" sessiongraph asks it again in {refused.retry_after:.1f} s",
            provider=self.provider,
            retry_after=round(refused.retry_after, 3),
        )

    async def _attempt(
        self, method: str, path: str, params: Params | None, *, first: bool
    ) -> VendorResponse | _Failure:
        """One request: the response when it is a success, else what failed. Raises only when
        nothing was sent (no time left, no token) or the caller is cancelled."""
        self._attempt_timeout()  # no time left: raises before a token is taken
        await self._take_token()
        timeout = self._attempt_timeout()
        budget = current_budget()
        if budget is not None:
            budget.count_call(self.provider.value)
        if first:
            self._retry_budget.record_call()  # calls sent fund retries; their retries do not
        started = time.perf_counter()  # real time, whatever the clock: what the call cost
        with vendor_span(self.provider.value, method) as span:
            try:
                async with asyncio.timeout(timeout):
                    response = await self.http.request(method, path, params)
            except _LOW_LEVEL_ERRORS as exc:
                meaning = next(m for kinds, m in _LOW_LEVEL if isinstance(exc, kinds))
                self._called(meaning, started, span, method, path)
                return self._low_level_failure(exc, meaning)
            self._called(response.status_code, started, span, method, path)
        if response.is_success:
            return response
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.status_code == 429 and retry_after is not None and self._bucket:
            self._bucket.pause(retry_after)  # every caller of this client, not only this one
        return _Failure(
            self._error(response, retry_after),
            retryable=response.status_code in _RETRYABLE_STATUSES,
            vendor_down=response.status_code >= 500,
            retry_after=retry_after,
        )

    def _called(
        self, status: int | str, started: float, span: Span | None, method: str, path: str
    ) -> None:
        """Counts a request sent, and logs it at DEBUG: the request log (httpx's own is
        silenced), each line with its request id (graph/observability.py)."""
        self._metrics.called(status, time.perf_counter() - started)
        if span is not None:
            span.set_attribute("sessiongraph.status", status)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s: %s", self.provider.name, method, path, status)

    async def _take_token(self) -> None:
        if self._bucket is None:
            return
        pacing = current_pacing()
        keep = int(self._bucket.capacity * pacing.keep_share) if pacing else 0
        max_wait = pacing.max_wait_s if pacing else self._time_left()
        try:
            wait = self._bucket.reserve(max_wait, keep)
        except WaitTooLong as refused:
            self._metrics.refused.inc()
            raise UpstreamRateLimitedError(
                f"{self.provider.name} was not asked: its rate limit"
                f" ({self._bucket.per_minute} requests a minute) has no request free"
                " before the deadline",
                provider=self.provider,
                retry_after=round(refused.wait_s, 3),
            ) from None
        if wait > 0:
            self._metrics.waited(wait)
            await self.clock.sleep(wait)

    def _time_left(self) -> float:
        """Seconds this call may still spend: what is left of the request's budget or, outside
        a request (an index sync, an adapter on its own), one attempt's timeout."""
        budget = current_budget()
        remaining = None if budget is None else budget.remaining()
        return self._deadline_s if remaining is None else remaining

    def _attempt_timeout(self) -> float:
        budget = current_budget()
        remaining = None if budget is None else budget.remaining()
        if remaining is None:
            return self._deadline_s
        if remaining <= 0:
            raise UpstreamTimeoutError(
                f"{self.provider.name} was not asked: the request's time was up",
                provider=self.provider,
            )
        return min(self._deadline_s, remaining)

    def _retry_wait(self, failure: _Failure, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None: surface the failure now."""
        if attempt >= self._retry.attempts or not failure.retryable:
            return None
        if failure.retry_after is not None:
            if failure.retry_after > self._retry.max_wait_s:
                return None  # the vendor asks for longer than a query should wait: report it
            wait = failure.retry_after
        else:
            wait = self._retry.backoff(attempt)
        if wait >= self._time_left():
            return None  # the try would come after the deadline
        if not self._retry_budget.try_retry():
            log.debug("%s: retry budget spent, not retrying", self.provider.name)
            return None
        return wait

    def _low_level_failure(self, exc: BaseException, meaning: str) -> _Failure:
        name, provider = self.provider.name, self.provider
        error: ProviderError
        if meaning == _TIMED_OUT:
            error = UpstreamTimeoutError(f"{name} did not answer in time", provider=provider)
        elif meaning == _UNREACHABLE:
            error = UpstreamUnavailableError(f"{name} could not be reached", provider=provider)
        else:
            error = UpstreamUnavailableError(f"{name} request failed", provider=provider)
        # Only an unreachable vendor is worth another try: a timeout has spent the time.
        return _Failure(_caused(error, exc), retryable=meaning == _UNREACHABLE, vendor_down=True)

    def _error(self, response: VendorResponse, retry_after: float | None) -> ProviderError:
        try:
            message, error_class = self._read_error(response)
        except Exception:  # the body of an error is not worth a second failure
            message, error_class = "", None
        error_class = error_class or status_error_class(response.status_code)
        text = f"{self.provider.name} answered {response.status_code}"
        message = sanitised(message, self._secrets)
        if message:
            text = f"{text}: {message}"
        return error_class(
            text,
            provider=self.provider,
            retry_after=retry_after if error_class is UpstreamRateLimitedError else None,
            status=response.status_code,
        )


_MESSAGE_CHARS = 300
_MASK = Secret.MASK


def sanitised(message: str, secrets: Sequence[Secret] = ()) -> str:
    """A vendor's error message as a client may read it: this client's own credentials masked
    (a vendor may echo the key it refused), control characters and line breaks as spaces
    (nothing to forge a log line or a terminal with), whitespace collapsed, at most 300
    characters."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            message = message.replace(value, _MASK)
    printable = "".join(c if c.isprintable() else " " for c in message)
    text = " ".join(printable.split())
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Failure:
    """A try that reached the vendor (or tried to) and failed."""

    error: ProviderError
    retryable: bool  # a kind of failure another try may fix
    vendor_down: bool  # 5xx, timeout, unreachable: counts against the vendor in the breaker
    retry_after: float | None = None  # what the vendor asked us to wait


def _caused(error: ProviderError, cause: BaseException) -> ProviderError:
    error.__cause__ = cause  # kept for the log's traceback, never shown to clients
    return error


# What the HTTP clients' low-level failures mean for a call, in one table; the first match
# wins (aiohttp's socket timeouts are both TimeoutError and connection errors).
_TIMED_OUT, _UNREACHABLE, _FAILED = "timed out", "unreachable", "failed"
_LOW_LEVEL: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((TimeoutError, httpx.TimeoutException), _TIMED_OUT),  # TimeoutError: asyncio.timeout's too
    (
        (
            httpx.ConnectError,  # refused, unknown host
            httpx.RemoteProtocolError,  # closed mid-answer
            httpx.ReadError,
            aiohttp.ClientConnectionError,  # refused, unknown host, reset, closed
            aiohttp.ClientPayloadError,  # a body cut short
        ),
        _UNREACHABLE,
    ),
    ((httpx.HTTPError, aiohttp.ClientError), _FAILED),
)
_LOW_LEVEL_ERRORS = tuple(kind for kinds, _ in _LOW_LEVEL for kind in kinds)
