"""Finishing an upload, and pushing a manifest, on a real database and the in-memory driver:
the bytes are put in place before the writer's turn, and garbage collection of the same digest
at that moment never leaves a row without its bytes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from dockyard.errors import (
    BlobUnknownError,
    BlobUploadInvalidError,
    BlobUploadUnknownError,
    DigestInvalidError,
)
from dockyard.metadata.engine import Database, upgrade
from dockyard.registry.blobs import BlobService, blob_path
from dockyard.registry.context import RegistryContext
from dockyard.registry.digest import Digest, digest_of
from dockyard.registry.images import ImageService
from dockyard.registry.mediatypes import OCI_MANIFEST
from dockyard.registry.uploads import WRITE_CHUNK, UploadService
from dockyard.storage.base import DriverWrapper
from dockyard.storage.driver import FileInfo, PathNotFoundError
from dockyard.storage.factory import create_driver

pytestmark = pytest.mark.anyio
REPO = "team/app"
DATA = b"layer bytes"


class CollectedAt(DriverWrapper):
    """The in-memory driver, with a collector that deletes the blob right after the upload
    moved it into place (``after="move"``) or right after the upload found it there
    (``after="stat"``): the moments between the upload's look and its transaction."""

    def __init__(self, after: str, digest: Digest) -> None:
        super().__init__(create_driver("inmemory", {}))
        self.after = after
        self.target = blob_path(digest)
        self.collections = 0

    async def move(self, source: str, dest: str) -> None:
        await super().move(source, dest)
        if self.after == "move" and dest == self.target and not self.collections:
            await self.collect()

    async def stat(self, path: str) -> FileInfo:
        info = await super().stat(path)
        if self.after == "stat" and path == self.target and not self.collections:
            await self.collect()
        return info

    async def collect(self) -> None:
        self.collections += 1
        await self.delete(self.target)


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.close()


async def _push(ctx: RegistryContext, data: bytes, whole: bool = False) -> int:
    """Streamed (no length known), or ``whole`` (the length announced: the small path)."""
    uploads = UploadService(ctx)
    state = await uploads.start(REPO)
    length = len(data) if whole else None
    return await uploads.finish(state, digest_of(data), _body(data), length=length)


async def _stored(ctx: RegistryContext, digest: Digest) -> bytes:
    content = await BlobService(ctx).open(REPO, digest)
    return b"".join([chunk async for chunk in content.chunks])


async def test_a_finished_upload_is_in_place_linked_and_its_session_gone(db: Database) -> None:
    ctx = RegistryContext(db=db, storage=create_driver("inmemory", {}), secret=b"s" * 32)
    uploads = UploadService(ctx)
    state = await uploads.start(REPO)
    assert await uploads.finish(state, digest_of(DATA), _body(DATA)) == len(DATA)
    assert await _stored(ctx, digest_of(DATA)) == DATA
    with pytest.raises(BlobUploadUnknownError):
        await uploads.size(state)
    # Pushed again into a new repository: the bytes in place are kept, the link is made.
    other = await uploads.start("team/other")
    assert await uploads.finish(other, digest_of(DATA), _body(DATA)) == len(DATA)
    assert await BlobService(ctx).stat("team/other", digest_of(DATA)) == len(DATA)


@pytest.mark.parametrize("whole", [False, True])
async def test_a_blob_collected_after_the_look_gets_the_uploads_bytes(
    db: Database, whole: bool
) -> None:
    storage = CollectedAt("stat", digest_of(DATA))
    ctx = RegistryContext(db=db, storage=storage, secret=b"s" * 32)
    await storage.put_content(blob_path(digest_of(DATA)), DATA)  # pushed long ago
    assert await _push(ctx, DATA, whole) == len(DATA)
    assert storage.collections == 1
    assert await _stored(ctx, digest_of(DATA)) == DATA


async def test_a_blob_collected_after_the_move_fails_the_upload_and_records_nothing(
    db: Database,
) -> None:
    storage = CollectedAt("move", digest_of(DATA))
    ctx = RegistryContext(db=db, storage=storage, secret=b"s" * 32)
    with pytest.raises(BlobUploadUnknownError, match="push it again"):
        await _push(ctx, DATA)
    assert storage.collections == 1
    with pytest.raises(BlobUnknownError):
        await BlobService(ctx).stat(REPO, digest_of(DATA))
    with pytest.raises(PathNotFoundError):
        await storage.stat(blob_path(digest_of(DATA)))
    assert await _push(ctx, DATA) == len(DATA)  # pushed again, it stays
    assert await _stored(ctx, digest_of(DATA)) == DATA


async def test_a_manifest_collected_after_the_look_is_stored_again(db: Database) -> None:
    config = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(digest_of(config)),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    storage = CollectedAt("stat", digest_of(manifest))
    ctx = RegistryContext(db=db, storage=storage, secret=b"s" * 32)
    await _push(ctx, config)
    await storage.put_content(blob_path(digest_of(manifest)), manifest)  # pushed long ago
    images = ImageService(ctx)
    result = await images.put(REPO, "v1", manifest, OCI_MANIFEST)
    assert result.digest == digest_of(manifest)
    assert storage.collections == 1
    assert await storage.get_content(blob_path(digest_of(manifest))) == manifest
    assert (await ImageService(ctx).get(REPO, "v1")).content == manifest


async def test_a_body_broken_off_keeps_what_arrived_and_the_upload_resumes(db: Database) -> None:
    ctx = RegistryContext(db=db, storage=create_driver("inmemory", {}), secret=b"s" * 32)
    uploads = UploadService(ctx)
    piece = WRITE_CHUNK
    data = bytes(range(256)) * (3 * piece // 256)

    async def broken() -> AsyncIterator[bytes]:
        for start in range(0, 2 * piece, 1 << 16):
            yield data[start : start + (1 << 16)]
        raise ConnectionResetError("client went away")

    state = await uploads.start(REPO)
    with pytest.raises(ConnectionResetError):
        await uploads.append(state, broken())
    assert await uploads.size(state) == 2 * piece
    rest = data[2 * piece :]
    await uploads.finish(state, digest_of(data), _body(rest), start=2 * piece, length=len(rest))
    assert await _stored(ctx, digest_of(data)) == data


async def test_a_small_upload_sent_whole_is_checked_like_any_other(db: Database) -> None:
    ctx = RegistryContext(db=db, storage=create_driver("inmemory", {}), secret=b"s" * 32)
    uploads = UploadService(ctx)
    for announced in (len(DATA) - 1, len(DATA) + 1):
        state = await uploads.start(REPO)
        with pytest.raises(BlobUploadInvalidError):
            await uploads.finish(state, digest_of(DATA), _body(DATA), length=announced)
    state = await uploads.start(REPO)
    with pytest.raises(DigestInvalidError):
        await uploads.finish(state, digest_of(b"other"), _body(DATA), length=len(DATA))
    with pytest.raises(BlobUploadUnknownError):
        await uploads.size(state)
    with pytest.raises(BlobUnknownError):
        await BlobService(ctx).stat(REPO, digest_of(DATA))
    state = await uploads.start(REPO)
    assert await uploads.finish(state, digest_of(DATA), _body(DATA), length=len(DATA)) == 11
    assert await _stored(ctx, digest_of(DATA)) == DATA
    with pytest.raises(BlobUploadUnknownError):  # the session is over
        await uploads.size(state)
