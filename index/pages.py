"""The SQL of a page of sessions and of its count: one text for SQLite and PostgreSQL.

A page is the hottest read of the index (every query of an indexed vendor makes one), so it is
written as plain SQL with named parameters rather than built as SQLAlchemy Core expressions for
every request: building and compiling those cost ~0.5 ms a page, running the SQL ~0.04 ms. The
text depends on the query's shape only (which filters, how many values), so the database's own
statement caches see the same few texts. Values are always parameters, never text.

Clause by clause it reads the filters as `providers.query.matches` does; the columns are
`index.schema.sessions` (see `index.codec` for how they are derived from records).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from index import codec
from index.state import ScopeKey
from providers.query import SessionQuery, SortOrder, digits, words
from providers.records import SortKey

__all__ = ["PageSql", "count_sql", "held_sql", "page_sql"]

_ORDER = ("started_at", "agent_id", "id")  # the sort key's columns (its provider is the keys')


@dataclass
class PageSql:
    """A statement's text and its parameters (named `:p0`, `:p1`, … in the text)."""

    text: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def among(self, values: Sequence[Any]) -> str:
        return f"({', '.join(self.bind(value) for value in values)})"


def page_sql(
    keys: Sequence[ScopeKey], query: SessionQuery, after: SortKey | None, limit: int
) -> PageSql | None:
    """The records of `keys`' scopes (one tenant and vendor) that match `query`, in
    `query.order` by (started_at, agent or "", id), strictly after `after` (whose provider is
    ignored: it is the keys' own), at most `limit`; None when nothing can match."""
    newest_first = query.order is SortOrder.NEWEST_FIRST
    moment = None if after is None else codec.micros(after[0])
    sql = PageSql()
    # The window narrowed to the key's moment: implied by the row comparison below, but SQLite
    # seeks the index on one plain bound only; without it a page deep in the list would scan
    # every row before it.
    if moment is None:
        where = _where(sql, keys, query)
    elif newest_first:
        where = _where(sql, keys, query, before=moment + 1)
    else:
        where = _where(sql, keys, query, since=moment)
    if where is None or limit <= 0:
        return None
    if after is not None:
        bound = ", ".join([sql.bind(moment), sql.bind(after[2]), sql.bind(after[3])])
        where.append(f"({', '.join(_ORDER)}) {'<' if newest_first else '>'} ({bound})")
    direction = " DESC" if newest_first else ""
    order = ", ".join(column + direction for column in _ORDER)
    sql.text = (
        f"SELECT record FROM sessions WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT {sql.bind(limit)}"
    )
    return sql


def count_sql(keys: Sequence[ScopeKey], query: SessionQuery) -> PageSql | None:
    sql = PageSql()
    where = _where(sql, keys, query)
    if where is None:
        return None
    sql.text = f"SELECT count(*) FROM sessions WHERE {' AND '.join(where)}"
    return sql


def held_sql(key: ScopeKey) -> PageSql:
    """How many sessions one scope holds (`providers { index { sessions } }`)."""
    sql = PageSql()
    tenant, provider, scope = (sql.bind(v) for v in (key.tenant, key.provider.value, key.scope))
    sql.text = (
        "SELECT count(*) FROM sessions"
        f" WHERE tenant = {tenant} AND provider = {provider} AND scope = {scope}"
    )
    return sql


def _where(
    sql: PageSql,
    keys: Sequence[ScopeKey],
    query: SessionQuery,
    *,
    since: int | None = None,
    before: int | None = None,
) -> list[str] | None:
    """The clauses of a page or count; None when nothing can match. `since` and `before`
    (microseconds) narrow the window [started_after, started_before) further."""
    if not keys or query.fleet_scoped:
        return None
    if len({(key.tenant, key.provider) for key in keys}) != 1:
        raise ValueError("the scopes of one page belong to one tenant and vendor")
    if any(
        values is not None and not values
        for values in (query.agent_ids, query.statuses, query.channels)
    ):
        return None  # a filter on an empty list matches nothing
    names = sorted({key.scope for key in keys})
    where = [
        f"tenant = {sql.bind(keys[0].tenant)}",
        f"provider = {sql.bind(keys[0].provider.value)}",
        f"scope = {sql.bind(names[0])}" if len(names) == 1 else f"scope IN {sql.among(names)}",
        f"started_at >= {sql.bind(_narrowed(codec.micros(query.started_after), since, max))}",
        f"started_at < {sql.bind(_narrowed(codec.micros(query.started_before), before, min))}",
    ]
    if query.agent_ids is not None:  # a record without an agent is in no list of agents
        where.append(f"has_agent = {sql.bind(True)}")
        where.append(f"agent_id IN {sql.among(query.agent_ids)}")
    if query.statuses is not None:
        where.append(f"status IN {sql.among(sorted(status.value for status in query.statuses))}")
    if query.channels is not None:
        channels = sorted(channel.value for channel in query.channels)
        where.append(f"channel IN {sql.among(channels)}")
    for tag in query.tags:
        where.append(_contains(sql, "tags", codec.tag_token(tag)))
    if query.phone_number is not None:
        wanted = sql.bind(digits(query.phone_number))
        where.append(f"(caller_digits = {wanted} OR callee_digits = {wanted})")
    if query.text is not None:
        where.append("words IS NOT NULL")
        for word in sorted(set(words(query.text))):
            where.append(_contains(sql, "words", codec.word_token(word)))
    return where


def _contains(sql: PageSql, column: str, token: str) -> str:
    """`column` holds `token` as a substring: LIKE with the wildcards of the token escaped."""
    escaped = token.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"{column} LIKE {sql.bind(f'%{escaped}%')} ESCAPE '/'"


def _narrowed(bound: int, other: int | None, pick: Callable[[int, int], int]) -> int:
    return bound if other is None else pick(bound, other)
