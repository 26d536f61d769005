"""The bare Strawberry app of the ceiling ratio: `{ providers { name mode enabled } }` answered
from memory with the body the gateway gave for it.

Choice: a schema mirroring the shape of the gateway's `providers` field (same type, field and
enum names, so the same query text is valid and resolves the same fields to the same JSON),
not one JSON scalar field (the query's sub-selection would not be valid against a scalar). It
is stock Strawberry on the same stack as the gateway — FastAPI with Strawberry's
`GraphQLRouter`, served by `uvicorn.run` like `sessiongraph serve` (one worker, the log level
given) — with Strawberry's own parser and validation caches (stock extensions, which the
gateway uses too) and an `async` context getter returning None (Strawberry's default getter is
a sync lambda, which FastAPI runs in its thread pool: a thread hop per request that would make
the "ceiling" lower than what Strawberry can do), and nothing of the gateway's: no context, no
limits, no error translation, no vendors, stock `json` encoding.

    python -m bench.bare_app --port 8001 --answer answer.json [--log-level warning]

The benchmark checks that this app's answer equals the gateway's before it measures either.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import strawberry
import uvicorn
from fastapi import FastAPI
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.fastapi import GraphQLRouter

__all__ = ["create_bare_app", "main"]


@strawberry.enum(name="Provider")
class ProviderName(Enum):
    SAMSARA = "samsara"
    STATESET = "stateset"
    VECTARA = "vectara"
    VONAGE = "vonage"


@strawberry.enum
class ProviderMode(Enum):
    DEMO = "demo"
    LIVE = "live"


@strawberry.type
class ProviderInfo:
    name: ProviderName
    mode: ProviderMode
    enabled: bool


def _providers(answer: Mapping[str, Any]) -> list[ProviderInfo]:
    return [
        ProviderInfo(
            name=ProviderName[item["name"]],
            mode=ProviderMode[item["mode"]],
            enabled=bool(item["enabled"]),
        )
        for item in answer["data"]["providers"]
    ]


def create_bare_app(answer: Mapping[str, Any]) -> FastAPI:
    providers = _providers(answer)  # built once: every request answers from memory

    @strawberry.type
    class Query:
        @strawberry.field
        def providers(self) -> list[ProviderInfo]:
            return providers

    schema = strawberry.Schema(
        query=Query,
        extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)],
    )

    async def no_context() -> None:
        return None

    app = FastAPI(title="bare strawberry")
    router = GraphQLRouter[None, None](schema, context_getter=no_context)
    app.include_router(router, prefix="/graphql")
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--answer", type=Path, required=True, help="the gateway's JSON answer")
    args = parser.parse_args(argv)
    app = create_bare_app(json.loads(args.answer.read_text()))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
