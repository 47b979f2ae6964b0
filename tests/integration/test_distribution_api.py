"""Distribution API contract: the base endpoint, the error model, names and digests.

Spec: OCI distribution-spec 1.1 ("Determining Support", "Error Codes", the ``<name>`` and
``<reference>`` grammars), with Dockyard's decisions where it leaves room. Other areas live in
``test_distribution_{pull,push,discovery,management}.py``.
"""

from __future__ import annotations

import re
import string
from urllib.parse import quote

import httpx
import pytest
from distribution_helpers import (
    UNKNOWN_SHA256,
    RunningRegistry,
    assert_error,
    assert_status,
    describe,
    error_codes,
    media_type_of,
    push_blob,
    push_image,
    random_bytes,
    raw_request,
    repo_state,
    start_upload,
    unique_repo,
    with_digest,
)
from hypothesis import HealthCheck, given, settings, strategies as st
from images import OCI_MANIFEST, digest_of

pytestmark = [pytest.mark.integration, pytest.mark.database]


# ---------------------------------------------------------------------------------------------
# GET /v2/


def test_base_endpoint_answers_200_with_empty_json_and_api_version(api: httpx.Client) -> None:
    # "If the response is 200 OK, then the registry implements this specification."
    # Legacy header: "the Docker-Distribution-API-Version header SHOULD be set to registry/2.0".
    response = api.get("/v2/")
    assert_status(response, 200)
    assert response.headers.get("docker-distribution-api-version") == "registry/2.0"
    assert media_type_of(response) == "application/json"
    assert response.json() == {}


def test_base_endpoint_head(api: httpx.Client) -> None:
    response = api.head("/v2/")
    assert_status(response, 200)
    assert response.headers.get("docker-distribution-api-version") == "registry/2.0"
    assert response.content == b""


def test_api_version_header_on_other_responses(api: httpx.Client) -> None:
    # Distribution sets the header on every /v2/ response, errors included.
    repo = unique_repo()
    response = api.get(f"/v2/{repo}/tags/list")
    assert response.headers.get("docker-distribution-api-version") == "registry/2.0", describe(
        response
    )


# ---------------------------------------------------------------------------------------------
# the error body


def test_error_body_shape(api: httpx.Client) -> None:
    # "If the response body is in JSON format, it MUST have the following format ...
    # The code field MUST be a unique identifier, containing only uppercase alphabetic
    # characters and underscores."
    repo = unique_repo()
    response = api.get(f"/v2/{repo}/blobs/{UNKNOWN_SHA256}")
    assert_error(response, 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")
    body = response.json()
    assert set(body) == {"errors"}
    for entry in body["errors"]:
        assert set(entry) <= {"code", "message", "detail"}, entry


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/{repo}/manifests/latest"),
        ("PATCH", "/v2/{repo}/manifests/latest"),
        ("PUT", "/v2/{repo}/tags/list"),
        ("DELETE", "/v2/{repo}/tags/list"),
        ("PATCH", "/v2/{repo}/blobs/" + UNKNOWN_SHA256),
        ("PUT", "/v2/{repo}/blobs/" + UNKNOWN_SHA256),
        ("POST", "/v2/"),
    ],
)
def test_method_not_allowed_is_unsupported_405(api: httpx.Client, method: str, path: str) -> None:
    repo = unique_repo()
    response = api.request(method, path.format(repo=repo), content=b"")
    assert_error(response, 405, "UNSUPPORTED")


def test_unknown_endpoint_under_a_repository_is_404_not_500(api: httpx.Client) -> None:
    repo = unique_repo()
    push_image(api, repo, "v1")
    response = api.get(f"/v2/{repo}/no-such-endpoint")
    assert response.status_code == 404, describe(response)


def test_warning_headers_if_any_are_well_formed(api: httpx.Client) -> None:
    # "If included, Warning headers MUST specify a warn-code of 299 and a warn-agent of -, and
    # MUST NOT specify a warn-date value. A registry MUST NOT send more than 4096 bytes of
    # warning data from all headers combined."
    repo = unique_repo()
    image = push_image(api, repo, "v1")
    responses = [
        api.get("/v2/"),
        api.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}),
        api.head(f"/v2/{repo}/blobs/{image.config_digest}"),
        api.get(f"/v2/{repo}/tags/list"),
        api.get(f"/v2/{repo}/referrers/{image.digest}"),
        api.get(f"/v2/{repo}/manifests/missing"),
    ]
    for response in responses:
        warnings = response.headers.get_list("warning")
        assert sum(len(w) for w in warnings) <= 4096, describe(response)
        for warning in warnings:
            assert re.fullmatch(r'299 - "(?:[^"\\]|\\.)*"', warning), describe(response)


