"""One deadline per request, and a client that goes away.

A request's GraphQL execution runs in a task of its own, started inside the request's budget
(`providers.budget.request_budget`): the budget is a context variable, and a task copies the
context it is started in, so every resolver, loader and vendor call of the request (and every
task they start) sees the same deadline and counts its calls in the same budget.

Two moments end a request's time:

- the budget's deadline, a little before the request's (`VENDOR_SHARE`): vendor attempts are
  bounded by `remaining()` (providers/transport.py), so a vendor still busy then answers
  `UPSTREAM_TIMEOUT` for its share only, and the resolvers still have time to send the rest;
- the request's own deadline (`SESSIONGRAPH_REQUEST_TIMEOUT_S`): whatever still runs then is
  cancelled, vendor work included, and the request answers one `UPSTREAM_TIMEOUT` error.

A client that disconnects cancels the execution the same way: nobody will read its answer (a
vendor request shared by single-flight goes on while another request waits on it). The request
listens for that from `LISTEN_AFTER_S` on: an answer ready sooner needs no listener.

The waits are on the event loop's clock, like the vendor attempts' own timeouts; the budget's
deadline is on the gateway's `Clock`, which is the same clock outside tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.types import Receive

from providers.budget import request_budget
from providers.clock import Clock

__all__ = [
    "LISTEN_AFTER_S",
    "ClientGone",
    "ExecutionCancelled",
    "RequestTimedOut",
    "run_within",
    "vendor_deadline_s",
]

T = TypeVar("T")
log = logging.getLogger("sessiongraph")

# The part of the request's time vendors may use; the rest (at most `MAX_RESERVE_S`) is kept to
# merge and send what did arrive, so the answer leaves before the request's deadline.
VENDOR_SHARE = 0.9
MAX_RESERVE_S = 0.5
# How long cancelled work is given to unwind (it only has `finally` blocks left to run).
UNWIND_S = 1.0
# When a request still running starts listening for its client's disconnect: an answer ready
# sooner costs nothing to send to a client gone, and no vendor work is worth cancelling yet.
LISTEN_AFTER_S = 0.005


class RequestTimedOut(Exception):
    """The request's time ran out with its execution still running (and now cancelled)."""


class ExecutionCancelled(RuntimeError):
    """The execution ended cancelled on its own (a bug): answered as an internal error."""


class ClientGone(Exception):
    """The client disconnected before its answer was ready; its execution was cancelled."""


def vendor_deadline_s(timeout_s: float) -> float:
    return max(timeout_s * VENDOR_SHARE, timeout_s - MAX_RESERVE_S)


async def run_within(
    execution: Coroutine[Any, Any, T], timeout_s: float, clock: Clock, receive: Receive
) -> T:
    """Runs `execution` under the request's budget, within `timeout_s`, and only while the
    client (`receive`, the ASGI channel, its body already read) is still there."""
    with request_budget(vendor_deadline_s(timeout_s), clock):
        task = asyncio.ensure_future(execution)  # copies the context: the budget with it
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not woken.done():
            woken.set_result(None)

    listener: asyncio.Task[None] | None = None

    def listen() -> None:
        nonlocal listener
        listener = loop.create_task(_disconnected(receive))
        listener.add_done_callback(wake)

    # Callbacks, not `asyncio.wait` (a waiter future and callbacks on every task it watches),
    # and the disconnect listener only for executions still running after `LISTEN_AFTER_S`:
    # most answers are ready before, and their listener was a task started and cancelled for
    # nothing (run_within took ~50 us a request, a fifth of a small request's CPU).
    task.add_done_callback(wake)
    handles = (loop.call_later(LISTEN_AFTER_S, listen), loop.call_later(timeout_s, wake))
    try:
        await woken
        # Ended cancelled before anything here cancelled it: a CancelledError that escaped
        # from some work of its own. Not a deadline, nor a client gone: a bug, said as one.
        cancelled_itself = task.cancelled()
    finally:
        for handle in handles:
            handle.cancel()
        task.remove_done_callback(wake)
        # Answered, out of time, client gone, or this request itself cancelled (shutdown):
        # nothing the request started outlives it.
        await _cancel(task, *([listener] if listener is not None else []))
    if cancelled_itself:
        raise ExecutionCancelled(
            "the request's execution ended cancelled with time left and its client there"
        )
    if task.done() and not task.cancelled():
        return task.result()  # an answer ready at the deadline is still the answer
    if listener is not None and listener.done() and not listener.cancelled():
        raise ClientGone
    raise RequestTimedOut


async def _disconnected(receive: Receive) -> None:
    """Returns when the client disconnects. The body was read before (`BodyLimit`), so at most
    its replay is left (a GET's, which the app never reads); after it, ASGI servers send
    nothing but `http.disconnect`."""
    if (await receive())["type"] != "http.disconnect":
        await receive()


async def _cancel(*tasks: asyncio.Future[Any]) -> None:
    running = [task for task in tasks if not task.done()]
    for task in running:
        task.cancel()
    if running:
        _, stuck = await asyncio.wait(running, timeout=UNWIND_S)
        for task in stuck:
            log.error("a cancelled request task did not stop within %s s: %r", UNWIND_S, task)
