"""Images move between Dockyard and Debian's ``docker-registry`` (Distribution 2.8) unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from images import ACCEPT_MANIFESTS, Layout, make_layout

if TYPE_CHECKING:
    from conftest import RegistryProcess
    from integration.conftest import Skopeo, Upstream

pytestmark = pytest.mark.integration

PLATFORMS = [("linux", "amd64"), ("linux", "arm64", "v8"), ("linux", "s390x")]


def assert_serves(base_url: str, repository: str, tag: str, layout: Layout) -> None:
    """The registry at ``base_url`` serves every manifest and blob of ``layout`` byte for byte."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        by_tag = client.get(
            f"/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT_MANIFESTS}
        )
        assert by_tag.status_code == 200, by_tag.text
        assert by_tag.content == layout.top.data
        assert by_tag.headers["docker-content-digest"] == layout.digest
        for manifest in layout.manifests:
            response = client.get(
                f"/v2/{repository}/manifests/{manifest.digest}",
                headers={"Accept": ACCEPT_MANIFESTS},
            )
            assert response.status_code == 200, response.text
            assert response.content == manifest.data
            assert response.headers["content-type"] == manifest.media_type
        for blob in layout.blobs.values():
            response = client.get(f"/v2/{repository}/blobs/{blob.digest}")
            assert response.status_code == 200, blob.digest
            assert response.content == blob.data


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-schema2"])
def test_copy_from_docker_registry_to_dockyard_keeps_digests(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
    docker: bool,
) -> None:
    layout = make_layout(tmp_path / "src", "v1", layers=2, platforms=PLATFORMS, docker=docker)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/{repository}:v1", "--all")
    assert_serves(upstream.url, repository, "v1", layout)

    skopeo.copy(
        f"docker://{upstream.host}/{repository}:v1",
        f"docker://{shared_registry.host}/{repository}:v1",
        "--all",
    )

    assert_serves(shared_registry.url, repository, "v1", layout)
    assert skopeo.inspect_raw(f"docker://{shared_registry.host}/{repository}:v1") == (
        skopeo.inspect_raw(f"docker://{upstream.host}/{repository}:v1")
    )


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-schema2"])
def test_copy_from_dockyard_to_docker_registry_keeps_digests(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
    docker: bool,
) -> None:
    layout = make_layout(tmp_path / "src", "v1", layers=2, platforms=PLATFORMS, docker=docker)
    skopeo.copy(layout.ref, f"docker://{shared_registry.host}/{repository}:v1", "--all")

    skopeo.copy(
        f"docker://{shared_registry.host}/{repository}:v1",
        f"docker://{upstream.host}/{repository}:v1",
        "--all",
    )

    assert_serves(upstream.url, repository, "v1", layout)
    assert_serves(shared_registry.url, repository, "v1", layout)


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

    assert_serves(upstream.url, "peer/app", "v1", layout)
    assert_serves(shared_registry.url, back, "v1", layout)
