"""A migrated metadata database (SQLite, or PostgreSQL with DOCKYARD_TEST_DATABASE=postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dockyard.metadata.engine import Database, upgrade


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.close()
