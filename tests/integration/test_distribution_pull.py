"""Distribution API contract, the Pull category: GET/HEAD of blobs and manifests, ranges.

Spec: OCI distribution-spec 1.1, "Pulling manifests", "Pulling blobs", "Checking if content
exists in the registry"; RFC 9110 for ``Range``.
"""

from __future__ import annotations

import httpx
import pytest
from distribution_helpers import (
    UNKNOWN_SHA256,
    assert_error,
    assert_status,
    build_index,
    describe,
    media_type_of,
    push_blob,
    push_image,
    push_manifest,
    random_bytes,
    unique_repo,
)
from images import (
    ACCEPT_MANIFESTS,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.database, pytest.mark.storage]


def _verify_digest_header(response: httpx.Response, body: bytes) -> None:
    # "If present, the value of this header MUST be a digest matching that of the response body."
    header = response.headers.get("docker-content-digest")
    assert header, describe(response)
    algorithm = header.split(":", 1)[0]
    assert header == digest_of(body, algorithm), describe(response)


# ---------------------------------------------------------------------------------------------
# blobs


@pytest.mark.parametrize(("method", "size"), [("GET", 70_000), ("HEAD", 4321)])
def test_blob_is_served_with_digest_length_and_ranges(
    api: httpx.Client, method: str, size: int
) -> None:
    # GET: "A GET request to an existing blob URL MUST provide the expected blob, with a
    # response code that MUST be 200 OK. A successful response SHOULD contain the digest of the
    # uploaded blob in the header Docker-Content-Digest."
    # HEAD: "A HEAD request to an existing blob or manifest URL MUST return 200 OK. A successful
    # response SHOULD contain the digest ... SHOULD contain the size in bytes ... Content-Length."
    repo = unique_repo()
    data = random_bytes(size)
    digest = push_blob(api, repo, data)
    response = api.request(method, f"/v2/{repo}/blobs/{digest}")
    assert_status(response, 200)
    assert response.content == (data if method == "GET" else b"")
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-length"] == str(len(data))
    assert response.headers.get("accept-ranges") == "bytes"
    if method == "GET":
        _verify_digest_header(response, response.content)


