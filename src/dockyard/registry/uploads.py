"""Blob upload sessions: start, append, finish (verify, then move into place), cancel.

An upload's bytes live in storage under the repository's ``_uploads`` directory and its state
travels in the signed ``Location`` URL, so any worker or replica can continue it, even after a
restart. Each worker keeps the running hash of uploads it is serving; when another worker
appended in between (or the process restarted) the hash is recomputed from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

from dockyard.errors import (
    BlobUploadInvalidError,
    BlobUploadUnknownError,
    DigestInvalidError,
    RangeInvalidError,
)
from dockyard.metadata import blobs as blob_rows, repositories
from dockyard.registry.blobs import blob_path
from dockyard.registry.context import RegistryContext
from dockyard.registry.digest import Digest, Hasher, digest_of
from dockyard.registry.uploadstate import UploadState
from dockyard.storage import paths
from dockyard.storage.driver import FileWriter, PathNotFoundError

WRITE_CHUNK = 4 << 20
# Uploads sent whole up to this size are hashed on the loop (a millisecond at most) and written
# into place in one step.
WHOLE_LIMIT = 1 << 20
HASHER_CACHE_SIZE = 4096


class UploadService:
    def __init__(self, ctx: RegistryContext) -> None:
        self.ctx = ctx
        # upload id -> (bytes hashed, running sha256); valid only while it matches storage.
        self._hashers: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()

    async def start(self, repository: str) -> UploadState:
        upload_id = str(uuid.uuid4())
        now = time.time()
        started = paths.upload_started_at_path(repository, upload_id)
        await self.ctx.storage.put_content(started, repr(now).encode())
        self._remember(upload_id, 0, Hasher())
        return UploadState(name=repository, upload_id=upload_id, offset=0, started_at=now)

    async def size(self, state: UploadState) -> int:
        """Bytes received so far; raises ``BlobUploadUnknownError`` for an ended upload."""
        storage = self.ctx.storage
        try:
            return (await storage.stat(paths.upload_data_path(state.name, state.upload_id))).size
        except PathNotFoundError:
            pass
        try:
            await storage.stat(paths.upload_started_at_path(state.name, state.upload_id))
        except PathNotFoundError as exc:
            raise BlobUploadUnknownError(detail={"uuid": state.upload_id}) from exc
        return 0

    async def append(
        self,
        state: UploadState,
        body: AsyncIterator[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> UploadState:
        """Append a chunk; ``start`` (from ``Content-Range``) must continue the upload."""
        size = await self._continued_size(state, start)
        written = await self._write(state, size, body, length)
        self._check_length(written, length)
        return UploadState(state.name, state.upload_id, size + written, state.started_at)

    async def finish(
        self,
        state: UploadState,
        digest: Digest,
        body: AsyncIterator[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> int:
        """Append the last chunk, verify the digest, and make the blob visible atomically."""
        size = await self._continued_size(state, start)
        if size == 0 and length is not None and length <= WHOLE_LIMIT:
            return await self._finish_whole(state, digest, body, length)
        written = await self._write(state, size, body, length, durable=True)
        self._check_length(written, length)
        size += written
        await self._verify(state, digest, await self._digest(state, size, digest.algorithm))
        target = blob_path(digest)
        data = paths.upload_data_path(state.name, state.upload_id)
        # Moved (and its directory synced) before the writer's turn, which then only records
        # it: a crash in between leaves a verified blob that no row knows (the hard prune's to
        # remove), never a row without its blob.
        moved = not await self.ctx.storage.exists(target)
        if moved:
            await self.ctx.storage.move(data, target)

        async def restore() -> None:
            if moved:  # what garbage collection took were the upload's own bytes
                raise BlobUploadUnknownError(
                    "the blob was garbage-collected while this upload finished: push it again",
                    detail={"uuid": state.upload_id},
                )
            await self.ctx.storage.move(data, target)

        await self._record(state, digest, size, restore)
        await self._discard(state)
        return size

    async def _finish_whole(
        self, state: UploadState, digest: Digest, body: AsyncIterator[bytes], length: int
    ) -> int:
        """A small upload sent whole: checked in memory and written into place at once, with
        no upload file to write, sync and move."""
        content = bytearray()
        async for chunk in body:
            content += chunk
            if len(content) > length:
                raise BlobUploadInvalidError(f"chunk is longer than the {length} bytes announced")
        self._check_length(len(content), length)
        data = bytes(content)
        await self._verify(state, digest, digest_of(data, digest.algorithm))
        target = blob_path(digest)

        async def restore() -> None:
            await self.ctx.storage.put_content(target, data)

        if not await self.ctx.storage.exists(target):
            await restore()
        await self._record(state, digest, len(data), restore)
        await self._discard(state)
        return len(data)

    async def _verify(self, state: UploadState, digest: Digest, actual: Digest) -> None:
        if actual != digest:
            await self.cancel(state)
            raise DigestInvalidError(
                f"content has digest {actual}, not {digest}",
                detail={"expected": str(digest), "actual": str(actual)},
            )

    async def _record(
        self,
        state: UploadState,
        digest: Digest,
        size: int,
        restore: Callable[[], Awaitable[None]],
    ) -> None:
        """Record and link the blob, whose bytes are in place; ``restore`` puts them back if
        garbage collection took them just before the row was refreshed."""
        target, key = blob_path(digest), str(digest)
        async with self.ctx.db.write() as conn:
            # The row first: it holds off garbage collection of this digest, so bytes found in
            # place from here on stay there. The look runs while the link is written (on
            # PostgreSQL; SQLite runs the link in place, so the look follows it).
            await blob_rows.record(conn, key, size)
            present = asyncio.ensure_future(self.ctx.storage.exists(target))
            try:
                if not await blob_rows.link_named(conn, state.name, key):
                    await blob_rows.link(conn, await repositories.ensure(conn, state.name), key)
            finally:
                found = await present
            if not found:
                await restore()

    async def _continued_size(self, state: UploadState, start: int | None) -> int:
        size = await self.size(state)
        if start is not None and start != size:
            raise RangeInvalidError(
                f"chunk starts at {start} but the upload has {size} bytes",
                headers={"Range": f"0-{size - 1}" if size else "0-0"},
            )
        return size

    @staticmethod
    def _check_length(written: int, length: int | None) -> None:
        if length is not None and written != length:
            raise BlobUploadInvalidError(f"received {written} bytes where {length} were announced")

    async def cancel(self, state: UploadState) -> None:
        await self.size(state)
        await self._discard(state)

    async def _discard(self, state: UploadState) -> None:
        self._hashers.pop(state.upload_id, None)
        with contextlib.suppress(PathNotFoundError):
            await self.ctx.storage.delete(paths.upload_dir(state.name, state.upload_id))

    async def _write(
        self,
        state: UploadState,
        size: int,
        body: AsyncIterator[bytes],
        limit: int | None,
        durable: bool = False,
    ) -> int:
        """Stream ``body`` to the upload's data; ``durable`` syncs it before it is moved."""
        cached = self._hashers.pop(state.upload_id, None)
        hasher = cached[1] if cached is not None and cached[0] == size else None
        path = paths.upload_data_path(state.name, state.upload_id)
        writer: FileWriter | None = None
        written = received = 0
        buffer = bytearray()
        # One piece is hashed and written on threads while the next one is received.
        flushing: asyncio.Future[int] | None = None
        try:
            async for chunk in body:
                if not chunk:
                    continue
                received += len(chunk)
                if limit is not None and received > limit:
                    raise BlobUploadInvalidError(
                        f"chunk is longer than the {limit} bytes announced"
                    )
                buffer += chunk
                if len(buffer) >= WRITE_CHUNK:
                    writer = writer or await self.ctx.storage.writer(path, append=size > 0)
                    if flushing is not None:
                        written += await flushing
                    flushing = asyncio.ensure_future(self._flush(writer, buffer, hasher))
                    buffer = bytearray()
            if flushing is not None:
                written += await flushing
                flushing = None
            if buffer or writer is None:
                writer = writer or await self.ctx.storage.writer(path, append=size > 0)
                written += await self._flush(writer, buffer, hasher)
        except BaseException:
            if flushing is not None:  # the writer is closed only once its threads are done
                await asyncio.wait([flushing])
                if not flushing.cancelled():
                    flushing.exception()  # seen: the error to report is the one raised here
            if writer is not None:
                await writer.close()
            raise
        await (writer.commit() if durable else writer.close())
        if hasher is not None:
            self._remember(state.upload_id, size + written, hasher)
        return written

    @staticmethod
    async def _flush(writer: FileWriter, data: bytearray, hasher: Hasher | None) -> int:
        """Hash and write a piece that nothing changes any more; both release the GIL, so
        they run side by side."""
        view = memoryview(data)
        if hasher is None:
            await writer.write(view)
        else:
            await asyncio.gather(asyncio.to_thread(hasher.update, view), writer.write(view))
        return len(data)

    async def _digest(self, state: UploadState, size: int, algorithm: str) -> Digest:
        cached = self._hashers.get(state.upload_id)
        if cached is not None and cached[0] == size and cached[1].algorithm == algorithm:
            return cached[1].digest()
        hasher = Hasher(algorithm)
        path = paths.upload_data_path(state.name, state.upload_id)
        try:
            async for chunk in await self.ctx.storage.reader(path):
                hasher.update(chunk)
        except PathNotFoundError as exc:
            raise BlobUploadUnknownError(detail={"uuid": state.upload_id}) from exc
        return hasher.digest()

    def _remember(self, upload_id: str, size: int, hasher: Hasher) -> None:
        self._hashers[upload_id] = (size, hasher)
        while len(self._hashers) > HASHER_CACHE_SIZE:
            self._hashers.popitem(last=False)
