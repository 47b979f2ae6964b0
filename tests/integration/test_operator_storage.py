"""The Config's storage applied by the workers: a change rolls them onto the new storage.

emptyDir keeps blobs in memory (nothing lands under the data directory); s3 with credentials
from the secret ``image-registry-private-configuration-user`` writes to moto's S3 server, also
over TLS signed by a CA that only the ``trustedCA`` config map holds; the Config's GCS bucket
replaces the settings' on a GCS emulator.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from distribution_helpers import push_blob, push_image, unique_repo
from test_operator_config import CONFIG, condition, eventually, patch_config, worker_pids

from emulators import gcs_emulator, moto_s3, s3_client, tls_in_front, unique_bucket

if TYPE_CHECKING:
    from conftest import RegistryFactory
    from emulators import Emulator

__all__ = ["gcs_emulator", "moto_s3"]

pytestmark = pytest.mark.integration

SECRETS = "/api/v1/namespaces/openshift-image-registry/secrets"
CONFIG_MAPS = "/api/v1/namespaces/openshift-config/configmaps"
S3_SECRET = {
    "metadata": {"name": "image-registry-private-configuration-user"},
    "data": {
        "REGISTRY_STORAGE_S3_ACCESSKEY": base64.b64encode(b"testing").decode(),
        "REGISTRY_STORAGE_S3_SECRETKEY": base64.b64encode(b"testing").decode(),
    },
}


def test_empty_dir_keeps_blobs_in_memory(registry_factory: RegistryFactory) -> None:
    server = registry_factory(workers=1)
    with server.client(timeout=60) as client:
        eventually(lambda: len(worker_pids(server)) == 1, 10)
        before = worker_pids(server)
        spec = {"replicas": 1, "storage": {"pvc": None, "emptyDir": {}}}
        assert patch_config(client, spec).status_code == 200
        eventually(lambda: worker_pids(server) and not (worker_pids(server) & before), 30)
        eventually(lambda: client.get("/v2/").status_code == 200, 15)
        eventually(lambda: condition(client, "StorageExists").get("reason") == "EmptyDir", 10)
        digest = push_blob(client, unique_repo("memory"), b"kept in memory only")
        hexdigest = digest.partition(":")[2]
        on_disk = list(Path(server.data_dir).rglob(hexdigest))
        assert on_disk == []


def test_s3_storage_from_the_config(registry_factory: RegistryFactory, moto_s3: Emulator) -> None:
    server = registry_factory(workers=2)
    bucket = unique_bucket()
    with server.client(timeout=60) as client:
        eventually(lambda: len(worker_pids(server)) == 2, 10)
        before = worker_pids(server)
        spec = {
            "storage": {"pvc": None, "s3": {"bucket": bucket, "regionEndpoint": moto_s3.endpoint}}
        }
        assert patch_config(client, spec).status_code == 200
        eventually(
            lambda: condition(client, "StorageExists").get("reason") == "MissingCredentials", 10
        )
        assert worker_pids(server) == before  # nothing to roll onto yet
        assert client.post(SECRETS, json=S3_SECRET).status_code == 201
        # With the credentials the storage can be served: the workers are replaced onto it.
        eventually(lambda: condition(client, "StorageExists").get("status") == "True", 15)
        eventually(lambda: not (worker_pids(server) & before), 40)
        eventually(lambda: len(worker_pids(server)) == 2, 15)
        repo = unique_repo("s3")
        push_image(client, repo, "v1")
        keys = [
            item["Key"]
            for item in s3_client(moto_s3).list_objects_v2(Bucket=bucket).get("Contents", [])
        ]
        assert any("/blobs/sha256/" in key for key in keys), keys
        assert client.get(f"/v2/{repo}/manifests/v1").status_code == 200
        status = client.get(CONFIG).json()["status"]
        assert status["storage"]["s3"]["bucket"] == bucket
        # the settings' filesystem storage is overridden, and the status says so
        assert (
            "storage.filesystem: the Config's spec.storage.s3 is used" in status["ignoredSettings"]
        )


def bucket_keys(moto: Emulator, bucket: str) -> list[str]:
    listed = s3_client(moto).list_objects_v2(Bucket=bucket).get("Contents", [])
    return [item["Key"] for item in listed]


def test_s3_endpoint_trusted_through_the_configs_trusted_ca(
    registry_factory: RegistryFactory, moto_s3: Emulator, tmp_path: Path
) -> None:
    """moto behind TLS signed by a CA of the test's making: the workers reach it once
    ``trustedCA`` names a config map in openshift-config whose ``ca-bundle.crt`` holds the CA."""
    server = registry_factory(workers=1)
    bucket = unique_bucket()
    with tls_in_front(moto_s3, tmp_path) as (endpoint, ca), server.client(timeout=60) as client:
        assert client.post(SECRETS, json=S3_SECRET).status_code == 201
        eventually(lambda: len(worker_pids(server)) == 1, 10)
        before = worker_pids(server)
        s3 = {"bucket": bucket, "regionEndpoint": endpoint, "trustedCA": {"name": "s3-ca"}}
        assert patch_config(client, {"storage": {"pvc": None, "s3": s3}}).status_code == 200
        missing = eventually(
            lambda: (
                (found := condition(client, "StorageExists")).get("reason") == "MissingTrustedCA"
                and found
            )
        )
        assert '"s3-ca"' in missing["message"] and "ca-bundle.crt" in missing["message"]
        assert worker_pids(server) == before  # nothing to roll onto yet

        bundle = {"metadata": {"name": "s3-ca"}, "data": {"ca-bundle.crt": ca.read_text()}}
        assert client.post(CONFIG_MAPS, json=bundle).status_code == 201
        eventually(lambda: condition(client, "StorageExists").get("status") == "True", 15)
        eventually(lambda: worker_pids(server) and not (worker_pids(server) & before), 40)
        eventually(lambda: client.get("/v2/").status_code == 200, 15)
        repo = unique_repo("s3tls")
        push_image(client, repo, "v1")
        assert any("/blobs/sha256/" in key for key in bucket_keys(moto_s3, bucket))
        response = client.get(f"/v2/{repo}/manifests/v1")
        assert response.status_code == 200
        layer = response.json()["layers"][0]["digest"]
        # Redirects would send the client to the private CA's endpoint: stream instead.
        patch_config(client, {"disableRedirect": True})
        rolled = worker_pids(server)
        eventually(lambda: worker_pids(server) and not (worker_pids(server) & rolled), 40)
        eventually(lambda: client.get(f"/v2/{repo}/blobs/{layer}").status_code == 200, 15)


def test_gcs_bucket_from_the_config(
    registry_factory: RegistryFactory, gcs_emulator: Emulator
) -> None:
    """The settings' GCS driver (the emulator's endpoint) with the Config's bucket over theirs."""
    first, second = unique_bucket(), unique_bucket()
    env = {
        "REGISTRY_STORAGE_GCS_BUCKET": first,
        "REGISTRY_STORAGE_GCS_ENDPOINT": gcs_emulator.endpoint,
    }
    server = registry_factory(env=env, workers=1)
    with server.client(timeout=60) as client:
        eventually(lambda: condition(client, "StorageExists").get("reason") == "Configured", 15)
        before = worker_pids(server)
        assert patch_config(client, {"storage": {"gcs": {"bucket": second}}}).status_code == 200
        eventually(lambda: worker_pids(server) and not (worker_pids(server) & before), 40)
        eventually(lambda: client.get("/v2/").status_code == 200, 15)
        repo = unique_repo("gcs")
        push_image(client, repo, "v1")
        assert client.get(f"/v2/{repo}/manifests/v1").status_code == 200
        status = client.get(CONFIG).json()["status"]
        assert status["storage"]["gcs"]["bucket"] == second
    with httpx.Client(base_url=gcs_emulator.endpoint, timeout=30) as gcs:
        listed = gcs.get(f"/storage/v1/b/{second}/o")
        assert listed.status_code == 200, listed.text
        names = [item["name"] for item in listed.json().get("items", [])]
    assert any("/blobs/sha256/" in name for name in names), names
