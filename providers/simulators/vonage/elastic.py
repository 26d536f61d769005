"""The simulator's small Elasticsearch: what `/insights/sessions` does with `filter_by`,
`sort_by` and `project_fields` over plain conversation documents.

Semantics kept from Elasticsearch, as seed 003 describes them: `term`/`terms` compare exactly and
match any element of a list field; `match` is a case-insensitive OR of words and does nothing on
ID fields; `range` rounds date-only bounds the way ES date math does; a sort puts documents that
lack the field last whatever the direction; a dotted path walks through lists.

A clause or a sort key reads its path through the function a `Reading` gives for it (`values`
over a plain document by default), so a caller may hand over anything that stands for a
document and read its fields its own way (the simulator reads most of them without building
the document).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

__all__ = [
    "DATE_FIELD",
    "ID_FIELDS",
    "Filter",
    "InvalidParameter",
    "Predicate",
    "Reading",
    "SortKey",
    "analyze",
    "compile_filter",
    "parse_moment",
    "parse_projection",
    "parse_sort",
    "project",
    "read_values",
    "sort_documents",
    "values",
]

Document = dict[str, Any]
Predicate = Callable[[Any], bool]  # of a document, or of what stands for one
# A dotted path → the function that reads every value at that path of a document.
Reading = Callable[[tuple[str, ...]], Callable[[Any], list[Any]]]
Bounds = dict[str, datetime]  # a range on DATE_FIELD: gte, gt, lte, lt → naive UTC

# "Any ID field can only be searched using term searches, match searches will not work."
ID_FIELDS = frozenset(
    {
        "api_key",
        "id",
        "source",
        "destination",
        "account_id",
        "channel",
        "agent_information.id",
        "agent_information.version_id",
        "agent_information.name",
        "agent_information.voice",
        "agent_information.language",
        "flow_data.collected_tags.tag",
        "flow_data.collected_tags.category",
        "flow_data.collected_parameters.name",
        "flow_data.collected_parameters.type",
        "flow_data.collected_parameters.audio_url",
        "flow_path.node_id",
        "flow_path.request_id",
        "flow_path.type",
        "flow_path.tags.tag",
        "flow_path.tags.category",
        "flow_path.context.url",
        "flow_path.request.url",
        "flow_path.request.verb",
        "tags_list.tag",
        "tags_list.category",
        "params_list.name",
        "params_list.type",
        "params_list.audio_url",
        "channel_data.audio_url",
        "channel_data.call_status",
    }
)
DATE_FIELD = "session_start_time"
_RANGE_BOUNDS = frozenset({"gte", "gt", "lte", "lt"})
_Doc = TypeVar("_Doc")


# Elasticsearch's standard analyzer, near enough: runs of letters, digits and underscores, an
# apostrophe kept only between two of them ("don't"), lower-cased.
_TOKEN = re.compile(r"\w+(?:'\w+)*")


def analyze(text: str) -> set[str]:
    """The terms a `match` compares: those of the query text and of the field's text."""
    return {token.lower() for token in _TOKEN.findall(text)}


