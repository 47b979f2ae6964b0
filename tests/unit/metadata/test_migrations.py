"""The migrations build exactly the schema that ``metadata.schema`` declares."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from dockyard.metadata.engine import migrate
from dockyard.metadata.schema import metadata


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def _schema_diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


def test_migrated_schema_matches_declared_schema(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)  # a second run finds nothing to do
    assert asyncio.run(_schema_diff(database_url)) == []
