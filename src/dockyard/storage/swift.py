"""Objects in an OpenStack Swift container, after Distribution's ``swift`` driver.

python-swiftclient is synchronous and a ``Connection`` is not thread-safe: every call runs in the
driver's thread pool with a connection of that thread's own. swiftclient retries failed
requests and re-authenticates when a token expires.

Keys are driver paths below ``prefix``; directories are name prefixes. A writer uploads each
``chunksize`` piece as a segment under ``@segments/<id>/``; what is left when it closes goes to
``<key>@writer``, whose metadata names the segments and counts them and the bytes, so a later
writer in any process continues. Commit puts a static large object manifest at the key. ``@`` is
never part of a driver path, so none of these objects can clash with a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from swiftclient.client import ClientException, Connection

from dockyard.config.model import SwiftParams
from dockyard.storage import cloud
from dockyard.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
)

CHUNK_SIZE = 1 << 20
SEGMENTS = "@segments"
META = "x-object-meta-"


class SwiftDriver(cloud.PooledDriver):
    name = "swift"

    def __init__(self, params: SwiftParams) -> None:
        super().__init__(params.prefix)
        self.params = params
        self.container = params.container
        self._local = threading.local()

    async def get_content(self, path: str) -> bytes:
        _, content = await self._call(path, "get_object", self._key(path))
        return bytes(content)

    async def put_content(self, path: str, content: bytes) -> None:
        await self._call(path, "put_object", self._key(path), content)

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        if offset < 0:
            raise InvalidOffsetError(path, f"offset {offset} is negative")
        key = self._key(path)
        headers = {"Range": f"bytes={offset}-"} if offset else None
        try:
            _, body = await self._call(
                path, "get_object", key, resp_chunk_size=CHUNK_SIZE, headers=headers
            )
        except ClientException as exc:
            if exc.http_status != 416:
                raise
            size = int((await self._call(path, "head_object", key))["content-length"])
            if offset != size:
                raise InvalidOffsetError(path, f"offset {offset} outside the file") from None
            return cloud.empty()
        return self._chunks(iter(body))

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        key = self._key(path)
        if not append:
            await self._abandon(path, key)
            return _Writer(self, path, key, cloud.Parked(upload=uuid.uuid4().hex))
        try:
            headers, tail = await self._call(path, "get_object", key + cloud.WRITER_SUFFIX)
        except PathNotFoundError:
            return _Writer(self, path, key, await self._reopen(path, key))
        return _Writer(self, path, key, _parked(headers, tail))

    async def stat(self, path: str) -> FileInfo:
        key = self._key(path)
        with contextlib.suppress(PathNotFoundError):
            headers = await self._call(path, "head_object", key)
            return FileInfo(path, int(headers["content-length"]), _time(headers), is_dir=False)
        with contextlib.suppress(PathNotFoundError):
            headers = await self._call(path, "head_object", key + cloud.WRITER_SUFFIX)
            return FileInfo(path, _parked(headers).size, _time(headers), is_dir=False)
        _, below = await self._call(
            path, "get_container", self.container, prefix=key + "/", limit=1
        )
        if not below:
            raise PathNotFoundError(path)
        return FileInfo(path, 0, time.time(), is_dir=True)

    async def list(self, path: str) -> list[str]:
        prefix = self._children_prefix(path)
        _, items = await self._call(
            path, "get_container", self.container, prefix=prefix, delimiter="/", full_listing=True
        )
        names = [(item.get("subdir") or item["name"])[len(prefix) :].rstrip("/") for item in items]
        return cloud.children(path, names)

    async def move(self, source: str, dest: str) -> None:
        """Small objects are copied on the server; a large object's manifest is written anew at
        the destination, pointing at the same segments."""
        source_key, dest_key = self._key(source), self._key(dest)
        headers = await self._call(source, "head_object", source_key)
        if source_key == dest_key:
            return
        if headers.get("x-static-large-object", "").lower() == "true":
            _, manifest = await self._call(
                source, "get_object", source_key, query_string="multipart-manifest=get"
            )
            segments = [
                {"path": segment["name"], "etag": segment["hash"], "size_bytes": segment["bytes"]}
                for segment in json.loads(manifest)
            ]
            await self._put_manifest(dest, dest_key, segments)
            await self._call(source, "delete_object", source_key)
        else:
            destination = f"/{self.container}/{dest_key}"
            await self._call(dest, "copy_object", source_key, destination=destination)
            await self._call(source, "delete_object", source_key)

    async def delete(self, path: str) -> None:
        key = self._key(path)
        _, below = await self._call(
            path, "get_container", self.container, prefix=key + "/", full_listing=True
        )
        # name -> whether it is a static large object manifest (its segments go with it)
        doomed = {item["name"]: "slo_etag" in item for item in below}
        for exact in (key, key + cloud.WRITER_SUFFIX):
            with contextlib.suppress(PathNotFoundError):
                headers = await self._call(path, "head_object", exact)
                doomed[exact] = headers.get("x-static-large-object", "").lower() == "true"
        if not doomed:
            raise PathNotFoundError(path)
        for name, manifest in doomed.items():
            await self._delete_object(path, name, manifest)

    async def redirect_url(self, path: str, method: str) -> str | None:
        """A TempURL signed with ``secretkey``, when one is configured."""
        if method not in ("GET", "HEAD") or self.params.secretkey is None:
            return None
        storage_url = await self._run(self._storage_url)
        object_url = f"{storage_url}/{quote(self.container)}/{quote(self._key(path))}"
        expires = int(time.time()) + cloud.REDIRECT_SECONDS
        signed = f"{method}\n{expires}\n{_url_path(object_url)}"
        key = self.params.secretkey.get_secret_value().encode()
        signature = hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()
        return f"{object_url}?temp_url_sig={signature}&temp_url_expires={expires}"

    # --- writers ---------------------------------------------------------------------------------

    async def _reopen(self, path: str, key: str) -> cloud.Parked:
        """Append to a committed object: its content becomes the new writer's first segment."""
        headers = await self._call(path, "head_object", key)
        upload, size = uuid.uuid4().hex, int(headers["content-length"])
        if size < self.params.chunksize:
            content = await self.get_content(path)
            return cloud.Parked(size=len(content), tail=content, upload=upload)
        destination = f"/{self.container}/{self._segment(upload, 1)}"
        await self._call(path, "copy_object", key, destination=destination)
        return cloud.Parked(parts=1, size=size, upload=upload)

    async def _abandon(self, path: str, key: str) -> None:
        """Remove an earlier writer's segments and state."""
        with contextlib.suppress(PathNotFoundError):
            await self._delete_object(path, key + cloud.WRITER_SUFFIX)

    async def _delete_object(self, path: str, name: str, manifest: bool = False) -> None:
        """Delete one object with whatever it owns: a manifest's segments, a writer's segments."""
        if name.endswith(cloud.WRITER_SUFFIX):
            with contextlib.suppress(PathNotFoundError):
                headers = await self._call(path, "head_object", name)
                await self._delete_segments(path, _parked(headers).upload)
        query = "multipart-manifest=delete" if manifest else None
        with contextlib.suppress(PathNotFoundError):  # gone meanwhile: fine
            await self._call(path, "delete_object", name, query_string=query)

    async def _delete_segments(self, path: str, upload: str) -> None:
        _, items = await self._call(
            path,
            "get_container",
            self.container,
            prefix=f"{self._prefix}{SEGMENTS}/{upload}/",
            full_listing=True,
        )
        for item in items:
            with contextlib.suppress(PathNotFoundError):
                await self._call(path, "delete_object", item["name"])

    async def _put_manifest(self, path: str, key: str, segments: Sequence[dict[str, Any]]) -> None:
        await self._call(
            path,
            "put_object",
            key,
            json.dumps(segments),
            query_string="multipart-manifest=put",
        )

    # --- plumbing --------------------------------------------------------------------------------

    def _segment(self, upload: str, number: int) -> str:
        return f"{self._prefix}{SEGMENTS}/{upload}/{number:08d}"

    def _connection(self) -> Connection:
        """This thread's connection; swiftclient's are not safe to share."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = _connect(self.params)
        return connection

    def _storage_url(self) -> str:
        connection = self._connection()
        if connection.url is None:
            connection.get_auth()
        url: str = connection.url
        return url.rstrip("/")

    async def _call(self, path: str, operation: str, *args: Any, **kwargs: Any) -> Any:
        """One swiftclient call on this container; a 404 becomes ``PathNotFoundError``."""
        await self._ensure_ready()
        if operation != "get_container":
            args = (self.container, *args)

        def call() -> Any:
            return getattr(self._connection(), operation)(*args, **kwargs)

        try:
            return await self._run(call)
        except ClientException as exc:
            if exc.http_status == 404:
                raise PathNotFoundError(path) from None
            raise

    async def _prepare(self) -> None:
        await self._run(self._create_container)

    def _create_container(self) -> None:
        """Create the container, and set the account's TempURL key, when absent."""
        connection = self._connection()
        try:
            connection.head_container(self.container)
        except ClientException as exc:
            if exc.http_status != 404:
                raise
            connection.put_container(self.container)
        if self.params.secretkey is not None:
            key = self.params.secretkey.get_secret_value()
            if connection.head_account().get("x-account-meta-temp-url-key") != key:
                connection.post_account({"X-Account-Meta-Temp-URL-Key": key})

    async def _chunks(self, body: Iterator[bytes]) -> AsyncIterator[bytes]:
        try:
            while (chunk := await self._run(next, body, None)) is not None:
                if chunk:
                    yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                await self._run(close)


