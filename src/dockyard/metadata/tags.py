"""Tags: the current image of each, and the history of every move (newest first)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_ignore, ordered
from dockyard.metadata.schema import repositories, tag_events, tags


async def resolve(conn: AsyncConnection, repository: str, tag: str) -> str | None:
    query = (
        select(tags.c.image_digest)
        .join(repositories, repositories.c.id == tags.c.repository_id)
        .where(repositories.c.name == repository, tags.c.name == tag)
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def move(
    conn: AsyncConnection,
    repository_id: int,
    tag: str,
    digest: str,
    _seen: frozenset[str] = frozenset(),
) -> bool:
    """Point a tag at an image, with a history event when it really moves.

    Tags of the stream's spec that follow this tag (``from: ImageStreamTag``, as ``dockyard
    tag --alias`` makes them) move with it.
    """
    now = time.time()
    current = (
        await conn.execute(
            select(tags.c.image_digest).where(
                tags.c.repository_id == repository_id, tags.c.name == tag
            )
        )
    ).scalar_one_or_none()
    if current == digest:
        return False
    if current is None:
        await conn.execute(
            insert_ignore(conn, tags).values(
                repository_id=repository_id, name=tag, image_digest=digest, updated_at=now
            )
        )
    else:
        await conn.execute(
            update(tags)
            .where(tags.c.repository_id == repository_id, tags.c.name == tag)
            .values(image_digest=digest, updated_at=now)
        )
    stream = (
        await conn.execute(
            select(repositories.c.name, repositories.c.generation, repositories.c.spec).where(
                repositories.c.id == repository_id
            )
        )
    ).one()
    await conn.execute(
        tag_events.insert().values(
            repository_id=repository_id,
            tag=tag,
            image_digest=digest,
            generation=stream.generation,
            created_at=now,
        )
    )
    seen = _seen | {tag}
    for follower in followers(stream.spec, stream.name, tag):
        if follower not in seen:
            await move(conn, repository_id, follower, digest, seen)
    return True


def followers(spec: dict[str, Any] | None, repository: str, tag: str) -> list[str]:
    """Spec tags that track ``tag`` of the same stream (``repository`` is ``project/name``);
    a ``from.namespace`` naming the stream's own project is the same stream."""
    project, _, stream = repository.partition("/")
    found = []
    for entry in (spec or {}).get("tags") or []:
        source = entry.get("from") or {}
        if (
            source.get("kind") != "ImageStreamTag"
            or (source.get("namespace") or project) != project
        ):
            continue
        name = source.get("name", "")
        if name == tag or name == f"{stream}:{tag}":
            found.append(entry["name"])
    return found


async def remove(conn: AsyncConnection, repository_id: int, tag: str) -> bool:
    result = await conn.execute(
        delete(tags).where(tags.c.repository_id == repository_id, tags.c.name == tag)
    )
    return bool(result.rowcount)


async def remove_pointing_at(conn: AsyncConnection, repository_id: int, digest: str) -> list[str]:
    names = list(
        (
            await conn.execute(
                select(tags.c.name).where(
                    tags.c.repository_id == repository_id, tags.c.image_digest == digest
                )
            )
        ).scalars()
    )
    if names:
        await conn.execute(
            delete(tags).where(tags.c.repository_id == repository_id, tags.c.image_digest == digest)
        )
    return names


async def page(
    conn: AsyncConnection, repository_id: int, last: str | None, limit: int | None
) -> list[str]:
    """Tag names after ``last`` in the spec's lexical order: case-insensitive, ties by bytes."""
    name = ordered(conn, tags.c.name)
    folded = ordered(conn, func.lower(tags.c.name))
    query = select(tags.c.name).where(tags.c.repository_id == repository_id).order_by(folded, name)
    if last:
        query = query.where(or_(folded > last.lower(), and_(folded == last.lower(), name > last)))
    if limit is not None:
        query = query.limit(limit)
    return list((await conn.execute(query)).scalars())
