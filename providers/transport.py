"""The HTTP boundary: the only place where httpx and vendor error bodies are turned into
`providers.errors`. One `VendorClient` per vendor and credential wraps one `httpx.AsyncClient`.

Retries: 429 (when the vendor's Retry-After fits in our budget), 502/503/504 and refused
connections are retried a bounded number of times; timeouts are not (the deadline is spent).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import httpx
import orjson

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
from providers.records import Provider

__all__ = [
    "BreakerState",
    "ErrorReader",
    "Health",
    "RetryPolicy",
    "VendorClient",
    "parse_retry_after",
    "reading",
]

Params = Mapping[str, str | int | float | bool]

# Reads a vendor's error body: returns the message and, where the vendor's status code means
# something unusual (Vonage's 401 for bad parameters), the error class to raise instead.
ErrorReader = Callable[[httpx.Response], tuple[str, type[ProviderError] | None]]

_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # total tries of one call
    max_wait_s: float = 2.0  # a Retry-After longer than this is reported, not waited for
    backoff_s: float = 0.05


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


@contextmanager
def reading(provider: Provider) -> Iterator[None]:
    """Turns a body we cannot map (missing key, wrong type, bad value) into one typed error."""
    try:
        yield
    except ProviderError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise UpstreamProtocolError(
            f"{provider.name} sent a response sessiongraph cannot read",
            provider=provider,
        ) from exc


class BreakerState(Enum):  # stand-in until the breaker lands
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Health:  # stand-in until the breaker lands
    state: BreakerState
    failures: int
    since: datetime | None


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

    def health(self) -> Health:  # stand-in until the breaker lands
        return Health(BreakerState.CLOSED, 0, None)

    async def _send(self, method: str, path: str, params: Params | None) -> httpx.Response:
        attempt = 1
        while True:
            try:
                async with asyncio.timeout(self._deadline_s):
                    response = await self.http.request(method, path, params=params)
            except (httpx.TimeoutException, TimeoutError) as exc:
                if _refused(exc) and attempt < self._retry.attempts:
                    await self._sleep(attempt, None)
                    attempt += 1
                    continue
                if _refused(exc):
                    raise UpstreamUnavailableError(
                        f"{self.provider.name} could not be reached", provider=self.provider
                    ) from exc
                raise UpstreamTimeoutError(
                    f"{self.provider.name} did not answer in time", provider=self.provider
                ) from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt < self._retry.attempts:
                    await self._sleep(attempt, None)
                    attempt += 1
                    continue
                raise UpstreamUnavailableError(
                    f"{self.provider.name} could not be reached", provider=self.provider
                ) from exc
            except httpx.HTTPError as exc:
                raise UpstreamUnavailableError(
                    f"{self.provider.name} request failed", provider=self.provider
                ) from exc
            if response.is_success:
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if (
                response.status_code in _RETRYABLE_STATUSES
                and attempt < self._retry.attempts
                and (retry_after is None or retry_after <= self._retry.max_wait_s)
            ):
                await self._sleep(attempt, retry_after)
                attempt += 1
                continue
            raise self._error(response, retry_after)

    async def _sleep(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            await self.clock.sleep(retry_after)
        else:
            await self.clock.sleep(
                self._retry.backoff_s * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            )

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


def _refused(exc: Exception) -> bool:
    """aiohttp's transport reports a refused connection as httpx.ConnectTimeout: tell it from
    a real timeout by its cause (an OSError that is not a TimeoutError)."""
    cause = exc.__cause__
    return (
        isinstance(exc, httpx.ConnectTimeout)
        and isinstance(cause, OSError)
        and not isinstance(cause, TimeoutError)
    )
