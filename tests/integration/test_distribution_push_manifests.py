"""Distribution API contract, the Push category for manifests.

Spec: OCI distribution-spec 1.1, "Push" (MANIFEST_BLOB_UNKNOWN, subject), "Pushing Manifests",
"Pushing Manifests with Subject"; CNCF Distribution's ``registry/handlers/manifests.go`` where
the spec is loose. Every rejected push is checked to have changed nothing.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from distribution_helpers import (
    RunningRegistry,
    assert_error,
    assert_status,
    build_image,
    build_index,
    describe,
    descriptor,
    eventually_never,
    get_manifest,
    location_path,
    manifest_json,
    manifest_status,
    prepare_image,
    push_blob,
    push_image,
    push_manifest,
    put_manifest,
    random_bytes,
    random_config,
    repo_state,
    send_truncated,
    tags_of,
    unique_repo,
)
from images import (
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    digest_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.database]

MIB = 1024 * 1024


def _assert_rejected_without_trace(
    client: httpx.Client,
    repo: str,
    response: httpx.Response,
    status: int | set[int],
    *codes: str,
    body: bytes,
    tag: str,
) -> None:
    assert_error(response, status, *codes)
    assert manifest_status(client, repo, tag) == 404
    assert manifest_status(client, repo, digest_of(body)) == 404


# ---------------------------------------------------------------------------------------------
# accepted pushes


def test_put_by_tag_is_201_with_location_and_digest(api: httpx.Client) -> None:
    # "Upon a successful upload, the registry MUST return response code 201 Created, and MUST
    # have the following header: Location: <location> ... a pullable manifest URL."
    # "The Docker-Content-Digest header returns the canonical digest of the uploaded blob".
    repo = unique_repo()
    image = prepare_image(api, repo)
    response = put_manifest(api, repo, "v1", image.manifest)
    assert_status(response, 201)
    assert response.headers["docker-content-digest"] == image.digest
    location = response.headers["location"]
    assert location_path(location).startswith(f"/v2/{repo}/manifests/"), describe(response)
    pulled = api.get(location, headers={"Accept": OCI_MANIFEST})
    assert_status(pulled, 200)
    assert pulled.content == image.manifest


def test_put_by_digest_is_201_and_echoes_the_digest(api: httpx.Client) -> None:
    # "The Docker-Content-Digest header ... MUST be equal to the client provided digest."
    repo = unique_repo()
    image = prepare_image(api, repo)
    response = put_manifest(api, repo, image.digest, image.manifest)
    assert_status(response, 201)
    assert response.headers["docker-content-digest"] == image.digest
    assert location_path(response.headers["location"]) == f"/v2/{repo}/manifests/{image.digest}"
    assert get_manifest(api, repo, image.digest).content == image.manifest
    assert tags_of(api, repo) == []


def test_put_by_sha512_digest_is_either_supported_or_refused_cleanly(api: httpx.Client) -> None:
    repo = unique_repo()
    image = prepare_image(api, repo)
    sha512 = digest_of(image.manifest, "sha512")
    response = put_manifest(api, repo, sha512, image.manifest)
    if response.status_code == 201:
        assert response.headers["docker-content-digest"] == sha512
        pulled = get_manifest(api, repo, sha512)
        assert_status(pulled, 200)
        assert pulled.content == image.manifest
    else:
        assert_error(response, 400, "UNSUPPORTED", "DIGEST_INVALID")
        assert manifest_status(api, repo, sha512) == 404


def test_content_type_parameters_are_ignored(api: httpx.Client) -> None:
    # "The registry SHOULD ignore parameters on the Content-Type header." and "SHOULD NOT
    # include parameters on the Content-Type header" when serving it.
    repo = unique_repo()
    image = prepare_image(api, repo)
    response = put_manifest(api, repo, "v1", image.manifest, f"{OCI_MANIFEST}; charset=utf-8")
    assert_status(response, 201)
    assert get_manifest(api, repo, "v1").headers["content-type"] == OCI_MANIFEST


def test_put_without_content_type_uses_the_media_type_field(api: httpx.Client) -> None:
    # "Clients SHOULD set the Content-Type header": one that does not either has the manifest
    # stored under its mediaType field or refused as MANIFEST_INVALID, never a 500.
    repo = unique_repo()
    image = prepare_image(api, repo)
    response = api.put(f"/v2/{repo}/manifests/v1", content=image.manifest)
    if response.status_code == 201:
        assert get_manifest(api, repo, "v1").headers["content-type"] == OCI_MANIFEST
    else:
        assert_error(response, 400, "MANIFEST_INVALID")
        assert manifest_status(api, repo, "v1") == 404


def test_same_manifest_twice_and_tag_moves(api: httpx.Client) -> None:
    repo = unique_repo()
    first = push_image(api, repo, "v1")
    assert push_manifest(api, repo, "v1", first.manifest) == first.digest
    second = push_image(api, repo, "v1")
    assert get_manifest(api, repo, "v1").content == second.manifest
    assert get_manifest(api, repo, first.digest).content == first.manifest
    assert tags_of(api, repo) == ["v1"]


def test_manifest_with_no_layers(api: httpx.Client) -> None:
    # "The uploaded manifest MUST reference any blobs that make up the object. However, the
    # list of blobs MAY be empty."
    repo = unique_repo()
    image = push_image(api, repo, "empty", layer_count=0)
    assert get_manifest(api, repo, "empty").content == image.manifest


def test_manifest_with_sha512_layer(api: httpx.Client) -> None:
    repo = unique_repo()
    image = push_image(api, repo, "v512", layer_algorithm="sha512")
    assert image.layer_digests[0].startswith("sha512:")
    assert get_manifest(api, repo, "v512").content == image.manifest


def test_docker_schema2_manifest(api: httpx.Client) -> None:
    repo = unique_repo()
    image = prepare_image(api, repo, docker=True)
    response = put_manifest(api, repo, "d", image.manifest, DOCKER_MANIFEST)
    assert_status(response, 201)
    assert get_manifest(api, repo, "d").headers["content-type"] == DOCKER_MANIFEST


def test_index_by_tag(api: httpx.Client) -> None:
    repo = unique_repo()
    children = [push_image(api, repo).as_descriptor() for _ in range(3)]
    body = build_index(children)
    response = put_manifest(api, repo, "multi", body, OCI_INDEX)
    assert_status(response, 201)
    assert response.headers["docker-content-digest"] == digest_of(body)
    assert get_manifest(api, repo, "multi").content == body


def test_subject_that_does_not_exist_is_accepted_with_oci_subject(api: httpx.Client) -> None:
    # "A registry MUST initially accept an otherwise valid manifest with a subject field that
    # references a manifest that does not exist in the repository." "a registry implementation
    # that supports the referrers API MUST respond with the response header OCI-Subject:
    # <subject digest>".
    repo = unique_repo()
    missing = {"mediaType": OCI_MANIFEST, "digest": digest_of(random_bytes(10)), "size": 10}
    image = prepare_image(api, repo, artifact_type="application/vnd.example.sig", subject=missing)
    response = put_manifest(api, repo, image.digest, image.manifest)
    assert_status(response, 201)
    assert response.headers.get("oci-subject") == missing["digest"], describe(response)
    assert get_manifest(api, repo, image.digest).content == image.manifest


def test_subject_that_exists_gets_oci_subject(api: httpx.Client) -> None:
    repo = unique_repo()
    subject = push_image(api, repo, "v1")
    image = prepare_image(api, repo, subject=subject.as_descriptor())
    response = put_manifest(api, repo, image.digest, image.manifest)
    assert_status(response, 201)
    assert response.headers.get("oci-subject") == subject.digest, describe(response)


def test_manifest_without_subject_has_no_oci_subject(api: httpx.Client) -> None:
    repo = unique_repo()
    image = prepare_image(api, repo)
    response = put_manifest(api, repo, "v1", image.manifest)
    assert_status(response, 201)
    assert "oci-subject" not in response.headers


def test_manifest_of_just_under_4mb_is_accepted(api: httpx.Client) -> None:
    # "Client and registry implementations SHOULD expect to be able to support manifest pushes
    # of at least 4 megabytes."
    repo = unique_repo()
    image = prepare_image(api, repo, annotations={"pad": ""})
    padding = 4_000_000 - len(image.manifest)
    body = image.manifest.replace(b'"pad": ""', b'"pad": "' + b"p" * padding + b'"')
    assert len(body) == 4_000_000
    response = put_manifest(api, repo, "big", body)
    assert_status(response, 201)
    assert get_manifest(api, repo, "big").content == body


# ---------------------------------------------------------------------------------------------
# rejected pushes


def test_digest_in_url_not_matching_content_is_digest_invalid(api: httpx.Client) -> None:
    repo = unique_repo()
    image = prepare_image(api, repo)
    wrong = digest_of(b"some other manifest")
    before = repo_state(api, repo, manifests=[wrong, image.digest])
    response = put_manifest(api, repo, wrong, image.manifest)
    assert_error(response, 400, "DIGEST_INVALID")
    assert repo_state(api, repo, manifests=[wrong, image.digest]) == before


@pytest.mark.parametrize("missing", ["config", "layer", "both"])
def test_missing_blobs_are_manifest_blob_unknown(api: httpx.Client, missing: str) -> None:
    # "When a manifest is rejected for this reason, it MUST result in one or more
    # MANIFEST_BLOB_UNKNOWN errors."
    repo = unique_repo()
    push_image(api, repo, "existing")
    image = build_image(repo, layer_count=2)
    if missing != "config":
        push_blob(api, repo, image.config)
    if missing == "config":
        for layer in image.layers:
            push_blob(api, repo, layer)
    elif missing == "layer":
        push_blob(api, repo, image.layers[0])
    before = repo_state(api, repo, manifests=["v1"])
    response = put_manifest(api, repo, "v1", image.manifest)
    _assert_rejected_without_trace(
        api, repo, response, 400, "MANIFEST_BLOB_UNKNOWN", body=image.manifest, tag="v1"
    )
    assert repo_state(api, repo, manifests=["v1"]) == before


def test_blobs_of_another_repository_do_not_count(api: httpx.Client) -> None:
    # Distribution checks blobs in the pushing repository: a manifest cannot claim blobs the
    # repository never received (or it would grant access to another repository's content).
    owner, other = unique_repo("owner"), unique_repo("other")
    image = prepare_image(api, owner)
    push_image(api, other, "existing")
    response = put_manifest(api, other, "stolen", image.manifest)
    _assert_rejected_without_trace(
        api, other, response, 400, "MANIFEST_BLOB_UNKNOWN", body=image.manifest, tag="stolen"
    )
    assert api.get(f"/v2/{other}/blobs/{image.layer_digests[0]}").status_code == 404


def test_index_with_missing_child_is_manifest_blob_unknown(api: httpx.Client) -> None:
    repo = unique_repo()
    present = push_image(api, repo).as_descriptor()
    absent = build_image(repo).as_descriptor()
    body = build_index([present, absent])
    before = repo_state(api, repo, manifests=["multi"])
    response = put_manifest(api, repo, "multi", body, OCI_INDEX)
    _assert_rejected_without_trace(
        api, repo, response, 400, "MANIFEST_BLOB_UNKNOWN", body=body, tag="multi"
    )
    assert repo_state(api, repo, manifests=["multi"]) == before


def _oci_manifest_dict(client: httpx.Client, repo: str) -> dict[str, Any]:
    config = random_config()
    layer = random_bytes(100)
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER_GZIP, layer)],
    }


INVALID_BODIES: dict[str, Any] = {
    "not json": b"this is not json",
    "truncated json": b'{"schemaVersion": 2, "mediaType": ',
    "json array": b"[]",
    "json string": b'"manifest"',
    "empty body": b"",
    "schemaVersion 1": {"schemaVersion": 1},
    "schemaVersion 3": {"schemaVersion": 3},
    "schemaVersion string": {"schemaVersion": "2"},
    "no schemaVersion": {"schemaVersion": None},
    "config missing": {"config": None},
    "config not an object": {"config": "sha256:abc"},
    "layers not a list": {"layers": {"a": 1}},
    "config digest malformed": {"config": {"mediaType": OCI_CONFIG, "digest": "x", "size": 1}},
    "layer size negative": {"layers": [{"mediaType": OCI_LAYER_GZIP, "digest": "d", "size": -1}]},
    "mediaType not a manifest": {"mediaType": "application/vnd.example.thing+json"},
    "mediaType of an index": {"mediaType": OCI_INDEX},
}


@pytest.mark.parametrize("case", list(INVALID_BODIES))
def test_invalid_manifests_are_manifest_invalid(api: httpx.Client, case: str) -> None:
    repo = unique_repo()
    push_image(api, repo, "existing")
    change = INVALID_BODIES[case]
    if isinstance(change, bytes):
        body = change
    else:
        manifest = _oci_manifest_dict(api, repo)
        for key, value in change.items():
            if value is None:
                manifest.pop(key, None)
            else:
                manifest[key] = value
        if case == "layer size negative":
            manifest["layers"][0]["digest"] = manifest["config"]["digest"]
        body = manifest_json(manifest)
    before = repo_state(api, repo, manifests=["bad", "existing"])
    response = put_manifest(api, repo, "bad", body, OCI_MANIFEST)
    expected = ["MANIFEST_INVALID"]
    if case == "config digest malformed":
        expected.append("DIGEST_INVALID")
    _assert_rejected_without_trace(api, repo, response, 400, *expected, body=body, tag="bad")
    assert repo_state(api, repo, manifests=["bad", "existing"]) == before


def test_content_type_that_contradicts_media_type_is_manifest_invalid(api: httpx.Client) -> None:
    # "If a manifest includes a mediaType field, clients MUST set the Content-Type header to
    # the value specified by the mediaType field." A registry storing it anyway would serve a
    # Content-Type that clients "SHOULD reject".
    repo = unique_repo()
    image = prepare_image(api, repo)
    for content_type in (OCI_INDEX, DOCKER_MANIFEST):
        response = put_manifest(api, repo, "v1", image.manifest, content_type)
        _assert_rejected_without_trace(
            api, repo, response, 400, "MANIFEST_INVALID", body=image.manifest, tag="v1"
        )


def test_manifest_over_4mib_is_refused(api: httpx.Client) -> None:
    # "A registry that enforces this limit SHOULD respond to a request to push a manifest over
    # this limit with a response code 413 Payload Too Large." Dockyard: 413, or 400 with
    # MANIFEST_INVALID / SIZE_INVALID; never 201 and never 500.
    repo = unique_repo()
    image = prepare_image(api, repo, annotations={"pad": "p" * (4 * MIB)})
    assert len(image.manifest) > 4 * MIB
    response = put_manifest(api, repo, "huge", image.manifest)
    assert response.status_code in {400, 413}, describe(response)
    if response.status_code == 400:
        assert_error(response, 400, "MANIFEST_INVALID", "SIZE_INVALID")
    assert manifest_status(api, repo, "huge") == 404
    assert manifest_status(api, repo, image.digest) == 404


@pytest.mark.parametrize("tag", ["-lead", ".lead", "a" * 129, "bad!tag", "tag+plus", "ümlaut"])
def test_bad_tag_is_tag_invalid(api: httpx.Client, tag: str) -> None:
    # "<reference> as a tag MUST be at most 128 characters in length and MUST match
    # [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
    repo = unique_repo()
    push_image(api, repo, "existing")
    image = prepare_image(api, repo)
    before = repo_state(api, repo, manifests=[image.digest])
    response = put_manifest(api, repo, tag, image.manifest)
    assert_error(response, 400, "TAG_INVALID", "MANIFEST_INVALID")
    assert repo_state(api, repo, manifests=[image.digest]) == before


def test_truncated_manifest_put_stores_nothing(
    api: httpx.Client, shared_registry: RunningRegistry
) -> None:
    repo = unique_repo()
    push_image(api, repo, "existing")
    image = prepare_image(api, repo)
    before = repo_state(api, repo, manifests=["cut", image.digest])
    # The bytes that arrive are a complete, valid manifest; the declared length says more come.
    send_truncated(
        shared_registry,
        "PUT",
        f"/v2/{repo}/manifests/cut",
        declared_length=len(image.manifest) + 100,
        sent=image.manifest,
        content_type=OCI_MANIFEST,
    )
    assert_status(api.get("/v2/"), 200)
    eventually_never(lambda: manifest_status(api, repo, "cut") != 404)
    assert repo_state(api, repo, manifests=["cut", image.digest]) == before


def test_manifest_with_odd_whitespace_is_stored_verbatim(
    api: httpx.Client,
) -> None:
    # "The registry MUST store the manifest in the exact byte representation provided."
    repo = unique_repo()
    image = prepare_image(api, repo)
    manifest = json.loads(image.manifest)
    body = ("\t\n" + json.dumps(manifest, separators=(" ,", " :  ")) + "\r\n\n").encode()
    digest = push_manifest(api, repo, "ws", body)
    response = get_manifest(api, repo, "ws")
    assert response.content == body
    assert response.headers["docker-content-digest"] == digest
