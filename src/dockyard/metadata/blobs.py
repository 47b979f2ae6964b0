"""Blobs known to be in storage, and the links that make them visible in a repository."""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_ignore
from dockyard.metadata.schema import blobs, repositories, repository_blobs


async def size_in_repository(conn: AsyncConnection, repository: str, digest: str) -> int | None:
    query = (
        select(blobs.c.size)
        .join(repository_blobs, repository_blobs.c.digest == blobs.c.digest)
        .join(repositories, repositories.c.id == repository_blobs.c.repository_id)
        .where(repositories.c.name == repository, blobs.c.digest == digest)
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def size(conn: AsyncConnection, digest: str) -> int | None:
    query = select(blobs.c.size).where(blobs.c.digest == digest)
    return (await conn.execute(query)).scalar_one_or_none()


async def record(conn: AsyncConnection, digest: str, size: int) -> None:
    await conn.execute(
        insert_ignore(conn, blobs).values(digest=digest, size=size, created_at=time.time())
    )


async def link(conn: AsyncConnection, repository_id: int, digest: str) -> None:
    await conn.execute(
        insert_ignore(conn, repository_blobs).values(
            repository_id=repository_id, digest=digest, created_at=time.time()
        )
    )


async def unlink(conn: AsyncConnection, repository_id: int, digest: str) -> bool:
    result = await conn.execute(
        delete(repository_blobs).where(
            repository_blobs.c.repository_id == repository_id,
            repository_blobs.c.digest == digest,
        )
    )
    return bool(result.rowcount)


async def missing_in_repository(
    conn: AsyncConnection, repository_id: int, digests: list[str]
) -> list[str]:
    """Those of ``digests`` that are not linked into the repository."""
    if not digests:
        return []
    query = select(repository_blobs.c.digest).where(
        repository_blobs.c.repository_id == repository_id,
        repository_blobs.c.digest.in_(set(digests)),
    )
    present = set((await conn.execute(query)).scalars())
    return [d for d in digests if d not in present]
