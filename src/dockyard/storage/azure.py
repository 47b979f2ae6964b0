"""Blobs in an Azure Storage container, after Distribution's ``azure`` driver.

The SDK's synchronous client runs in the driver's own thread pool, as the S3 driver does; its
retry policy retries throttling, 5xx answers and dropped connections.

Keys are driver paths below ``rootdirectory``; directories are name prefixes. A writer appends
to an append blob, one block of ``chunksize`` bytes at a time, so the blob itself is the state a
later writer (in any process) continues: its size is the writer's offset, nothing else is kept.
Uploads write in a directory of their own and ``move`` the result into place, so nobody reads a
blob that is still growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobPrefix,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ExponentialRetry,
    generate_blob_sas,
)

from dockyard.config.model import AzureParams
from dockyard.storage import cloud
from dockyard.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageError,
)

T = TypeVar("T")

CHUNK_SIZE = 1 << 20
COPY_POLL_SECONDS = 0.1
WHOLE_GET_SIZE = 64 << 20
COPY_TIMEOUT_SECONDS = 3600


class AzureDriver(cloud.PooledDriver):
    name = "azure"

    def __init__(self, params: AzureParams) -> None:
        super().__init__(params.rootdirectory)
        self.params = params
        url = params.serviceurl or f"https://{params.accountname}.blob.{params.realm}"
        credential = {
            "account_name": params.accountname,
            "account_key": params.accountkey.get_secret_value(),
        }
        service = BlobServiceClient(
            url,
            credential=credential,
            max_single_get_size=CHUNK_SIZE,
            max_chunk_get_size=CHUNK_SIZE,
            max_block_size=params.chunksize,
            retry_policy=_retry(),
        )
        self._container: ContainerClient = service.get_container_client(params.container)
        # get_content reads in one request: chunked reads of a blob replaced meanwhile fail
        # their ETag condition, where one GET sees the old content or the new.
        whole = BlobServiceClient(
            url, credential=credential, max_single_get_size=WHOLE_GET_SIZE, retry_policy=_retry()
        )
        self._whole: ContainerClient = whole.get_container_client(params.container)

    async def get_content(self, path: str) -> bytes:
        blob = self._whole.get_blob_client(self._key(path))
        downloader: Any = await self._call(path, blob.download_blob)
        content: bytes = await self._run(downloader.readall)
        return content

    async def put_content(self, path: str, content: bytes) -> None:
        await self._call(path, self._blob(path).upload_blob, content, overwrite=True)

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        if offset < 0:
            raise InvalidOffsetError(path, f"offset {offset} is negative")
        blob = self._blob(path)
        try:
            downloader = await self._call(path, blob.download_blob, offset=offset or None)
        except HttpResponseError as exc:
            if exc.status_code != 416:
                raise
            size = (await self._call(path, blob.get_blob_properties)).size
            if offset != size:
                raise InvalidOffsetError(path, f"offset {offset} outside the file") from None
            return cloud.empty()
        return self._chunks(downloader.chunks())

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        blob = self._blob(path)
        if append:
            size = (await self._call(path, blob.get_blob_properties)).size
        else:
            await self._call(path, blob.create_append_blob)
            size = 0
        return _Writer(self, path, cloud.Parked(size=size))

    async def stat(self, path: str) -> FileInfo:
        try:
            properties = await self._call(path, self._blob(path).get_blob_properties)
            return FileInfo(path, properties.size, _time(properties), is_dir=False)
        except PathNotFoundError:
            pass
        listed = self._container.list_blobs(
            name_starts_with=self._key(path) + "/", results_per_page=1
        )
        first = await self._call(path, next, iter(listed), None)
        if first is None:
            raise PathNotFoundError(path)
        return FileInfo(path, 0, _time(first), is_dir=True)

    async def list(self, path: str) -> list[str]:
        prefix = self._children_prefix(path)
        items = iter(self._container.walk_blobs(name_starts_with=prefix, delimiter="/"))
        names: list[str] = []
        while (item := await self._call(path, next, items, None)) is not None:
            name = item.name[len(prefix) :]
            names.append(name.rstrip("/") if isinstance(item, BlobPrefix) else name)
        return cloud.children(path, names)

    async def move(self, source: str, dest: str) -> None:
        """A server-side copy, then the source goes; large copies finish asynchronously."""
        source_blob, dest_blob = self._blob(source), self._blob(dest)
        await self._call(source, source_blob.get_blob_properties)
        if source == dest:
            return
        copy = await self._call(dest, dest_blob.start_copy_from_url, source_blob.url)
        deadline = time.monotonic() + COPY_TIMEOUT_SECONDS
        status = copy["copy_status"]
        while status == "pending":
            if time.monotonic() > deadline:
                await self._call(dest, dest_blob.abort_copy, copy["copy_id"])
                raise StorageError(dest, "copy did not finish in time")
            await asyncio.sleep(COPY_POLL_SECONDS)
            status = (await self._call(dest, dest_blob.get_blob_properties)).copy.status
        if status != "success":
            raise StorageError(dest, f"copy ended with status {status}")
        await self._call(source, source_blob.delete_blob)

    async def delete(self, path: str) -> None:
        key = self._key(path)
        listed = iter(self._container.list_blobs(name_starts_with=key + "/"))
        doomed: list[str] = []
        while (item := await self._call(path, next, listed, None)) is not None:
            doomed.append(item.name)
        with contextlib.suppress(PathNotFoundError):
            await self._call(path, self._container.get_blob_client(key).get_blob_properties)
            doomed.append(key)
        if not doomed:
            raise PathNotFoundError(path)
        for name in doomed:
            with contextlib.suppress(PathNotFoundError):  # gone meanwhile: fine
                await self._call(path, self._container.delete_blob, name)

    async def redirect_url(self, path: str, method: str) -> str | None:
        if method not in ("GET", "HEAD"):
            return None
        blob = self._blob(path)
        sas = generate_blob_sas(
            account_name=self.params.accountname,
            container_name=self.params.container,
            blob_name=self._key(path),
            account_key=self.params.accountkey.get_secret_value(),
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(seconds=cloud.REDIRECT_SECONDS),
        )
        return f"{blob.url}?{sas}"

    # --- plumbing --------------------------------------------------------------------------------

    def _blob(self, path: str) -> Any:
        return self._container.get_blob_client(self._key(path))

    async def _call(self, path: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One SDK call; a missing blob becomes ``PathNotFoundError``."""
        await self._ensure_ready()
        try:
            return await self._run(call, *args, **kwargs)
        except ResourceNotFoundError:
            raise PathNotFoundError(path) from None

    async def _prepare(self) -> None:
        """Create the container when it is absent; credentials that may not create one (a
        SAS scoped to the container) get to use it all the same."""
        try:
            await self._run(self._container.create_container)
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise

    async def _chunks(self, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        while (chunk := await self._run(next, chunks, None)) is not None:
            if chunk:
                yield chunk


class _Writer(cloud.PartedWriter):
    """Appends blocks of ``chunksize``; the append blob is the whole state, so ``close`` and
    ``commit`` append what is left and nothing is parked."""

    def __init__(self, driver: AzureDriver, path: str, parked: cloud.Parked) -> None:
        super().__init__(path, driver.params.chunksize, parked)
        self._driver = driver

    async def _send(self, number: int, data: bytes) -> None:
        # The offset condition makes a retried append that already landed fail, not repeat.
        blob = self._driver._blob(self.path)
        await self._driver._call(
            self.path, blob.append_block, data, appendpos_condition=self.parts_size
        )

    async def _park(self) -> None:
        await self.flush()

    async def _put_whole(self, content: bytes) -> None:
        """The append blob exists already: ``content``, the buffer, is appended to it."""
        await self.flush()

    async def _assemble(self) -> None:
        """The blocks were appended in order: the blob is the file already."""

    async def _forget(self) -> None:
        """Nothing is parked."""

    async def _discard(self) -> None:
        blob = self._driver._blob(self.path)
        with contextlib.suppress(PathNotFoundError):
            await self._driver._call(self.path, blob.delete_blob)


def _retry() -> ExponentialRetry:
    """Three retries after about 1, 3 and 5 seconds: the SDK's default waits 15 s first,
    longer than a client waits for an answer."""
    return ExponentialRetry(
        initial_backoff=1, increment_base=2, retry_total=3, random_jitter_range=1
    )


def _time(properties: Any) -> float:
    modified = getattr(properties, "last_modified", None)
    return modified.timestamp() if modified is not None else time.time()