class InvalidParameter(Exception):
    """Vonage answers these with 401."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- reading documents -----------------------------------------------------------------------


def values(node: Any, path: Sequence[str]) -> list[Any]:
    """Every value at a dotted path; lists are walked through, `*` is any key."""
    if isinstance(node, list):
        return [found for item in node for found in values(item, path)]
    if not path:
        return [node]
    if not isinstance(node, dict):
        return []
    head, rest = path[0], path[1:]
    children = node.values() if head == "*" else [node[head]] if head in node else []
    return [found for child in children for found in values(child, rest)]


def parse_moment(text: Any, *, round_up: bool = False) -> datetime:
    """A naive UTC datetime from an ISO date or datetime; a bare day is its first instant, or
    its last one with `round_up` (ES date math for `lte`/`gt`)."""
    if not isinstance(text, str):
        raise InvalidParameter(f"invalid date: {text!r}")
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max if round_up else time.min)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(f"invalid date: {text!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


# --- filter_by -------------------------------------------------------------------------------


def read_values(path: tuple[str, ...]) -> Callable[[Any], list[Any]]:
    """The default `Reading`: `values` over a plain document."""
    return lambda doc: values(doc, path)


def _same(found: Any, wanted: Any) -> bool:
    if isinstance(found, bool) or isinstance(wanted, bool):
        return found is wanted
    return bool(found == wanted or str(found) == str(wanted))


def _single_entry(value: Any, what: str) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidParameter(f"invalid filter_by: {what} must have exactly one key")
    key, inner = next(iter(value.items()))
    return str(key), inner


def _any_of(read: Callable[[Any], list[Any]], wanted: list[Any]) -> Predicate:
    """Whether a value found is `_same` as one wanted. A string found is the same as a wanted
    value exactly when it equals the value's text (never a bool's): a set lookup."""
    texts = frozenset(str(value) for value in wanted if not isinstance(value, bool))

    def test(doc: Any) -> bool:
        for found in read(doc):
            if found in texts if isinstance(found, str) else any(_same(found, w) for w in wanted):
                return True
        return False

    return test


def _terms(read: Callable[[Any], list[Any]], wanted: Any) -> Predicate:
    if not isinstance(wanted, list):
        raise InvalidParameter("invalid filter_by: terms needs a list")
    return _any_of(read, wanted)


def _match(field: str, read: Callable[[Any], list[Any]], text: Any) -> Predicate:
    asked = analyze(str(text))
    if field in ID_FIELDS or not asked:
        return lambda doc: False
    return lambda doc: any(
        asked.intersection(analyze(found)) for found in read(doc) if isinstance(found, str)
    )


def _bound(field: str, name: str, value: Any) -> Any:
    if field == DATE_FIELD:
        return parse_moment(value, round_up=name in ("lte", "gt"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"invalid filter_by: range on {field} needs numbers")
    return value


def _within(found: Any, bounds: dict[str, Any]) -> bool:
    checks = {
        "gte": lambda b: found >= b,
        "gt": lambda b: found > b,
        "lte": lambda b: found <= b,
        "lt": lambda b: found < b,
    }
    return all(checks[name](bound) for name, bound in bounds.items())


def _range(field: str, read: Callable[[Any], list[Any]], bounds: dict[str, Any]) -> Predicate:
    def comparable(found: Any) -> Any:
        if field == DATE_FIELD:
            return parse_moment(found) if isinstance(found, str) else None
        return found if isinstance(found, int | float) and not isinstance(found, bool) else None

    def check(doc: Any) -> bool:
        found = (comparable(value) for value in read(doc))
        return any(value is not None and _within(value, bounds) for value in found)

    return check


def _range_bounds(field: str, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or not spec or not set(spec) <= _RANGE_BOUNDS:
        raise InvalidParameter("invalid filter_by: range needs gte, gt, lte or lt")
    return {name: _bound(field, name, value) for name, value in spec.items()}


@dataclass(frozen=True, slots=True)
class _Clause:
    test: Predicate
    start_bounds: Bounds | None = None  # a range on DATE_FIELD: its bounds


def _clause(clause: Any, reading: Reading) -> _Clause:
    kind, body = _single_entry(clause, "a clause")
    field, argument = _single_entry(body, kind)
    if kind not in ("term", "terms", "match", "range"):
        raise InvalidParameter(f"invalid filter_by: unsupported clause {kind!r}")
    read = reading(tuple(field.split(".")))
    if kind == "term":
        return _Clause(_any_of(read, [argument]))
    if kind == "terms":
        return _Clause(_terms(read, argument))
    if kind == "match":
        return _Clause(_match(field, read, argument))
    bounds = _range_bounds(field, argument)
    return _Clause(_range(field, read, bounds), bounds if field == DATE_FIELD else None)


def _clauses(spec: dict[str, Any], key: str, reading: Reading) -> list[_Clause]:
    listed = spec.get(key, [])
    if not isinstance(listed, list):
        raise InvalidParameter(f"invalid filter_by: {key} must be a list")
    return [_clause(clause, reading) for clause in listed]


@dataclass(frozen=True, slots=True)
class Filter:
    """A compiled `filter_by`. Its `must` ranges on the start time are also given as bounds
    (`start_ranges`): a caller holding documents in start order can find the ones within them
    by bisection, then test only the rest (`selects_others`, or `select_others` for many)."""

    start_ranges: tuple[Bounds, ...]
    start_checks: tuple[Predicate, ...]  # the same ranges as tests
    must: tuple[Predicate, ...]  # the other `must` clauses
    must_not: tuple[Predicate, ...]
    should: tuple[Predicate, ...]

    def selects(self, doc: Any) -> bool:
        return all(test(doc) for test in self.start_checks) and self.selects_others(doc)

    def selects_others(self, doc: Any) -> bool:
        """Every clause but the `must` ranges on the start time."""
        return (
            all(test(doc) for test in self.must)
            and not any(test(doc) for test in self.must_not)
            and (not self.should or any(test(doc) for test in self.should))
        )

    def select_others(self, docs: Iterable[_Doc]) -> list[_Doc]:
        """The documents `selects_others` keeps, in order: one clause at a time over those
        still kept, which costs less per document than all clauses per document."""
        kept = list(docs)
        for test in self.must:
            kept = [doc for doc in kept if test(doc)]
        for test in self.must_not:
            kept = [doc for doc in kept if not test(doc)]
        if self.should:
            kept = [doc for doc in kept if any(test(doc) for test in self.should)]
        return kept


def compile_filter(text: str, reading: Reading = read_values) -> Filter:
    try:
        spec = json.loads(text)
    except ValueError:
        raise InvalidParameter("invalid filter_by: not JSON") from None
    if not isinstance(spec, dict) or not set(spec) <= {"must", "must_not", "should"}:
        raise InvalidParameter("invalid filter_by: expected must, must_not and should lists")
    must, must_not, should = (
        _clauses(spec, key, reading) for key in ("must", "must_not", "should")
    )
    starts = [clause for clause in must if clause.start_bounds is not None]
    return Filter(
        start_ranges=tuple(clause.start_bounds for clause in starts if clause.start_bounds),
        start_checks=tuple(clause.test for clause in starts),
        must=tuple(clause.test for clause in must if clause.start_bounds is None),
        must_not=tuple(clause.test for clause in must_not),
        should=tuple(clause.test for clause in should),
    )


# --- sort_by ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SortKey:
    path: tuple[str, ...]
    descending: bool


def parse_sort(text: str) -> list[SortKey]:
    keys: list[SortKey] = []
    for part in text.split(","):
        field, _, direction = part.strip().partition(":")
        direction = direction.strip().lower() or "asc"
        if not field.strip() or direction not in ("asc", "desc"):
            raise InvalidParameter(f"invalid sort_by: {part!r}")
        keys.append(SortKey(tuple(field.strip().split(".")), direction == "desc"))
    return keys


def _sort_value(doc: Any, key: SortKey, read: Callable[[Any], list[Any]]) -> tuple[int, Any] | None:
    """A list sorts by its smallest value ascending, its largest descending; objects do not sort."""
    found = [
        (0, value) if isinstance(value, int | float) else (1, value)
        for value in read(doc)
        if isinstance(value, int | float | str)
    ]
    if not found:
        return None
    return max(found) if key.descending else min(found)


def sort_documents(
    docs: Iterable[_Doc], keys: Sequence[SortKey], reading: Reading = read_values
) -> list[_Doc]:
    """Stable, least significant key first; documents lacking a key go last."""
    ordered = list(docs)
    for key in reversed(keys):
        read = reading(key.path)
        keyed = [(_sort_value(doc, key, read), doc) for doc in ordered]
        present = [(value, doc) for value, doc in keyed if value is not None]
        present.sort(key=lambda pair: pair[0], reverse=key.descending)
        ordered = [doc for _, doc in present] + [doc for value, doc in keyed if value is None]
    return ordered


# --- project_fields --------------------------------------------------------------------------


def parse_projection(text: str) -> list[tuple[str, ...]]:
    try:
        fields = json.loads(text)
    except ValueError:
        raise InvalidParameter("invalid project_fields: not JSON") from None
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise InvalidParameter("invalid project_fields: expected a list of field names")
    return [tuple(field.split(".")) for field in fields]


_ABSENT = object()


def project(node: Any, paths: Sequence[tuple[str, ...]]) -> Any:
    """Only the listed paths of `node`, nested as in the document; a path that names an object
    keeps all of it."""
    return _project(node, _tree(tuple(paths)))


# A projection as a tree: each kept key → the projection of its value (None: all of it).
_Tree = dict[str, "_Tree | None"]


@functools.lru_cache(maxsize=256)  # a search's projection is one of a few: read once each
def _tree(paths: tuple[tuple[str, ...], ...]) -> _Tree | None:
    if any(not path for path in paths):
        return None
    rests: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        rests.setdefault(path[0], []).append(path[1:])
    return {head: _tree(tuple(rest)) for head, rest in rests.items()}


def _project(node: Any, tree: _Tree | None) -> Any:
    if tree is None:
        return node
    if isinstance(node, list):
        return [kept for item in node if (kept := _project(item, tree)) is not _ABSENT]
    if not isinstance(node, dict):
        return _ABSENT
    kept_doc: dict[str, Any] = {}
    for head, below in tree.items():
        if head in node:
            kept = _project(node[head], below)
            if kept is not _ABSENT:
                kept_doc[head] = kept
    return kept_doc
