"""oras-py pushes and pulls artifacts (monolithic and chunked), and artifacts that name a
``subject`` show up in the referrers API, filtered by ``artifactType``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import oras.client
import oras.oci
import pytest
from distribution_helpers import get_manifest, push_blob, put_manifest
from images import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, canonical_json, digest_of

if TYPE_CHECKING:
    from conftest import RegistryProcess

pytestmark = [pytest.mark.integration, pytest.mark.storage]

SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIGNATURE_CONFIG_TYPE = "application/vnd.example.signature.config.v1+json"
ORAS_LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
TITLE = "org.opencontainers.image.title"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """oras-py wants file paths relative to the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def oras_client(registry: RegistryProcess) -> oras.client.OrasClient:
    """oras-py on plain HTTP, answering the registry's challenge with ``registry.auth``."""
    client = oras.client.OrasClient(hostname=registry.host, insecure=True, auth_backend="basic")
    if registry.auth is not None:
        client.auth.set_basic_auth(*registry.auth)
    return client


def raw_manifest(client: httpx.Client, repository: str, reference: str) -> httpx.Response:
    response = get_manifest(client, repository, reference)
    assert response.status_code == 200, response.text
    return response


def push_manifest(
    client: httpx.Client, repository: str, document: dict[str, Any], reference: str | None = None
) -> httpx.Response:
    """Push ``document`` as canonical JSON, by ``reference`` or else its digest."""
    data = canonical_json(document)
    response = put_manifest(
        client, repository, reference or digest_of(data), data, str(document["mediaType"])
    )
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest_of(data)
    return response


def sbom_manifest(
    client: httpx.Client, repository: str, subject: dict[str, Any], content: bytes
) -> dict[str, Any]:
    """An artifact manifest with ``artifactType`` set, the empty config and one layer."""
    push_blob(client, repository, b"{}")
    layer_digest = push_blob(client, repository, content)
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(b"{}"), "size": 2},
        "layers": [
            {
                "mediaType": "application/spdx+json",
                "digest": layer_digest,
                "size": len(content),
                "annotations": {TITLE: "sbom.spdx.json"},
            }
        ],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    }


def referrers(
    client: httpx.Client, repository: str, digest: str, artifact_type: str | None = None
) -> httpx.Response:
    params = {"artifactType": artifact_type} if artifact_type is not None else None
    return client.get(f"/v2/{repository}/referrers/{digest}", params=params)


