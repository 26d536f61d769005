"""Every index test runs on both backends: `index_url` is an empty SQLite file, then an empty
PostgreSQL database (see tests/pg.py); `store` is an `IndexStore` open on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from index.store import IndexStore
from tests.pg import index_url, postgres_url

__all__ = ["index_url", "postgres_url", "store"]


@pytest.fixture
async def store(index_url: str) -> AsyncIterator[IndexStore]:
    opened = await IndexStore.open(index_url)
    yield opened
    await opened.aclose()