class _Writer(cloud.PartedWriter):
    """Parts are segments under ``@segments/<upload>/``, joined by a static large object
    manifest on commit."""

    def __init__(self, driver: SwiftDriver, path: str, key: str, parked: cloud.Parked) -> None:
        super().__init__(path, driver.params.chunksize, parked)
        self._driver = driver
        self._key = key

    async def _send(self, number: int, data: bytes) -> None:
        name = self._driver._segment(self.upload, number)
        await self._driver._call(self.path, "put_object", name, data)

    async def _park(self) -> None:
        parked = self.parked()
        headers = {META + name: value for name, value in parked.metadata().items()}
        await self._driver._call(
            self.path, "put_object", self._key + cloud.WRITER_SUFFIX, parked.tail, headers=headers
        )

    async def _put_whole(self, content: bytes) -> None:
        await self._driver._call(self.path, "put_object", self._key, content)

    async def _assemble(self) -> None:
        driver = self._driver
        segments: list[dict[str, Any]] = [
            {"path": f"/{driver.container}/{driver._segment(self.upload, n)}"}
            for n in range(1, self.parts + 1)
        ]
        await driver._put_manifest(self.path, self._key, segments)

    async def _forget(self) -> None:
        with contextlib.suppress(PathNotFoundError):
            await self._driver._call(self.path, "delete_object", self._key + cloud.WRITER_SUFFIX)

    async def _discard(self) -> None:
        await self._driver._delete_segments(self.path, self.upload)
        await self._forget()


