"""Online garbage collection: unreferenced manifests and blobs go while the registry serves.

Garbage is what nothing refers to any more: an image no repository holds, no index lists and
no tag's history names (a manifest deleted by digest, or pruned; history is the pruner's to
trim), then a blob no repository links and no image names.
Only what was last recorded or used before the grace period counts, so the layers of a push
whose manifest has not arrived yet are never taken. Each pass finds candidates with a read and
deletes them with the guarded deletes of ``sweep``, which skip whatever a push made young or
referenced in between.

Every worker runs a collector; the ``gc`` lease (the one webhook delivery uses) lets one of the
cluster collect at a time. The lease only saves duplicate work: the guards, not the lease, make
collection safe, so a holder that stalls past its lease does no harm.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.events.leases import Lease, LeasedLoop, process_holder
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
from dockyard.observability.metrics import GC_DURATION
from dockyard.pruning import sweep
from dockyard.storage.driver import StorageDriver

LEASE_NAME = "gc"
PAGE = 1000
"""Candidates read per query; a pass repeats until a page comes back empty or all kept."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Collected:
    manifests: int
    blobs: int
    bytes: int


async def garbage_images(conn: AsyncConnection, cutoff: float, after: str, limit: int) -> list[str]:
    held = exists().where(repository_images.c.image_digest == images.c.digest)
    listed = exists().where(
        image_references.c.digest == images.c.digest, image_references.c.kind == "manifest"
    )
    query = (
        select(images.c.digest)
        .where(images.c.created_at < cutoff, images.c.digest > after, ~held, ~listed)
        .order_by(images.c.digest)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def named_by_history(conn: AsyncConnection) -> set[str]:
    """Images in the history of a tag that exists (an image stream's ``status.tags``)."""
    query = (
        select(tag_events.c.image_digest)
        .join(
            tags,
            and_(
                tags.c.repository_id == tag_events.c.repository_id, tags.c.name == tag_events.c.tag
            ),
        )
        .distinct()
    )
    return set((await conn.execute(query)).scalars())


async def garbage_blobs(conn: AsyncConnection, cutoff: float, after: str, limit: int) -> list[str]:
    linked = exists().where(repository_blobs.c.digest == blobs.c.digest)
    named = exists().where(image_references.c.digest == blobs.c.digest)
    manifest = exists().where(images.c.digest == blobs.c.digest)
    query = (
        select(blobs.c.digest)
        .where(blobs.c.created_at < cutoff, blobs.c.digest > after, ~linked, ~named, ~manifest)
        .order_by(blobs.c.digest)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def collect(
    db: Database, storage: StorageDriver, grace: float, now: float | None = None
) -> Collected:
    """One pass: manifests first (their blobs become garbage with them), then blobs."""
    cutoff = (time.time() if now is None else now) - grace
    origin = {"by": "gc"}
    manifests = 0
    while True:  # again while a pass deletes: an index gone makes its children garbage
        async with db.read() as conn:
            named = await named_by_history(conn)
        deleted, after = 0, ""
        while True:
            async with db.read() as conn:
                found = await garbage_images(conn, cutoff, after, PAGE)
            if not found:
                break
            after = found[-1]
            candidates = [digest for digest in found if digest not in named]
            deleted += len(await sweep.delete_images(db, candidates, cutoff, origin))
        manifests += deleted
        if not deleted:
            break
    freed = count = 0
    after = ""
    while True:
        async with db.read() as conn:
            found = await garbage_blobs(conn, cutoff, after, PAGE)
        if not found:
            break
        for _, size in await sweep.delete_blobs(db, storage, found, cutoff, origin):
            count += 1
            freed += size
        after = found[-1]
    return Collected(manifests, count, freed)


class GarbageCollector(LeasedLoop):
    """Collects every ``interval`` seconds in this process while it holds the ``gc`` lease."""

    def __init__(
        self,
        db: Database,
        storage: StorageDriver,
        *,
        grace: float,
        interval: float,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.grace = grace
        self.interval = interval
        lease = Lease(db, LEASE_NAME, holder or process_holder(), ttl=max(30.0, 3 * interval))
        super().__init__(lease, "garbage collection")

    async def _run(self) -> None:
        while True:
            if await self.lease.renew():
                await self._collect()
            await asyncio.sleep(self.interval)

    async def _collect(self) -> None:
        started = time.monotonic()
        try:
            done = await collect(self.db, self.storage, self.grace)
        except Exception:
            logger.warning("garbage collection interrupted", exc_info=True)
            return
        GC_DURATION.observe(time.monotonic() - started)
        if done.manifests or done.blobs:
            logger.info(
                "garbage collected",
                extra={
                    "manifests": done.manifests,
                    "blobs": done.blobs,
                    "bytes": done.bytes,
                    "duration": f"{time.monotonic() - started:.3f}s",
                },
            )
