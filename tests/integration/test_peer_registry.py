"""Images move between Dockyard and Debian's ``docker-registry`` (Distribution 2.8) unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from distribution_helpers import get_manifest
from images import Layout, make_layout

if TYPE_CHECKING:
    from conftest import RegistryProcess, ServerProcess, Upstream
    from integration.conftest import Skopeo

pytestmark = pytest.mark.integration

PLATFORMS = [("linux", "amd64"), ("linux", "arm64", "v8"), ("linux", "s390x")]


def assert_serves(server: ServerProcess, repository: str, tag: str, layout: Layout) -> None:
    """``server`` serves every manifest and blob of ``layout`` byte for byte."""
    with server.client() as client:
        by_tag = get_manifest(client, repository, tag)
        assert by_tag.status_code == 200, by_tag.text
        assert by_tag.content == layout.top.data
        assert by_tag.headers["docker-content-digest"] == layout.digest
        for manifest in layout.manifests:
            response = get_manifest(client, repository, manifest.digest)
            assert response.status_code == 200, response.text
            assert response.content == manifest.data
            assert response.headers["content-type"] == manifest.media_type
        for blob in layout.blobs.values():
            response = client.get(f"/v2/{repository}/blobs/{blob.digest}")
            assert response.status_code == 200, blob.digest
            assert response.content == blob.data


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-schema2"])
@pytest.mark.parametrize("direction", ["from-docker-registry", "to-docker-registry"])
def test_copy_between_docker_registry_and_dockyard_keeps_digests(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
    docker: bool,
    direction: str,
) -> None:
    source: ServerProcess = upstream
    destination: ServerProcess = shared_registry
    if direction == "to-docker-registry":
        source, destination = destination, source
    layout = make_layout(tmp_path / "src", "v1", layers=2, platforms=PLATFORMS, docker=docker)
    skopeo.copy(layout.ref, f"docker://{source.host}/{repository}:v1", "--all")
    assert_serves(source, repository, "v1", layout)

    skopeo.copy(
        f"docker://{source.host}/{repository}:v1",
        f"docker://{destination.host}/{repository}:v1",
        "--all",
    )

    assert_serves(destination, repository, "v1", layout)
    assert_serves(source, repository, "v1", layout)
    assert skopeo.inspect_raw(f"docker://{destination.host}/{repository}:v1") == (
        skopeo.inspect_raw(f"docker://{source.host}/{repository}:v1")
    )


def test_single_image_round_trip_dockyard_upstream_dockyard(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
) -> None:
    layout = make_layout(tmp_path / "src", "v1", layers=3)
    skopeo.copy(layout.ref, f"docker://{shared_registry.host}/{repository}:v1")
    skopeo.copy(
        f"docker://{shared_registry.host}/{repository}:v1", f"docker://{upstream.host}/peer/app:v1"
    )
    back = repository.replace("/app", "-back/app")

    skopeo.copy(
        f"docker://{upstream.host}/peer/app:v1", f"docker://{shared_registry.host}/{back}:v1"
    )

    assert_serves(upstream, "peer/app", "v1", layout)
    assert_serves(shared_registry, back, "v1", layout)