def _parked(headers: Mapping[str, str], tail: bytes = b"") -> cloud.Parked:
    """A writer's state from its object's metadata headers (swiftclient gives them lower case)."""
    metadata = {
        name.removeprefix(META): value for name, value in headers.items() if name.startswith(META)
    }
    return cloud.Parked.from_metadata(metadata, tail)


def _connect(params: SwiftParams) -> Connection:
    password = params.password.get_secret_value() if params.password else None
    token = params.authtoken.get_secret_value() if params.authtoken else None
    version = str(
        params.authversion or (3 if (params.authurl or "").rstrip("/").endswith("v3") else 2)
    )
    options = {
        "tenant_name": params.tenant,
        "tenant_id": params.tenantid,
        "project_name": params.tenant,
        "project_id": params.tenantid,
        "user_domain_name": params.domain,
        "user_domain_id": params.domainid,
        "project_domain_name": params.domain,
        "project_domain_id": params.domainid,
        "region_name": params.region,
        "endpoint_type": params.endpointtype,
    }
    return Connection(
        authurl=params.authurl,
        user=params.username,
        key=password,
        preauthurl=params.storageurl,
        # A storage URL without a token: a cluster without auth, which ignores the header.
        preauthtoken=token or ("unauthenticated" if params.storageurl else None),
        auth_version="1.0" if version == "1" else version,
        os_options={name: value for name, value in options.items() if value is not None},
        insecure=params.insecureskipverify,
        retries=5,
    )


def _url_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _time(headers: dict[str, str]) -> float:
    modified = headers.get("last-modified")
    return parsedate_to_datetime(modified).timestamp() if modified else time.time()
