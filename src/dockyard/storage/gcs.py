"""Objects in a Google Cloud Storage bucket, after Distribution's ``gcs`` driver.

The client library is synchronous: its calls run in the driver's own thread pool, as the S3
driver's do, and it retries what is safe to retry.

Keys are driver paths below ``rootdirectory``; directories are name prefixes. A writer uploads
each full ``chunksize`` piece as an object ``<key>@part-N``; what is left when it closes goes to
``<key>@writer``, whose metadata counts the parts and bytes, so a later writer in any process
continues from there. Commit composes the parts into the object (32 at a time, as GCS allows)
and removes them. ``@`` is never part of a driver path, so these objects cannot clash with files.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from google.api_core.exceptions import Conflict, Forbidden, NotFound
from google.auth.credentials import AnonymousCredentials, Signing
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from dockyard.config.model import GCSParams
from dockyard.storage import cloud
from dockyard.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageError,
)

T = TypeVar("T")

RANGE_SIZE = 4 << 20
COMPOSE_LIMIT = 32
PART_INFIX = "@part-"
SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
RETRY = DEFAULT_RETRY.with_timeout(30.0)
"""Uploads are retried too: each writes a whole object under a name of its own, or the same
content again (the library retries only conditional uploads by default)."""


class GCSDriver(cloud.PooledDriver):
    name = "gcs"

    def __init__(self, params: GCSParams) -> None:
        super().__init__(params.rootdirectory)
        self.params = params
        self._client = _client(params)
        self._bucket = self._client.bucket(params.bucket)

    async def get_content(self, path: str) -> bytes:
        content: bytes = await self._call(path, self._blob(self._key(path)).download_as_bytes)
        return content

    async def put_content(self, path: str, content: bytes) -> None:
        blob = self._blob(self._key(path))
        await self._call(
            path, blob.upload_from_string, content, "application/octet-stream", retry=RETRY
        )

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        blob = await self._call(path, self._bucket.get_blob, self._key(path))
        if blob is None:
            raise PathNotFoundError(path)
        if not 0 <= offset <= blob.size:
            raise InvalidOffsetError(path, f"offset {offset} outside the file")
        return self._ranges(path, blob, offset)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        key = self._key(path)
        if not append:
            await self._delete_state(path, key)
            return _Writer(self, path, key, cloud.Parked())
        tail = await self._call(path, self._bucket.get_blob, key + cloud.WRITER_SUFFIX)
        if tail is not None:
            content = await self._call(path, tail.download_as_bytes)
            return _Writer(
                self, path, key, cloud.Parked.from_metadata(tail.metadata or {}, content)
            )
        blob = await self._call(path, self._bucket.get_blob, key)
        if blob is None:
            raise PathNotFoundError(path)
        if blob.size < self.params.chunksize:
            content = await self._call(path, blob.download_as_bytes)
            return _Writer(self, path, key, cloud.Parked(size=len(content), tail=content))
        await self._call(path, self._bucket.copy_blob, blob, self._bucket, _part(key, 1))
        return _Writer(self, path, key, cloud.Parked(parts=1, size=blob.size))

    async def stat(self, path: str) -> FileInfo:
        key = self._key(path)
        blob = await self._call(path, self._bucket.get_blob, key)
        if blob is not None:
            return FileInfo(path, blob.size, _time(blob), is_dir=False)
        tail = await self._call(path, self._bucket.get_blob, key + cloud.WRITER_SUFFIX)
        if tail is not None:
            size = cloud.Parked.from_metadata(tail.metadata or {}).size
            return FileInfo(path, size, _time(tail), is_dir=False)
        below = await self._names(path, key + "/", limit=1)
        if not below:
            raise PathNotFoundError(path)
        return FileInfo(path, 0, _time(below[0]), is_dir=True)

    async def list(self, path: str) -> list[str]:
        prefix = self._children_prefix(path)

        def names() -> list[str]:
            listed = self._client.list_blobs(self._bucket, prefix=prefix, delimiter="/")
            found = [blob.name[len(prefix) :] for blob in listed]
            return found + [name[len(prefix) :].rstrip("/") for name in listed.prefixes]

        return cloud.children(path, await self._call(path, names))

    async def move(self, source: str, dest: str) -> None:
        source_key, dest_key = self._key(source), self._key(dest)
        blob = await self._call(source, self._bucket.get_blob, source_key)
        if blob is None:
            raise PathNotFoundError(source)
        if source_key == dest_key:
            return
        await self._call(dest, self._bucket.copy_blob, blob, self._bucket, dest_key)
        await self._call(source, blob.delete)

    async def delete(self, path: str) -> None:
        key = self._key(path)
        doomed = [blob.name for blob in await self._names(path, key + "/")]
        doomed += [blob.name for blob in await self._names(path, key + "@")]
        if await self._call(path, self._bucket.get_blob, key) is not None:
            doomed.append(key)
        if not doomed:
            raise PathNotFoundError(path)
        await self._delete_all(path, doomed)

    async def redirect_url(self, path: str, method: str) -> str | None:
        """A V4 signed URL, when the credentials can sign (a service account key)."""
        if method not in ("GET", "HEAD") or not isinstance(self._client._credentials, Signing):
            return None
        url: str = self._blob(self._key(path)).generate_signed_url(
            version="v4",
            expiration=timedelta(seconds=cloud.REDIRECT_SECONDS),
            method=method,
            api_access_endpoint=self.params.endpoint,
        )
        return url

    # --- plumbing --------------------------------------------------------------------------------

    def _blob(self, key: str) -> Any:
        return self._bucket.blob(key)

    async def _call(self, path: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One client call; a missing object becomes ``PathNotFoundError``."""
        await self._ensure_ready()
        try:
            return await self._run(call, *args, **kwargs)
        except NotFound:
            raise PathNotFoundError(path) from None

    async def _names(self, path: str, prefix: str, limit: int | None = None) -> Sequence[Any]:
        def listed() -> Sequence[Any]:
            return [*self._client.list_blobs(self._bucket, prefix=prefix, max_results=limit)]

        return await self._call(path, listed)

    async def _delete_all(self, path: str, names: Sequence[str]) -> None:
        for name in names:
            with contextlib.suppress(PathNotFoundError):  # gone meanwhile: fine
                await self._call(path, self._bucket.delete_blob, name)

    async def _delete_state(self, path: str, key: str) -> None:
        """Remove an earlier writer's parts and state."""
        await self._delete_all(path, [blob.name for blob in await self._names(path, key + "@")])

    async def _prepare(self) -> None:
        """Create the bucket when it is absent; credentials that may not look at the bucket
        itself get to use it all the same."""
        with contextlib.suppress(Forbidden):
            if await self._run(self._client.lookup_bucket, self.params.bucket) is None:
                with contextlib.suppress(Conflict):
                    await self._run(self._client.create_bucket, self.params.bucket)

    async def _ranges(self, path: str, blob: Any, offset: int) -> AsyncIterator[bytes]:
        """Ranged downloads of the generation that was opened, so a replaced object is not
        spliced into the one being read."""
        while offset < blob.size:
            end = min(offset + RANGE_SIZE, blob.size) - 1
            chunk: bytes = await self._call(
                path,
                blob.download_as_bytes,
                start=offset,
                end=end,
                if_generation_match=blob.generation,
                checksum=None,
            )
            if not chunk:
                raise StorageError(path, "the object ended early")
            offset += len(chunk)
            yield chunk


