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

At 100,000 sessions a search stays cheap: the sessions are also kept by start time, so the date
range and the filter's `must` ranges on the start time are found by bisection, and a sort by
start time, agent and id (the gateway's) needs no sorting. The other clauses read the fields of
each session in range from the model, not from a rendered document; a clause on a heavy field
(`transcription`, `flow_path`, `params_list`, …) generates the talk of every session it examines,
once. A search spells only the projected fields of its hits; the other endpoints serve whole
documents, rendered when first read and kept (the most recently read ten thousand).
"""

from __future__ import annotations

import asyncio
import bisect
import hmac
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, overload

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from providers.simulators.base import JSONResponse, SessionKey, Simulator
from providers.simulators.fake_data import generating
from providers.simulators.vonage.documents import FIELDS, LIGHT_PATHS, Document, render
from providers.simulators.vonage.elastic import (
    Filter,
    InvalidParameter,
    SortKey,
    compile_filter,
    parse_moment,
    parse_projection,
    parse_sort,
    project,
    sort_documents,
    values,
)
from providers.simulators.vonage.model import Agent, Session, Talks
from providers.simulators.vonage.model import generate as generate_dataset

__all__ = ["VonageSimulator"]

MAX_RANGE = timedelta(days=60)
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
_BASE_AUTH_REFUSAL = "unauthorized"  # what the simulator base passes when the key is wrong
INVALID_API_KEY = "Invalid API key"  # Vonage's message for a bad key (vendors.md §4)


# The order `by_start` keeps, as sort keys: a sort by these needs no sorting.
_START_ORDER = (("session_start_time",), ("agent_information", "id"), ("id",))


@dataclass(frozen=True, slots=True)
class _SearchRequest:
    """A validated `GET /insights/sessions`."""

    from_date: datetime  # naive UTC, inclusive
    to_date: datetime  # naive UTC, inclusive
    page_number: int
    page_size: int
    sort: list[SortKey]
    filter_text: str | None
    projection: list[tuple[str, ...]] | None

    def in_start_order(self) -> bool | None:
        """Whether the sort is `by_start`'s order descending (True), ascending (False), or
        neither (None)."""
        paths = tuple(key.path for key in self.sort)
        directions = {key.descending for key in self.sort}
        if paths != _START_ORDER or len(directions) != 1:
            return None
        return directions.pop()


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
        filter_text=filter_text or None,
        projection=parse_projection(projection_text) if projection_text else None,
    )


def _aware(naive_utc: datetime) -> datetime:
    return naive_utc.replace(tzinfo=UTC)


def _started_at(session: Session) -> datetime:
    return session.started_at


def _search_answer(hits: list[Document], total: int, page_size: str, page_number: str) -> Response:
    """Vonage echoes the page figures back as strings."""
    body = {"total": total, "hits": hits, "page_size": page_size, "page_number": page_number}
    return JSONResponse(body)


class VonageSimulator(Simulator):
    vendor = "vonage"
    auth_header = "x-vgai-key"
    search_latency_s: float = 0.0  # /search/{id} is "much slower" on Vonage; 0 keeps tests quick
    # About 16 kB each in memory: all 100,000 would take 1.6 GB.
    rendered_limit: int = 10_000

    def generate(self) -> None:
        with generating():
            dataset = generate_dataset(self.rng, self.size, self.anchor, self.seed)
        self.account_id: str = dataset.account_id
        self.agents: tuple[Agent, ...] = dataset.agents
        # The model (what the tests' oracle reads) in storage order, what a search without
        # sort_by returns; its spelling (`documents`) in the same order, rendered when read.
        self.sessions: list[Session] = list(dataset.sessions)
        self.documents = Documents(self)
        self._by_id = {session.id: session for session in self.sessions}
        self._rank = {session.id: rank for rank, session in enumerate(self.sessions)}
        self._by_start: list[Session] = list(dataset.by_start)
        self.talks: Talks = dataset.talks  # `talks.cache`: the talks generated so far
        self._rendered: OrderedDict[str, Document] = OrderedDict()  # least recently read first
        # Search hits spelled from the model, by session and projection (`_hit`).
        self._hits: OrderedDict[tuple[str, tuple[tuple[str, ...], ...]], Document] = OrderedDict()

    def document(self, session: Session) -> Document:
        """`session` as Insights spells it: rendered on first read, then kept (a test may
        change it to see how a client copes), the `rendered_limit` most recently read only."""
        doc = self._rendered.get(session.id)
        if doc is not None:
            self._rendered.move_to_end(session.id)
            return doc
        doc = self._rendered[session.id] = render(session, self.account_id)
        if len(self._rendered) > self.rendered_limit:
            self._rendered.popitem(last=False)  # rendered again, the same, if read again
        return doc

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
        selects = compile_filter(search.filter_text, self._reading) if search.filter_text else None
        matching = self._matching(search, selects)
        if not matching:
            return self._not_found("No sessions found")
        first = search.page_number * search.page_size
        page = self._ordered(matching, search)[first : first + search.page_size]
        hits = [self._hit(session, search.projection) for session in page]
        return _search_answer(hits, len(matching), str(search.page_size), str(search.page_number))

    async def get_session(self, request: Request) -> Response:
        session = self._on_day(request)
        return JSONResponse(self.document(session)) if session else self._not_found()

    async def find_session(self, request: Request) -> Response:
        await asyncio.sleep(self.search_latency_s)
        session = self._by_id.get(request.path_params["session_id"])
        return JSONResponse(self.document(session)) if session else self._not_found()

    async def delete_session(self, request: Request) -> Response:
        session = self._on_day(request)
        if session is None:
            return self._not_found()
        # The model forgets it too, and so do the indexes and caches.
        self.sessions.remove(session)
        self._by_start.remove(session)
        del self._by_id[session.id], self._rank[session.id]
        self._rendered.pop(session.id, None)
        self._hits = OrderedDict((k, v) for k, v in self._hits.items() if k[0] != session.id)
        self.talks.forget(session.id)
        return Response(status_code=204)

    async def no_route(self, request: Request) -> Response:
        return self._not_found(f"Cannot {request.method} {request.url.path}")

    def _not_found(self, message: str = "Session not found") -> Response:
        return self.error_response(404, message)

    def _on_day(self, request: Request) -> Session | None:
        """The session `{id}` if it started on the day of `session_start_time`, which "does not
        have to be precise"."""
        day = parse_moment(_required(request.query_params, "session_start_time")).date()
        session = self._by_id.get(request.path_params["session_id"])
        if session is None or session.started_at.astimezone(UTC).date() != day:
            return None
        return session

    # --- searching ------------------------------------------------------------------------------

    def _reading(self, path: tuple[str, ...]) -> Callable[[Session], list[Any]]:
        """What reads every value at `path` of a session's document, without rendering it:
        from the model for `LIGHT_PATHS`, else from the one field the path starts in (a heavy
        one generates the talk); a document already rendered (and maybe changed by a test) is
        read as it is."""
        rendered, account_id = self._rendered, self.account_id
        light = LIGHT_PATHS.get(path)
        spell = FIELDS.get(path[0])

        def read(session: Session) -> list[Any]:
            doc = rendered.get(session.id)
            if doc is not None:
                return values(doc, path)
            if light is not None:
                return light(session)
            if spell is not None:
                return values(spell(session, account_id), path[1:])
            return values(self.document(session), path) if path[0] == "*" else []

        return read

    def _matching(self, search: _SearchRequest, selects: Filter | None) -> list[Session]:
        """The sessions in the date range that the filter selects, in start order."""
        sessions = self._by_start
        low = bisect.bisect_left(sessions, _aware(search.from_date), key=_started_at)
        high = bisect.bisect_right(sessions, _aware(search.to_date), key=_started_at)
        if selects is None:
            return sessions[low:high]
        for bounds in selects.start_ranges:
            for name, bound in bounds.items():
                moment = _aware(bound)
                if name == "gte":
                    low = max(low, bisect.bisect_left(sessions, moment, key=_started_at))
                elif name == "gt":
                    low = max(low, bisect.bisect_right(sessions, moment, key=_started_at))
                elif name == "lte":
                    high = min(high, bisect.bisect_right(sessions, moment, key=_started_at))
                else:  # lt
                    high = min(high, bisect.bisect_left(sessions, moment, key=_started_at))
        return selects.select_others(sessions[low:high])

    def _ordered(self, matching: list[Session], search: _SearchRequest) -> list[Session]:
        """`matching` (in start order) in the order the search asks: sorted, ties (and no sort
        at all) in storage order."""
        newest_first = search.in_start_order()
        if newest_first is not None:  # start order already, and it has no ties left
            return matching[::-1] if newest_first else matching
        stored = sorted(matching, key=lambda session: self._rank[session.id])
        return sort_documents(stored, search.sort, self._reading) if search.sort else stored

    def _hit(self, session: Session, projection: list[tuple[str, ...]] | None) -> Document:
        """A session as a search serves it: only the projected fields, which are all that is
        spelled unless the document was rendered already."""
        if projection is None:
            return self.document(session)
        doc = self._rendered.get(session.id)
        if doc is not None:  # maybe changed by a test: projected as it is now
            kept: Document = project(doc, projection)
            return kept
        # Spelled from the model, which never changes (frozen, no `advance`): the same
        # projection of the same session is the same hit, kept (a page re-read every
        # request would spell and project its 50 documents again). Served read-only.
        key = (session.id, tuple(projection))
        hit = self._hits.get(key)
        if hit is not None:
            self._hits.move_to_end(key)
            return hit
        named = {path[0] for path in projection}
        spelled = {
            name: spell(session, self.account_id) for name, spell in FIELDS.items() if name in named
        }
        fresh: Document = project(spelled, projection)
        self._hits[key] = fresh
        if len(self._hits) > self.rendered_limit:
            self._hits.popitem(last=False)
        return fresh


class Documents(Sequence[Document]):
    """The simulator's documents in storage order, rendered when read (`VonageSimulator.document`):
    a test can index, count and walk them as a list."""

    def __init__(self, simulator: VonageSimulator) -> None:
        self._simulator = simulator

    def __len__(self) -> int:
        return len(self._simulator.sessions)

    @overload
    def __getitem__(self, index: int) -> Document: ...

    @overload
    def __getitem__(self, index: slice) -> list[Document]: ...

    def __getitem__(self, index: int | slice) -> Document | list[Document]:
        sim = self._simulator
        if isinstance(index, slice):
            return [sim.document(session) for session in sim.sessions[index]]
        return sim.document(sim.sessions[index])

    def __iter__(self) -> Iterator[Document]:
        return (self._simulator.document(session) for session in self._simulator.sessions)


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
