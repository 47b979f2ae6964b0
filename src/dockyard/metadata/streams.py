"""Image streams: the Kubernetes-object side of repositories, their tags and tag history."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata import changes
from dockyard.metadata.schema import projects, repositories, tag_events, tags

STREAM_COLUMNS = (
    repositories.c.id,
    repositories.c.name,
    repositories.c.uid,
    repositories.c.generation,
    repositories.c.resource_version,
    repositories.c.labels,
    repositories.c.annotations,
    repositories.c.spec,
    repositories.c.created_at,
    projects.c.name.label("namespace"),
)


def _streams() -> Any:
    return select(*STREAM_COLUMNS).join(projects, projects.c.id == repositories.c.project_id)


async def get(conn: AsyncConnection, repository: str, *, for_update: bool = False) -> Any:
    """The stream's row; ``for_update`` locks it until the transaction ends, so a check of its
    ``resourceVersion`` holds until the write (PostgreSQL; SQLite's writers are serial)."""
    query = _streams().where(repositories.c.name == repository)
    if for_update:
        query = query.with_for_update(of=repositories)
    return (await conn.execute(query)).first()


async def list_in(conn: AsyncConnection, namespace: str | None) -> list[Any]:
    query = _streams().order_by(projects.c.name, repositories.c.name)
    if namespace is not None:
        query = query.where(projects.c.name == namespace)
    return list(await conn.execute(query))


async def current_tags(conn: AsyncConnection, repository_id: int) -> dict[str, str]:
    return {name: row.image_digest for name, row in (await tag_rows(conn, repository_id)).items()}


async def tag_rows(conn: AsyncConnection, repository_id: int) -> dict[str, Any]:
    """The stream's tags by name: ``image_digest`` and ``updated_at`` (its last move)."""
    query = select(tags.c.name, tags.c.image_digest, tags.c.updated_at).where(
        tags.c.repository_id == repository_id
    )
    return {row.name: row for row in await conn.execute(query)}


async def history(conn: AsyncConnection, repository_id: int) -> dict[str, list[Any]]:
    """Every tag's events, newest first."""
    query = (
        select(tag_events)
        .where(tag_events.c.repository_id == repository_id)
        .order_by(tag_events.c.tag, tag_events.c.id.desc())
    )
    found: dict[str, list[Any]] = {}
    for row in await conn.execute(query):
        found.setdefault(row.tag, []).append(row)
    return found


async def ensure_uid(conn: AsyncConnection, repository_id: int) -> None:
    await conn.execute(
        update(repositories)
        .where(repositories.c.id == repository_id, repositories.c.uid.is_(None))
        .values(uid=str(uuid.uuid4()))
    )


async def save_object_fields(
    conn: AsyncConnection,
    repository_id: int,
    *,
    spec: dict[str, Any],
    labels: dict[str, str],
    annotations: dict[str, str],
    generation: int,
) -> None:
    await conn.execute(
        update(repositories)
        .where(repositories.c.id == repository_id)
        .values(spec=spec, labels=labels, annotations=annotations, generation=generation)
    )


async def touch(
    conn: AsyncConnection, repository_id: int, repository: str, action: str = "MODIFIED"
) -> int:
    """Record that the stream changed: a change-log entry whose id is its new resourceVersion."""
    namespace, _, name = repository.partition("/")
    version = await changes.append(
        conn, kind="ImageStream", namespace=namespace, name=name, action=action, payload={}
    )
    await conn.execute(
        update(repositories)
        .where(repositories.c.id == repository_id)
        .values(resource_version=version)
    )
    return version


async def remove(conn: AsyncConnection, repository_id: int) -> None:
    await conn.execute(delete(repositories).where(repositories.c.id == repository_id))


async def tag_event_at(conn: AsyncConnection, repository_id: int, digest: str) -> bool:
    """Whether any tag's history of the stream names the image."""
    query = select(tag_events.c.id).where(
        tag_events.c.repository_id == repository_id, tag_events.c.image_digest == digest
    )
    return (await conn.execute(query.limit(1))).first() is not None
