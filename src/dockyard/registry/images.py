"""Manifests pushed to a repository (OpenShift calls each one an image).

A push is one transaction: the image row, what it references, repository membership, the tag
move and its history event, and the change-log entry. Manifest bytes are stored as a blob before
that transaction, so a crash leaves either the old state or the new one, never a tag pointing
at nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.errors import (
    DigestInvalidError,
    ManifestBlobUnknownError,
    ManifestUnknownError,
    UnsupportedError,
)
from dockyard.metadata import (
    blobs as blob_rows,
    changes,
    images as image_rows,
    repositories,
    streams,
    tags as tag_rows,
)
from dockyard.metadata.epoch import EpochCache
from dockyard.observability import metrics
from dockyard.registry.blobs import blob_path
from dockyard.registry.context import RegistryContext
from dockyard.registry.digest import Digest, digest_of, parse_digest
from dockyard.registry.manifests import Descriptor, ParsedManifest, parse_manifest
from dockyard.registry.mediatypes import OCI_INDEX
from dockyard.storage.driver import PathNotFoundError

MAX_MANIFEST_SIZE = 4 << 20
CONTENT_CACHE_SIZE = 2048
RESOLVED_CACHE_SIZE = 8192

# The cache counters' series, looked up once rather than on every request.
CONTENT_HITS = metrics.DIGEST_CACHE_REQUESTS.labels("Hit")
CONTENT_MISSES = metrics.DIGEST_CACHE_REQUESTS.labels("Miss")
SCOPED_HITS = metrics.DIGEST_CACHE_SCOPED_REQUESTS.labels("Hit")
SCOPED_MISSES = metrics.DIGEST_CACHE_SCOPED_REQUESTS.labels("Miss")


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class PushResult:
    digest: Digest
    manifest: ParsedManifest


def _platform(descriptor: Descriptor) -> dict[str, Any] | None:
    platform = descriptor.platform
    if platform is None:
        return None
    found = {
        "architecture": platform.architecture,
        "os": platform.os,
        "variant": platform.variant,
        "os.version": platform.os_version,
    }
    return {key: value for key, value in found.items() if value is not None}


def manifest_references(manifest: ParsedManifest) -> list[image_rows.Reference]:
    refs: list[image_rows.Reference] = []
    if manifest.config is not None:
        c = manifest.config
        refs.append(image_rows.Reference("config", str(c.digest), c.media_type, c.size))
    refs.extend(
        image_rows.Reference("layer", str(d.digest), d.media_type, d.size) for d in manifest.layers
    )
    refs.extend(
        image_rows.Reference("manifest", str(d.digest), d.media_type, d.size, _platform(d))
        for d in manifest.manifests
    )
    return refs


class RemoteManifests(Protocol):
    """Manifests of a repository's images whose bytes are not in storage (pull-through,
    ``dockyard.imports``)."""

    async def manifest(self, repository: str, digest: Digest) -> bytes | None:
        """The bytes, checked against ``digest`` and stored again; None if no upstream has
        them."""
        ...


class ImageService:
    def __init__(self, ctx: RegistryContext, remote: RemoteManifests | None = None) -> None:
        self.ctx = ctx
        self.remote = remote
        # Content by digest never changes, so a cache of it needs no invalidation.
        self._content: OrderedDict[str, bytes] = OrderedDict()
        # What a reference resolves to holds until the next metadata write (the epoch).
        self._resolved: EpochCache[tuple[str, str], image_rows.ImageRow] = EpochCache(
            ctx.db.epoch, RESOLVED_CACHE_SIZE
        )

    async def resolve(self, repository: str, reference: Digest | str) -> image_rows.ImageRow:
        snapshot = self._resolved.snapshot()
        key = (repository, str(reference))
        found = self._resolved.get(key)
        (SCOPED_MISSES if found is None else SCOPED_HITS).inc()
        if found is None:
            found = await self._resolve(repository, reference)
            self._resolved.put(snapshot, key, found)
        return found

    async def _resolve(self, repository: str, reference: Digest | str) -> image_rows.ImageRow:
        async with self.ctx.db.read() as conn:
            if isinstance(reference, str):
                digest = await tag_rows.resolve(conn, repository, reference)
                if digest is None:
                    raise ManifestUnknownError(
                        f"manifest tagged {reference!r} is not in repository {repository!r}",
                        detail={"tag": reference},
                    )
            else:
                digest = str(reference)
            image = await image_rows.in_repository(conn, repository, digest)
        if image is None:
            raise ManifestUnknownError(detail={"digest": digest})
        return image

    async def get(self, repository: str, reference: Digest | str) -> Manifest:
        image = await self.resolve(repository, reference)
        content = await self._read(image.digest, repository)
        return Manifest(image.digest, image.media_type, content)

    async def _read(self, digest: str, repository: str) -> bytes:
        content = self._content.get(digest)
        (CONTENT_MISSES if content is None else CONTENT_HITS).inc()
        if content is not None:
            self._content.move_to_end(digest)
            return content
        try:
            content = await self.ctx.storage.get_content(blob_path(parse_digest(digest)))
        except PathNotFoundError as exc:
            if self.remote is not None:
                content = await self.remote.manifest(repository, parse_digest(digest))
            if content is None:
                raise ManifestUnknownError(
                    "manifest is recorded but missing from storage", detail={"digest": digest}
                ) from exc
        self._remember(digest, content)
        return content

    def _remember(self, digest: str, content: bytes) -> None:
        self._content[digest] = content
        while len(self._content) > CONTENT_CACHE_SIZE:
            self._content.popitem(last=False)

    async def put(
        self,
        repository: str,
        reference: Digest | str,
        content: bytes,
        content_type: str | None,
        origin: Mapping[str, Any] | None = None,
    ) -> PushResult:
        """Store a manifest; ``origin`` (actor and request) goes into the change log entry."""
        manifest = parse_manifest(content, content_type)
        if isinstance(reference, Digest):
            digest = digest_of(content, reference.algorithm)
            if digest != reference:
                raise DigestInvalidError(
                    f"manifest has digest {digest}, not {reference}",
                    detail={"expected": str(reference), "actual": str(digest)},
                )
        else:
            digest = digest_of(content)
        path = blob_path(digest)
        if not await self.ctx.storage.exists(path):
            await self.ctx.storage.put_content(path, content)
        key = str(digest)
        tag = reference if isinstance(reference, str) else None
        async with self.ctx.db.write() as conn:
            repository_id = await repositories.ensure(conn, repository, lock=True)
            await self._check_references(conn, repository_id, manifest)
            await blob_rows.record(conn, key, len(content))
            # Collected since the write above? Looked at while the rows are written (on
            # PostgreSQL; SQLite writes them in place, so the look follows them).
            stored = asyncio.ensure_future(self.ctx.storage.exists(path))
            try:
                await self._record(
                    conn, repository, repository_id, key, manifest, len(content), tag, origin
                )
            finally:
                found = await stored
            if not found:
                await self.ctx.storage.put_content(path, content)
        self._remember(key, content)
        return PushResult(digest, manifest)

    async def _record(
        self,
        conn: AsyncConnection,
        repository: str,
        repository_id: int,
        key: str,
        manifest: ParsedManifest,
        size: int,
        tag: str | None,
        origin: Mapping[str, Any] | None,
    ) -> None:
        """The push's rows: the manifest's blob link, the image, its membership, the tag move
        and the change log."""
        await blob_rows.link(conn, repository_id, key)
        await image_rows.record(
            conn,
            digest=key,
            media_type=manifest.media_type,
            size=size,
            config_digest=str(manifest.config.digest) if manifest.config else None,
            artifact_type=manifest.artifact_type,
            subject_digest=str(manifest.subject.digest) if manifest.subject else None,
            annotations=dict(manifest.annotations),
            references=manifest_references(manifest),
        )
        await image_rows.add_to_repository(conn, repository_id, key)
        if tag is not None:
            await tag_rows.move(conn, repository_id, tag, key)
        await streams.touch(conn, repository_id, repository)
        await changes.append(
            conn,
            kind="Image",
            namespace=repository,
            name=key,
            action="push",
            payload={
                "repository": repository,
                "digest": key,
                "tag": tag,
                "mediaType": manifest.media_type,
                "size": size,
                **(origin or {}),
            },
        )

    async def _check_references(
        self, conn: AsyncConnection, repository_id: int, manifest: ParsedManifest
    ) -> None:
        blobs = [str(d.digest) for d in manifest.blob_references()]
        missing = await blob_rows.missing_in_repository(conn, repository_id, blobs)
        children = [str(d.digest) for d in manifest.manifests]
        missing += await image_rows.missing_in_repository(conn, repository_id, children)
        if missing:
            raise ManifestBlobUnknownError(
                f"manifest references {len(missing)} unknown blob(s) or manifest(s):"
                f" {', '.join(missing[:5])}",
                detail={"digests": missing},
            )
        # In use from now on: pruning, whose deletes are guarded on these times, keeps them.
        await blob_rows.refresh_links(conn, repository_id, blobs)
        await image_rows.refresh_in_repository(conn, repository_id, children)

    async def delete(
        self,
        repository: str,
        reference: Digest | str,
        origin: Mapping[str, Any] | None = None,
    ) -> None:
        """By tag, untag; by digest, remove the manifest and every tag pointing at it."""
        if not self.ctx.delete_enabled:
            raise UnsupportedError("deletes are disabled on this registry")
        payload: dict[str, Any]
        async with self.ctx.db.write() as conn:
            repository_id = await repositories.find_id(conn, repository, lock=True)
            if repository_id is None:
                raise ManifestUnknownError(detail={"reference": str(reference)})
            if isinstance(reference, str):
                digest = await tag_rows.resolve(conn, repository, reference)
                if digest is None or not await tag_rows.remove(conn, repository_id, reference):
                    raise ManifestUnknownError(detail={"tag": reference})
                action, name = "untag", reference
                payload = {"repository": repository, "tag": reference, "digest": digest}
            else:
                key = str(reference)
                if not await image_rows.remove_from_repository(conn, repository_id, key):
                    raise ManifestUnknownError(detail={"digest": key})
                tags = await tag_rows.remove_pointing_at(conn, repository_id, key)
                await blob_rows.unlink(conn, repository_id, key)
                action, name = "delete", key
                payload = {"repository": repository, "digest": key, "tags": tags}
            await changes.append(
                conn,
                kind="Image",
                namespace=repository,
                name=name,
                action=action,
                payload={**payload, **(origin or {})},
            )
            await streams.touch(conn, repository_id, repository)

    async def referrers(self, repository: str, subject: Digest, artifact_type: str | None) -> bytes:
        async with self.ctx.db.read() as conn:
            found = await image_rows.referrers(conn, repository, str(subject), artifact_type)
        manifests = []
        for referrer in found:
            entry: dict[str, Any] = {
                "mediaType": referrer.media_type,
                "digest": referrer.digest,
                "size": referrer.size,
            }
            if referrer.artifact_type:
                entry["artifactType"] = referrer.artifact_type
            if referrer.annotations:
                entry["annotations"] = referrer.annotations
            manifests.append(entry)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        return json.dumps(index, separators=(",", ":")).encode()
