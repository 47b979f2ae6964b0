"""Projects and repositories (the image streams' storage side)."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_ignore, ordered
from dockyard.metadata.schema import projects, repositories


async def find_id(conn: AsyncConnection, name: str) -> int | None:
    row = await conn.execute(select(repositories.c.id).where(repositories.c.name == name))
    return row.scalar_one_or_none()


async def ensure(conn: AsyncConnection, name: str) -> int:
    """The repository's id, creating it and its project when absent (inside a write)."""
    found = await find_id(conn, name)
    if found is not None:
        return found
    now = time.time()
    project = name.split("/", 1)[0]
    await conn.execute(insert_ignore(conn, projects).values(name=project, created_at=now))
    project_id = (
        await conn.execute(select(projects.c.id).where(projects.c.name == project))
    ).scalar_one()
    await conn.execute(
        insert_ignore(conn, repositories).values(project_id=project_id, name=name, created_at=now)
    )
    created = await conn.execute(select(repositories.c.id).where(repositories.c.name == name))
    return int(created.scalar_one())


async def page(conn: AsyncConnection, last: str | None, limit: int | None) -> list[str]:
    """Repository names in order, after ``last``."""
    name = ordered(conn, repositories.c.name)
    query = select(repositories.c.name).order_by(name)
    if last:
        query = query.where(name > last)
    if limit is not None:
        query = query.limit(limit)
    return list((await conn.execute(query)).scalars())
