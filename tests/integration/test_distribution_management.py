"""Distribution API contract, the Content Management category: deleting tags, manifests, blobs.

Spec: OCI distribution-spec 1.1, "Deleting tags", "Deleting Manifests", "Deleting Blobs".
"""

from __future__ import annotations

import httpx
import pytest
from distribution_helpers import (
    UNKNOWN_SHA256,
    assert_error,
    assert_status,
    blob_status,
    build_index,
    get_manifest,
    manifest_status,
    prepare_image,
    push_blob,
    push_image,
    push_manifest,
    put_manifest,
    random_bytes,
    repo_state,
    tags_of,
    unique_repo,
)
from images import OCI_INDEX, digest_of

pytestmark = [pytest.mark.integration, pytest.mark.database, pytest.mark.storage]


# ---------------------------------------------------------------------------------------------
# tags


def test_delete_tag_removes_only_the_tag(api: httpx.Client) -> None:
    # "Upon success, the registry MUST respond with a 202 Accepted code." "Once deleted, a GET
    # to /v2/<name>/manifests/<tag> will return a 404." Dockyard: the manifest stays by digest.
    repo = unique_repo()
    image = push_image(api, repo, "v1")
    push_manifest(api, repo, "also", image.manifest)
    other = push_image(api, repo, "other")
    assert_status(api.delete(f"/v2/{repo}/manifests/v1"), 202)
    assert_error(get_manifest(api, repo, "v1"), 404, "MANIFEST_UNKNOWN")
    assert_error(api.head(f"/v2/{repo}/manifests/v1"), 404)
    assert get_manifest(api, repo, image.digest).content == image.manifest
    assert get_manifest(api, repo, "also").content == image.manifest
    assert get_manifest(api, repo, "other").content == other.manifest
    assert tags_of(api, repo) == ["also", "other"]
    # the blobs are untouched
    assert blob_status(api, repo, image.config_digest) == 200


