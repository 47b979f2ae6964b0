"""Distribution API contract, the Push category for blobs: upload sessions, chunks and mounts.

Spec: OCI distribution-spec 1.1, "Pushing blobs", "Pushing a blob monolithically", "Pushing a
blob in chunks", "Mounting a blob from another repository"; CNCF Distribution's
``registry/handlers/blobupload.go`` where the spec is loose. Manifest pushes are in
``test_distribution_push_manifests.py``.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from distribution_helpers import (
    OCTET_STREAM,
    RunningRegistry,
    assert_error,
    assert_status,
    blob_status,
    describe,
    eventually_never,
    location_path,
    location_query,
    push_blob,
    random_bytes,
    repo_state,
    send_truncated,
    start_upload,
    unique_repo,
    upload_range,
    with_digest,
    with_query,
)
from images import digest_of

pytestmark = [pytest.mark.integration, pytest.mark.database, pytest.mark.storage]


def _patch(
    client: httpx.Client, location: str, chunk: bytes, content_range: str | None
) -> httpx.Response:
    headers = {"Content-Type": OCTET_STREAM}
    if content_range is not None:
        headers["Content-Range"] = content_range
    return client.patch(location, content=chunk, headers=headers)


def _assert_blob(client: httpx.Client, repo: str, digest: str, data: bytes) -> None:
    response = client.get(f"/v2/{repo}/blobs/{digest}")
    assert_status(response, 200)
    assert response.content == data
    assert response.headers["docker-content-digest"] == digest


def _assert_stored(
    client: httpx.Client,
    response: httpx.Response,
    repo: str,
    data: bytes,
    algorithm: str = "sha256",
) -> None:
    """``response`` ended an upload (or mount) of ``data`` into ``repo``, which now reads back."""
    # "MUST have code 201 Created and MUST have the following header: Location: <blob-location>"
    digest = digest_of(data, algorithm)
    assert_status(response, 201)
    assert location_path(response.headers["location"]) == f"/v2/{repo}/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    _assert_blob(client, repo, digest, data)


# ---------------------------------------------------------------------------------------------
# opening a session


def test_post_opens_a_session(api: httpx.Client) -> None:
    # "Upon success, the response MUST have a code of 202 Accepted, and MUST include ...
    # Location ... The <location> MUST contain a UUID representing a unique session ID."
    repo = unique_repo()
    first = start_upload(api, repo)
    second = start_upload(api, repo)
    for response in (first, second):
        upload_id = response.headers.get("docker-upload-uuid")
        assert upload_id, describe(response)
        location = response.headers["location"]
        assert location_path(location) == f"/v2/{repo}/blobs/uploads/{upload_id}"
        assert location.startswith(("/v2/", "http://", "https://")), location
        assert "_state" in location_query(location), describe(response)
        if "range" in response.headers:  # Distribution sends 0-0 for an empty session
            assert response.headers["range"] == "0-0", describe(response)
        if "oci-chunk-min-length" in response.headers:
            assert int(response.headers["oci-chunk-min-length"]) > 0
    assert first.headers["docker-upload-uuid"] != second.headers["docker-upload-uuid"]


def test_upload_status_of_a_fresh_session(api: httpx.Client) -> None:
    # end-13: "The response to an active upload <location> MUST be a 204 No Content response
    # code, and MUST have the following headers: Location, Range: 0-<end-of-range>."
    repo = unique_repo()
    location = start_upload(api, repo).headers["location"]
    response = api.get(location)
    assert_status(response, 204)
    assert response.headers["range"] == "0-0"
    assert location_path(response.headers["location"]) == location_path(location)
    assert response.headers.get("docker-upload-uuid") in location_path(location)


def test_upload_to_unknown_repository_creates_it(api: httpx.Client) -> None:
    repo = unique_repo()
    assert api.get(f"/v2/{repo}/tags/list").status_code == 404
    push_blob(api, repo, b"first content")
    assert blob_status(api, repo, digest_of(b"first content")) == 200


# ---------------------------------------------------------------------------------------------
# monolithic


def test_post_then_put(api: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(5000)
    digest = digest_of(data)
    location = start_upload(api, repo).headers["location"]
    response = api.put(
        with_digest(location, digest), content=data, headers={"Content-Type": OCTET_STREAM}
    )
    _assert_stored(api, response, repo, data)
    # the blob location is "a pullable blob URL"
    assert api.get(response.headers["location"]).content == data


def test_single_post_with_digest(api: httpx.Client) -> None:
    # "Successful completion of the request MUST return a 201 Created and MUST include ...
    # Location: <blob-location>"
    repo = unique_repo()
    data = random_bytes(2048)
    digest = digest_of(data)
    response = api.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": OCTET_STREAM},
    )
    _assert_stored(api, response, repo, data)


@pytest.mark.parametrize("how", ["single-post", "post-then-put"])
def test_wrong_digest_stores_nothing(api: httpx.Client, how: str) -> None:
    repo = unique_repo()
    data = random_bytes(100)
    claimed = digest_of(b"not the data")
    if how == "single-post":
        response = api.post(f"/v2/{repo}/blobs/uploads/", params={"digest": claimed}, content=data)
    else:
        location = start_upload(api, repo).headers["location"]
        response = api.put(with_digest(location, claimed), content=data)
    assert_error(response, 400, "DIGEST_INVALID")
    assert blob_status(api, repo, claimed) == 404
    assert blob_status(api, repo, digest_of(data)) == 404


def test_put_without_digest_is_digest_invalid(api: httpx.Client) -> None:
    # "The closing PUT request MUST include the <digest> of the whole blob ... as a query
    # parameter." Distribution: DIGEST_INVALID "digest missing".
    repo = unique_repo()
    data = random_bytes(64)
    location = start_upload(api, repo).headers["location"]
    assert_error(api.put(location, content=data), 400, "DIGEST_INVALID")
    assert blob_status(api, repo, digest_of(data)) == 404


def test_blob_pushed_twice_is_fine(api: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(300)
    assert push_blob(api, repo, data) == push_blob(api, repo, data)
    _assert_blob(api, repo, digest_of(data), data)


def test_sha512_end_to_end(api: httpx.Client) -> None:
    # Dockyard supports sha256 and sha512 blob digests, in every way of uploading.
    repo = unique_repo()
    monolithic = random_bytes(1000)
    digest = digest_of(monolithic, "sha512")
    response = api.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=monolithic)
    _assert_stored(api, response, repo, monolithic, "sha512")

    chunked = random_bytes(3000)
    digest = digest_of(chunked, "sha512")
    location = start_upload(api, repo).headers["location"]
    response = _patch(api, location, chunked[:1000], "0-999")
    assert_status(response, 202)
    response = api.put(
        with_digest(response.headers["location"], digest),
        content=chunked[1000:],
        headers={"Content-Range": "1000-2999", "Content-Type": OCTET_STREAM},
    )
    _assert_stored(api, response, repo, chunked, "sha512")


# ---------------------------------------------------------------------------------------------
# streamed and chunked


def test_streamed_patches_then_put(api: httpx.Client) -> None:
    # PATCH without Content-Range appends (Distribution's and Docker's streamed upload).
    # "Each successful chunk upload MUST have a 202 Accepted response code, and MUST have
    # Location and Range: 0-<end-of-range>."
    repo = unique_repo()
    parts = [random_bytes(1500), random_bytes(10), random_bytes(70_000)]
    location = start_upload(api, repo).headers["location"]
    total = 0
    for part in parts:
        response = _patch(api, location, part, None)
        assert_status(response, 202)
        total += len(part)
        assert response.headers["range"] == f"0-{total - 1}"
        location = response.headers["location"]
        assert response.headers.get("docker-upload-uuid") in location_path(location)
    data = b"".join(parts)
    response = api.put(with_digest(location, digest_of(data)))
    _assert_stored(api, response, repo, data)


def test_streamed_patch_with_chunked_transfer_encoding(api: httpx.Client) -> None:
    # What docker push sends: a PATCH with no Content-Length, body in HTTP chunks.
    repo = unique_repo()
    pieces = [random_bytes(4096) for _ in range(5)]
    location = start_upload(api, repo).headers["location"]
    response = api.patch(location, content=iter(pieces), headers={"Content-Type": OCTET_STREAM})
    assert_status(response, 202)
    assert response.headers["range"] == f"0-{5 * 4096 - 1}"
    data = b"".join(pieces)
    response = api.put(with_digest(response.headers["location"], digest_of(data)))
    _assert_stored(api, response, repo, data)


def test_chunked_upload_with_content_range(api: httpx.Client) -> None:
    # "The <range> refers to the byte range of the chunk, and MUST be inclusive on both ends.
    # The first chunk's range MUST begin with 0."
    repo = unique_repo()
    data = random_bytes(10_000)
    location = start_upload(api, repo).headers["location"]
    for start, end in [(0, 3999), (4000, 7999), (8000, 9999)]:
        response = _patch(api, location, data[start : end + 1], f"{start}-{end}")
        assert_status(response, 202)
        assert response.headers["range"] == f"0-{end}"
        location = response.headers["location"]
        assert upload_range(api, location) == f"0-{end}"
    response = api.put(with_digest(location, digest_of(data)))
    _assert_stored(api, response, repo, data)


def test_final_chunk_in_the_put(api: httpx.Client) -> None:
    # "The final chunk MAY be uploaded using a PATCH request or it MAY be uploaded in the
    # closing PUT request."
    repo = unique_repo()
    data = random_bytes(6000)
    location = start_upload(api, repo).headers["location"]
    response = _patch(api, location, data[:2500], "0-2499")
    assert_status(response, 202)
    response = api.put(
        with_digest(response.headers["location"], digest_of(data)),
        content=data[2500:],
        headers={"Content-Range": "2500-5999", "Content-Type": OCTET_STREAM},
    )
    _assert_stored(api, response, repo, data)


@pytest.mark.parametrize(
    ("content_range", "chunk_size"),
    [("1-100", 100), ("100-199", 100), ("49-148", 100), ("51-150", 100), ("0-99", 100)],
)
def test_chunk_that_does_not_continue_the_upload_is_416(
    api: httpx.Client, content_range: str, chunk_size: int
) -> None:
    # "Chunks MUST be uploaded in order, with the first byte of a chunk being the last chunk's
    # <end-of-range> plus one. If a chunk is uploaded out of order, the registry MUST respond
    # with a 416 Requested Range Not Satisfiable code." And the upload is unchanged.
    repo = unique_repo()
    data = random_bytes(300)
    location = start_upload(api, repo).headers["location"]
    response = _patch(api, location, data[:50], "0-49")
    assert_status(response, 202)
    location = response.headers["location"]
    bad = _patch(api, location, random_bytes(chunk_size), content_range)
    assert_error(bad, 416, "RANGE_INVALID")
    assert upload_range(api, location) == "0-49"
    # the session goes on from where it was
    response = _patch(api, location, data[50:], "50-299")
    assert_status(response, 202)
    response = api.put(with_digest(response.headers["location"], digest_of(data)))
    _assert_stored(api, response, repo, data)


def test_first_chunk_not_at_zero_is_416(api: httpx.Client) -> None:
    repo = unique_repo()
    location = start_upload(api, repo).headers["location"]
    assert_error(_patch(api, location, b"x" * 10, "5-14"), 416, "RANGE_INVALID")
    assert upload_range(api, location) == "0-0"


@pytest.mark.parametrize("content_range", ["0-49", "0-200", "garbage", "9-0", "-5"])
def test_content_range_that_does_not_fit_the_body_is_rejected(
    api: httpx.Client, content_range: str
) -> None:
    # The range MUST match ^[0-9]+-[0-9]+$ and describe the chunk ("<length> is the
    # content-length of the current chunk"): a mismatch is a client error, nothing is written.
    repo = unique_repo()
    location = start_upload(api, repo).headers["location"]
    response = _patch(api, location, random_bytes(100), content_range)
    assert_error(response, {400, 416}, "RANGE_INVALID", "BLOB_UPLOAD_INVALID", "SIZE_INVALID")
    assert upload_range(api, location) == "0-0"


def test_put_range_that_does_not_continue_is_416_and_stores_nothing(api: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(200)
    location = start_upload(api, repo).headers["location"]
    location = _patch(api, location, data[:100], "0-99").headers["location"]
    response = api.put(
        with_digest(location, digest_of(data)),
        content=data[100:],
        headers={"Content-Range": "120-219", "Content-Type": OCTET_STREAM},
    )
    assert_error(response, 416, "RANGE_INVALID")
    assert blob_status(api, repo, digest_of(data)) == 404


def test_two_sessions_uploading_the_same_blob_both_succeed(api: httpx.Client) -> None:
    # "If process A and B upload the same layer at the same time, both operations will proceed
    # and the first to complete will be stored in the registry."
    repo = unique_repo()
    data = random_bytes(5000)
    digest = digest_of(data)
    first = start_upload(api, repo).headers["location"]
    second = start_upload(api, repo).headers["location"]
    first = _patch(api, first, data[:2000], "0-1999").headers["location"]
    second = _patch(api, second, data[:3000], "0-2999").headers["location"]
    done = api.put(with_digest(second, digest), content=data[3000:])
    _assert_stored(api, done, repo, data)
    done = api.put(with_digest(first, digest), content=data[2000:])
    _assert_stored(api, done, repo, data)


# ---------------------------------------------------------------------------------------------
# status, cancel, unknown and tampered sessions


def test_delete_cancels_the_upload(api: httpx.Client) -> None:
    # "If successful, the response SHOULD be a 204 No Content response code." Then unknown.
    repo = unique_repo()
    data = random_bytes(100)
    location = start_upload(api, repo).headers["location"]
    location = _patch(api, location, data, "0-99").headers["location"]
    assert_status(api.delete(location), 204)
    assert_error(api.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api.put(with_digest(location, digest_of(data))), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(_patch(api, location, b"more", None), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert blob_status(api, repo, digest_of(data)) == 404


def test_completed_upload_is_gone(api: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(100)
    location = start_upload(api, repo).headers["location"]
    assert_status(api.put(with_digest(location, digest_of(data)), content=data), 201)
    assert_error(api.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(_patch(api, location, b"more", None), 404, "BLOB_UPLOAD_UNKNOWN")


def _tampered(state: str) -> list[str]:
    flipped = ("A" if state[10] != "A" else "B").join([state[:10], state[11:]])
    return [flipped, state[:-4], state + "AAAA", "x", ""]


def test_unknown_upload_id_is_404(api: httpx.Client) -> None:
    # Distribution: an upload the registry does not know is BLOB_UPLOAD_UNKNOWN, 404.
    repo = unique_repo()
    location = start_upload(api, repo).headers["location"]
    path = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}"
    # a bare unknown id, and an unknown id carrying another session's genuine _state
    for target in (path, f"{path}?{urlsplit(location).query}"):
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            url = with_digest(target, digest_of(b"")) if method == "PUT" else target
            response = api.request(method, url, content=b"")
            assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
    assert upload_range(api, location) == "0-0"


def test_tampered_state_is_404_and_leaves_the_session_alone(api: httpx.Client) -> None:
    # Dockyard signs the upload state into _state; a forged one is an unknown upload.
    repo = unique_repo()
    data = random_bytes(100)
    location = start_upload(api, repo).headers["location"]
    location = _patch(api, location, data[:40], "0-39").headers["location"]
    state = location_query(location)["_state"][0]
    for forged in _tampered(state):
        target = with_query(location, _state=forged)
        assert_error(api.get(target), 404, "BLOB_UPLOAD_UNKNOWN")
        assert_error(_patch(api, target, data[40:], "40-99"), 404, "BLOB_UPLOAD_UNKNOWN")
        response = api.put(with_digest(target, digest_of(data)), content=data[40:])
        assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
        assert_error(api.delete(target), 404, "BLOB_UPLOAD_UNKNOWN")
    assert upload_range(api, location) == "0-39"
    assert blob_status(api, repo, digest_of(data)) == 404
    response = api.put(with_digest(location, digest_of(data)), content=data[40:])
    _assert_stored(api, response, repo, data)


def test_session_of_one_repository_cannot_be_used_from_another(api: httpx.Client) -> None:
    owner, other = unique_repo("owner"), unique_repo("other")
    push_blob(api, other, b"other exists")
    data = random_bytes(100)
    location = start_upload(api, owner).headers["location"]
    moved = location.replace(f"/v2/{owner}/", f"/v2/{other}/")
    assert moved != location
    response = api.put(with_digest(moved, digest_of(data)), content=data)
    assert_error(response, {400, 404}, "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")
    assert blob_status(api, other, digest_of(data)) == 404
    assert blob_status(api, owner, digest_of(data)) == 404
    assert upload_range(api, location) == "0-0"


# ---------------------------------------------------------------------------------------------
# mounting


def test_mount_from_a_repository_holding_the_blob_is_201(api: httpx.Client) -> None:
    # "The response to a successful mount MUST be 201 Created, and MUST contain ... Location."
    source, target = unique_repo("source"), unique_repo("target")
    data = random_bytes(500)
    digest = push_blob(api, source, data)
    response = api.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    _assert_stored(api, response, target, data)


def test_mount_from_a_repository_without_the_blob_is_a_new_session(api: httpx.Client) -> None:
    # "if a registry ... is unable to mount the requested blob, it SHOULD return a 202. This
    # indicates that the upload session has begun and that the client MAY proceed."
    source, target = unique_repo("source"), unique_repo("target")
    elsewhere = unique_repo("elsewhere")
    data = random_bytes(500)
    digest = push_blob(api, elsewhere, data)  # in the registry, but not in ``source``
    push_blob(api, source, b"source has something else")
    locations = []
    for origin in (source, unique_repo("nonexistent")):
        response = api.post(
            f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": origin}
        )
        assert_status(response, 202)
        assert blob_status(api, target, digest) == 404
        locations.append(response.headers["location"])
        assert location_path(locations[-1]).startswith(f"/v2/{target}/blobs/uploads/")
    response = api.put(with_digest(locations[-1], digest), content=data)
    _assert_stored(api, response, target, data)


def test_mount_without_from(api: httpx.Client) -> None:
    # "The registry MAY treat the from parameter as optional, and it MAY cross-mount the blob if
    # it can be found." Dockyard does: 201 when the blob is anywhere in the registry.
    source, target = unique_repo("source"), unique_repo("target")
    data = random_bytes(500)
    digest = push_blob(api, source, data)
    response = api.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    _assert_stored(api, response, target, data)
    unknown = digest_of(random_bytes(20))
    response = api.post(f"/v2/{target}/blobs/uploads/", params={"mount": unknown})
    assert_status(response, 202)
    assert blob_status(api, target, unknown) == 404


@pytest.mark.parametrize(("mount", "origin"), [("sha256:abc", "x/y"), (None, "Bad/Name")])
def test_mount_with_bad_parameters_is_not_a_server_error(
    api: httpx.Client, mount: str | None, origin: str
) -> None:
    source, target = unique_repo("source"), unique_repo("target")
    digest = push_blob(api, source, b"mount me")
    response = api.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": mount or digest, "from": origin}
    )
    if response.status_code != 202:
        assert_error(response, 400, "DIGEST_INVALID", "NAME_INVALID")
    assert blob_status(api, target, digest) == 404


# ---------------------------------------------------------------------------------------------
# bodies that end early


def _target(location: str) -> str:
    """The request-target of a Location (for a raw request)."""
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.mark.parametrize("digest_of_what", ["declared", "received"])
def test_truncated_monolithic_post_stores_nothing(
    api: httpx.Client, shared_registry: RunningRegistry, digest_of_what: str
) -> None:
    # The Content-Length "MUST match the blob's actual content length": a body that ends early
    # is no blob, even when the digest matches the bytes that did arrive.
    repo = unique_repo()
    push_blob(api, repo, b"repository exists")
    data = random_bytes(10_000)
    sent = data[:1000]
    digest = digest_of(data if digest_of_what == "declared" else sent)
    before = repo_state(api, repo, blobs=[digest])
    target = f"/v2/{repo}/blobs/uploads/?digest={digest}"
    send_truncated(shared_registry, "POST", target, declared_length=len(data), sent=sent)
    assert_status(api.get("/v2/"), 200)
    eventually_never(lambda: blob_status(api, repo, digest) != 404)
    assert repo_state(api, repo, blobs=[digest]) == before


@pytest.mark.parametrize("digest_of_what", ["declared", "received"])
def test_truncated_put_stores_nothing(
    api: httpx.Client, shared_registry: RunningRegistry, digest_of_what: str
) -> None:
    repo = unique_repo()
    data = random_bytes(10_000)
    sent = data[:1000]
    digest = digest_of(data if digest_of_what == "declared" else sent)
    location = start_upload(api, repo).headers["location"]
    target = _target(with_digest(location, digest))
    send_truncated(shared_registry, "PUT", target, declared_length=len(data), sent=sent)
    assert_status(api.get("/v2/"), 200)
    eventually_never(lambda: blob_status(api, repo, digest) != 404)


def test_truncated_patch_leaves_a_usable_server(
    api: httpx.Client, shared_registry: RunningRegistry
) -> None:
    repo = unique_repo()
    location = start_upload(api, repo).headers["location"]
    target = _target(location)
    send_truncated(shared_registry, "PATCH", target, declared_length=50_000, sent=b"x" * 10)
    assert_status(api.get("/v2/"), 200)
    response = api.get(location)
    assert response.status_code in {204, 404}, describe(response)
    if response.status_code == 204:
        assert re.fullmatch(r"0-\d+", response.headers["range"]), describe(response)
    push_blob(api, repo, b"still works")
