"""``adm prune registry``, the hard prune: storage walked against metadata.

It removes blob files that no ``blobs`` row knows (left by a crash between a write and its
transaction, or by another registry writing the same directory) and uploads abandoned long ago.
Unlike OpenShift's hard prune it needs no read-only registry: only files older than the cut-off
count, and a file is deleted while its digest is held by a placeholder row, so an upload of the
same digest (which records its row first, ``registry.uploads``) waits for the delete and then
puts its own bytes in place. Distribution's repository link files (``_layers``,
``_manifests``) are left alone: Dockyard keeps links in SQL and does not read them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from dockyard.errors import RegistryError
from dockyard.metadata.engine import Database, insert_ignore
from dockyard.metadata.schema import blobs
from dockyard.pruning.sweep import delete_blob_file
from dockyard.registry.digest import parse_digest
from dockyard.storage import paths
from dockyard.storage.driver import FileInfo, PathNotFoundError, StorageDriver

UPLOADS = "_uploads"


@dataclass(frozen=True, slots=True)
class Orphan:
    digest: str
    size: int
    modified: float


@dataclass(slots=True)
class OrphanReport:
    dry_run: bool
    blobs: list[Orphan] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)

    def render(self) -> dict[str, object]:
        return {
            "kind": "RegistryPruneResult",
            "dryRun": self.dry_run,
            "summary": {
                "blobs": len(self.blobs),
                "uploads": len(self.uploads),
                "bytesFreed": sum(orphan.size for orphan in self.blobs),
            },
            "deleted": {
                "blobs": [
                    {"digest": o.digest, "size": o.size, "modified": o.modified} for o in self.blobs
                ],
                "uploads": self.uploads,
            },
        }


async def _walk(storage: StorageDriver, root: str) -> AsyncIterator[FileInfo]:
    with contextlib.suppress(PathNotFoundError):
        async for info in storage.walk(root):
            yield info


def blob_digest(path: str) -> str | None:
    """``sha256:<hex>`` for ``…/blobs/sha256/ab/<hex>/data``; None for any other path (files
    this registry does not write are not its to delete)."""
    parts = path[len(paths.blobs_root()) + 1 :].split("/")
    if len(parts) != 4 or parts[3] != "data" or not parts[2].startswith(parts[1]):
        return None
    try:
        return str(parse_digest(f"{parts[0]}:{parts[2]}"))
    except RegistryError:
        return None


class RegistryPruner:
    def __init__(self, db: Database, storage: StorageDriver) -> None:
        self.db = db
        self.storage = storage

    async def run(self, *, keep_younger_than: float, confirm: bool) -> OrphanReport:
        cutoff = time.time() - keep_younger_than
        report = OrphanReport(dry_run=not confirm)
        # Listed first, acted on after: a walk does not survive a directory vanishing under it.
        files = [
            Orphan(digest, info.size, info.mod_time)
            async for info in _walk(self.storage, paths.blobs_root())
            if not info.is_dir and info.mod_time < cutoff
            for digest in [blob_digest(info.path)]
            if digest is not None
        ]
        uploads = [
            info.path
            async for info in _walk(self.storage, paths.repositories_root())
            if info.is_dir and info.path.rsplit("/", 2)[-2] == UPLOADS
        ]
        for orphan in files:
            if await self._unknown(orphan.digest) and (
                not confirm or await self._delete(orphan.digest)
            ):
                report.blobs.append(orphan)
        for upload in uploads:
            if await self._abandoned(upload, cutoff):
                if confirm:
                    with contextlib.suppress(PathNotFoundError):
                        await self.storage.delete(upload)
                report.uploads.append(upload)
        return report

    async def _unknown(self, digest: str) -> bool:
        async with self.db.read() as conn:
            found = await conn.execute(select(blobs.c.digest).where(blobs.c.digest == digest))
            return found.first() is None

    async def _delete(self, digest: str) -> bool:
        """Hold the digest with a placeholder row while its file goes; False if it is known
        (again) by then."""
        async with self.db.write() as conn:
            held = await conn.execute(
                insert_ignore(conn, blobs)
                .values(digest=digest, size=0, created_at=0.0)
                .returning(blobs.c.digest)
            )
            if held.first() is None:
                return False
            await delete_blob_file(self.storage, digest)
            await conn.execute(delete(blobs).where(blobs.c.digest == digest))
        return True

    async def _abandoned(self, upload: str, cutoff: float) -> bool:
        """An upload nobody appended to since the cut-off (its newest file is older)."""
        async for info in _walk(self.storage, upload):
            if info.mod_time >= cutoff:
                return False
        return True
