"""buildah builds and pushes images (OCI and Docker schema2, single and multi-arch); podman pulls
them back into storage of its own and sees the same digests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from distribution_helpers import get_manifest
from images import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, digest_of

if TYPE_CHECKING:
    from conftest import RegistryProcess
    from integration.conftest import ContainersEnv

pytestmark = [pytest.mark.integration, pytest.mark.storage]


def fetch_manifest(api: httpx.Client, repository: str, reference: str) -> httpx.Response:
    response = get_manifest(api, repository, reference)
    assert response.status_code == 200, response.text
    return response


def pushed_manifest(
    api: httpx.Client, repository: str, reference: str, digest_file: Path
) -> tuple[str, httpx.Response]:
    """The digest a push wrote to ``digest_file``, and the manifest served under ``reference``,
    checked to be the one with that digest."""
    digest = digest_file.read_text().strip()
    response = fetch_manifest(api, repository, reference)
    assert response.headers["docker-content-digest"] == digest
    assert digest_of(response.content) == digest
    return digest, response


def build_scratch_image(
    env: ContainersEnv, name: str, content: bytes, workdir: Path, arch: str = "amd64"
) -> str:
    """``buildah from scratch`` + copy a file + commit; returns the local image ID."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"hello-{arch}.txt"
    source.write_bytes(content)
    container = env.buildah("from", "scratch").stdout.strip()
    env.buildah("copy", container, str(source), "/hello.txt")
    env.buildah(
        "config",
        "--cmd",
        '["/hello.txt"]',
        "--arch",
        arch,
        "--os",
        "linux",
        "--label",
        f"t={name}",
        container,
    )
    image_id = env.buildah("commit", "-q", container, name).stdout.strip().splitlines()[-1]
    env.buildah("rm", container)
    return image_id


def inspect_image(env: ContainersEnv, reference: str) -> dict[str, Any]:
    documents: list[dict[str, Any]] = json.loads(env.podman("image", "inspect", reference).stdout)
    return documents[0]


def pull_elsewhere(env: ContainersEnv, reference: str, *options: str) -> dict[str, Any]:
    """``podman pull`` into empty storage of its own; returns what ``image inspect`` says."""
    puller = env.sibling("puller")
    try:
        puller.podman("pull", "--tls-verify=false", "--quiet", *options, reference)
        return inspect_image(puller, reference)
    finally:
        puller.cleanup()


def check_blobs(api: httpx.Client, repository: str, manifest: dict[str, Any]) -> None:
    for descriptor in [manifest["config"], *manifest["layers"]]:
        response = api.get(f"/v2/{repository}/blobs/{descriptor['digest']}")
        assert response.status_code == 200
        assert digest_of(response.content) == descriptor["digest"]
        assert len(response.content) == descriptor["size"]


@pytest.mark.parametrize(
    ("push_format", "media_type"),
    [(None, OCI_MANIFEST), ("v2s2", DOCKER_MANIFEST)],
    ids=["oci", "docker-schema2"],
)
def test_buildah_push_and_podman_pull_back(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    podman_env: ContainersEnv,
    tmp_path: Path,
    repository: str,
    push_format: str | None,
    media_type: str,
) -> None:
    content = f"hello from {repository}\n".encode()
    build_scratch_image(podman_env, "localhost/scratch:one", content, tmp_path / "build")
    destination = f"{shared_registry.host}/{repository}:one"
    digest_file = tmp_path / "digest"
    format_options = ["--format", push_format] if push_format else []

    podman_env.buildah(
        "push",
        "--tls-verify=false",
        *format_options,
        "--digestfile",
        str(digest_file),
        "localhost/scratch:one",
        f"docker://{destination}",
    )

    pushed_digest, response = pushed_manifest(api, repository, "one", digest_file)
    assert response.headers["content-type"] == media_type
    manifest = response.json()
    assert manifest["mediaType"] == media_type
    check_blobs(api, repository, manifest)
    layer = api.get(f"/v2/{repository}/blobs/{manifest['layers'][0]['digest']}")
    assert b"hello.txt" in gzip.decompress(layer.content)

    pulled = pull_elsewhere(podman_env, destination)
    assert pulled["Digest"] == pushed_digest
    assert f"{shared_registry.host}/{repository}@{pushed_digest}" in pulled["RepoDigests"]
    assert "sha256:" + pulled["Id"] == manifest["config"]["digest"]
    assert pulled["Architecture"] == "amd64"
    assert pulled["Os"] == "linux"


def test_buildah_multi_arch_manifest_push_and_podman_pull_by_arch(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    podman_env: ContainersEnv,
    tmp_path: Path,
    repository: str,
) -> None:
    for arch in ("amd64", "arm64"):
        build_scratch_image(
            podman_env, f"localhost/multi:{arch}", f"{arch}\n".encode(), tmp_path / "build", arch
        )
    podman_env.buildah("manifest", "create", "localhost/multi:list")
    for arch in ("amd64", "arm64"):
        podman_env.buildah("manifest", "add", "localhost/multi:list", f"localhost/multi:{arch}")
    destination = f"{shared_registry.host}/{repository}:latest"
    digest_file = tmp_path / "digest"

    podman_env.buildah(
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "--digestfile",
        str(digest_file),
        "localhost/multi:list",
        f"docker://{destination}",
    )

    index_digest, response = pushed_manifest(api, repository, "latest", digest_file)
    index = response.json()
    assert index["mediaType"] in (OCI_INDEX, DOCKER_MANIFEST_LIST)
    assert response.headers["content-type"] == index["mediaType"]
    by_arch = {entry["platform"]["architecture"]: entry for entry in index["manifests"]}
    assert sorted(by_arch) == ["amd64", "arm64"]
    for entry in index["manifests"]:
        child = fetch_manifest(api, repository, entry["digest"])
        assert digest_of(child.content) == entry["digest"]
        assert len(child.content) == entry["size"]
        check_blobs(api, repository, child.json())

    pulled = pull_elsewhere(podman_env, destination, "--arch", "arm64")
    arm_digest = by_arch["arm64"]["digest"]
    arm_manifest = fetch_manifest(api, repository, arm_digest).json()
    assert pulled["Architecture"] == "arm64"
    assert "sha256:" + pulled["Id"] == arm_manifest["config"]["digest"]
    # podman records the digest it pulled by (the index) and the instance it chose.
    assert pulled["Digest"] == index_digest
    assert f"{shared_registry.host}/{repository}@{arm_digest}" in pulled["RepoDigests"]
    assert f"{shared_registry.host}/{repository}@{index_digest}" in pulled["RepoDigests"]
