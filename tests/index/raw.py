"""SQL on an index database behind the store's back, to build old or foreign indexes and to see
what the store left: stdlib sqlite3 for SQLite, asyncpg for PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import asyncpg


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


async def execute(url: str, *statements: str) -> None:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as conn:
            for statement in statements:
                conn.execute(statement)
        conn.close()
        return
    pg = await asyncpg.connect(url)
    try:
        for statement in statements:
            await pg.execute(statement)
    finally:
        await pg.close()


async def fetch(url: str, statement: str) -> list[tuple[Any, ...]]:
    path = sqlite_path(url)
    if path is not None:
        with sqlite3.connect(path) as conn:
            rows = [tuple(row) for row in conn.execute(statement)]
        conn.close()
        return rows
    pg = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await pg.fetch(statement)]
    finally:
        await pg.close()


async def tables(url: str) -> set[str]:
    if sqlite_path(url) is not None:
        found = await fetch(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        found = await fetch(
            url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    return {name for (name,) in found}
