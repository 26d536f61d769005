"""GraphQL over HTTP: what a request may be, and how the answer is framed.

- `BodyLimit` (ASGI middleware) reads every request body before the app does: larger than
  `SESSIONGRAPH_MAX_BODY_BYTES` → 413 `PAYLOAD_TOO_LARGE`, not arrived in time → 408.
- `read_request` turns a body or query string into one GraphQL request, or refuses it with a
  400 `BAD_REQUEST` (`RequestRefused`): not JSON, not UTF-8, nested too deep, not an object, a
  batch, the wrong content type, fields of the wrong type.
- `ResponseFormat`: a client whose `Accept` names `application/graphql-response+json` gets that
  media type with the GraphQL-over-HTTP status codes (400 when the request could not be executed
  at all: parse, validation, variables); any other client `application/json` and 200.

Every refusal has the body of a GraphQL error, `{"errors": [{"message", "extensions": {"code"}}]}`,
so a client reads one shape whatever went wrong.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.types import ExecutionResult

__all__ = [
    "GRAPHQL_RESPONSE",
    "BodyLimit",
    "RequestRefused",
    "ResponseFormat",
    "read_request",
    "refusal",
]

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# Errors of a request that never ran: its document or variables are wrong (GraphQL-over-HTTP
# answers these with 400, and without a `data` entry).
_NOT_RUN = frozenset(
    {
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
        "QUERY_TOO_COSTLY",
        "INTROSPECTION_DISABLED",
    }
)


class RequestRefused(HTTPException):
    """A request the server will not run; `code` goes to `extensions.code`, `headers` to the
    answer."""

    def __init__(
        self,
        status_code: int,
        reason: str,
        code: str = "BAD_REQUEST",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, reason)
        self.code = code
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """How to answer one client, from its `Accept` header."""

    media_type: str

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> ResponseFormat:
        return cls(GRAPHQL_RESPONSE if _accepts(headers.get("accept", "")) else JSON)

    @property
    def strict(self) -> bool:
        """GraphQL-over-HTTP's own media type: its status codes apply."""
        return self.media_type == GRAPHQL_RESPONSE

    def status(self, result: ExecutionResult) -> int:
        """200 whenever execution ran (partial or null data included); with the GraphQL media
        type, 400 for a request that could not run, 504/500 for one stopped by the server."""
        if not self.strict or result.data is not None or not result.errors:
            return 200
        if any(error.path is not None for error in result.errors):
            return 200  # a field failed: execution ran, `data` is null by non-null propagation
        codes = {(error.extensions or {}).get("code") for error in result.errors}
        if codes <= _NOT_RUN:
            return 400
        return 504 if "UPSTREAM_TIMEOUT" in codes else 500

    def document(self, result: ExecutionResult) -> GraphQLHTTPResponse:
        body = process_result(result)
        if self.status(result) != 200:
            body.pop("data", None)  # the request did not run: GraphQL-over-HTTP has no `data`
        return body


def refusal(
    status: int, message: str, code: str, format_: ResponseFormat, **extensions: Any
) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return Response(orjson.dumps(body), status_code=status, media_type=format_.media_type)


def read_request(
    method: str, content_type: str, body: bytes, query_params: Mapping[str, str]
) -> GraphQLRequestData:
    """One GraphQL request from a GET's query string or a POST's JSON body."""
    if method == "GET":
        data: dict[str, Any] = dict(query_params)
        for name in ("variables", "extensions"):
            if data.get(name):
                data[name] = _decode(data[name].encode(), f"`{name}`")
    else:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != JSON:
            given = f"not {media_type}" if media_type else "with a Content-Type header"
            raise RequestRefused(400, f"send the request as {JSON}, {given}")
        decoded = _decode(body, "the body")
        if not isinstance(decoded, dict):
            raise RequestRefused(
                400,
                'the body must be one JSON object, e.g. {"query": "{ providers { name } }"}'
                + (": batches are not supported" if isinstance(decoded, list) else ""),
            )
        data = decoded
    return GraphQLRequestData(
        query=_member(data, "query", str),
        variables=_member(data, "variables", dict),
        operation_name=_member(data, "operationName", str),
        extensions=_member(data, "extensions", dict),
    )


def _decode(raw: bytes, what: str) -> Any:
    try:
        # orjson: refuses invalid UTF-8 and nesting deeper than 1024 with an error, where
        # json.loads raises RecursionError on a 100k-deep array.
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(400, f"{what} is not JSON: {exc}") from None


def _member(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        expected = "a string" if kind is str else "an object"
        raise RequestRefused(400, f"`{name}` must be {expected} or null")
    return value


@functools.lru_cache(maxsize=256)  # read up to four times a request; clients send few variants
def _accepts(accept: str) -> bool:
    """Whether `Accept` lists the GraphQL response media type (with a q above 0)."""
    for item in accept.split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        if media_type.lower() != GRAPHQL_RESPONSE:
            continue
        weights = [p.split("=", 1)[1] for p in params if p.replace(" ", "").startswith("q=")]
        try:
            return not weights or float(weights[0]) > 0
        except ValueError:
            return True
    return False


class _ClientLeft(Exception):
    """The client disconnected before its body was complete."""


class BodyLimit:
    """Reads the whole body of a request, then hands the app a `receive` that replays it once
    before passing on to the server's (a disconnect is still seen after it).

    The body is bounded in size (`max_bytes`, a declared Content-Length is refused before
    reading) and in time (`timeout_s`): a client cannot hold a worker with a slow or endless
    body."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        format_ = ResponseFormat.of(headers)
        if _declared_length(headers) > self.max_bytes:
            await self._too_large(format_)(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            message = f"the request body did not arrive within {self.timeout_s:g} s"
            await refusal(408, message, "BAD_REQUEST", format_)(scope, receive, send)
            return
        except _ClientLeft:
            return  # nobody to answer
        if body is None:
            await self._too_large(format_)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The body; None past `max_bytes`. Ends with the body, at the limit, or at the
        deadline around it (an endless stream of empty chunks included)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientLeft
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self, format_: ResponseFormat) -> Response:
        message = (
            f"the request body is larger than {self.max_bytes} bytes (SESSIONGRAPH_MAX_BODY_BYTES)"
        )
        return refusal(413, message, "PAYLOAD_TOO_LARGE", format_, maxBytes=self.max_bytes)


def _declared_length(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0  # unreadable: the body is measured as it arrives
