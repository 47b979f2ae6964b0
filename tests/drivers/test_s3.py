"""What the S3 driver adds to the shared contract: writer state that lives in the bucket (so
another process continues it), multipart uploads that never stay open, multipart copies,
presigned URLs, server-side encryption and the bucket created on first use. Against moto's
server, looked into with a boto3 client of its own."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dockyard.config.model import Settings, dump_settings
from dockyard.storage.driver import PathNotFoundError, StorageDriver, StorageError
from dockyard.storage.factory import create_driver
from emulators import Emulator, s3_client, s3_params, tls_in_front

MiB = 1 << 20
pytestmark = pytest.mark.anyio


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def open_uploads(moto: Emulator, bucket: str) -> list[str]:
    uploads = s3_client(moto).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [upload["Key"] for upload in uploads]


def all_keys(moto: Emulator, bucket: str) -> list[str]:
    listed = s3_client(moto).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.fixture
def params(moto_s3: Emulator) -> dict[str, Any]:
    return s3_params(moto_s3)


def driver_of(params: dict[str, Any]) -> StorageDriver:
    """A driver of its own, as another worker process would have."""
    return create_driver("s3", params)


async def test_a_writer_continues_in_another_process(
    moto_s3: Emulator, params: dict[str, Any]
) -> None:
    first, second = blob(7 * MiB, 1), blob(4 * MiB + 5, 2)
    writer = await driver_of(params).writer("/up/data")
    await writer.write(first)  # one 5 MiB part sent, 2 MiB held until close
    await writer.close()
    assert open_uploads(moto_s3, params["bucket"]) == ["registry/up/data"]

    other = driver_of(params)
    assert (await other.stat("/up/data")).size == len(first)
    assert await other.list("/up") == ["/up/data"]
    writer = await other.writer("/up/data", append=True)
    assert writer.size == len(first)
    await writer.write(second)
    await writer.commit()

    assert await driver_of(params).get_content("/up/data") == first + second
    assert open_uploads(moto_s3, params["bucket"]) == []
    assert all_keys(moto_s3, params["bucket"]) == ["registry/up/data"]


async def test_parts_sent_after_the_last_close_are_left_out(
    moto_s3: Emulator, params: dict[str, Any]
) -> None:
    """A writer that dies without closing: the next one continues from the last close."""
    kept = blob(6 * MiB, 1)
    writer = await driver_of(params).writer("/up/data")
    await writer.write(kept)
    await writer.close()
    lost = await driver_of(params).writer("/up/data", append=True)
    await lost.write(blob(11 * MiB, 2))  # sends parts, then the process "dies"

    writer = await driver_of(params).writer("/up/data", append=True)
    assert writer.size == len(kept)
    await writer.write(b"tail")
    await writer.commit()
    assert await driver_of(params).get_content("/up/data") == kept + b"tail"


async def test_cancel_and_delete_abort_multipart_uploads(
    moto_s3: Emulator, params: dict[str, Any]
) -> None:
    driver = driver_of(params)
    for name in ("a", "b"):
        writer = await driver.writer(f"/uploads/{name}/data")
        await writer.write(blob(6 * MiB))
        await writer.close()
    assert len(open_uploads(moto_s3, params["bucket"])) == 2

    writer = await driver.writer("/uploads/a/data", append=True)
    await writer.cancel()
    assert open_uploads(moto_s3, params["bucket"]) == ["registry/uploads/b/data"]
    dead = await driver.writer("/uploads/c/data")  # sends a part, then its process dies
    await dead.write(blob(6 * MiB))
    assert len(open_uploads(moto_s3, params["bucket"])) == 2
    await driver.delete("/uploads")
    assert open_uploads(moto_s3, params["bucket"]) == []
    assert all_keys(moto_s3, params["bucket"]) == []
    with pytest.raises(PathNotFoundError):
        await driver.stat("/uploads/b/data")


async def test_a_fresh_writer_abandons_the_earlier_upload(
    moto_s3: Emulator, params: dict[str, Any]
) -> None:
    driver = driver_of(params)
    writer = await driver.writer("/up/data")
    await writer.write(blob(6 * MiB))
    await writer.close()
    writer = await driver.writer("/up/data")
    assert writer.size == 0
    assert open_uploads(moto_s3, params["bucket"]) == []
    await writer.write(b"new")
    await writer.commit()
    assert await driver.get_content("/up/data") == b"new"


@pytest.mark.parametrize("size", [MiB, 12 * MiB], ids=["buffered", "part-copied"])
async def test_append_to_a_committed_object(params: dict[str, Any], size: int) -> None:
    driver = driver_of(params)
    await driver.put_content("/f", blob(size, 1))
    writer = await driver.writer("/f", append=True)
    assert writer.size == size
    await writer.write(b"more")
    await writer.commit()
    assert await driver.get_content("/f") == blob(size, 1) + b"more"


async def test_move_of_a_large_object_copies_parts(
    moto_s3: Emulator, params: dict[str, Any]
) -> None:
    params |= {"multipartcopythresholdsize": 5 * MiB, "multipartcopychunksize": 5 * MiB}
    driver = driver_of(params)
    content = blob(16 * MiB + 3)
    await driver.put_content("/src", content)
    await driver.move("/src", "/dst/blob")
    assert await driver.get_content("/dst/blob") == content
    head = s3_client(moto_s3).head_object(Bucket=params["bucket"], Key="registry/dst/blob")
    assert head["ETag"].strip('"').endswith("-3")  # three parts of a multipart copy
    with pytest.raises(PathNotFoundError):
        await driver.stat("/src")


async def test_redirect_url_is_a_presigned_get(params: dict[str, Any]) -> None:
    driver = driver_of(params)
    content = blob(3 * MiB)
    await driver.put_content("/blobs/x/data", content)
    url = await driver.redirect_url("/blobs/x/data", "GET")
    assert url is not None and "X-Amz-Signature=" in url
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(url)).content == content
        ranged = await client.get(url, headers={"Range": "bytes=5-9"})
        assert (ranged.status_code, ranged.content) == (206, content[5:10])
    assert await driver.redirect_url("/blobs/x/data", "PUT") is None


async def test_encryption_applies_to_every_way_of_writing(
    moto_s3: Emulator, params: dict[str, Any]
) -> None:
    params |= {"encrypt": True, "multipartcopythresholdsize": 5 * MiB}
    driver = driver_of(params)
    await driver.put_content("/put", b"x")
    writer = await driver.writer("/written")
    await writer.write(blob(6 * MiB))
    await writer.close()  # the rest waits in the writer's state, encrypted too
    state = s3_client(moto_s3).head_object(Bucket=params["bucket"], Key="registry/written@writer")
    assert state["ServerSideEncryption"] == "AES256"
    writer = await driver.writer("/written", append=True)
    await writer.commit()
    await driver.put_content("/big", blob(11 * MiB))
    await driver.move("/big", "/moved")
    client = s3_client(moto_s3)
    for key in ("put", "written", "moved"):
        head = client.head_object(Bucket=params["bucket"], Key=f"registry/{key}")
        assert head["ServerSideEncryption"] == "AES256", key


async def test_memory_stays_below_a_few_parts_while_writing(params: dict[str, Any]) -> None:
    driver = driver_of(params)
    total, piece = 64 * MiB, blob(MiB, 3)
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        writer = await driver.writer("/big")
        for _ in range(total // MiB):
            await writer.write(piece)
            digest.update(piece)
        await writer.commit()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB while writing {total / MiB:.0f} MiB"
    read_back = hashlib.sha256()
    async for chunk in await driver.reader("/big"):
        read_back.update(chunk)
    assert read_back.digest() == digest.digest()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "bucket"),
        ({"bucket": "b"}, "bucket"),
        ({"bucket": "bucket", "chunksize": MiB}, "chunksize"),
        ({"bucket": "bucket", "accesskey": "id"}, "accesskey and secretkey"),
        ({"bucket": "bucket", "forcepathstyle": True, "virtualhostedstyle": True}, "exclude"),
        ({"bucket": "bucket", "rootdirectory": "a/../b"}, "rootdirectory"),
        ({"bucket": "bucket", "region_endpoint": "x"}, "region_endpoint"),
        ({"bucket": "bucket", "maxretries": -1}, "maxretries"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_driver("s3", params)


def test_settings_hand_the_secret_key_to_workers(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "data_dir": str(tmp_path),
            "storage": {"s3": {"bucket": "bucket", "accesskey": "id", "secretkey": "hidden"}},
        }
    )
    assert "hidden" not in repr(settings)
    again = Settings.model_validate_json(dump_settings(settings))
    assert again == settings
    name, params = again.storage_driver()
    assert name == "s3" and params["secretkey"].get_secret_value() == "hidden"


def rsa_key_pem() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key, pem


async def test_cloudfront_redirects_are_signed_with_the_key_pair(
    params: dict[str, Any], tmp_path: Path
) -> None:
    key, pem = rsa_key_pem()
    (tmp_path / "cf.pem").write_bytes(pem)
    params["cloudfront"] = {
        "baseurl": "https://d111.cloudfront.example/",
        "privatekey": str(tmp_path / "cf.pem"),
        "keypairid": "K2JCJMDEHXQW5F",
        "duration": "5m",
    }
    before = int(time.time())
    url = await driver_of(params).redirect_url("/blobs/x/data", "GET")
    assert url is not None
    resource, _, query = url.partition("?")
    assert resource == "https://d111.cloudfront.example/registry/blobs/x/data"
    fields = dict(parse_qsl(query))
    assert fields["Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    expires = int(fields["Expires"])
    assert before + 290 <= expires <= int(time.time()) + 310
    policy = json.dumps(
        {
            "Statement": [
                {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
            ]
        },
        separators=(",", ":"),
    ).encode()
    signature = base64.b64decode(
        fields["Signature"].replace("-", "+").replace("_", "=").replace("~", "/")
    )
    key.public_key().verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())


def test_cloudfront_needs_an_rsa_key(tmp_path: Path) -> None:
    (tmp_path / "cf.pem").write_text("not a key")
    with pytest.raises(ValueError):
        create_driver(
            "s3",
            {
                "bucket": "bucket",
                "cloudfront": {
                    "baseurl": "https://cdn.example",
                    "privatekey": str(tmp_path / "cf.pem"),
                    "keypairid": "K",
                },
            },
        )


async def test_trusted_ca_verifies_an_endpoint_signed_by_a_private_ca(
    moto_s3: Emulator, tmp_path: Path
) -> None:
    with tls_in_front(moto_s3, tmp_path) as (endpoint, bundle):
        assert endpoint.startswith("https://localhost:")
        params = s3_params(moto_s3, regionendpoint=endpoint)

        trusting = driver_of({**params, "trustedca": str(bundle)})
        await trusting.put_content("/f", b"over TLS")
        assert await trusting.get_content("/f") == b"over TLS"
        assert all_keys(moto_s3, params["bucket"]) == ["registry/f"]

        with pytest.raises(StorageError) as refused:
            await driver_of(params).get_content("/f")  # the system's CAs do not know this one
        assert "certificate" in repr(refused.value.__cause__).lower()


def test_trusted_ca_must_be_a_file(tmp_path: Path) -> None:
    params = {"bucket": "bucket", "regionendpoint": "https://localhost:1"}
    with pytest.raises(ValueError, match="trustedca"):
        create_driver("s3", {**params, "trustedca": str(tmp_path / "missing.crt")})
