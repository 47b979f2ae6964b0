"""Blobs known to be in storage, and the links that make them visible in a repository.

``created_at`` of a blob and of a link is the last time something recorded or used it, not
its first: every write that relies on a blob refreshes it, which locks the row, so garbage
collection (``dockyard.pruning``), whose deletes are guarded on that column, never removes what
a concurrent push has just come to rely on.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_or_refresh
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
    """Record the blob, or refresh it; the caller puts its bytes in place in the same
    transaction, after this, so a collector that deleted them first is seen."""
    await conn.execute(
        insert_or_refresh(conn, blobs, ["digest"], "created_at").values(
            digest=digest, size=size, created_at=time.time()
        )
    )


async def touch(conn: AsyncConnection, digest: str) -> int | None:
    """The blob's size, refreshed and locked until the transaction ends (a mount relies on
    it); None when it is unknown or was just collected."""
    result = await conn.execute(
        update(blobs)
        .where(blobs.c.digest == digest)
        .values(created_at=time.time())
        .returning(blobs.c.size)
    )
    size = result.scalar_one_or_none()
    return None if size is None else int(size)


async def link(conn: AsyncConnection, repository_id: int, digest: str) -> None:
    await conn.execute(
        insert_or_refresh(conn, repository_blobs, ["repository_id", "digest"], "created_at").values(
            repository_id=repository_id, digest=digest, created_at=time.time()
        )
    )


async def link_named(conn: AsyncConnection, repository: str, digest: str) -> bool:
    """``link`` by repository name in one statement; False when the repository does not exist
    yet (``repositories.ensure`` it, then ``link``)."""
    now = time.time()
    rows = select(repositories.c.id, literal(digest), literal(now)).where(
        repositories.c.name == repository
    )
    statement = insert_or_refresh(
        conn, repository_blobs, ["repository_id", "digest"], "created_at"
    ).from_select(["repository_id", "digest", "created_at"], rows)
    return bool((await conn.execute(statement)).rowcount)


async def refresh_links(conn: AsyncConnection, repository_id: int, digests: list[str]) -> None:
    """Mark the repository's links to ``digests`` as in use now (a manifest references them)."""
    if digests:
        await conn.execute(
            update(repository_blobs)
            .where(
                repository_blobs.c.repository_id == repository_id,
                repository_blobs.c.digest.in_(set(digests)),
            )
            .values(created_at=time.time())
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