# ---------------------------------------------------------------------------------------------
# repository names


def test_single_component_name_is_name_invalid_and_says_project_slash_name(
    api: httpx.Client,
) -> None:
    # Dockyard: every repository lives in a project; the message tells the user the form.
    for method, path in [
        ("GET", "/v2/lonely/tags/list"),
        ("POST", "/v2/lonely/blobs/uploads/"),
        ("GET", f"/v2/lonely/blobs/{UNKNOWN_SHA256}"),
        ("HEAD", "/v2/lonely/manifests/latest"),
        ("PUT", "/v2/lonely/manifests/latest"),
        ("GET", f"/v2/lonely/referrers/{UNKNOWN_SHA256}"),
    ]:
        response = api.request(method, path, content=b"" if method in {"POST", "PUT"} else None)
        assert_error(response, 400, "NAME_INVALID")
        if method != "HEAD":
            messages = " ".join(e["message"] for e in response.json()["errors"])
            assert "<project>/<name>" in messages, describe(response)


@pytest.mark.parametrize(
    "name",
    [
        "Upper/case",
        "proj/Upper",
        "proj/-lead",
        "proj/trail-",
        "proj/double..dot",
        "proj/sp ace",
        "proj//empty",
        "proj/" + "a" * 251,  # 256 characters: "MUST be less than 256" (Distribution: 255 max)
    ],
)
def test_invalid_names_are_rejected_before_anything_happens(api: httpx.Client, name: str) -> None:
    # "<name> MUST match [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
    path = quote(name, safe="/")
    response = api.post(f"/v2/{path}/blobs/uploads/", headers={"Content-Length": "0"})
    assert_error(response, 400, "NAME_INVALID")
    response = api.get(f"/v2/{path}/tags/list")
    assert_error(response, {400, 404}, "NAME_INVALID", "NAME_UNKNOWN")


def test_longest_valid_name_works(api: httpx.Client) -> None:
    project = unique_repo().split("/")[0]
    name = f"{project}/" + "n" * (255 - len(project) - 1)
    assert len(name) == 255
    push_blob(api, name, b"long name")
    assert api.get(f"/v2/{name}/blobs/{digest_of(b'long name')}").content == b"long name"


@pytest.fixture
def victim(api: httpx.Client) -> tuple[str, bytes, str]:
    """A repository holding a secret blob and a tagged image, for path-trick tests."""
    repo = unique_repo("secret")
    secret = b"SECRET-" + random_bytes(16).hex().encode()
    digest = push_blob(api, repo, secret)
    push_image(api, repo, "v1")
    return repo, secret, digest


def _traversal_targets(victim_repo: str, digest: str) -> list[str]:
    project, name = victim_repo.split("/")
    attacker = unique_repo("attacker")
    aproject, aname = attacker.split("/")
    tails = [f"blobs/{digest}", "manifests/v1", "tags/list"]
    prefixes = [
        f"/v2/{aproject}/{aname}/../../{project}/{name}/",
        f"/v2/{aproject}/../{project}/{name}/",
        f"/v2/{aproject}/{aname}/%2e%2e/%2e%2e/{project}/{name}/",
        f"/v2/{aproject}/%2e%2e/{project}/{name}/",
        f"/v2/{aproject}/%2E%2E/{project}/{name}/",
        f"/v2/{aproject}/..%2F{project}/{name}/",
        f"/v2/{aproject}/{aname}%2F..%2F..%2F{project}%2F{name}/",
        f"/v2/{project}%2F{name}/",
        f"/v2/{project}%2f{name}/",
        f"/v2/{project}/{name}%2F./",
        f"/v2/{project}/./{name}/",
        f"/v2/{project.upper()}/{name}/",
    ]
    return [prefix + tail for prefix in prefixes for tail in tails]


def test_path_tricks_never_reach_another_repository(
    shared_registry: RunningRegistry, victim: tuple[str, bytes, str]
) -> None:
    # Dockyard: '..', '%2e%2e', '%2F' and case games inside <name> are 400 NAME_INVALID or
    # 404, never a 500 and never the other repository's content.
    repo, secret, digest = victim
    for target in _traversal_targets(repo, digest):
        for method in ("GET", "HEAD"):
            response = raw_request(shared_registry, method, target)
            summary = f"{method} {target} -> {response.status} {response.body[:300]!r}"
            assert response.status in {400, 404}, summary
            assert secret not in response.body, summary
            assert b"schemaVersion" not in response.body, summary
            if method == "GET" and response.status == 400:
                assert b"NAME_INVALID" in response.body, summary