def test_empty_blob(api: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(api, repo, b"")
    assert digest == digest_of(b"")
    response = api.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(response, 200)
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert api.head(f"/v2/{repo}/blobs/{digest}").headers["content-length"] == "0"


def test_missing_blob_is_404_blob_unknown(api: httpx.Client) -> None:
    # "If the blob is not found in the repository, the response code MUST be 404 Not Found."
    repo = unique_repo()
    push_blob(api, repo, b"something else")
    assert_error(api.get(f"/v2/{repo}/blobs/{UNKNOWN_SHA256}"), 404, "BLOB_UNKNOWN")
    assert_error(api.head(f"/v2/{repo}/blobs/{UNKNOWN_SHA256}"), 404)


def test_blob_in_another_repository_is_not_in_this_one(api: httpx.Client) -> None:
    # Blobs are scoped to repositories: "If the blob is not found in the repository ... 404".
    owner, other = unique_repo("owner"), unique_repo("other")
    digest = push_blob(api, owner, b"private to owner")
    push_blob(api, other, b"other content")
    assert_error(api.get(f"/v2/{other}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(api.head(f"/v2/{other}/blobs/{digest}"), 404)


def test_blob_in_unknown_repository_is_404(api: httpx.Client) -> None:
    owner = unique_repo()
    digest = push_blob(api, owner, b"some blob")
    response = api.get(f"/v2/{unique_repo()}/blobs/{digest}")
    assert_error(response, 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=2-5", 2, 5),
        ("bytes=100-999", 100, 999),
        ("bytes=990-", 990, 999),  # open-ended: how a client resumes a pull
        ("bytes=-10", 990, 999),  # suffix range
        ("bytes=500-5000", 500, 999),  # last-pos past the end is clamped (RFC 9110 14.1.2)
    ],
)
def test_blob_range_request_is_206(api: httpx.Client, header: str, start: int, end: int) -> None:
    # "A registry SHOULD support the Range request header in accordance with RFC 9110."
    repo = unique_repo()
    data = random_bytes(1000)
    digest = push_blob(api, repo, data)
    response = api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
    assert_status(response, 206)
    assert response.content == data[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert response.headers["content-length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-1010", "bytes=5000-6000"])
def test_unsatisfiable_range_is_416(api: httpx.Client, header: str) -> None:
    # RFC 9110 15.5.17: 416, and the server SHOULD send "Content-Range: bytes */<length>".
    repo = unique_repo()
    data = random_bytes(1000)
    digest = push_blob(api, repo, data)
    response = api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
    assert_error(response, 416, "RANGE_INVALID")
    assert response.headers.get("content-range") == "bytes */1000", describe(response)


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-5", "bytes=5-2", "bytes=0-1,5-6"])
def test_range_the_server_may_ignore(api: httpx.Client, header: str) -> None:
    # RFC 9110 14.2: "A server MAY ignore the Range header field"; an invalid ranges-specifier
    # is ignored. Either the whole blob (200), a correct part (206), or 416: never a 500.
    repo = unique_repo()
    data = random_bytes(100)
    digest = push_blob(api, repo, data)
    response = api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
    assert response.status_code in {200, 206, 416}, describe(response)
    if response.status_code == 200:
        assert response.content == data
    if response.status_code == 416:
        assert_error(response, 416, "RANGE_INVALID")


def test_range_on_missing_blob_is_still_404(api: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(api, repo, b"x")
    response = api.get(f"/v2/{repo}/blobs/{UNKNOWN_SHA256}", headers={"Range": "bytes=0-1"})
    assert_error(response, 404, "BLOB_UNKNOWN")


def test_sha512_blob_is_served_under_its_own_digest(api: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(3000)
    digest = push_blob(api, repo, data, "sha512")
    assert digest.startswith("sha512:")
    response = api.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(response, 200)
    assert response.content == data
    _verify_digest_header(response, data)
    head = api.head(f"/v2/{repo}/blobs/{digest}")
    assert_status(head, 200)
    assert head.headers["content-length"] == "3000"
    ranged = api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert_status(ranged, 206)
    assert ranged.content == data[10:20]


# ---------------------------------------------------------------------------------------------
# manifests


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_manifest_by_tag_and_digest_is_served_as_pushed(api: httpx.Client, method: str) -> None:
    # "A GET request to an existing manifest URL MUST provide the expected manifest, with a
    # response code that MUST be 200 OK." "The registry MUST store the manifest in the exact
    # byte representation provided by the client." Content-Type "SHOULD match what the client
    # pushed"; "The registry SHOULD NOT include parameters on the Content-Type header."
    # HEAD answers the same headers without a body.
    repo = unique_repo()
    image = push_image(api, repo, "v1")  # indented JSON with a trailing newline: not canonical
    for reference in ("v1", image.digest):
        response = api.request(
            method, f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        assert_status(response, 200)
        assert response.content == (image.manifest if method == "GET" else b"")
        assert response.headers["content-type"] == OCI_MANIFEST
        assert response.headers["docker-content-digest"] == image.digest
        assert response.headers["content-length"] == str(len(image.manifest))
        if method == "GET":
            _verify_digest_header(response, response.content)


def test_get_manifest_without_accept_header(api: httpx.Client) -> None:
    # "The client SHOULD include an Accept header": one that does not still gets the manifest.
    repo = unique_repo()
    image = push_image(api, repo, "v1")
    response = api.get(f"/v2/{repo}/manifests/v1", headers={"Accept": ""})
    assert_status(response, 200)
    assert response.content == image.manifest


def test_docker_schema2_manifest_keeps_its_media_type(api: httpx.Client) -> None:
    repo = unique_repo()
    image = push_image(api, repo, "docker", docker=True)
    response = api.get(f"/v2/{repo}/manifests/docker", headers={"Accept": ACCEPT_MANIFESTS})
    assert_status(response, 200)
    assert media_type_of(response) == DOCKER_MANIFEST
    assert response.headers["content-type"] == DOCKER_MANIFEST
    assert response.content == image.manifest


@pytest.mark.parametrize("docker", [False, True])
def test_index_is_served_with_its_media_type(api: httpx.Client, docker: bool) -> None:
    repo = unique_repo()
    children = [push_image(api, repo, docker=docker).as_descriptor() for _ in range(2)]
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    body = build_index(children, docker=docker)
    digest = push_manifest(api, repo, "multi", body, media_type)
    for reference in ("multi", digest):
        response = api.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": media_type})
        assert_status(response, 200)
        assert response.headers["content-type"] == media_type
        assert response.content == body
        assert response.headers["docker-content-digest"] == digest
    for child in children:
        response = api.get(
            f"/v2/{repo}/manifests/{child['digest']}", headers={"Accept": ACCEPT_MANIFESTS}
        )
        assert_status(response, 200)
        assert response.headers["content-type"] == child["mediaType"]


def test_missing_manifest_is_404_manifest_unknown(api: httpx.Client) -> None:
    # "If the manifest is not found in the repository, the response code MUST be 404 Not Found."
    repo = unique_repo()
    push_image(api, repo, "v1")
    for reference in ("nope", UNKNOWN_SHA256):
        response = api.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert_error(response, 404, "MANIFEST_UNKNOWN")
        assert_error(api.head(f"/v2/{repo}/manifests/{reference}"), 404)


def test_manifest_of_another_repository_is_not_visible(api: httpx.Client) -> None:
    owner, other = unique_repo("owner"), unique_repo("other")
    image = push_image(api, owner, "v1")
    push_image(api, other, "v1")
    response = api.get(f"/v2/{other}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST})
    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_manifest_in_unknown_repository_is_404(api: httpx.Client) -> None:
    # "An attempt to pull a nonexistent repository MUST return response code 404 Not Found."
    repo = unique_repo()
    response = api.get(f"/v2/{repo}/manifests/latest", headers={"Accept": OCI_MANIFEST})
    assert_error(response, 404, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")
    assert_error(api.head(f"/v2/{repo}/manifests/latest"), 404)
    response = api.get(f"/v2/{repo}/manifests/{UNKNOWN_SHA256}")
    assert_error(response, 404, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")


@pytest.mark.parametrize("tag", ["-lead", ".lead", "a" * 129, "bad!tag", "sp ace"])
def test_get_manifest_by_malformed_tag_is_a_client_error(api: httpx.Client, tag: str) -> None:
    # "<reference> as a tag MUST be at most 128 characters ... [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
    repo = unique_repo()
    push_image(api, repo, "v1")
    response = api.get(f"/v2/{repo}/manifests/{tag}")
    assert_error(response, {400, 404}, "TAG_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_INVALID")


def test_tag_names_are_case_sensitive(api: httpx.Client) -> None:
    repo = unique_repo()
    lower = push_image(api, repo, "tag")
    upper = push_image(api, repo, "TAG")
    accept = {"Accept": ACCEPT_MANIFESTS}
    assert api.get(f"/v2/{repo}/manifests/tag", headers=accept).content == lower.manifest
    assert api.get(f"/v2/{repo}/manifests/TAG", headers=accept).content == upper.manifest


def test_longest_tag_works(api: httpx.Client) -> None:
    repo = unique_repo()
    tag = "T" + "a" * 127
    image = push_image(api, repo, tag)
    response = api.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT_MANIFESTS})
    assert_status(response, 200)
    assert response.content == image.manifest


# ---------------------------------------------------------------------------------------------
# every worker serves a change at once (each caches what references resolve to)


def _digests_on_fresh_connections(api: httpx.Client, repo: str, reference: str) -> set[str]:
    """What 16 new connections are served: the kernel spreads them over the workers."""
    seen = set()
    for _ in range(16):
        response = _get_on_new_connection(api, repo, reference)
        seen.add(response.headers.get("docker-content-digest", str(response.status_code)))
    return seen


def _tags_on_fresh_connections(api: httpx.Client, repo: str) -> set[tuple[str, ...]]:
    seen = set()
    for _ in range(16):
        response = _get_on_new_connection(api, repo, "", path="tags/list")
        seen.add(tuple(response.json().get("tags") or ()))
    return seen


def _get_on_new_connection(
    api: httpx.Client, repo: str, reference: str, path: str = "manifests/"
) -> httpx.Response:
    return httpx.get(
        f"{str(api.base_url).rstrip('/')}/v2/{repo}/{path}{reference}",
        headers={"Accept": ACCEPT_MANIFESTS, "Connection": "close"},
        auth=api.auth,
        timeout=30,
    )


def test_a_moved_tag_is_served_by_every_worker_at_once(api: httpx.Client) -> None:
    repo = unique_repo()
    first = push_image(api, repo, "v1").digest
    assert _digests_on_fresh_connections(api, repo, "v1") == {first}  # every worker has it now
    assert _tags_on_fresh_connections(api, repo) == {("v1",)}
    push_image(api, repo, "v0")
    assert _tags_on_fresh_connections(api, repo) == {("v0", "v1")}
    second = push_image(api, repo, "v1").digest
    assert _digests_on_fresh_connections(api, repo, "v1") == {second}
    assert api.delete(f"/v2/{repo}/manifests/v1").status_code == 202
    assert _digests_on_fresh_connections(api, repo, "v1") == {"404"}
    assert api.delete(f"/v2/{repo}/manifests/{second}").status_code == 202
    assert _digests_on_fresh_connections(api, repo, second) == {"404"}
    assert _digests_on_fresh_connections(api, repo, first) == {first}
