"""Identical GETs in flight share one vendor request (`VendorClient.get_json`), and a caller
gets what its request got: an answer, or the vendor's error. Never the cancellation of a
request that another caller abandoned: that reached a live request as a CancelledError, which
ended its whole GraphQL execution as if the request's deadline had passed (`serve` logged
"request out of time" well under a second in, when load-test clients disconnected).

No test here waits on time: the fake vendor answers when told to."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from providers.records import Provider
from providers.transport import Params, VendorClient

PATH, PARAMS = "/sessions", {"page": 1}
BODY: dict[str, list[Any]] = {"sessions": []}


class HeldVendor:
    """Answers every request with `BODY`, once `answer` is set; counts the requests started
    and those cancelled before their answer."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.started = 0
        self.cancelled = 0
        self.first_started = asyncio.Event()

    async def request(self, method: str, path: str, params: Params | None) -> httpx.Response:
        self.started += 1
        self.first_started.set()
        try:
            await self.answer.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return httpx.Response(200, json=BODY)

    async def aclose(self) -> None:
        pass


def client_of(vendor: HeldVendor) -> VendorClient:
    return VendorClient(Provider.STATESET, vendor, lambda _: ("unexpected", None))


async def test_a_caller_arriving_as_the_last_waiter_leaves_gets_a_request_of_its_own() -> None:
    vendor = HeldVendor()
    client = client_of(vendor)
    async with asyncio.timeout(10):
        first = asyncio.create_task(client.get_json(PATH, PARAMS))
        await vendor.first_started.wait()
        first.cancel()  # its client is gone: the last waiter, so the vendor request stops
        # The same GET from a live request, before the cancelled one has ended.
        second = asyncio.create_task(client.get_json(PATH, PARAMS))
        vendor.answer.set()
        results = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1] == BODY
    assert (vendor.started, vendor.cancelled) == (2, 1)


async def test_a_caller_that_stays_keeps_the_shared_request_going() -> None:
    """The counterpart: while one caller still waits, another one leaving cancels nothing."""
    vendor = HeldVendor()
    client = client_of(vendor)
    async with asyncio.timeout(10):
        first = asyncio.create_task(client.get_json(PATH, PARAMS))
        await vendor.first_started.wait()
        second = asyncio.create_task(client.get_json(PATH, PARAMS))
        await asyncio.sleep(0)  # the second joins the first's request
        first.cancel()
        vendor.answer.set()
        results = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1] == BODY
    assert (vendor.started, vendor.cancelled) == (1, 0)
