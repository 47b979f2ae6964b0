"""The metadata a pruning plan is made from, read in one pass over the registry's tables."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.schema import (
    blobs,
    image_references,
    images,
    repositories,
    repository_blobs,
    repository_images,
    tag_events,
    tags,
)
from dockyard.pruning.plan import ImageInfo, Inventory, TagEvent


async def repository_ids(conn: AsyncConnection) -> dict[str, int]:
    query = select(repositories.c.id, repositories.c.name)
    return {row.name: row.id for row in await conn.execute(query)}


async def read_inventory(conn: AsyncConnection) -> Inventory:
    """Everything from one snapshot (SQLite's read transaction; PostgreSQL's repeatable read),
    so no row names a repository or image the other reads have not seen."""
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ")
    names = {id_: name for name, id_ in (await repository_ids(conn)).items()}
    children: dict[str, list[str]] = defaultdict(list)
    referenced: dict[str, list[str]] = defaultdict(list)
    query = select(
        image_references.c.image_digest, image_references.c.kind, image_references.c.digest
    ).order_by(image_references.c.image_digest, image_references.c.position)
    for ref in await conn.execute(query):
        target = children if ref.kind == "manifest" else referenced
        target[ref.image_digest].append(ref.digest)
    found = {
        row.digest: ImageInfo(
            digest=row.digest,
            created=row.created_at,
            managed=bool(row.managed),
            size=row.size,
            subject=row.subject_digest,
            children=tuple(children[row.digest]),
            blobs=tuple(referenced[row.digest]),
        )
        for row in await conn.execute(
            select(
                images.c.digest,
                images.c.created_at,
                images.c.managed,
                images.c.size,
                images.c.subject_digest,
            )
        )
    }
    return Inventory(
        tags={
            (names[row.repository_id], row.name): row.image_digest
            for row in await conn.execute(select(tags))
        },
        events=[
            TagEvent(row.id, names[row.repository_id], row.tag, row.image_digest, row.created_at)
            for row in await conn.execute(select(tag_events))
        ],
        memberships={
            (names[row.repository_id], row.image_digest): row.created_at
            for row in await conn.execute(select(repository_images))
        },
        images=found,
        links={
            (names[row.repository_id], row.digest): row.created_at
            for row in await conn.execute(select(repository_blobs))
        },
        blobs={row.digest: (row.size, row.created_at) for row in await conn.execute(select(blobs))},
    )
