"""Pull-through: serve layers of imported images that were never pushed here.

An image imported from another registry brings its manifests and config; its layers stay
upstream until a client asks. Then the blob is fetched from the registries the stream's spec
tags import from, streamed to the client and, at the same time, written under the
repository's ``_uploads``; only once its size and digest check out is it moved into place
(atomically, so workers and replicas racing for the same blob are harmless) and recorded, so
the next pull is local and survives the upstream going away. The last chunk is held back
until the digest is checked, so a client never receives a whole blob with the wrong bytes.

Within a process one fetch per digest runs at a time: other requests for it wait, then read
the mirrored copy (or, if that fetch failed, try once more themselves).

A manifest of the stream's images that storage lacks is fetched by digest the same way (the
digest is checked before anything is stored or served).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from dockyard.errors import BlobUnknownError, TooManyRequestsError
from dockyard.imports.client import UpstreamError
from dockyard.imports.reference import ImageReference, ReferenceError, parse_image_reference
from dockyard.imports.upstreams import Upstreams
from dockyard.metadata import (
    blobs as blob_rows,
    images as image_rows,
    repositories,
    streams as stream_rows,
)
from dockyard.metadata.engine import Database
from dockyard.observability import metrics
from dockyard.registry.blobs import blob_path
from dockyard.registry.digest import Digest, Hasher
from dockyard.storage import paths
from dockyard.storage.driver import FileWriter, PathNotFoundError, StorageDriver

logger = logging.getLogger(__name__)
OPERATION = "BlobStore.ServeBlob"
MANIFESTS = "ManifestService.Get"
"""The operation labels of pull-through metrics, as OpenShift's registry names them."""