def test_path_tricks_cannot_write_into_another_repository(
    api: httpx.Client, shared_registry: RunningRegistry, victim: tuple[str, bytes, str]
) -> None:
    repo, _secret, _digest = victim
    project, name = repo.split("/")
    before = repo_state(api, repo, manifests=["v1", "evil"])
    # a valid manifest for that repository, so only the path can make the write fail
    image_body = api.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}).content
    for prefix in [
        f"/v2/{project}/x/../{name}/",
        f"/v2/{project}/x/%2e%2e/{name}/",
        f"/v2/{project}%2F{name}/",
    ]:
        response = raw_request(
            shared_registry,
            "PUT",
            prefix + "manifests/evil",
            {"Content-Type": OCI_MANIFEST},
            image_body,
        )
        assert response.status in {400, 404}, f"PUT {prefix} -> {response.status}"
        response = raw_request(shared_registry, "DELETE", prefix + "manifests/v1")
        assert response.status in {400, 404}, f"DELETE {prefix} -> {response.status}"
        response = raw_request(shared_registry, "POST", prefix + "blobs/uploads/")
        assert response.status in {400, 404}, f"POST {prefix} -> {response.status}"
    assert repo_state(api, repo, manifests=["v1", "evil"]) == before


# ---------------------------------------------------------------------------------------------
# digests


@pytest.mark.parametrize(
    "bad",
    [
        "sha256:abc",
        "sha256:" + "g" * 64,
        "sha256:" + "A" * 64,  # the OCI image spec: lowercase hex only for sha256
        "sha256:" + "0" * 63,
        "sha512:" + "0" * 64,
        "sha256",
        "sha256:",
        ":" + "0" * 64,
    ],
)
def test_malformed_digests_are_digest_invalid(api: httpx.Client, bad: str) -> None:
    repo = unique_repo()
    existing = push_blob(api, repo, b"exists")
    before = repo_state(api, repo, blobs=[existing])
    escaped = quote(bad, safe=":")
    assert_error(api.get(f"/v2/{repo}/blobs/{escaped}"), 400, "DIGEST_INVALID")
    assert_error(api.head(f"/v2/{repo}/blobs/{escaped}"), 400)
    assert_error(api.delete(f"/v2/{repo}/blobs/{escaped}"), 400, "DIGEST_INVALID")
    assert_error(api.get(f"/v2/{repo}/referrers/{escaped}"), 400, "DIGEST_INVALID")
    location = start_upload(api, repo).headers["location"]
    response = api.put(with_digest(location, bad), content=b"exists")
    assert_error(response, 400, "DIGEST_INVALID")
    assert repo_state(api, repo, blobs=[existing]) == before


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_manifest_reference_with_bad_digest(api: httpx.Client, method: str) -> None:
    # Pulling (pull) or deleting (management) a manifest by a malformed or unsupported digest.
    repo = unique_repo()
    push_image(api, repo, "v1")
    response = api.request(method, f"/v2/{repo}/manifests/sha256:abc")
    assert_error(response, 400, "DIGEST_INVALID")
    response = api.request(method, f"/v2/{repo}/manifests/md5:{'a' * 32}")
    assert_error(response, 400, "UNSUPPORTED")


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha384"])
def test_unsupported_digest_algorithms_are_unsupported_400(
    api: httpx.Client, algorithm: str
) -> None:
    repo = unique_repo()
    hex_length = {"md5": 32, "sha1": 40, "sha384": 96}[algorithm]
    digest = f"{algorithm}:" + "a" * hex_length
    assert_error(api.get(f"/v2/{repo}/blobs/{digest}"), 400, "UNSUPPORTED")
    response = api.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=b"x")
    assert_error(response, 400, "UNSUPPORTED")
    assert api.head(f"/v2/{repo}/blobs/{digest_of(b'x')}").status_code == 404


# ---------------------------------------------------------------------------------------------
# nothing a client sends in a path is a server error

SEGMENT = st.text(
    alphabet=string.ascii_letters + string.digits + "._-~%:@!$&'()*+,;=" + "é/\\",
    min_size=0,
    max_size=40,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=SEGMENT, reference=SEGMENT)
def test_fuzzed_paths_are_never_server_errors(api: httpx.Client, name: str, reference: str) -> None:
    for path in [
        f"/v2/proj/{quote(name, safe='/')}/manifests/{quote(reference, safe='')}",
        f"/v2/{quote(name, safe='')}/blobs/{quote(reference, safe=':')}",
        f"/v2/proj/{quote(name, safe='/')}/tags/list?n={quote(reference)}",
        f"/v2/proj/x/referrers/{quote(reference, safe=':')}",
    ]:
        response = api.get(path)
        assert response.status_code < 500, describe(response)
        if response.status_code >= 400 and response.content:
            error_codes(response)
