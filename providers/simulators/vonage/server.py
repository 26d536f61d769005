"""A faithful fake of Vonage AI Studio Insights (vendors.md §4, seed 003).

Decisions where the documentation is silent, kept consistent with the adapter:
- `from_date` and `to_date` are both required (every documented example sends both); `to_date` is
  inclusive and a bare day means the whole day (the seed's "calls that happened on the 20th
  August 2020" is `from_date=2020-08-20&to_date=2020-08-20`); more than 60 days apart → 401.
- `page_size` defaults to 10 (the seed's example answer), 1-100; `page_number` from 0.
- Without `sort_by` hits come in storage order: shuffled, deterministic, never by start time;
  ties left by `sort_by` keep storage order too.
- A search that matches nothing is a 404 (vendors.md: "404 when nothing matches"); a page past
  the end of a non-empty result is a 200 with no hits. A literal `{` or `}` in the raw query
  string gets a 200 with no hits ("if sent without the encoding, your request will return empty").
- Every invalid parameter is a 401 with `{"statusCode", "message", "error"}`.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from providers.simulators.base import SessionKey, Simulator
from providers.simulators.vonage.documents import Document, render
from providers.simulators.vonage.elastic import (
    InvalidParameter,
    Predicate,
    SortKey,
    compile_filter,
    parse_moment,
    parse_projection,
    parse_sort,
    project,
    sort_documents,
)
from providers.simulators.vonage.model import Agent, Session
from providers.simulators.vonage.model import generate as generate_dataset

__all__ = ["VonageSimulator"]

MAX_RANGE = timedelta(days=60)
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
_BASE_AUTH_REFUSAL = "unauthorized"  # what the simulator base passes when the key is wrong
INVALID_API_KEY = "Invalid API key"  # Vonage's message for a bad key (vendors.md §4)


@dataclass(frozen=True, slots=True)
class _SearchRequest:
    """A validated `GET /insights/sessions`."""

    from_date: datetime  # naive UTC, inclusive
    to_date: datetime  # naive UTC, inclusive
    page_number: int
    page_size: int
    sort: list[SortKey]
    selects: Predicate | None
    projection: list[tuple[str, ...]] | None

    def in_range(self, doc: Document) -> bool:
        started = parse_moment(doc["session_start_time"])
        return self.from_date <= started <= self.to_date


def _required(params: QueryParams, name: str) -> str:
    value = params.get(name)
    if not value:
        raise InvalidParameter(f"{name} is required")
    return value


def _count(params: QueryParams, name: str, default: int, low: int, high: int | None) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(f"invalid parameter {name}: not a number") from None
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidParameter(f"invalid parameter {name}: must be {limit}")
    return value


def _parse_search(params: QueryParams) -> _SearchRequest:
    from_text, to_text = _required(params, "from_date"), _required(params, "to_date")
    from_date, to_date = parse_moment(from_text), parse_moment(to_text)
    if to_date < from_date:
        raise InvalidParameter("from_date must not be after to_date")
    if to_date - from_date > MAX_RANGE:
        raise InvalidParameter("the date range can't be more than 60 days")
    sort_text, filter_text = params.get("sort_by"), params.get("filter_by")
    projection_text = params.get("project_fields")
    return _SearchRequest(
        from_date=from_date,
        to_date=parse_moment(to_text, round_up=True),
        page_number=_count(params, "page_number", 0, 0, None),
        page_size=_count(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        sort=parse_sort(sort_text) if sort_text else [],
        selects=compile_filter(filter_text) if filter_text else None,
        projection=parse_projection(projection_text) if projection_text else None,
    )


def _search_answer(hits: list[Document], total: int, page_size: str, page_number: str) -> Response:
    """Vonage echoes the page figures back as strings."""
    body = {"total": total, "hits": hits, "page_size": page_size, "page_number": page_number}
    return JSONResponse(body)


class VonageSimulator(Simulator):
    vendor = "vonage"
    auth_header = "x-vgai-key"
    search_latency_s: float = 0.0  # /search/{id} is "much slower" on Vonage; 0 keeps tests quick

    def generate(self) -> None:
        dataset = generate_dataset(self.rng, self.size, self.anchor)
        self.account_id: str = dataset.account_id
        self.agents: tuple[Agent, ...] = dataset.agents
        # The model (what the tests' oracle reads) and its spelling, kept in the same order:
        # storage order, what a search without sort_by returns.
        self.sessions: list[Session] = list(dataset.sessions)
        self.documents: list[Document] = [render(s, self.account_id) for s in self.sessions]

    def routes(self) -> Sequence[BaseRoute]:
        endpoints = [
            ("/insights/sessions", self.search_sessions, ["GET"]),
            ("/insights/sessions/search/{session_id}", self.find_session, ["GET"]),
            ("/insights/sessions/{session_id}/parameters", self.get_session, ["GET"]),
            ("/insights/sessions/{session_id}", self.delete_session, ["DELETE"]),
            ("/{path:path}", self.no_route, ["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
        return [
            Route(path, _invalid_parameters_are_401(self, handler), methods=methods)
            for path, handler, methods in endpoints
        ]

    def error_response(self, status: int, message: str) -> Response:
        """NestJS's error body, for every status."""
        if status == 401 and message == _BASE_AUTH_REFUSAL:
            message = INVALID_API_KEY
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        body = {"statusCode": status, "message": message, "error": phrase}
        return JSONResponse(body, status_code=status)

    def authorized(self, header_value: str | None) -> bool:
        if header_value is None:
            return False
        return hmac.compare_digest(header_value.encode("utf-8"), self.api_key.encode("utf-8"))

    def session_keys(self) -> list[SessionKey]:
        return [SessionKey(s.id, s.agent.id, s.started_at) for s in self.sessions]

    def agent_ids(self) -> tuple[str, ...]:
        return tuple(agent.id for agent in self.agents)

    # --- routes ---------------------------------------------------------------------------------

    async def search_sessions(self, request: Request) -> Response:
        params = request.query_params
        raw_query: bytes = request.scope["query_string"]
        if b"{" in raw_query or b"}" in raw_query:
            page_size = params.get("page_size", str(DEFAULT_PAGE_SIZE))
            return _search_answer([], 0, page_size, params.get("page_number", "0"))
        search = _parse_search(params)
        matching = [
            doc
            for doc in self.documents
            if search.in_range(doc) and (search.selects is None or search.selects(doc))
        ]
        if not matching:
            return self._not_found("No sessions found")
        first = search.page_number * search.page_size
        page = sort_documents(matching, search.sort)[first : first + search.page_size]
        if search.projection is not None:
            page = [project(doc, search.projection) for doc in page]
        return _search_answer(page, len(matching), str(search.page_size), str(search.page_number))

    async def get_session(self, request: Request) -> Response:
        doc = self._on_day(request)
        return JSONResponse(doc) if doc is not None else self._not_found()

    async def find_session(self, request: Request) -> Response:
        await asyncio.sleep(self.search_latency_s)
        session_id = request.path_params["session_id"]
        doc = next((doc for doc in self.documents if doc["id"] == session_id), None)
        return JSONResponse(doc) if doc is not None else self._not_found()

    async def delete_session(self, request: Request) -> Response:
        doc = self._on_day(request)
        if doc is None:
            return self._not_found()
        index = next(i for i, stored in enumerate(self.documents) if stored is doc)
        del self.documents[index], self.sessions[index]  # the model forgets it too
        return Response(status_code=204)

    async def no_route(self, request: Request) -> Response:
        return self._not_found(f"Cannot {request.method} {request.url.path}")

    def _not_found(self, message: str = "Session not found") -> Response:
        return self.error_response(404, message)

    def _on_day(self, request: Request) -> Document | None:
        """The session `{id}` if it started on the day of `session_start_time`, which "does not
        have to be precise"."""
        day = parse_moment(_required(request.query_params, "session_start_time")).date()
        session_id = request.path_params["session_id"]
        for doc in self.documents:
            if doc["id"] == session_id and parse_moment(doc["session_start_time"]).date() == day:
                return doc
        return None


def _invalid_parameters_are_401(
    simulator: VonageSimulator, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Vonage answers every invalid parameter (dates, sizes, filters) with a 401."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except InvalidParameter as exc:
            return simulator.error_response(401, exc.message)

    return endpoint