def test_delete_tag_twice(api: httpx.Client) -> None:
    repo = unique_repo()
    push_image(api, repo, "v1")
    assert_status(api.delete(f"/v2/{repo}/manifests/v1"), 202)
    assert_error(api.delete(f"/v2/{repo}/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_tag_can_be_pushed_again_after_delete(api: httpx.Client) -> None:
    repo = unique_repo()
    image = push_image(api, repo, "v1")
    assert_status(api.delete(f"/v2/{repo}/manifests/v1"), 202)
    push_manifest(api, repo, "v1", image.manifest)
    assert get_manifest(api, repo, "v1").content == image.manifest


@pytest.mark.parametrize(
    ("reference", "status", "codes"),
    [
        pytest.param("nope", 404, ["MANIFEST_UNKNOWN"], id="unknown-tag"),
        pytest.param("-bad", {400, 404}, ["TAG_INVALID", "MANIFEST_UNKNOWN"], id="-bad"),
        pytest.param("a" * 129, {400, 404}, ["TAG_INVALID", "MANIFEST_UNKNOWN"], id="too-long"),
        pytest.param(UNKNOWN_SHA256, 404, ["MANIFEST_UNKNOWN"], id="unknown-manifest"),
    ],
)
def test_delete_of_what_is_not_there_changes_nothing(
    api: httpx.Client, reference: str, status: int | set[int], codes: list[str]
) -> None:
    # An unknown tag or manifest is 404 MANIFEST_UNKNOWN; a malformed tag a client error.
    repo = unique_repo()
    push_image(api, repo, "v1")
    before = repo_state(api, repo, manifests=["v1"])
    assert_error(api.delete(f"/v2/{repo}/manifests/{reference}"), status, *codes)
    assert repo_state(api, repo, manifests=["v1"]) == before


# ---------------------------------------------------------------------------------------------
# manifests


def test_delete_manifest_by_digest_removes_it_and_its_tags(api: httpx.Client) -> None:
    # "Once deleted, a GET to /v2/<name>/manifests/<digest> and any tag pointing to that digest
    # will return a 404."
    repo = unique_repo()
    image = push_image(api, repo, "v1")
    push_manifest(api, repo, "v2", image.manifest)
    kept = push_image(api, repo, "kept")
    assert_status(api.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)
    for reference in (image.digest, "v1", "v2"):
        assert_error(get_manifest(api, repo, reference), 404, "MANIFEST_UNKNOWN")
        assert_error(api.head(f"/v2/{repo}/manifests/{reference}"), 404)
    assert tags_of(api, repo) == ["kept"]
    assert get_manifest(api, repo, "kept").content == kept.manifest
    assert_error(api.delete(f"/v2/{repo}/manifests/{image.digest}"), 404, "MANIFEST_UNKNOWN")


def test_delete_manifest_in_one_repository_leaves_the_other(api: httpx.Client) -> None:
    first, second = unique_repo("first"), unique_repo("second")
    image = push_image(api, first, "v1")
    for blob in [image.config, *image.layers]:
        push_blob(api, second, blob)
    push_manifest(api, second, "v1", image.manifest)
    assert_status(api.delete(f"/v2/{first}/manifests/{image.digest}"), 202)
    assert manifest_status(api, first, image.digest) == 404
    assert get_manifest(api, second, "v1").content == image.manifest
    assert get_manifest(api, second, image.digest).content == image.manifest


def test_delete_index_keeps_its_children(api: httpx.Client) -> None:
    repo = unique_repo()
    children = [push_image(api, repo) for _ in range(2)]
    body = build_index([child.as_descriptor() for child in children])
    digest = push_manifest(api, repo, "multi", body, OCI_INDEX)
    assert_status(api.delete(f"/v2/{repo}/manifests/{digest}"), 202)
    assert manifest_status(api, repo, "multi") == 404
    for child in children:
        assert get_manifest(api, repo, child.digest).content == child.manifest


def test_delete_manifest_in_unknown_repository_is_404(api: httpx.Client) -> None:
    # "If the repository does not exist, the response MUST return 404 Not Found."
    repo = unique_repo()
    response = api.delete(f"/v2/{repo}/manifests/{UNKNOWN_SHA256}")
    assert_error(response, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")
    response = api.delete(f"/v2/{repo}/manifests/latest")
    assert_error(response, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_manifest_can_be_pushed_again_after_delete(api: httpx.Client) -> None:
    repo = unique_repo()
    image = push_image(api, repo, "v1")
    assert_status(api.delete(f"/v2/{repo}/manifests/{image.digest}"), 202)
    push_manifest(api, repo, "v1", image.manifest)
    assert get_manifest(api, repo, image.digest).content == image.manifest


# ---------------------------------------------------------------------------------------------
# blobs


def test_delete_blob(api: httpx.Client) -> None:
    # "Upon success, the registry MUST respond with code 202 Accepted. If the blob is not found,
    # a 404 Not Found code MUST be returned."
    repo = unique_repo()
    data = random_bytes(1000)
    digest = push_blob(api, repo, data)
    keep = push_blob(api, repo, random_bytes(1000))
    assert_status(api.delete(f"/v2/{repo}/blobs/{digest}"), 202)
    assert_error(api.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(api.head(f"/v2/{repo}/blobs/{digest}"), 404)
    assert_error(api.delete(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert blob_status(api, repo, keep) == 200


def test_delete_blob_only_removes_it_from_that_repository(api: httpx.Client) -> None:
    first, second = unique_repo("first"), unique_repo("second")
    data = random_bytes(1000)
    digest = push_blob(api, first, data)
    push_blob(api, second, data)
    assert_status(api.delete(f"/v2/{first}/blobs/{digest}"), 202)
    assert blob_status(api, first, digest) == 404
    response = api.get(f"/v2/{second}/blobs/{digest}")
    assert_status(response, 200)
    assert response.content == data


def test_deleted_blob_can_be_uploaded_again(api: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(1000)
    digest = push_blob(api, repo, data)
    assert_status(api.delete(f"/v2/{repo}/blobs/{digest}"), 202)
    push_blob(api, repo, data)
    assert api.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_manifest_cannot_reference_a_deleted_blob(api: httpx.Client) -> None:
    repo = unique_repo()
    image = prepare_image(api, repo)
    assert_status(api.delete(f"/v2/{repo}/blobs/{image.layer_digests[0]}"), 202)
    response = put_manifest(api, repo, "v1", image.manifest)
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert manifest_status(api, repo, "v1") == 404


def test_delete_sha512_blob(api: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(api, repo, random_bytes(100), "sha512")
    assert_status(api.delete(f"/v2/{repo}/blobs/{digest}"), 202)
    assert blob_status(api, repo, digest) == 404


def test_delete_unknown_blob_is_404(api: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(api, repo, b"exists")
    assert_error(api.delete(f"/v2/{repo}/blobs/{UNKNOWN_SHA256}"), 404, "BLOB_UNKNOWN")
    assert blob_status(api, repo, digest_of(b"exists")) == 200


def test_delete_blob_in_unknown_repository_is_404(api: httpx.Client) -> None:
    owner = unique_repo()
    digest = push_blob(api, owner, b"owned")
    response = api.delete(f"/v2/{unique_repo()}/blobs/{digest}")
    assert_error(response, 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")
    assert blob_status(api, owner, digest) == 200
