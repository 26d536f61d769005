"""The access log without query strings.

A GraphQL GET carries the whole operation in its query string (`?query=…&variables=…`): filter
values, phone numbers, session ids. uvicorn's access log writes the path with its query string;
this filter keeps the path and the fact that there was one (`?…`), so that a log line says which
endpoint answered what status, never what was asked.
"""

from __future__ import annotations

import logging

__all__ = ["ACCESS_LOGGER", "QueryStringHidden", "hide_query_strings"]

ACCESS_LOGGER = "uvicorn.access"
_PATH = 2  # uvicorn's access line: (client, method, path with query string, version, status)


class QueryStringHidden(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > _PATH:
            full = args[_PATH]
            path, asked, _ = full.partition("?") if isinstance(full, str) else (full, "", "")
            if asked:
                record.args = (*args[:_PATH], f"{path}?…", *args[_PATH + 1 :])
        return True


def hide_query_strings() -> None:
    """Installs the filter on uvicorn's access logger (once, whatever its handlers: uvicorn
    configures them when it starts, after the app is imported)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, QueryStringHidden) for existing in logger.filters):
        logger.addFilter(QueryStringHidden())
