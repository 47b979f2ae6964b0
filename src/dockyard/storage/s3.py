"""Objects in an S3 bucket (AWS or an S3-compatible store), after Distribution's ``s3-aws`` driver.

boto3 is synchronous and thread-safe: every call runs in the driver's own thread pool, so a slow
store never stalls the event loop and many requests in flight do not queue behind the default
executor. botocore retries what is safe to retry (throttling, 5xx, dropped connections); a read
that breaks mid-stream resumes with a ranged GET of the same object version.

Keys are driver paths below ``rootdirectory``; directories are key prefixes. A writer streams into
a multipart upload, one part of ``chunksize`` bytes at a time, so memory holds at most one part.
What is left when it closes goes to a sibling object ``<key>@writer`` whose metadata names the
multipart upload, its parts and the total size: a later writer, in any process, continues from
there. ``@`` is never part of a driver path, so that object cannot clash with a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
import botocore.config
import botocore.exceptions
import botocore.signers
import urllib3.exceptions
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dockyard.config.model import CloudFrontParams, S3Params, parse_duration
from dockyard.storage import cloud
from dockyard.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageError,
)

CHUNK_SIZE = 1 << 20
READ_RETRIES = 3
DELETE_BATCH = 1000
_SESSION_LOCK = threading.Lock()
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})
_STREAM_ERRORS = (
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    ConnectionError,
)


class S3Driver(cloud.PooledDriver):
    name = "s3"

    def __init__(self, params: S3Params) -> None:
        super().__init__(params.rootdirectory)
        self.params = params
        self.bucket = params.bucket
        self._client = _client(params)
        self._extra: dict[str, str] = {}
        if params.encrypt or params.keyid:
            self._extra["ServerSideEncryption"] = "aws:kms" if params.keyid else "AES256"
        if params.keyid:
            self._extra["SSEKMSKeyId"] = params.keyid
        if params.storageclass != "NONE":
            self._extra["StorageClass"] = params.storageclass
        self._cloudfront = _cloudfront_signer(params.cloudfront) if params.cloudfront else None

    # --- the interface ---------------------------------------------------------------------------

    async def get_content(self, path: str) -> bytes:
        response = await self._s3(path, "get_object", Key=self._key(path))
        content: bytes = await self._run(response["Body"].read)
        return content

    async def put_content(self, path: str, content: bytes) -> None:
        await self._s3(path, "put_object", Key=self._key(path), Body=content, **self._extra)

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        if offset < 0:
            raise InvalidOffsetError(path, f"offset {offset} is negative")
        key = self._key(path)
        try:
            response = await self._get_from(path, key, offset, etag=None)
        except _RangeNotSatisfiable:
            size = (await self._s3(path, "head_object", Key=key))["ContentLength"]
            if offset != size:
                raise InvalidOffsetError(path, f"offset {offset} outside the file") from None
            return cloud.empty()
        return self._chunks(path, key, response, offset)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        key = self._key(path)
        if not append:
            await self._abandon(path, key)
            return _Writer(self, path, key, cloud.Parked())
        try:
            response = await self._s3(path, "get_object", Key=key + cloud.WRITER_SUFFIX)
        except PathNotFoundError:
            return _Writer(self, path, key, await self._reopen(path, key))
        tail = await self._run(response["Body"].read)
        return _Writer(self, path, key, cloud.Parked.from_metadata(response["Metadata"], tail))

    async def stat(self, path: str) -> FileInfo:
        key = self._key(path)
        try:
            head = await self._s3(path, "head_object", Key=key)
            return FileInfo(path, head["ContentLength"], _time(head), is_dir=False)
        except PathNotFoundError:
            pass
        try:
            head = await self._s3(path, "head_object", Key=key + cloud.WRITER_SUFFIX)
            size = cloud.Parked.from_metadata(head["Metadata"]).size
            return FileInfo(path, size, _time(head), is_dir=False)
        except PathNotFoundError:
            pass
        listed = await self._s3(path, "list_objects_v2", Prefix=key + "/", MaxKeys=1)
        if not listed.get("Contents"):
            raise PathNotFoundError(path)
        return FileInfo(path, 0, _time(listed["Contents"][0]), is_dir=True)

    async def list(self, path: str) -> list[str]:
        prefix = self._children_prefix(path)
        names: list[str] = []
        async for page in self._pages(path, "list_objects_v2", Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"][len(prefix) :].rstrip("/"))
            names.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
        return cloud.children(path, names)

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """One recursive listing: keys come sorted, so a directory's keys are contiguous."""
        prefix = self._children_prefix(path)
        base = "" if path == "/" else path
        seen_dirs: list[str] = []
        found = False
        async for page in self._pages(path, "list_objects_v2", Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if not name or name.endswith("/"):
                    continue
                found = True
                info = await self._walked_file(f"{base}/{name}", item)
                if info is None:
                    continue
                parents = info.path.split("/")[:-1]
                for depth in range(len(base.split("/")) + 1, len(parents) + 1):
                    directory = "/".join(parents[:depth])
                    if directory not in seen_dirs:
                        seen_dirs[:] = [d for d in seen_dirs if directory.startswith(d + "/")]
                        seen_dirs.append(directory)
                        yield FileInfo(directory, 0, info.mod_time, is_dir=True)
                yield info
        if not found and path != "/":
            raise PathNotFoundError(path)

    async def _walked_file(self, path: str, item: dict[str, Any]) -> FileInfo | None:
        """A listed key as a file; a writer's state stands for its file until that exists."""
        if not path.endswith(cloud.WRITER_SUFFIX):
            return FileInfo(path, item["Size"], _time(item), is_dir=False)
        path = path.removesuffix(cloud.WRITER_SUFFIX)
        try:
            await self._s3(path, "head_object", Key=self._key(path))
            return None  # the committed file sorts first and was visited already
        except PathNotFoundError:
            return await self.stat(path)

    async def move(self, source: str, dest: str) -> None:
        source_key, dest_key = self._key(source), self._key(dest)
        head = await self._s3(source, "head_object", Key=source_key)
        if source_key == dest_key:
            return
        size = head["ContentLength"]
        copy_source = {"Bucket": self.bucket, "Key": source_key}
        if size <= self.params.multipartcopythresholdsize:
            await self._s3(dest, "copy_object", Key=dest_key, CopySource=copy_source, **self._extra)
        else:
            await self._multipart_copy(dest, dest_key, copy_source, size)
        await self._s3(source, "delete_object", Key=source_key)

    async def delete(self, path: str) -> None:
        key = self._key(path)
        doomed: list[str] = []
        async for page in self._pages(path, "list_objects_v2", Prefix=key + "/"):
            doomed.extend(item["Key"] for item in page.get("Contents", []))
        for exact in (key, key + cloud.WRITER_SUFFIX):
            try:
                await self._s3(path, "head_object", Key=exact)
                doomed.append(exact)
            except PathNotFoundError:
                pass
        if not doomed:
            raise PathNotFoundError(path)
        await self._abort_uploads(path, key)
        for start in range(0, len(doomed), DELETE_BATCH):
            batch = [{"Key": k} for k in doomed[start : start + DELETE_BATCH]]
            await self._s3(path, "delete_objects", Delete={"Objects": batch, "Quiet": True})

    async def redirect_url(self, path: str, method: str) -> str | None:
        if method not in ("GET", "HEAD"):
            return None
        if self._cloudfront is not None and self.params.cloudfront is not None:
            cloudfront = self.params.cloudfront
            expires = datetime.now(UTC) + timedelta(seconds=parse_duration(cloudfront.duration))
            signed: str = self._cloudfront.generate_presigned_url(
                f"{cloudfront.baseurl}/{quote(self._key(path))}", date_less_than=expires
            )
            return signed
        operation = "get_object" if method == "GET" else "head_object"
        url: str = self._client.generate_presigned_url(
            operation,
            Params={"Bucket": self.bucket, "Key": self._key(path)},
            ExpiresIn=cloud.REDIRECT_SECONDS,
        )
        return url

    # --- writers ---------------------------------------------------------------------------------

    async def _reopen(self, path: str, key: str) -> cloud.Parked:
        """Append to a committed object: small ones are read back, large ones copied as parts."""
        head = await self._s3(path, "head_object", Key=key)
        size = head["ContentLength"]
        if size < self.params.chunksize:
            content = await self.get_content(path)
            return cloud.Parked(size=len(content), tail=content)
        created = await self._s3(path, "create_multipart_upload", Key=key, **self._extra)
        ranges = _even_ranges(size, self.params.multipartcopychunksize)
        for number, (start, end) in enumerate(ranges, 1):
            await self._s3(
                path,
                "upload_part_copy",
                Key=key,
                UploadId=created["UploadId"],
                PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": key},
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
        return cloud.Parked(parts=len(ranges), size=size, upload=created["UploadId"])

    async def _abandon(self, path: str, key: str) -> None:
        """Throw away the state of an earlier writer of ``key``, and its multipart upload."""
        try:
            head = await self._s3(path, "head_object", Key=key + cloud.WRITER_SUFFIX)
        except PathNotFoundError:
            return
        upload_id = cloud.Parked.from_metadata(head["Metadata"]).upload
        if upload_id:
            await self._abort(path, key, upload_id)
        await self._s3(path, "delete_object", Key=key + cloud.WRITER_SUFFIX)

    async def _abort(self, path: str, key: str, upload_id: str) -> None:
        with contextlib.suppress(PathNotFoundError):  # already completed or aborted
            await self._s3(path, "abort_multipart_upload", Key=key, UploadId=upload_id)

    async def _abort_uploads(self, path: str, key: str) -> None:
        """Abort the multipart uploads of ``key`` and of every key below it."""
        async for page in self._pages(path, "list_multipart_uploads", Prefix=key):
            for upload in page.get("Uploads", []):
                if upload["Key"] == key or upload["Key"].startswith(key + "/"):
                    await self._abort(path, upload["Key"], upload["UploadId"])

    async def _multipart_copy(
        self, dest: str, dest_key: str, copy_source: dict[str, str], size: int
    ) -> None:
        created = await self._s3(dest, "create_multipart_upload", Key=dest_key, **self._extra)
        upload_id = created["UploadId"]
        limit = asyncio.Semaphore(self.params.multipartcopymaxconcurrency)

        async def copy(number: int, start: int, end: int) -> dict[str, Any]:
            async with limit:
                result = await self._s3(
                    dest,
                    "upload_part_copy",
                    Key=dest_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{end - 1}",
                )
            return {"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]}

        ranges = _even_ranges(size, self.params.multipartcopychunksize)
        try:
            parts = await asyncio.gather(
                *(copy(number, start, end) for number, (start, end) in enumerate(ranges, 1))
            )
            await self._s3(
                dest,
                "complete_multipart_upload",
                Key=dest_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            await self._abort(dest, dest_key, upload_id)
            raise

    # --- plumbing --------------------------------------------------------------------------------

    async def _s3(self, path: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One S3 call on this bucket; "no such key" becomes ``PathNotFoundError``."""
        await self._ensure_ready()
        method = getattr(self._client, operation)
        try:
            result: dict[str, Any] = await self._run(method, Bucket=self.bucket, **kwargs)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _MISSING_CODES:
                raise PathNotFoundError(path) from None
            if code == "InvalidRange":
                raise _RangeNotSatisfiable(path) from None
            raise
        return result

    async def _pages(self, path: str, operation: str, **kwargs: Any) -> AsyncIterator[Any]:
        await self._ensure_ready()
        pages: Iterator[Any] = iter(
            self._client.get_paginator(operation).paginate(Bucket=self.bucket, **kwargs)
        )
        while (page := await self._run(next, pages, None)) is not None:
            yield page

    async def _prepare(self) -> None:
        """Create the bucket when it is absent, as OpenShift's operator does. Credentials that
        may not look at the bucket itself get to use it all the same."""
        try:
            await self._run(self._client.head_bucket, Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("403", "AccessDenied"):
                return
            if code not in ("404", "NoSuchBucket"):
                raise
            options: dict[str, Any] = {}
            if self.params.region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": self.params.region}
            await self._run(self._client.create_bucket, Bucket=self.bucket, **options)

    async def _get_from(self, path: str, key: str, offset: int, etag: str | None) -> dict[str, Any]:
        options: dict[str, str] = {}
        if offset:
            options["Range"] = f"bytes={offset}-"
        if etag is not None:
            options["IfMatch"] = etag
        return await self._s3(path, "get_object", Key=key, **options)

    async def _chunks(
        self, path: str, key: str, response: dict[str, Any], offset: int
    ) -> AsyncIterator[bytes]:
        """The body in 1 MiB pieces; a dropped stream resumes where it broke, same version."""
        etag, retries = response.get("ETag"), 0
        body = response["Body"]
        try:
            while True:
                try:
                    chunk: bytes = await self._run(body.read, CHUNK_SIZE)
                except _STREAM_ERRORS:
                    retries += 1
                    if retries > READ_RETRIES:
                        raise
                    body.close()
                    body = (await self._get_from(path, key, offset, etag))["Body"]
                    continue
                if not chunk:
                    return
                offset += len(chunk)
                yield chunk
        finally:
            body.close()


class _RangeNotSatisfiable(StorageError):
    """An offset at or past the end; the reader tells the two apart."""


class _Writer(cloud.PartedWriter):
    """Parts go to a multipart upload, created with the first; its id is parked too."""

    def __init__(self, driver: S3Driver, path: str, key: str, parked: cloud.Parked) -> None:
        super().__init__(path, driver.params.chunksize, parked)
        self._driver = driver
        self._key = key

    def _unparted(self) -> bool:
        return not self.upload

    async def _send(self, number: int, data: bytes) -> None:
        driver = self._driver
        if not self.upload:
            created = await driver._s3(
                self.path, "create_multipart_upload", Key=self._key, **driver._extra
            )
            self.upload = created["UploadId"]
        await driver._s3(
            self.path,
            "upload_part",
            Key=self._key,
            UploadId=self.upload,
            PartNumber=number,
            Body=data,
        )

    async def _park(self) -> None:
        parked = self.parked()
        await self._driver._s3(
            self.path,
            "put_object",
            Key=self._key + cloud.WRITER_SUFFIX,
            Body=parked.tail,
            Metadata=parked.metadata(),
            **self._driver._extra,
        )

    async def _put_whole(self, content: bytes) -> None:
        await self._driver.put_content(self.path, content)

    async def _assemble(self) -> None:
        """Complete with the parts this writer's state counts; a part sent by a writer that
        died before it closed has a number past them and is left out."""
        driver = self._driver
        parts: list[dict[str, Any]] = []
        pages = driver._pages(self.path, "list_parts", Key=self._key, UploadId=self.upload)
        async for page in pages:
            parts.extend(
                {"PartNumber": part["PartNumber"], "ETag": part["ETag"]}
                for part in page.get("Parts", [])
                if part["PartNumber"] <= self.parts
            )
        await driver._s3(
            self.path,
            "complete_multipart_upload",
            Key=self._key,
            UploadId=self.upload,
            MultipartUpload={"Parts": sorted(parts, key=lambda part: part["PartNumber"])},
        )

    async def _forget(self) -> None:
        await self._driver._s3(self.path, "delete_object", Key=self._key + cloud.WRITER_SUFFIX)

    async def _discard(self) -> None:
        if self.upload:
            await self._driver._abort(self.path, self._key, self.upload)
        await self._forget()


def _client(params: S3Params) -> Any:
    if params.virtualhostedstyle:
        style = "virtual"
    elif params.forcepathstyle or (params.forcepathstyle is None and params.regionendpoint):
        style = "path"
    else:
        style = "auto"
    config = botocore.config.Config(
        region_name=params.region,
        signature_version="s3v4" if params.v4auth else "s3",
        s3={"addressing_style": style},
        max_pool_connections=cloud.MAX_THREADS,
        # botocore backs off exponentially: up to about 7 s in all for the default 3 retries.
        retries={"mode": "standard", "max_attempts": params.maxretries + 1},
        connect_timeout=10,
        read_timeout=60,
    )
    endpoint = params.regionendpoint
    if endpoint and "://" not in endpoint:
        endpoint = f"{'https' if params.secure else 'http'}://{endpoint}"
    secret = params.secretkey.get_secret_value() if params.secretkey else None
    with _SESSION_LOCK:
        return _session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=params.accesskey,
            aws_secret_access_key=secret,
            use_ssl=params.secure,
            verify=_verify(params),
            config=config,
        )


@functools.cache
def _session() -> boto3.session.Session:
    """One session per process: it keeps the service model loaded, which a client of a new
    session reads again (a fifth of a second). Making clients of it is not thread-safe."""
    return boto3.session.Session()


def _verify(params: S3Params) -> bool | str:
    """Whether to check the store's certificate, and against which CAs when not the system's."""
    if params.skipverify:
        return False
    if params.trustedca is None:
        return True
    if not os.path.isfile(params.trustedca):
        raise ValueError(f"storage driver 's3': trustedca {params.trustedca} is not a file")
    return params.trustedca


def _cloudfront_signer(params: CloudFrontParams) -> Any:
    """CloudFront's URL signer with the key pair's RSA key (SHA-1, as CloudFront requires)."""
    with open(params.privatekey, "rb") as file:
        key = serialization.load_pem_private_key(file.read(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("cloudfront.privatekey must be an RSA private key")

    def sign(message: bytes) -> bytes:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())

    return botocore.signers.CloudFrontSigner(params.keypairid, sign)


def _even_ranges(size: int, chunk: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of about ``chunk`` bytes, none smaller, covering ``size``."""
    count = max(1, size // chunk)
    step = -(-size // count)
    return [(start, min(start + step, size)) for start in range(0, size, step)]


def _time(item: dict[str, Any]) -> float:
    modified = item.get("LastModified")
    return modified.timestamp() if modified is not None else time.time()
