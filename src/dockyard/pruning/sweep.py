"""Guarded deletes, shared by the pruner and the garbage collector.

Each delete states in SQL why the row is garbage (older than the cut-off, nothing refers to it)
and removes it only if that still holds. Every write that comes to rely on a row refreshes its
time and so locks it (``metadata.blobs``), so on PostgreSQL a racing delete waits, re-reads
the row and skips it; a reference that arrives anyway makes the delete fail its foreign key,
and the savepoint around it turns that into a skip. SQLite runs one writer at a time.

Blob files are deleted inside the transaction that deletes their row: an upload of the same
digest records the row before it looks for the file (``registry.uploads``), so it either waits
for this transaction and then finds no file (and moves its own into place), or holds the row
and this delete skips it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata import changes, repositories, streams
from dockyard.metadata.engine import Database
from dockyard.metadata.schema import (
    blobs,
    image_references,
    images,
    repository_blobs,
    repository_images,
    tag_events,
    tags,
)
from dockyard.observability.metrics import GC_DELETED, GC_FREED
from dockyard.registry.blobs import blob_path
from dockyard.registry.digest import parse_digest
from dockyard.storage.driver import PathNotFoundError, StorageDriver

BATCH = 100
"""Rows per write transaction: short enough that pushes on SQLite wait only briefly."""

Tally = Callable[[int], None]
"""Told after each transaction how far the delete has got (items so far)."""

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RepositorySweep:
    """What a repository's transaction removed: history ids, images and blobs unlinked."""

    tag_events: list[int] = field(default_factory=list)
    manifest_links: list[str] = field(default_factory=list)
    layer_links: list[str] = field(default_factory=list)


def _skip_on_conflict(digest: str, exc: DBAPIError) -> None:
    logger.info("garbage is in use again, kept", extra={"digest": digest, "reason": str(exc.orig)})


async def prune_repository(
    db: Database,
    repository: str,
    *,
    events: Sequence[int],
    manifests: Sequence[str],
    layers: Sequence[str],
    cutoff: float,
    origin: Mapping[str, Any],
) -> RepositorySweep:
    """Remove stale history, image memberships and layer links of one repository, in one
    transaction, with a change-log entry per removed image and one for the stream."""
    done = RepositorySweep()
    async with db.write() as conn:
        repository_id = await repositories.find_id(conn, repository, lock=True)
        if repository_id is None:
            return done
        if events:
            result = await conn.execute(
                delete(tag_events)
                .where(
                    tag_events.c.repository_id == repository_id,
                    tag_events.c.id.in_(list(events)),
                    tag_events.c.created_at < cutoff,
                )
                .returning(tag_events.c.id)
            )
            done.tag_events = list(result.scalars())
        for digest in manifests:
            if await _remove_membership(conn, repository_id, digest, cutoff):
                done.manifest_links.append(digest)
                await changes.append(
                    conn,
                    kind="Image",
                    namespace=repository,
                    name=digest,
                    action="delete",
                    payload={"repository": repository, "digest": digest, "tags": [], **origin},
                )
        if layers:
            result = await conn.execute(
                delete(repository_blobs)
                .where(
                    repository_blobs.c.repository_id == repository_id,
                    repository_blobs.c.digest.in_(list(layers)),
                    repository_blobs.c.created_at < cutoff,
                )
                .returning(repository_blobs.c.digest)
            )
            done.layer_links = list(result.scalars())
        if done.tag_events or done.manifest_links:
            await streams.touch(conn, repository_id, repository)
    return done


async def _remove_membership(
    conn: AsyncConnection, repository_id: int, digest: str, cutoff: float
) -> bool:
    tagged = exists().where(tags.c.repository_id == repository_id, tags.c.image_digest == digest)
    result = await conn.execute(
        delete(repository_images).where(
            repository_images.c.repository_id == repository_id,
            repository_images.c.image_digest == digest,
            repository_images.c.created_at < cutoff,
            ~tagged,
        )
    )
    if not result.rowcount:
        return False
    await conn.execute(
        delete(repository_blobs).where(
            repository_blobs.c.repository_id == repository_id,
            repository_blobs.c.digest == digest,
            repository_blobs.c.created_at < cutoff,
        )
    )
    return True


