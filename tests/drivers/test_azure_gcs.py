"""What the Azure and GCS drivers add to the shared contract, against Azurite and the GCS
emulator: writer state that another process continues, signed redirects (Azurite checks SAS
signatures), GCS composing more parts than one compose takes, and their parameters."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dockyard.storage.driver import PathNotFoundError, StorageDriver
from dockyard.storage.factory import create_driver
from emulators import Emulator, azure_params, gcs_params

MiB = 1 << 20
pytestmark = pytest.mark.anyio


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(params=["azure", "gcs"])
def cloud(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    if request.param == "azure":
        return "azure", azure_params(request.getfixturevalue("azurite"))
    return "gcs", gcs_params(request.getfixturevalue("gcs_emulator"))


async def test_a_writer_continues_in_another_process(cloud: tuple[str, dict[str, Any]]) -> None:
    name, params = cloud
    first, second = blob(3 * MiB + 17, 1), blob(2 * MiB + 5, 2)
    writer = await create_driver(name, params).writer("/up/data")
    await writer.write(first)
    await writer.close()

    other = create_driver(name, params)
    assert (await other.stat("/up/data")).size == len(first)
    assert await other.list("/up") == ["/up/data"]
    writer = await other.writer("/up/data", append=True)
    assert writer.size == len(first)
    await writer.write(second)
    await writer.commit()
    assert await create_driver(name, params).get_content("/up/data") == first + second


async def test_gcs_composes_more_parts_than_one_compose_takes(gcs_emulator: Emulator) -> None:
    params = gcs_params(gcs_emulator)
    driver = create_driver("gcs", params)
    content = blob(40 * 256 * 1024 + 9, 3)  # 40 parts of 256 KiB and a short last one
    writer = await driver.writer("/up/data")
    await writer.write(content)
    await writer.commit()
    assert await driver.get_content("/up/data") == content
    assert await driver.list("/up") == ["/up/data"]
    await driver.delete("/up")
    with pytest.raises(PathNotFoundError):
        await driver.list("/up")


async def test_gcs_appends_to_a_committed_object(gcs_emulator: Emulator) -> None:
    driver = create_driver("gcs", gcs_params(gcs_emulator))
    await driver.put_content("/f", blob(MiB, 4))
    writer = await driver.writer("/f", append=True)
    assert writer.size == MiB
    await writer.write(b"more")
    await writer.commit()
    assert await driver.get_content("/f") == blob(MiB, 4) + b"more"


async def test_azure_redirects_to_a_sas_url_that_is_checked(azurite: Emulator) -> None:
    driver: StorageDriver = create_driver("azure", azure_params(azurite))
    content = blob(2 * MiB, 5)
    await driver.put_content("/blobs/x/data", content)
    url = await driver.redirect_url("/blobs/x/data", "GET")
    assert url is not None and url.startswith(azurite.endpoint)
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(url)).content == content
        ranged = await client.get(url, headers={"Range": "bytes=3-7"})
        assert (ranged.status_code, ranged.content) == (206, content[3:8])
        tampered = url.replace("sp=r", "sp=rw")
        assert (await client.get(tampered)).status_code == 403
    assert await driver.redirect_url("/blobs/x/data", "DELETE") is None


async def test_gcs_without_signing_credentials_streams(gcs_emulator: Emulator) -> None:
    driver = create_driver("gcs", gcs_params(gcs_emulator))
    await driver.put_content("/blobs/x/data", b"x")
    assert await driver.redirect_url("/blobs/x/data", "GET") is None


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("azure", {"accountname": "a", "container": "registry"}, "accountkey"),
        ("azure", {"accountname": "a", "accountkey": "k", "container": "c"}, "container"),
        ("azure", {"accountname": "a", "accountkey": "k", "container": "ccc", "x": 1}, "x"),
        ("gcs", {}, "bucket"),
        ("gcs", {"bucket": "bucket", "chunksize": 300 * 1024}, "256 KiB"),
        ("gcs", {"bucket": "bucket", "rootdirectory": "/a//b"}, "rootdirectory"),
        ("gcs", {"bucket": "bucket", "credentials": "{not json"}, "JSON"),
        ("gcs", {"bucket": "bucket", "credentials": "{}", "keyfile": "k.json"}, "not both"),
    ],
)
def test_bad_parameters_are_refused(name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_driver(name, params)


async def test_gcs_with_a_service_account_key_redirects_to_v4_signed_urls(
    gcs_emulator: Emulator,
) -> None:
    """Signing is local; the emulator serves the URL (it does not check signatures)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "dockyard",
        "private_key_id": "1",
        "private_key": pem,
        "client_email": "registry@dockyard.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",
    }
    params = gcs_params(gcs_emulator)
    await create_driver("gcs", params).put_content("/blobs/x/data", b"signed content")
    signing = create_driver("gcs", {**params, "credentials": json.dumps(account)})
    url = await signing.redirect_url("/blobs/x/data", "GET")
    assert url is not None and url.startswith(gcs_emulator.endpoint)
    assert "X-Goog-Algorithm=GOOG4-RSA-SHA256" in url and "X-Goog-Signature=" in url
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(url)).content == b"signed content"
