"""skopeo pushes, pulls, inspects, lists, deletes and copies images, and every digest survives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from distribution_helpers import error_codes, get_manifest, put_manifest
from images import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Layout,
    digest_of,
    make_layout,
    read_dir_blob,
    read_dir_manifest,
    read_layout_blob,
    read_layout_ref,
)

if TYPE_CHECKING:
    from conftest import RegistryProcess
    from integration.conftest import Skopeo

pytestmark = [pytest.mark.integration, pytest.mark.storage]

MULTI_PLATFORMS = [("linux", "amd64"), ("linux", "arm64", "v8"), ("linux", "ppc64le")]


def ref(registry: RegistryProcess, repository: str, reference: str) -> str:
    separator = "@" if ":" in reference else ":"
    return f"docker://{registry.host}/{repository}{separator}{reference}"


def assert_stored(api: httpx.Client, repository: str, layout: Layout) -> None:
    """Every manifest of ``layout`` is served byte for byte, and every blob exists."""
    for manifest in layout.manifests:
        response = get_manifest(api, repository, manifest.digest)
        assert response.status_code == 200, response.text
        assert response.content == manifest.data
        assert response.headers["docker-content-digest"] == manifest.digest
        assert response.headers["content-type"] == manifest.media_type
    for blob in layout.blobs.values():
        response = api.head(f"/v2/{repository}/blobs/{blob.digest}")
        assert response.status_code == 200, f"{blob.digest}: {response.status_code}"
        assert int(response.headers["content-length"]) == blob.size


def assert_oci_layout_equal(directory: Path, tag: str, layout: Layout) -> None:
    assert read_layout_ref(directory, tag)["digest"] == layout.digest
    for manifest in layout.manifests:
        assert read_layout_blob(directory, manifest.digest) == manifest.data
    for blob in layout.blobs.values():
        assert read_layout_blob(directory, blob.digest) == blob.data


def assert_dir_equal(directory: Path, layout: Layout) -> None:
    assert read_dir_manifest(directory) == layout.top.data
    if layout.index is not None:
        for image in layout.images:
            assert read_dir_manifest(directory, image.digest) == image.manifest.data
    for blob in layout.blobs.values():
        assert read_dir_blob(directory, blob.digest) == blob.data


@pytest.mark.parametrize("layers", [1, 3], ids=["one-layer", "three-layers"])
@pytest.mark.parametrize(
    ("docker", "media_type"),
    [(False, OCI_MANIFEST), (True, DOCKER_MANIFEST)],
    ids=["oci", "docker-schema2"],
)
def test_single_image_round_trips_with_digests_kept(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
    layers: int,
    docker: bool,
    media_type: str,
) -> None:
    layout = make_layout(tmp_path / "src", "v1", layers=layers, docker=docker)
    target = ref(shared_registry, repository, "v1")

    skopeo.copy(layout.ref, target)

    assert skopeo.inspect_raw(target) == layout.top.data
    response = get_manifest(api, repository, "v1")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["docker-content-digest"] == layout.digest
    assert_stored(api, repository, layout)

    if not docker:  # the oci: transport would convert Docker manifests to OCI; dir: keeps them
        skopeo.copy(target, f"oci:{tmp_path / 'back'}:v1")
        assert_oci_layout_equal(tmp_path / "back", "v1", layout)
    skopeo.copy(target, f"dir:{tmp_path / 'dir'}")
    assert_dir_equal(tmp_path / "dir", layout)


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
def test_multi_platform_index_copied_with_all_keeps_every_digest(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
    docker: bool,
) -> None:
    layout = make_layout(
        tmp_path / "src", "multi", layers=2, platforms=MULTI_PLATFORMS, docker=docker
    )
    assert layout.index is not None
    target = ref(shared_registry, repository, "multi")

    skopeo.copy(layout.ref, target, "--all")

    assert skopeo.inspect_raw(target) == layout.index.data
    assert get_manifest(api, repository, "multi").headers["content-type"] == (
        DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    )
    for image in layout.images:
        child = skopeo.inspect_raw(ref(shared_registry, repository, image.digest))
        assert child == image.manifest.data
        assert digest_of(child) == image.digest
    assert_stored(api, repository, layout)

    if docker:  # the oci: transport would convert Docker manifests to OCI; dir: keeps them
        skopeo.copy(target, f"dir:{tmp_path / 'back'}", "--all")
        assert_dir_equal(tmp_path / "back", layout)
    else:
        skopeo.copy(target, f"oci:{tmp_path / 'back'}:multi", "--all")
        assert_oci_layout_equal(tmp_path / "back", "multi", layout)


def test_inspect_reports_digest_platform_and_layers(
    shared_registry: RegistryProcess, skopeo: Skopeo, tmp_path: Path, repository: str
) -> None:
    single = make_layout(tmp_path / "src", "single", layers=2)
    multi = make_layout(tmp_path / "src", "multi", layers=1, platforms=MULTI_PLATFORMS)
    skopeo.copy(single.ref, ref(shared_registry, repository, "single"))
    skopeo.copy(multi.ref, ref(shared_registry, repository, "multi"), "--all")

    info = skopeo.inspect(ref(shared_registry, repository, "single"))
    assert info["Digest"] == single.digest
    assert info["Name"] == f"{shared_registry.host}/{repository}"
    assert info["Architecture"] == "amd64"
    assert info["Os"] == "linux"
    assert info["Layers"] == [layer.digest for layer in single.images[0].layers]
    assert sorted(info["RepoTags"]) == ["multi", "single"]

    arm = skopeo.inspect(ref(shared_registry, repository, "multi"), "--override-arch", "arm64")
    assert arm["Digest"] == multi.digest  # the index, which the tag points at
    assert arm["Architecture"] == "arm64"
    assert arm["Layers"] == [layer.digest for layer in multi.image("arm64").layers]

    ppc = skopeo.inspect(ref(shared_registry, repository, "multi"), "--override-arch", "ppc64le")
    assert ppc["Layers"] == [layer.digest for layer in multi.image("ppc64le").layers]


def test_list_tags_returns_every_tag(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
) -> None:
    first = make_layout(tmp_path / "src", "one", layers=1)
    second = make_layout(tmp_path / "src", "two", layers=1)
    tags = ["v1", "v1.0", "latest", "2026-01-01_build.7"]
    for tag in tags:
        skopeo.copy(first.ref, ref(shared_registry, repository, tag))
    skopeo.copy(second.ref, ref(shared_registry, repository, "other"))

    listed = skopeo.list_tags(f"docker://{shared_registry.host}/{repository}")

    assert sorted(listed) == sorted([*tags, "other"])
    assert len(listed) == len(set(listed))
    body = api.get(f"/v2/{repository}/tags/list").json()
    assert body["name"] == repository
    assert sorted(body["tags"]) == sorted([*tags, "other"])


def test_delete_removes_the_manifest_and_every_tag_pointing_at_it(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
) -> None:
    doomed = make_layout(tmp_path / "src", "doomed", layers=2)
    kept = make_layout(tmp_path / "src", "kept", layers=1)
    skopeo.copy(doomed.ref, ref(shared_registry, repository, "a1"))
    skopeo.copy(doomed.ref, ref(shared_registry, repository, "a2"))
    skopeo.copy(kept.ref, ref(shared_registry, repository, "b1"))

    skopeo.delete(ref(shared_registry, repository, "a1"))

    by_digest = get_manifest(api, repository, doomed.digest)
    assert by_digest.status_code == 404
    assert error_codes(by_digest) == ["MANIFEST_UNKNOWN"]
    for tag in ("a1", "a2"):
        by_tag = get_manifest(api, repository, tag)
        assert by_tag.status_code == 404, f"tag {tag} still resolves after the delete"
        assert error_codes(by_tag) == ["MANIFEST_UNKNOWN"]
    assert skopeo.list_tags(f"docker://{shared_registry.host}/{repository}") == ["b1"]
    assert skopeo.inspect_raw(ref(shared_registry, repository, "b1")) == kept.top.data
    assert_stored(api, repository, kept)

    failed = skopeo.delete(ref(shared_registry, repository, "a2"), check=False)
    assert failed.returncode != 0  # nothing left to delete


def test_copy_between_repositories_keeps_digests_and_mounts_blobs(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
) -> None:
    layout = make_layout(tmp_path / "src", "v1", layers=2, platforms=MULTI_PLATFORMS[:2])
    mirror = repository.replace("/app", "-mirror/copy")
    skopeo.copy(layout.ref, ref(shared_registry, repository, "v1"), "--all")

    skopeo.copy(ref(shared_registry, repository, "v1"), ref(shared_registry, mirror, "v1"), "--all")

    assert skopeo.inspect_raw(ref(shared_registry, mirror, "v1")) == layout.top.data
    assert_stored(api, mirror, layout)

    # The cross-repository mount skopeo relies on, asked for explicitly.
    layer = layout.images[0].layers[0]
    third = repository.replace("/app", "-third/app")
    assert api.head(f"/v2/{third}/blobs/{layer.digest}").status_code == 404
    mounted = api.post(
        f"/v2/{third}/blobs/uploads/", params={"mount": layer.digest, "from": repository}
    )
    assert mounted.status_code == 201, mounted.text
    assert mounted.headers["docker-content-digest"] == layer.digest
    assert mounted.headers["location"].endswith(f"/v2/{third}/blobs/{layer.digest}")
    fetched = api.get(f"/v2/{third}/blobs/{layer.digest}")
    assert fetched.status_code == 200
    assert fetched.content == layer.data

    # A mount from a repository without the blob starts an ordinary upload instead.
    other = make_layout(tmp_path / "src", "other", layers=1).images[0].layers[0]
    fallback = api.post(
        f"/v2/{third}/blobs/uploads/", params={"mount": other.digest, "from": repository}
    )
    assert fallback.status_code == 202, fallback.text
    assert "location" in fallback.headers
    assert api.head(f"/v2/{third}/blobs/{other.digest}").status_code == 404


def test_index_only_push_without_children_is_rejected(
    shared_registry: RegistryProcess,
    api: httpx.Client,
    skopeo: Skopeo,
    tmp_path: Path,
    repository: str,
) -> None:
    layout = make_layout(tmp_path / "src", "multi", layers=1, platforms=MULTI_PLATFORMS[:2])
    assert layout.index is not None

    result = skopeo.try_copy(
        layout.ref, ref(shared_registry, repository, "multi"), "--multi-arch", "index-only"
    )

    assert result.returncode != 0, result.stdout
    assert re.search(r"manifest[ _]blob[ _]unknown|manifest[ _]invalid", result.stderr, re.I), (
        result.stderr
    )
    assert get_manifest(api, repository, "multi").status_code == 404
    assert get_manifest(api, repository, layout.digest).status_code == 404

    # The same request by hand, to see the exact error.
    response = put_manifest(api, repository, "multi", layout.index.data, OCI_INDEX)
    assert response.status_code == 400, response.text
    assert set(error_codes(response)) <= {"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID"}
    assert error_codes(response)
    assert get_manifest(api, repository, "multi").status_code == 404
