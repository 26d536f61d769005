"""Fault knobs over HTTP, for `sessiongraph simulate` only (the benchmark's soak and fault runs
drive simulators in other processes). Never mounted in demo or live mode: `with_fault_control`
wraps a simulator's app only where the CLI serves it on loopback.

    GET    /__faults   the knobs as JSON, and the requests served so far by status
    POST   /__faults   replace them: {"latency_ms", "status", "rate", "budget", "retry_after",
                       "hang_rate", "hang_s", "malformed_rate", "wrong_shape_rate",
                       "rate_limit_per_minute", "path"} (all optional; `path` is a regex: only
                       matching vendor paths get the faults)
    DELETE /__faults   back to no faults (the latency the server started with is kept)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from providers.simulators.base import Simulator

__all__ = ["CONTROL_PATH", "with_fault_control"]

CONTROL_PATH = "/__faults"
_MAX_BODY = 4096

# JSON name → (Faults attribute, type): the knobs a client may set, and nothing else.
_KNOBS: dict[str, tuple[str, type]] = {
    "status": ("error_status", int),
    "rate": ("error_rate", float),
    "budget": ("error_budget", int),
    "retry_after": ("retry_after", str),
    "hang_rate": ("hang_rate", float),
    "hang_s": ("hang_s", float),
    "malformed_rate": ("malformed_rate", float),
    "wrong_shape_rate": ("wrong_shape_rate", float),
    "rate_limit_per_minute": ("rate_limit_per_minute", int),
    "path": ("path_pattern", str),
}


def with_fault_control(simulator: Simulator) -> ASGIApp:
    """The simulator's app with `/__faults` in front of it (no auth: loopback test tooling)."""
    app = simulator.app
    baseline_latency_s = simulator.faults.latency_s

    async def control(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CONTROL_PATH:
            await app(scope, receive, send)
            return
        method = scope["method"]
        status, answer = 200, None
        if method == "POST":
            try:
                _apply(simulator, await _read_json(receive), baseline_latency_s)
            except ValueError as exc:
                status, answer = 400, {"error": str(exc)}
        elif method == "DELETE":
            simulator.faults.reset()
            simulator.faults.latency_s = baseline_latency_s
        elif method != "GET":
            status, answer = 405, {"error": "GET, POST or DELETE"}
        await _send_json(send, status, answer if answer is not None else _state(simulator))

    return control


def _apply(simulator: Simulator, body: Any, baseline_latency_s: float) -> None:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(body) - set(_KNOBS) - {"latency_ms"})
    if unknown:
        raise ValueError(f"unknown knobs: {', '.join(unknown)}")
    settings: dict[str, Any] = {}
    for name, (attribute, kind) in _KNOBS.items():
        value = body.get(name)
        if value is None:
            continue
        if kind is not str and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name} must be a number")
        settings[attribute] = kind(value)
    if "path_pattern" in settings:
        try:
            re.compile(settings["path_pattern"])
        except re.error as exc:
            raise ValueError(f"path is not a regular expression: {exc}") from None
    latency_ms = body.get("latency_ms")
    if latency_ms is not None and not isinstance(latency_ms, int | float):
        raise ValueError("latency_ms must be a number")
    faults = simulator.faults
    faults.reset()
    faults.latency_s = baseline_latency_s if latency_ms is None else float(latency_ms) / 1000
    for attribute, value in settings.items():
        setattr(faults, attribute, value)


def _state(simulator: Simulator) -> dict[str, Any]:
    faults = simulator.faults
    state = {name: getattr(faults, attribute) for name, (attribute, _) in _KNOBS.items()}
    statuses = Counter(str(entry.status) for entry in simulator.log.entries)
    served = {"requests": len(simulator.log), "statuses": dict(sorted(statuses.items()))}
    return {"latency_ms": faults.latency_s * 1000, **state, **served}


async def _read_json(receive: Receive) -> Any:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise ValueError("the body is too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        return json.loads(b"".join(chunks) or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not JSON") from None


async def _send_json(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
