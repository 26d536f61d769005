"""CORS for the frontend apps that call the API from a browser (Starlette's `CORSMiddleware`).

`SESSIONGRAPH_CORS_ORIGINS`: the origins allowed, comma-separated (`https://app.example.com,
https://admin.example.com`), or `*` for any. Default: none in live mode (no CORS header at all:
a browser page of another origin cannot read answers); in demo mode the loopback origins, any
port (a frontend under development on localhost). Preflights (OPTIONS) are answered by the
middleware; requests carry `Authorization` and `Content-Type`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

__all__ = ["LOOPBACK_ORIGINS", "CorsPolicy", "install_cors", "read_origins"]

# http(s)://localhost, 127.0.0.1 or [::1], with any port.
LOOPBACK_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?"
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:]+\](:\d{1,5})?")
_PREFLIGHT_CACHE_S = 600


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    origins: tuple[str, ...] = ()  # exact origins, or ("*",)
    origin_pattern: str | None = None  # a regular expression of origins (demo: loopback)

    @property
    def enabled(self) -> bool:
        return bool(self.origins) or self.origin_pattern is not None


def read_origins(text: str, name: str, *, demo: bool) -> CorsPolicy:
    """The policy from the setting's text; `ValueError` naming `name` for an origin that is
    not `scheme://host[:port]` (a path, a trailing slash or a wildcard in a name never match
    what a browser sends, and would fail silently)."""
    text = text.strip()
    if not text:
        return CorsPolicy(origin_pattern=LOOPBACK_ORIGINS) if demo else CorsPolicy()
    if text == "*":
        return CorsPolicy(origins=("*",))
    origins = tuple(origin.strip() for origin in text.split(",") if origin.strip())
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(
                f"{name}: {origin!r} is not an origin (scheme://host[:port], no path), or use *"
            )
    return CorsPolicy(origins=origins)


def install_cors(app: FastAPI, policy: CorsPolicy) -> None:
    if not policy.enabled:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(policy.origins),
        allow_origin_regex=policy.origin_pattern,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["authorization", "content-type", "accept"],
        max_age=_PREFLIGHT_CACHE_S,
    )
