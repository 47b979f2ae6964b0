"""What the Swift driver adds to the shared contract, against a one-node Swift cluster: writer
state another process continues, large objects whose segments outlive the upload directory
they were written from and go with the object, TempURL redirects that Swift checks, and
TempAuth's logins (auth version 1, or a storage URL with a token)."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from dockyard.storage.driver import PathNotFoundError, StorageError
from dockyard.storage.factory import create_driver
from emulators import Emulator, swift_login, swift_params

MiB = 1 << 20
pytestmark = pytest.mark.anyio


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def params(swift_cluster: Emulator) -> dict[str, Any]:
    return swift_params(swift_cluster)


async def test_an_upload_becomes_a_blob_that_outlives_its_directory(
    params: dict[str, Any],
) -> None:
    """The registry's path of a chunked push: write, close, continue elsewhere, commit, move
    into place, delete the upload directory."""
    first, second = blob(MiB + 100, 1), blob(2 * MiB + 7, 2)
    driver = create_driver("swift", params)
    await driver.put_content("/uploads/u1/startedat", b"0")
    writer = await driver.writer("/uploads/u1/data")
    await writer.write(first)
    await writer.close()

    other = create_driver("swift", params)
    assert (await other.stat("/uploads/u1/data")).size == len(first)
    writer = await other.writer("/uploads/u1/data", append=True)
    await writer.write(second)
    await writer.commit()
    await other.move("/uploads/u1/data", "/blobs/b1/data")
    await other.delete("/uploads")

    assert await other.get_content("/blobs/b1/data") == first + second
    assert await other.list("/") == ["/blobs"]
    await other.delete("/blobs/b1/data")
    with pytest.raises(PathNotFoundError):
        await other.stat("/blobs")


async def test_cancel_removes_the_segments(swift_cluster: Emulator, params: dict[str, Any]) -> None:
    driver = create_driver("swift", params)
    writer = await driver.writer("/up/data")
    await writer.write(blob(3 * MiB))
    await writer.cancel()
    storage_url, token = swift_login(swift_cluster)
    listing = httpx.get(
        f"{storage_url}/{params['container']}",
        params={"format": "json"},
        headers={"X-Auth-Token": token},
        timeout=30,
    )
    assert listing.status_code in (200, 204)
    assert (listing.json() if listing.status_code == 200 else []) == []


async def test_redirects_to_a_temp_url_that_swift_checks(params: dict[str, Any]) -> None:
    driver = create_driver("swift", params)
    content = blob(3 * MiB, 3)
    writer = await driver.writer("/blobs/x/data")
    await writer.write(content)  # a large object: the URL serves the joined segments
    await writer.commit()
    url = await driver.redirect_url("/blobs/x/data", "GET")
    assert url is not None and "temp_url_sig=" in url
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(url)).content == content
        ranged = await client.get(url, headers={"Range": "bytes=5-9"})
        assert (ranged.status_code, ranged.content) == (206, content[5:10])
        tampered = url.replace("temp_url_sig=", "temp_url_sig=0")
        assert (await client.get(tampered)).status_code == 401
    no_key = {key: value for key, value in params.items() if key != "secretkey"}
    assert await create_driver("swift", no_key).redirect_url("/blobs/x/data", "GET") is None


async def test_a_storage_url_with_a_token_and_a_wrong_password(
    swift_cluster: Emulator, params: dict[str, Any]
) -> None:
    """A token got elsewhere works with the storage URL alone; a wrong password is a storage
    error, not a hang."""
    await create_driver("swift", params).put_content("/f", b"logged in")
    storage_url, token = swift_login(swift_cluster)
    direct = {
        "container": params["container"],
        "prefix": params["prefix"],
        "storageurl": storage_url,
        "authtoken": token,
    }
    assert await create_driver("swift", direct).get_content("/f") == b"logged in"
    with pytest.raises(StorageError):
        await create_driver("swift", {**params, "password": "wrong"}).get_content("/f")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"container": "c"}, "authurl"),
        ({"container": "c", "authurl": "https://keystone/v3", "username": "u"}, "password"),
        ({"container": "", "storageurl": "http://swift/v1/AUTH_a"}, "container"),
        ({"container": "c", "storageurl": "http://s/v1/a", "chunksize": 10}, "chunksize"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_driver("swift", params)
