"""The HTTP boundary: the only place where httpx and vendor error bodies are turned into
`providers.errors`. One `VendorClient` per vendor and credential wraps one `httpx.AsyncClient`
and everything that protects the vendor and the request from each other, per call:

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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

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

__all__ = [
    "BreakerState",
    "ErrorReader",
    "Health",
    "RetryPolicy",
    "VendorClient",
    "parse_retry_after",
    "reading",
]

log = logging.getLogger("sessiongraph")

Params = Mapping[str, str | int | float | bool]

# Reads a vendor's error body: returns the message and, where the vendor's status code means
# something unusual (Vonage's 401 for bad parameters), the error class to raise instead.
ErrorReader = Callable[[httpx.Response], tuple[str, type[ProviderError] | None]]

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


@dataclass(slots=True)
class _Shared:
    """One vendor GET and how many callers wait for it."""

    task: asyncio.Future[Any]
    waiters: int = 0


class VendorClient:
    def __init__(
        self,
        provider: Provider,
        http: httpx.AsyncClient,
        read_error: ErrorReader,
        retry: RetryPolicy | None = None,
        deadline_s: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        *,
        rate_limit_per_min: int = 0,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.clock = clock
        self.http = http
        self._read_error = read_error
        self._retry = retry or RetryPolicy()
        # One deadline per attempt, whatever the transport: httpx's own timeouts are per
        # phase, and its in-process ASGI transport (demo mode) has none at all.
        self._deadline_s = deadline_s
        self._in_flight: dict[tuple[str, tuple[tuple[str, Any], ...]], _Shared] = {}
        self._bucket = TokenBucket(rate_limit_per_min, clock) if rate_limit_per_min else None
        self._breaker = CircuitBreaker(
            clock, breaker, probe_timeout_s=deadline_s, name=provider.name
        )
        self._retry_budget = RetryBudget(self._retry, clock)

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
            shared.task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        shared.waiters += 1
        try:
            # shield: one caller cancelled (its client went away) must not cancel the others...
            return await asyncio.shield(shared.task)
        except asyncio.CancelledError:
            # ...but when the last one is gone, the request (and its retries) stops too.
            if shared.waiters == 1:
                shared.task.cancel()
            raise
        finally:
            shared.waiters -= 1

    async def _get_json(self, path: str, params: Params | None) -> Any:
        response = await self._send("GET", path, params)
        with reading(self.provider):
            # orjson: vendor pages of 100 transcripts are the gateway's largest decoding job.
            return orjson.loads(response.content)

    async def delete(self, path: str, params: Params | None = None) -> None:
        await self._send("DELETE", path, params)

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- one call: tries, each through breaker, bucket and deadline ---------------------------

    async def _send(self, method: str, path: str, params: Params | None) -> httpx.Response:
        attempt = 1
        while True:  # at most `attempts` tries: `_retry_wait` answers None for the last one
            admitted = await self._admit()
            try:
                outcome = await self._attempt(method, path, params, first=attempt == 1)
            except BaseException:
                self._breaker.released(admitted)  # cancelled, or not sent: nothing learned
                raise
            if isinstance(outcome, httpx.Response):
                self._breaker.succeeded(admitted)
                return outcome
            # A probe is one try: its outcome alone decides whether the breaker closes.
            wait = None if admitted.probe else self._retry_wait(outcome, attempt)
            if wait is None:
                if outcome.vendor_down:
                    self._breaker.failed(admitted)
                else:
                    self._breaker.succeeded(admitted)  # a 4xx: the vendor is up and answering
                raise outcome.error
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
    ) -> httpx.Response | _Failure:
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
        try:
            async with asyncio.timeout(timeout):
                response = await self.http.request(method, path, params=params)
        except (httpx.TimeoutException, TimeoutError) as exc:
            if _refused(exc):
                return self._unreachable(exc)
            late = UpstreamTimeoutError(
                f"{self.provider.name} did not answer in time", provider=self.provider
            )
            return _Failure(_caused(late, exc), retryable=False, vendor_down=True)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            return self._unreachable(exc)
        except httpx.HTTPError as exc:
            failed = UpstreamUnavailableError(
                f"{self.provider.name} request failed", provider=self.provider
            )
            return _Failure(_caused(failed, exc), retryable=False, vendor_down=True)
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

    async def _take_token(self) -> None:
        if self._bucket is None:
            return
        pacing = current_pacing()
        keep = int(self._bucket.capacity * pacing.keep_share) if pacing else 0
        max_wait = pacing.max_wait_s if pacing else self._time_left()
        try:
            wait = self._bucket.reserve(max_wait, keep)
        except WaitTooLong as refused:
            raise UpstreamRateLimitedError(
                f"{self.provider.name} was not asked: its rate limit"
                f" ({self._bucket.per_minute} requests a minute) has no request free"
                " before the deadline",
                provider=self.provider,
                retry_after=round(refused.wait_s, 3),
            ) from None
        if wait > 0:
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

    def _unreachable(self, exc: Exception) -> _Failure:
        error = UpstreamUnavailableError(
            f"{self.provider.name} could not be reached", provider=self.provider
        )
        return _Failure(_caused(error, exc), retryable=True, vendor_down=True)

    def _error(self, response: httpx.Response, retry_after: float | None) -> ProviderError:
        try:
            message, error_class = self._read_error(response)
        except Exception:  # the body of an error is not worth a second failure
            message, error_class = "", None
        error_class = error_class or status_error_class(response.status_code)
        text = f"{self.provider.name} answered {response.status_code}"
        if message:
            text = f"{text}: {message[:300]}"
        return error_class(
            text,
            provider=self.provider,
            retry_after=retry_after if error_class is UpstreamRateLimitedError else None,
            status=response.status_code,
        )


@dataclass(frozen=True, slots=True)
class _Failure:
    """A try that reached the vendor (or tried to) and failed."""

    error: ProviderError
    retryable: bool  # a kind of failure another try may fix
    vendor_down: bool  # 5xx, timeout, unreachable: counts against the vendor in the breaker
    retry_after: float | None = None  # what the vendor asked us to wait


def _caused(error: ProviderError, cause: Exception) -> ProviderError:
    error.__cause__ = cause  # kept for the log's traceback, never shown to clients
    return error


def _refused(exc: Exception) -> bool:
    """aiohttp's transport reports a refused connection as httpx.ConnectTimeout: tell it from
    a real timeout by its cause (an OSError that is not a TimeoutError)."""
    cause = exc.__cause__
    return (
        isinstance(exc, httpx.ConnectTimeout)
        and isinstance(cause, OSError)
        and not isinstance(cause, TimeoutError)
    )