class _Writer(cloud.PartedWriter):
    """Parts are objects ``<key>@part-N``, composed into the object on commit."""

    def __init__(self, driver: GCSDriver, path: str, key: str, parked: cloud.Parked) -> None:
        super().__init__(path, driver.params.chunksize, parked)
        self._driver = driver
        self._key = key

    async def _send(self, number: int, data: bytes) -> None:
        blob = self._driver._blob(_part(self._key, number))
        await self._driver._call(self.path, blob.upload_from_string, data, retry=RETRY)

    async def _park(self) -> None:
        parked = self.parked()
        tail = self._driver._blob(self._key + cloud.WRITER_SUFFIX)
        tail.metadata = parked.metadata()
        await self._driver._call(self.path, tail.upload_from_string, parked.tail, retry=RETRY)

    async def _put_whole(self, content: bytes) -> None:
        blob = self._driver._blob(self._key)
        await self._driver._call(
            self.path, blob.upload_from_string, content, "application/octet-stream", retry=RETRY
        )

    async def _assemble(self) -> None:
        await self._compose([_part(self._key, n) for n in range(1, self.parts + 1)])

    async def _forget(self) -> None:
        await self._driver._delete_state(self.path, self._key)

    async def _discard(self) -> None:
        await self._driver._delete_state(self.path, self._key)

    async def _compose(self, names: Sequence[str]) -> None:
        """Compose ``names`` into the object, through intermediates while there are too many."""
        level = 0
        while len(names) > COMPOSE_LIMIT:
            level += 1
            grouped = []
            for index in range(0, len(names), COMPOSE_LIMIT):
                target = f"{self._key}@compose-{level}-{index // COMPOSE_LIMIT}"
                await self._compose_into(target, names[index : index + COMPOSE_LIMIT])
                grouped.append(target)
            names = grouped
        await self._compose_into(self._key, names)

    async def _compose_into(self, target: str, names: Sequence[str]) -> None:
        driver = self._driver
        sources = [driver._blob(name) for name in names]
        destination = driver._blob(target)
        destination.content_type = "application/octet-stream"
        await driver._call(self.path, destination.compose, sources)


def _client(params: GCSParams) -> storage.Client:
    credentials: Any = None
    if params.keyfile is not None and params.credentials is not None:
        raise ValueError("storage driver 'gcs' takes keyfile or credentials, not both")
    if params.credentials is not None:
        try:
            info = json.loads(params.credentials.get_secret_value())
        except ValueError:
            raise ValueError("gcs credentials must be a service account key's JSON") from None
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=SCOPES
        )
    elif params.keyfile is not None:
        credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            params.keyfile, scopes=SCOPES
        )
    elif params.endpoint is not None:
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]  # emulators take any
    options = {"api_endpoint": params.endpoint} if params.endpoint else None
    project = params.projectid or getattr(credentials, "project_id", None) or "dockyard"
    return storage.Client(project=project, credentials=credentials, client_options=options)


def _part(key: str, number: int) -> str:
    return f"{key}{PART_INFIX}{number:06d}"


def _time(blob: Any) -> float:
    updated = getattr(blob, "updated", None)
    return updated.timestamp() if updated is not None else time.time()
