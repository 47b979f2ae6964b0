"""Blobs as a repository sees them: stat, read, delete, and cross-repository mount."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from dockyard.errors import BlobUnknownError, UnsupportedError
from dockyard.metadata import blobs as blob_rows, images as image_rows, repositories
from dockyard.registry.context import RegistryContext
from dockyard.registry.digest import Digest
from dockyard.storage import paths
from dockyard.storage.driver import PathNotFoundError


@dataclass(frozen=True, slots=True)
class BlobContent:
    size: int
    chunks: AsyncIterator[bytes]


def blob_path(digest: Digest) -> str:
    return paths.blob_data_path(digest.algorithm, digest.hex)


class RemoteBlobs(Protocol):
    """Blobs that images of a repository name but that were never pushed here (pull-through,
    ``dockyard.imports``)."""

    async def size(self, repository: str, digest: Digest) -> int | None: ...

    async def fetch(self, repository: str, digest: Digest, offset: int) -> AsyncIterator[bytes]:
        """The bytes from ``offset``; raises ``BlobUnknownError`` when no upstream has them."""
        ...


class BlobService:
    def __init__(self, ctx: RegistryContext, remote: RemoteBlobs | None = None) -> None:
        self.ctx = ctx
        self.remote = remote

    async def stat(self, repository: str, digest: Digest) -> int:
        """The blob's size, if the repository may serve it (a layer link or one of its images)."""
        key = str(digest)
        async with self.ctx.db.read() as conn:
            size = await blob_rows.size_in_repository(conn, repository, key)
            if size is None:
                image = await image_rows.in_repository(conn, repository, key)
                size = image.size if image else None
        if size is None and self.remote is not None:
            size = await self.remote.size(repository, digest)
        if size is None:
            raise BlobUnknownError(detail={"digest": key})
        return size

    async def open(self, repository: str, digest: Digest, offset: int = 0) -> BlobContent:
        size = await self.stat(repository, digest)
        try:
            chunks = await self.ctx.storage.reader(blob_path(digest), offset)
        except PathNotFoundError as exc:
            if self.remote is not None:
                return BlobContent(size, await self.remote.fetch(repository, digest, offset))
            raise BlobUnknownError(
                "blob is recorded but missing from storage", detail={"digest": str(digest)}
            ) from exc
        return BlobContent(size, chunks)

    def local_path(self, digest: Digest) -> str | None:
        return self.ctx.storage.local_path(blob_path(digest))

    async def redirect_url(self, digest: Digest) -> str | None:
        if not self.ctx.redirect_enabled:
            return None
        if self.remote is not None and not await self.ctx.storage.exists(blob_path(digest)):
            return None  # not here yet: pull-through streams it from the upstream
        return await self.ctx.storage.redirect_url(blob_path(digest), "GET")

    async def delete(self, repository: str, digest: Digest) -> None:
        """Unlink the blob from the repository; the bytes go when garbage collection runs."""
        if not self.ctx.delete_enabled:
            raise UnsupportedError("deletes are disabled on this registry")
        async with self.ctx.db.write() as conn:
            repository_id = await repositories.find_id(conn, repository)
            if repository_id is None or not await blob_rows.unlink(
                conn, repository_id, str(digest)
            ):
                raise BlobUnknownError(detail={"digest": str(digest)})

    async def mount(self, repository: str, digest: Digest, source: str | None) -> int | None:
        """Link an existing blob into ``repository``; ``None`` when there is nothing to mount.

        With ``source`` the blob must be in that repository; without it, anywhere in the
        registry. The caller has checked that the principal may read the source.
        """
        key = str(digest)
        async with self.ctx.db.write() as conn:
            if source is not None and await blob_rows.size_in_repository(conn, source, key) is None:
                return None
            # Refreshed and locked: garbage collection can't take it while it is linked here.
            size = await blob_rows.touch(conn, key)
            if size is None:
                return None
            repository_id = await repositories.ensure(conn, repository)
            await blob_rows.link(conn, repository_id, key)
        return size
