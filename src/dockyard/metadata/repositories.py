"""Projects and repositories (the image streams' storage side)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata import changes
from dockyard.metadata.engine import insert_ignore, ordered
from dockyard.metadata.schema import projects, repositories


async def find_id(conn: AsyncConnection, name: str, *, lock: bool = False) -> int | None:
    """The repository's id; with ``lock``, its row stays locked until the transaction ends.

    Every write that changes a repository's images, tags or history locks the repository
    first. On PostgreSQL two such writes (a push and a delete of one manifest, say) would
    otherwise lock the same membership rows in different orders and deadlock; SQLite's writers
    take turns anyway, and it has no ``FOR UPDATE``.
    """
    return (await conn.execute(_id_of(name, lock))).scalar_one_or_none()


async def ensure(conn: AsyncConnection, name: str, *, lock: bool = False) -> int:
    """The repository's id, creating it and its project when absent (inside a write);
    ``lock`` as for ``find_id``."""
    found = await find_id(conn, name, lock=lock)
    if found is not None:
        return found
    now = time.time()
    project = name.split("/", 1)[0]
    await conn.execute(
        insert_ignore(conn, projects).values(name=project, uid=str(uuid.uuid4()), created_at=now)
    )
    project_id = (
        await conn.execute(select(projects.c.id).where(projects.c.name == project))
    ).scalar_one()
    await conn.execute(
        insert_ignore(conn, repositories).values(project_id=project_id, name=name, created_at=now)
    )
    return (await conn.execute(_id_of(name, lock))).scalar_one()


def _id_of(name: str, lock: bool) -> Select[int]:
    query = select(repositories.c.id).where(repositories.c.name == name)
    return query.with_for_update() if lock else query


async def page(
    conn: AsyncConnection, last: str | None, limit: int | None, within: set[str] | None = None
) -> list[str]:
    """Repository names in order, after ``last``, of the projects ``within`` (or of all)."""
    name = ordered(conn, repositories.c.name)
    query = select(repositories.c.name).order_by(name)
    if within is not None:
        query = query.join(projects, projects.c.id == repositories.c.project_id).where(
            projects.c.name.in_(within)
        )
    if last:
        query = query.where(name > last)
    if limit is not None:
        query = query.limit(limit)
    return list((await conn.execute(query)).scalars())


async def get_project(conn: AsyncConnection, name: str) -> Any:
    return (await conn.execute(select(projects).where(projects.c.name == name))).first()


async def list_projects(conn: AsyncConnection) -> list[Any]:
    return list(await conn.execute(select(projects).order_by(projects.c.name)))


async def insert_project(
    conn: AsyncConnection, name: str, display_name: str, description: str
) -> bool:
    """Create a project; False when one of that name exists."""
    result = await conn.execute(
        insert_ignore(conn, projects).values(
            name=name,
            uid=str(uuid.uuid4()),
            display_name=display_name,
            description=description,
            created_at=time.time(),
        )
    )
    return bool(result.rowcount)


async def delete_project(conn: AsyncConnection, name: str) -> bool:
    """Delete a project with its repositories (their tags and links go with them); watchers of
    its image streams see each one deleted."""
    row = await get_project(conn, name)
    if row is None:
        return False
    names = (
        await conn.execute(select(repositories.c.name).where(repositories.c.project_id == row.id))
    ).scalars()
    for repository in list(names):
        await changes.append(
            conn,
            kind="ImageStream",
            namespace=name,
            name=repository.partition("/")[2],
            action="DELETED",
            payload={},
        )
    await conn.execute(delete(repositories).where(repositories.c.project_id == row.id))
    await conn.execute(delete(projects).where(projects.c.id == row.id))
    return True