def assert_empty_index(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == OCI_INDEX
    body = response.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    assert body["manifests"] == []


def test_push_and_pull_files_round_trip(
    shared_registry: RegistryProcess, workdir: Path, repository: str
) -> None:
    (workdir / "a.txt").write_bytes(b"hello artifact\n")
    (workdir / "b.json").write_bytes(json.dumps({"k": [1, 2, 3]}).encode())
    client = oras_client(shared_registry)
    target = f"{shared_registry.host}/{repository}:v1"

    pushed = client.push(
        target=target,
        files=["a.txt", "b.json:application/json"],
        manifest_annotations={"org.example.key": "value"},
    )

    assert pushed.status_code == 201
    files = client.pull(target=target, outdir=str(workdir / "out"))
    assert sorted(Path(path).name for path in files) == ["a.txt", "b.json"]
    assert (workdir / "out" / "a.txt").read_bytes() == (workdir / "a.txt").read_bytes()
    assert (workdir / "out" / "b.json").read_bytes() == (workdir / "b.json").read_bytes()
    assert client.get_tags(f"{shared_registry.host}/{repository}") == ["v1"]
    with shared_registry.client() as http:
        manifest = raw_manifest(http, repository, "v1").json()
    assert manifest["annotations"]["org.example.key"] == "value"
    layers = {layer["annotations"][TITLE]: layer["mediaType"] for layer in manifest["layers"]}
    assert layers == {"a.txt": ORAS_LAYER_TYPE, "b.json": "application/json"}


@pytest.mark.parametrize(
    ("size", "chunk_size"),
    [(5 * 1024 * 1024, 1024 * 1024), (3 * 1024 * 1024 + 12345, 1024 * 1024), (1000, 4096)],
    ids=["exact-chunks", "ragged-last-chunk", "single-chunk"],
)
def test_chunked_push_round_trips(
    shared_registry: RegistryProcess, workdir: Path, repository: str, size: int, chunk_size: int
) -> None:
    data = os.urandom(size)
    (workdir / "big.bin").write_bytes(data)
    client = oras_client(shared_registry)
    target = f"{shared_registry.host}/{repository}:chunked"

    client.push(target=target, files=["big.bin"], do_chunked=True, chunk_size=chunk_size)

    client.pull(target=target, outdir=str(workdir / "out"))
    assert hashlib.sha256((workdir / "out" / "big.bin").read_bytes()).digest() == (
        hashlib.sha256(data).digest()
    )
    with shared_registry.client() as http:
        head = http.head(f"/v2/{repository}/blobs/{digest_of(data)}")
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == size


def test_referrers_list_subject_artifacts_and_filter_by_artifact_type(
    shared_registry: RegistryProcess, workdir: Path, repository: str
) -> None:
    client = oras_client(shared_registry)
    (workdir / "image.txt").write_bytes(b"the subject\n")
    client.push(target=f"{shared_registry.host}/{repository}:v1", files=["image.txt"])
    with shared_registry.client() as http:
        subject_raw = raw_manifest(http, repository, "v1").content
        subject = oras.oci.Subject(
            mediaType=OCI_MANIFEST, digest=digest_of(subject_raw), size=len(subject_raw)
        )
        (workdir / "sig.txt").write_bytes(b"signature bytes\n")
        (workdir / "sigconfig.json").write_bytes(b'{"signer": "tests"}')

        signed = client.push(
            target=f"{shared_registry.host}/{repository}:sig",
            files=["sig.txt:application/vnd.example.signature.v1"],
            manifest_config=f"sigconfig.json:{SIGNATURE_CONFIG_TYPE}",
            manifest_annotations={"org.example.kind": "signature"},
            subject=subject,
        )

        assert signed.status_code == 201
        assert signed.headers.get("OCI-Subject") == subject.digest
        signature_raw = raw_manifest(http, repository, "sig").content
        assert json.loads(signature_raw)["subject"]["digest"] == subject.digest
        subject_descriptor = {
            "mediaType": OCI_MANIFEST,
            "digest": subject.digest,
            "size": subject.size,
        }
        sbom = sbom_manifest(http, repository, subject_descriptor, b'{"spdxVersion": "SPDX-2.3"}')
        stored = push_manifest(http, repository, sbom)  # by digest, no tag
        assert stored.headers.get("oci-subject") == subject.digest
        sbom_digest = stored.headers["docker-content-digest"]

        listed = referrers(http, repository, subject.digest)
        assert listed.status_code == 200, listed.text
        assert listed.headers["content-type"].split(";")[0] == OCI_INDEX
        index = listed.json()
        assert index["schemaVersion"] == 2
        assert index["mediaType"] == OCI_INDEX
        by_digest = {entry["digest"]: entry for entry in index["manifests"]}
        assert set(by_digest) == {digest_of(signature_raw), sbom_digest}
        signature_entry = by_digest[digest_of(signature_raw)]
        assert signature_entry["mediaType"] == OCI_MANIFEST
        assert signature_entry["size"] == len(signature_raw)
        # No artifactType in the manifest: the config media type stands in for it.
        assert signature_entry["artifactType"] == SIGNATURE_CONFIG_TYPE
        assert signature_entry["annotations"]["org.example.kind"] == "signature"
        sbom_entry = by_digest[sbom_digest]
        assert sbom_entry["mediaType"] == OCI_MANIFEST
        assert sbom_entry["size"] == len(canonical_json(sbom))
        assert sbom_entry["artifactType"] == SBOM_TYPE
        assert sbom_entry["annotations"] == sbom["annotations"]

        filtered = referrers(http, repository, subject.digest, SBOM_TYPE)
        assert filtered.status_code == 200, filtered.text
        assert filtered.headers.get("oci-filters-applied") == "artifactType"
        assert [entry["digest"] for entry in filtered.json()["manifests"]] == [sbom_digest]

        nothing = referrers(http, repository, subject.digest, "application/vnd.example.none")
        assert_empty_index(nothing)
        assert nothing.headers.get("oci-filters-applied") == "artifactType"

        assert_empty_index(referrers(http, repository, sbom_digest))  # a manifest, no referrers
        unknown = "sha256:" + hashlib.sha256(os.urandom(16)).hexdigest()
        assert_empty_index(referrers(http, repository, unknown))  # not even a manifest
        assert referrers(http, repository, "sha256:not-hex").status_code == 400


def test_referrer_pushed_before_its_subject_is_listed(
    shared_registry: RegistryProcess, repository: str
) -> None:
    future_subject = os.urandom(64)
    subject_descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": digest_of(future_subject),
        "size": len(future_subject),
    }
    with shared_registry.client() as http:
        sbom = sbom_manifest(http, repository, subject_descriptor, b"{}")
        stored = push_manifest(http, repository, sbom, reference="sbom")
        assert stored.headers.get("oci-subject") == subject_descriptor["digest"]

        listed = referrers(http, repository, str(subject_descriptor["digest"]))

        assert listed.status_code == 200, listed.text
        assert [entry["digest"] for entry in listed.json()["manifests"]] == [
            stored.headers["docker-content-digest"]
        ]
