"""Images (one row per manifest digest), what they reference, and repository membership."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_ignore, insert_or_refresh
from dockyard.metadata.schema import image_references, images, repositories, repository_images


@dataclass(frozen=True, slots=True)
class ImageRow:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Reference:
    kind: str  # "config", "layer" or "manifest"
    digest: str
    media_type: str
    size: int
    platform: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str]


async def record(
    conn: AsyncConnection,
    *,
    digest: str,
    media_type: str,
    size: int,
    config_digest: str | None,
    artifact_type: str | None,
    subject_digest: str | None,
    annotations: dict[str, str],
    references: list[Reference],
    managed: bool = True,
) -> None:
    """Store an image once; pushing the same manifest again changes nothing. ``managed``:
    pushed here, not imported from another registry."""
    # Share-locked: a collector deleting the row finishes first, and this then inserts anew.
    exists = await conn.execute(
        select(images.c.digest).where(images.c.digest == digest).with_for_update(read=True)
    )
    if exists.first() is not None:
        return
    await conn.execute(
        insert_ignore(conn, images).values(
            digest=digest,
            media_type=media_type,
            size=size,
            config_digest=config_digest,
            artifact_type=artifact_type,
            subject_digest=subject_digest,
            annotations=annotations,
            managed=managed,
            created_at=time.time(),
        )
    )
    if references:
        await conn.execute(
            insert_ignore(conn, image_references),
            [
                {
                    "image_digest": digest,
                    "position": position,
                    "kind": ref.kind,
                    "digest": ref.digest,
                    "media_type": ref.media_type,
                    "size": ref.size,
                    "platform": ref.platform,
                }
                for position, ref in enumerate(references)
            ],
        )


async def add_to_repository(conn: AsyncConnection, repository_id: int, digest: str) -> None:
    """Add the image, or refresh its membership (``metadata.blobs`` says why)."""
    await conn.execute(
        insert_or_refresh(
            conn, repository_images, ["repository_id", "image_digest"], "created_at"
        ).values(repository_id=repository_id, image_digest=digest, created_at=time.time())
    )


async def refresh_in_repository(
    conn: AsyncConnection, repository_id: int, digests: list[str]
) -> None:
    """Mark the repository's images ``digests`` as in use now (an index references them)."""
    if digests:
        await conn.execute(
            update(repository_images)
            .where(
                repository_images.c.repository_id == repository_id,
                repository_images.c.image_digest.in_(set(digests)),
            )
            .values(created_at=time.time())
        )


async def remove_from_repository(conn: AsyncConnection, repository_id: int, digest: str) -> bool:
    result = await conn.execute(
        delete(repository_images).where(
            repository_images.c.repository_id == repository_id,
            repository_images.c.image_digest == digest,
        )
    )
    return bool(result.rowcount)


async def in_repository(conn: AsyncConnection, repository: str, digest: str) -> ImageRow | None:
    query = (
        select(images.c.digest, images.c.media_type, images.c.size)
        .join(repository_images, repository_images.c.image_digest == images.c.digest)
        .join(repositories, repositories.c.id == repository_images.c.repository_id)
        .where(repositories.c.name == repository, images.c.digest == digest)
    )
    row = (await conn.execute(query)).first()
    return ImageRow(row.digest, row.media_type, row.size) if row else None


async def missing_in_repository(
    conn: AsyncConnection, repository_id: int, digests: list[str]
) -> list[str]:
    if not digests:
        return []
    query = select(repository_images.c.image_digest).where(
        repository_images.c.repository_id == repository_id,
        repository_images.c.image_digest.in_(set(digests)),
    )
    present = set((await conn.execute(query)).scalars())
    return [d for d in digests if d not in present]


async def referrers(
    conn: AsyncConnection, repository: str, subject: str, artifact_type: str | None
) -> list[Referrer]:
    query = (
        select(
            images.c.digest,
            images.c.media_type,
            images.c.size,
            images.c.artifact_type,
            images.c.annotations,
        )
        .join(repository_images, repository_images.c.image_digest == images.c.digest)
        .join(repositories, repositories.c.id == repository_images.c.repository_id)
        .where(repositories.c.name == repository, images.c.subject_digest == subject)
        .order_by(images.c.created_at, images.c.digest)
    )
    if artifact_type is not None:
        query = query.where(images.c.artifact_type == artifact_type)
    return [
        Referrer(r.digest, r.media_type, r.size, r.artifact_type, dict(r.annotations or {}))
        for r in await conn.execute(query)
    ]


async def row(conn: AsyncConnection, digest: str) -> ImageRow | None:
    query = select(images.c.digest, images.c.media_type, images.c.size).where(
        images.c.digest == digest
    )
    found = (await conn.execute(query)).first()
    return ImageRow(found.digest, found.media_type, found.size) if found else None


async def details(conn: AsyncConnection, digest: str) -> Any:
    return (await conn.execute(select(images).where(images.c.digest == digest))).first()


async def digests_in(conn: AsyncConnection, repository_id: int) -> list[str]:
    query = (
        select(repository_images.c.image_digest)
        .where(repository_images.c.repository_id == repository_id)
        .order_by(repository_images.c.image_digest)
    )
    return list((await conn.execute(query)).scalars())


async def references(conn: AsyncConnection, digest: str) -> list[Reference]:
    query = (
        select(image_references)
        .where(image_references.c.image_digest == digest)
        .order_by(image_references.c.position)
    )
    return [
        Reference(r.kind, r.digest, r.media_type, r.size, r.platform)
        for r in await conn.execute(query)
    ]


async def page(conn: AsyncConnection, last: str | None, limit: int) -> list[Any]:
    query = select(images).order_by(images.c.digest).limit(limit)
    if last:
        query = query.where(images.c.digest > last)
    return list(await conn.execute(query))


async def first_repository(conn: AsyncConnection, digest: str) -> str | None:
    query = (
        select(repositories.c.name)
        .join(repository_images, repository_images.c.repository_id == repositories.c.id)
        .where(repository_images.c.image_digest == digest)
        .order_by(repositories.c.name)
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def referenced_blob_size(conn: AsyncConnection, repository: str, digest: str) -> int | None:
    """The size of a config or layer that an image of the repository names (pull-through may
    serve it although it was never pushed here)."""
    query = (
        select(image_references.c.size)
        .join(
            repository_images, repository_images.c.image_digest == image_references.c.image_digest
        )
        .join(repositories, repositories.c.id == repository_images.c.repository_id)
        .where(
            repositories.c.name == repository,
            image_references.c.digest == digest,
            image_references.c.kind != "manifest",
        )
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()