async def delete_images(
    db: Database,
    digests: Sequence[str],
    cutoff: float,
    origin: Mapping[str, Any],
    tally: Tally | None = None,
) -> list[str]:
    """Delete image rows no repository holds and no index lists, older than ``cutoff``.

    Indexes go before their children: a pass deletes what it can, the next one retries the
    rest, until a pass deletes nothing.
    """
    deleted: list[str] = []
    remaining = list(digests)
    while remaining:
        gone: set[str] = set()
        for start in range(0, len(remaining), BATCH):
            batch: set[str] = set()
            async with db.write() as conn:
                for digest in remaining[start : start + BATCH]:
                    if await _delete_image(conn, digest, cutoff, origin):
                        batch.add(digest)
            GC_DELETED.labels("manifest", origin.get("by", "")).inc(len(batch))
            gone |= batch
            if tally is not None:
                tally(len(deleted) + len(gone))
        if not gone:
            break
        deleted += [digest for digest in remaining if digest in gone]
        remaining = [digest for digest in remaining if digest not in gone]
    return deleted


async def _delete_image(
    conn: AsyncConnection, digest: str, cutoff: float, origin: Mapping[str, Any]
) -> bool:
    held = exists().where(repository_images.c.image_digest == digest)
    listed = exists().where(
        image_references.c.digest == digest, image_references.c.kind == "manifest"
    )
    tagged = exists().where(tags.c.image_digest == digest)
    try:
        async with conn.begin_nested():
            found = await conn.execute(
                select(images.c.size)
                .where(images.c.digest == digest, images.c.created_at < cutoff)
                .where(~held, ~listed, ~tagged)
                .with_for_update()
            )
            size = found.scalar_one_or_none()
            if size is None:
                return False
            await conn.execute(
                delete(image_references).where(image_references.c.image_digest == digest)
            )
            await conn.execute(delete(images).where(images.c.digest == digest))
    except DBAPIError as exc:
        _skip_on_conflict(digest, exc)
        return False
    await changes.append(
        conn,
        kind="Manifest",
        namespace="",
        name=digest,
        action="delete",
        payload={"digest": digest, "size": size, **origin},
    )
    return True


async def delete_blobs(
    db: Database,
    storage: StorageDriver,
    digests: Sequence[str],
    cutoff: float,
    origin: Mapping[str, Any],
    tally: Tally | None = None,
) -> list[tuple[str, int]]:
    """Delete blobs (row and file) that no repository links and no image names, recorded
    before ``cutoff``; returns each deleted digest with its size."""
    deleted: list[tuple[str, int]] = []
    by = str(origin.get("by", ""))
    for start in range(0, len(digests), BATCH):
        batch: list[tuple[str, int]] = []
        async with db.write() as conn:
            for digest in digests[start : start + BATCH]:
                size = await _delete_blob(conn, storage, digest, cutoff)
                if size is None:
                    continue
                batch.append((digest, size))
                await changes.append(
                    conn,
                    kind="Blob",
                    namespace="",
                    name=digest,
                    action="delete",
                    payload={"digest": digest, "size": size, **origin},
                )
        deleted += batch  # counted once committed
        GC_DELETED.labels("blob", by).inc(len(batch))
        GC_FREED.labels(by).inc(sum(size for _, size in batch))
        if tally is not None:
            tally(min(start + BATCH, len(digests)))
    return deleted


async def _delete_blob(
    conn: AsyncConnection, storage: StorageDriver, digest: str, cutoff: float
) -> int | None:
    linked = exists().where(repository_blobs.c.digest == digest)
    named = exists().where(image_references.c.digest == digest)
    manifest = exists().where(images.c.digest == digest)
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                delete(blobs)
                .where(blobs.c.digest == digest, blobs.c.created_at < cutoff)
                .where(~linked, ~named, ~manifest)
                .returning(blobs.c.size)
            )
            size = result.scalar_one_or_none()
    except DBAPIError as exc:
        _skip_on_conflict(digest, exc)
        return None
    if size is None:
        return None
    await delete_blob_file(storage, digest)
    return int(size)


async def delete_blob_file(storage: StorageDriver, digest: str) -> None:
    """Remove a blob's directory (its ``data`` and nothing else) from storage."""
    directory = blob_path(parse_digest(digest)).rsplit("/", 1)[0]
    with contextlib.suppress(PathNotFoundError):
        await storage.delete(directory)