class PullThrough:
    """The ``RemoteBlobs`` of ``registry.blobs.BlobService`` and the ``RemoteManifests`` of
    ``registry.images.ImageService``, backed by upstream registries."""

    def __init__(self, db: Database, storage: StorageDriver, upstreams: Upstreams) -> None:
        self.db = db
        self.storage = storage
        self.upstreams = upstreams
        self._flights: dict[str, asyncio.Event] = {}

    async def size(self, repository: str, digest: Digest) -> int | None:
        async with self.db.read() as conn:
            return await image_rows.referenced_blob_size(conn, repository, str(digest))

    async def fetch(self, repository: str, digest: Digest, offset: int = 0) -> AsyncIterator[bytes]:
        """The blob's bytes from ``offset``: the mirrored copy if there is one by now, else
        from an upstream while mirroring it."""
        key = str(digest)
        while True:
            with contextlib.suppress(PathNotFoundError):
                chunks = await self.storage.reader(blob_path(digest), offset)
                metrics.PULLTHROUGH_CACHE_REQUESTS.labels("Hit").inc()
                return chunks
            flight = self._flights.get(key)
            if flight is None:
                break
            await flight.wait()
        metrics.PULLTHROUGH_CACHE_REQUESTS.labels("Miss").inc()
        flight = self._flights[key] = asyncio.Event()
        try:
            size = await self.size(repository, digest)
            if size is None:
                raise BlobUnknownError(detail={"digest": key})
            chunks = await self._open_upstream(repository, digest)
        except BaseException:
            self._land(key, flight)
            raise
        mirrored = self._mirror(repository, digest, size, chunks, flight)
        if not offset:
            return mirrored
        async for _ in mirrored:  # a range of a blob not here yet: mirror it all first
            pass
        return await self.storage.reader(blob_path(digest), offset)

    def _land(self, key: str, flight: asyncio.Event) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        flight.set()

    async def manifest(self, repository: str, digest: Digest) -> bytes | None:
        """A manifest of the stream that storage lost (or never had), from an upstream: checked
        against its digest and stored again."""
        namespace = repository.partition("/")[0]
        for reference, insecure in await self.sources(repository):
            try:
                client = await self.upstreams.client(namespace, reference, insecure)
                remote = await client.manifest(reference.repository, str(digest))
            except UpstreamError as exc:
                code = str(exc.status or "unreachable")
                metrics.PULLTHROUGH_ERRORS.labels(reference.registry, MANIFESTS, code).inc()
                continue
            await self.storage.put_content(blob_path(digest), remote.content)
            return remote.content
        return None

    async def sources(self, repository: str) -> list[tuple[ImageReference, bool]]:
        """The upstream repositories the stream imports from (spec tags from a DockerImage),
        each once, with whether it is insecure."""
        async with self.db.read() as conn:
            row = await stream_rows.get(conn, repository)
        found: list[tuple[ImageReference, bool]] = []
        seen: set[tuple[str, bool]] = set()
        for entry in ((row.spec or {}).get("tags") or []) if row is not None else []:
            source = entry.get("from") or {}
            if source.get("kind") != "DockerImage":
                continue
            try:
                reference = parse_image_reference(source.get("name", ""))
            except ReferenceError:
                continue
            insecure = bool((entry.get("importPolicy") or {}).get("insecure"))
            if (reference.repository_spec, insecure) not in seen:
                seen.add((reference.repository_spec, insecure))
                found.append((reference, insecure))
        return found

    async def _open_upstream(self, repository: str, digest: Digest) -> AsyncIterator[bytes]:
        namespace = repository.partition("/")[0]
        failures: list[UpstreamError] = []
        for reference, insecure in await self.sources(repository):
            started = time.monotonic()
            try:
                client = await self.upstreams.client(namespace, reference, insecure)
                chunks = await client.blob(reference.repository, str(digest))
                metrics.PULLTHROUGH_DURATION.labels(reference.registry, OPERATION).observe(
                    time.monotonic() - started
                )
                return chunks
            except UpstreamError as exc:
                code = str(exc.status or "unreachable")
                metrics.PULLTHROUGH_ERRORS.labels(reference.registry, OPERATION, code).inc()
                logger.warning(
                    "pull-through fetch failed",
                    extra={"upstream": reference.repository_spec, "error": exc.message},
                )
                failures.append(exc)
        limited = next((f for f in failures if f.status == 429), None)
        if limited is not None:
            headers = {"Retry-After": limited.retry_after} if limited.retry_after else {}
            raise TooManyRequestsError(limited.message, headers=headers)
        reason = f": {failures[-1].message}" if failures else ": the stream imports from nowhere"
        raise BlobUnknownError(
            f"blob is not in this registry and no upstream could serve it{reason}",
            detail={"digest": str(digest)},
        )

    async def _mirror(
        self,
        repository: str,
        digest: Digest,
        size: int,
        chunks: AsyncIterator[bytes],
        flight: asyncio.Event,
    ) -> AsyncIterator[bytes]:
        upload_id = f"pullthrough-{uuid.uuid4().hex}"
        writer: FileWriter | None = None
        committed = False
        try:
            writer = await self.storage.writer(paths.upload_data_path(repository, upload_id))
            hasher = Hasher(digest.algorithm)
            received = 0
            held: bytes | None = None
            async for chunk in chunks:
                if not chunk:
                    continue
                received += len(chunk)
                if received > size:
                    raise UpstreamError(f"the upstream sent more than the {size} bytes of {digest}")
                hasher.update(chunk)
                await writer.write(chunk)
                if held is not None:
                    yield held
                held = chunk
            if received != size or hasher.digest() != digest:
                raise UpstreamError(
                    f"the upstream's bytes for {digest} have digest {hasher.digest()}"
                    f" ({received} bytes); refused"
                )
            await writer.commit()
            committed = True
            await self.storage.move(
                paths.upload_data_path(repository, upload_id), blob_path(digest)
            )
            await self._record(repository, digest, size)
            if held is not None:
                yield held
        except UpstreamError as exc:
            logger.warning(
                "pull-through refused a blob", extra={"digest": str(digest), "error": exc.message}
            )
            raise
        finally:
            if writer is not None and not committed:
                await writer.cancel()
            with contextlib.suppress(PathNotFoundError):
                await self.storage.delete(paths.upload_dir(repository, upload_id))
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
            self._land(str(digest), flight)

    async def _record(self, repository: str, digest: Digest, size: int) -> None:
        async with self.db.write() as conn:
            await blob_rows.record(conn, str(digest), size)
            repository_id = await repositories.find_id(conn, repository)
            if repository_id is not None:
                await blob_rows.link(conn, repository_id, str(digest))
