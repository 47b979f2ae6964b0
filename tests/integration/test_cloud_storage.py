"""``dockyard serve`` with its blobs in S3 (moto's server): skopeo and podman push and pull,
following the registry's 307 redirects to presigned URLs; with redirects disabled the registry
streams blobs itself. Two workers serve each registry, so chunked uploads continue across
processes through the multipart state kept in the bucket. Behind a failing store the registry
answers 503 and serves again once the store recovers. skopeo also round-trips through Azure
(Azurite), GCS (the GCS emulator) and Swift (a one-node cluster)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from distribution_helpers import assert_error, push_blob, random_bytes, with_digest
from images import make_layout

from emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    SWIFT_PASSWORD,
    SWIFT_USER,
    Emulator,
    azurite,
    gcs_emulator,
    moto_s3,
    s3_client,
    s3_registry_env,
    swift_cluster,
    unique_bucket,
)
from faultproxy import FaultProxy

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess
    from integration.conftest import Skopeo

pytestmark = pytest.mark.integration
__all__ = ["azurite", "gcs_emulator", "moto_s3", "swift_cluster"]

MiB = 1 << 20


def start_s3_registry(
    registry_factory: RegistryFactory,
    moto: Emulator,
    *,
    redirect: bool,
    endpoint: str | None = None,
    **settings: str,
) -> tuple[RegistryProcess, str]:
    """A registry of two workers on a fresh bucket, reaching moto at ``endpoint`` (a proxy)
    or directly, with more ``REGISTRY_STORAGE_S3_*`` settings by their lower-case names."""
    env = {
        **s3_registry_env(moto, redirect=redirect, endpoint=endpoint),
        **{f"REGISTRY_STORAGE_S3_{name.upper()}": value for name, value in settings.items()},
    }
    bucket = env["REGISTRY_STORAGE_S3_BUCKET"]
    return registry_factory(env=env, workers=2), bucket


def bucket_state(moto: Emulator, bucket: str) -> tuple[list[str], list[str]]:
    """The keys in ``bucket`` and the keys of its unfinished multipart uploads."""
    client = s3_client(moto)
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    ]
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return keys, [upload["Key"] for upload in uploads]


def assert_only_committed_objects(moto: Emulator, bucket: str) -> None:
    keys, uploads = bucket_state(moto, bucket)
    assert keys and all(key.startswith("dockyard/") for key in keys)
    assert not [key for key in keys if "@" in key], "a writer's state was left behind"
    assert uploads == [], "a multipart upload was left open"


@pytest.mark.parametrize("redirect", [True, False], ids=["redirect", "streamed"])
def test_skopeo_push_and_pull_with_s3_storage(
    registry_factory: RegistryFactory,
    moto_s3: Emulator,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
    redirect: bool,
) -> None:
    registry, bucket = start_s3_registry(registry_factory, moto_s3, redirect=redirect)
    # A layer of 11 MiB goes up in three multipart parts; the config as one small object.
    layout = make_layout(tmp_path / "src", "v1", layers=2, layer_size=11 * MiB, seed=6)
    target = f"docker://{registry.host}/{repository}:v1"

    skopeo.copy(layout.ref, target)
    skopeo.copy(target, f"oci:{tmp_path / 'back'}:v1")

    for blob in layout.blobs.values():
        back = tmp_path / "back" / "blobs" / "sha256" / blob.digest.split(":")[1]
        assert back.read_bytes() == blob.data
    assert_only_committed_objects(moto_s3, bucket)

    with registry.client(timeout=60) as api:
        big = max(layout.blobs.values(), key=lambda blob: blob.size)
        response = api.get(f"/v2/{repository}/blobs/{big.digest}")
        if redirect:
            assert response.status_code == 307
            assert response.headers["docker-content-digest"] == big.digest
            location = response.headers["location"]
            assert location.startswith(f"{moto_s3.endpoint}/{bucket}/dockyard/")
            ranged = httpx.get(location, headers={"Range": "bytes=10-19"}, timeout=60)
            assert ranged.status_code == 206
            assert ranged.content == big.data[10:20]
            assert httpx.get(location, timeout=60).content == big.data
        else:
            assert response.status_code == 200
            assert response.content == big.data
            ranged = api.get(
                f"/v2/{repository}/blobs/{big.digest}", headers={"Range": "bytes=10-19"}
            )
            assert ranged.status_code == 206
            assert ranged.content == big.data[10:20]


def test_podman_push_and_pull_follow_redirects_to_s3(
    registry_factory: RegistryFactory,
    moto_s3: Emulator,
    binary_path: Callable[[str], str],
    tmp_path: Path,
    repository: str,
) -> None:
    from integration.conftest import ContainersEnv

    registry, bucket = start_s3_registry(registry_factory, moto_s3, redirect=True)
    env = ContainersEnv(
        tmp_path / "containers",
        [registry.host],
        podman=binary_path("podman"),
        buildah=binary_path("buildah"),
    )
    puller: ContainersEnv | None = None
    try:
        env.login(registry.host, registry.auth)
        payload = tmp_path / "payload.bin"
        payload.write_bytes(os.urandom(7 * MiB))
        container = env.buildah("from", "scratch").stdout.strip()
        env.buildah("copy", container, str(payload), "/payload.bin")
        env.buildah("commit", "-q", container, "localhost/s3-test:one")
        destination = f"{registry.host}/{repository}:one"
        digest_file = tmp_path / "digest"
        env.podman(
            "push",
            "--tls-verify=false",
            "--digestfile",
            str(digest_file),
            "localhost/s3-test:one",
            f"docker://{destination}",
        )

        puller = env.sibling("puller")
        puller.podman("pull", "--tls-verify=false", "--quiet", destination)
        inspected: list[dict[str, Any]] = json.loads(
            puller.podman("image", "inspect", destination).stdout
        )
        assert inspected[0]["Digest"] == digest_file.read_text().strip()
        assert_only_committed_objects(moto_s3, bucket)
    finally:
        if puller is not None:
            puller.cleanup()
        env.cleanup()


def test_chunked_upload_continues_across_workers_through_the_bucket(
    registry_factory: RegistryFactory, moto_s3: Emulator, repository: str
) -> None:
    """Chunks smaller than a part: each request ends with the rest parked in the bucket, and
    the next one, on either worker, picks it up."""
    registry, bucket = start_s3_registry(registry_factory, moto_s3, redirect=True)
    content = os.urandom(11 * MiB + 123)
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    step = 3 * MiB
    with registry.client(timeout=60) as api:
        response = api.post(f"/v2/{repository}/blobs/uploads/")
        assert response.status_code == 202, response.text
        location = response.headers["location"]
        for start in range(0, len(content), step):
            chunk = content[start : start + step]
            response = api.patch(
                location,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(chunk) - 1}",
                },
            )
            assert response.status_code == 202, response.text
            assert response.headers["range"] == f"0-{start + len(chunk) - 1}"
            location = response.headers["location"]
        _, uploads = bucket_state(moto_s3, bucket)
        assert len(uploads) == 1, "the parts go to one multipart upload"

        response = api.put(with_digest(location, digest))
        assert response.status_code == 201, response.text
        response = api.get(f"/v2/{repository}/blobs/{digest}", follow_redirects=True)
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == digest.split(":")[1]
    assert_only_committed_objects(moto_s3, bucket)


def test_a_failing_store_answers_503_and_the_registry_keeps_serving(
    registry_factory: RegistryFactory, moto_s3: Emulator, repository: str
) -> None:
    proxy = FaultProxy(moto_s3.endpoint).start()
    try:
        registry, _ = start_s3_registry(
            registry_factory, moto_s3, redirect=False, endpoint=proxy.endpoint, maxretries="1"
        )
        content = random_bytes(64 * 1024)
        with registry.client(timeout=120) as api:
            digest = push_blob(api, repository, content)
            proxy.inject("503", times=1000)
            response = api.get(f"/v2/{repository}/blobs/{digest}")
            assert_error(response, 503, "UNAVAILABLE")
            assert response.headers["retry-after"] == "10"
            proxy.clear()

            response = api.get(f"/v2/{repository}/blobs/{digest}")
            assert response.status_code == 200
            assert response.content == content
            assert push_blob(api, repository, content[::-1])
        assert proxy.served["503"] >= 2  # retried once
    finally:
        proxy.stop()


def cloud_environment(kind: str, emulator: Emulator) -> dict[str, str]:
    if kind == "azure":
        return {
            "REGISTRY_STORAGE_AZURE_ACCOUNTNAME": AZURITE_ACCOUNT,
            "REGISTRY_STORAGE_AZURE_ACCOUNTKEY": AZURITE_KEY,
            "REGISTRY_STORAGE_AZURE_CONTAINER": unique_bucket("registry"),
            "REGISTRY_STORAGE_AZURE_SERVICEURL": emulator.endpoint,
            "REGISTRY_STORAGE_AZURE_CHUNKSIZE": str(MiB),
        }
    if kind == "swift":
        return {
            "REGISTRY_STORAGE_SWIFT_AUTHURL": f"{emulator.endpoint}/auth/v1.0",
            "REGISTRY_STORAGE_SWIFT_AUTHVERSION": "1",
            "REGISTRY_STORAGE_SWIFT_USERNAME": SWIFT_USER,
            "REGISTRY_STORAGE_SWIFT_PASSWORD": SWIFT_PASSWORD,
            "REGISTRY_STORAGE_SWIFT_CONTAINER": unique_bucket("registry"),
            "REGISTRY_STORAGE_SWIFT_SECRETKEY": "dockyard-tempurl-key",
            "REGISTRY_STORAGE_SWIFT_CHUNKSIZE": str(MiB),
        }
    return {
        "REGISTRY_STORAGE_GCS_BUCKET": unique_bucket("registry"),
        "REGISTRY_STORAGE_GCS_ENDPOINT": emulator.endpoint,
        "REGISTRY_STORAGE_GCS_CHUNKSIZE": str(MiB),
    }


@pytest.mark.parametrize(
    ("kind", "emulator_fixture"),
    [("azure", "azurite"), ("gcs", "gcs_emulator"), ("swift", "swift_cluster")],
)
def test_skopeo_push_and_pull_with_azure_gcs_and_swift_storage(
    registry_factory: RegistryFactory,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
    request: pytest.FixtureRequest,
    kind: str,
    emulator_fixture: str,
) -> None:
    """Azure and Swift redirect to URLs signed for the store, which checks them; GCS without a
    key file streams."""
    emulator: Emulator = request.getfixturevalue(emulator_fixture)
    registry = registry_factory(env=cloud_environment(kind, emulator), workers=2)
    # Layers of three parts of 1 MiB, the last one short.
    layout = make_layout(tmp_path / "src", "v1", layers=2, layer_size=2 * MiB + 3, seed=7)
    target = f"docker://{registry.host}/{repository}:v1"

    skopeo.copy(layout.ref, target)
    skopeo.copy(target, f"oci:{tmp_path / 'back'}:v1")

    for blob in layout.blobs.values():
        back = tmp_path / "back" / "blobs" / "sha256" / blob.digest.split(":")[1]
        assert back.read_bytes() == blob.data
    big = max(layout.blobs.values(), key=lambda blob: blob.size)
    with registry.client(timeout=60) as api:
        response = api.get(f"/v2/{repository}/blobs/{big.digest}")
    if kind in ("azure", "swift"):
        assert response.status_code == 307
        assert response.headers["location"].startswith(emulator.endpoint)
        assert httpx.get(response.headers["location"], timeout=60).content == big.data
    else:
        assert response.status_code == 200
        assert response.content == big.data
