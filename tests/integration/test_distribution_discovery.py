"""Distribution API contract, the Content Discovery category: tags, catalog and referrers.

Spec: OCI distribution-spec 1.1, "Listing Tags", "Listing Referrers"; the catalog is the Docker
Registry HTTP API V2's ``/v2/_catalog`` (not in OCI), paginated the same way.
"""

from __future__ import annotations

import random
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from distribution_helpers import (
    assert_error,
    assert_status,
    build_image,
    build_index,
    describe,
    media_type_of,
    next_link,
    paginate,
    prepare_image,
    push_image,
    push_manifest,
    random_bytes,
    unique_repo,
)
from images import OCI_INDEX, OCI_MANIFEST, digest_of

pytestmark = pytest.mark.integration

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"
SIG_CONFIG = "application/vnd.example.signature.config.v1+json"


def _tag_all(client: httpx.Client, repo: str, tags: list[str]) -> None:
    """Point every tag at one image (pushed once)."""
    image = push_image(client, repo)
    shuffled = list(tags)
    random.shuffle(shuffled)
    for tag in shuffled:
        push_manifest(client, repo, tag, image.manifest)


def _link_params(response: httpx.Response, path: str) -> dict[str, str]:
    link = next_link(response)
    assert link is not None, describe(response)
    parts = urlsplit(link)
    assert parts.path == path, describe(response)
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


# ---------------------------------------------------------------------------------------------
# tags


def test_tags_list_is_sorted(api: httpx.Client) -> None:
    # "Upon success, the response MUST be a json body in the following format: {name, tags}."
    # "the tags MUST be in lexical order".
    repo = unique_repo()
    tags = ["v1", "latest", "v10", "v2", "1.0", "a_b", "a-b", "zzz", "0"]
    _tag_all(api, repo, tags)
    response = api.get(f"/v2/{repo}/tags/list")
    assert_status(response, 200)
    assert media_type_of(response) == "application/json"
    assert response.json() == {"name": repo, "tags": sorted(tags)}
    assert "link" not in response.headers


def test_tags_list_order_is_case_insensitive(api: httpx.Client) -> None:
    # "If the list is not empty, the tags MUST be in lexical order (i.e. case-insensitive
    # alphanumeric order)."
    repo = unique_repo()
    tags = ["beta", "Alpha", "alpha2", "Gamma", "delta"]
    _tag_all(api, repo, tags)
    listed = api.get(f"/v2/{repo}/tags/list").json()["tags"]
    assert listed == sorted(tags, key=lambda tag: (tag.lower(), tag))


def test_tags_pagination_with_n_and_link(api: httpx.Client) -> None:
    # "The response to such a request MAY return fewer than <int> results, but only when the
    # total number of tags attached to the repository is less than <int> or a Link header is
    # provided." Dockyard: exactly n while more remain, with
    # Link: </v2/<name>/tags/list?last=X&n=N>; rel="next"
    repo = unique_repo()
    tags = [f"t{i:02d}" for i in range(7)]
    _tag_all(api, repo, tags)
    path = f"/v2/{repo}/tags/list"
    response = api.get(path, params={"n": 3})
    assert_status(response, 200)
    assert response.json() == {"name": repo, "tags": tags[:3]}
    assert _link_params(response, path) == {"last": "t02", "n": "3"}
    pages = list(paginate(api, f"{path}?n=3", "tags"))
    assert pages == [tags[0:3], tags[3:6], tags[6:7]]


def test_tags_last_page_that_ends_exactly_has_no_link(api: httpx.Client) -> None:
    repo = unique_repo()
    tags = ["a", "b", "c", "d"]
    _tag_all(api, repo, tags)
    response = api.get(f"/v2/{repo}/tags/list", params={"n": 2, "last": "b"})
    assert_status(response, 200)
    assert response.json()["tags"] == ["c", "d"]
    assert "link" not in response.headers, describe(response)
    response = api.get(f"/v2/{repo}/tags/list", params={"n": 4})
    assert response.json()["tags"] == tags
    assert "link" not in response.headers, describe(response)


def test_tags_pagination_over_many_tags(api: httpx.Client) -> None:
    repo = unique_repo()
    tags = sorted(f"tag-{uuid.uuid4().hex[:8]}" for _ in range(45))
    _tag_all(api, repo, tags)
    pages = list(paginate(api, f"/v2/{repo}/tags/list?n=7", "tags"))
    assert [tag for page in pages for tag in page] == tags
    assert all(len(page) == 7 for page in pages[:-1])


def test_tags_n_zero_is_empty_without_link(api: httpx.Client) -> None:
    # "When n is zero, this endpoint MUST return an empty list, and MUST NOT include a Link
    # header."
    repo = unique_repo()
    _tag_all(api, repo, ["a", "b"])
    response = api.get(f"/v2/{repo}/tags/list", params={"n": 0})
    assert_status(response, 200)
    assert response.json() == {"name": repo, "tags": []}
    assert "link" not in response.headers


def test_tags_n_larger_than_count(api: httpx.Client) -> None:
    repo = unique_repo()
    _tag_all(api, repo, ["a", "b"])
    response = api.get(f"/v2/{repo}/tags/list", params={"n": 1000})
    assert response.json()["tags"] == ["a", "b"]
    assert "link" not in response.headers


def test_tags_last_without_n(api: httpx.Client) -> None:
    # "A request of this sort will return up to <int> tags, beginning non-inclusively with
    # <tagname>." "When using the last query parameter, the n parameter is OPTIONAL."
    repo = unique_repo()
    _tag_all(api, repo, ["a", "b", "c", "d"])
    assert api.get(f"/v2/{repo}/tags/list", params={"last": "b"}).json()["tags"] == ["c", "d"]
    # a "last" that is not itself a tag still orders lexically
    assert api.get(f"/v2/{repo}/tags/list", params={"last": "bb"}).json()["tags"] == ["c", "d"]
    assert api.get(f"/v2/{repo}/tags/list", params={"last": "d"}).json()["tags"] == []


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "0x10", "1e3"])
def test_tags_bad_n_is_pagination_number_invalid(api: httpx.Client, n: str) -> None:
    repo = unique_repo()
    _tag_all(api, repo, ["a"])
    response = api.get(f"/v2/{repo}/tags/list", params={"n": n})
    assert_error(response, 400, "PAGINATION_NUMBER_INVALID")


def test_tags_of_unknown_repository_is_name_unknown(api: httpx.Client) -> None:
    assert_error(api.get(f"/v2/{unique_repo()}/tags/list"), 404, "NAME_UNKNOWN")


def test_tags_of_repository_without_tags_is_empty_list(api: httpx.Client) -> None:
    # "Assuming a repository is found, this request MUST return a 200 OK response code. The
    # list of tags MAY be empty if there are no tags on the repository."
    repo = unique_repo()
    image = push_image(api, repo)  # by digest only
    response = api.get(f"/v2/{repo}/tags/list")
    assert_status(response, 200)
    assert response.json() == {"name": repo, "tags": []}
    push_manifest(api, repo, "v1", image.manifest)
    assert_status(api.delete(f"/v2/{repo}/manifests/v1"), 202)
    assert api.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": []}


# ---------------------------------------------------------------------------------------------
# catalog


def test_catalog_lists_repositories_sorted(api: httpx.Client) -> None:
    prefix = f"cat-{uuid.uuid4().hex[:12]}"
    repos = [f"{prefix}/c", f"{prefix}/a", f"{prefix}/b/nested", f"{prefix}/b"]
    for repo in repos:
        push_image(api, repo, "v1")
    response = api.get("/v2/_catalog")
    assert_status(response, 200)
    assert media_type_of(response) == "application/json"
    listed = response.json()["repositories"]
    assert listed == sorted(listed)
    assert set(repos) <= set(listed)


def test_catalog_pagination(api: httpx.Client) -> None:
    prefix = f"cat-{uuid.uuid4().hex[:12]}"
    repos = sorted(f"{prefix}/r{i}" for i in range(5))
    for repo in repos:
        push_image(api, repo, "v1")
    response = api.get("/v2/_catalog", params={"n": 2, "last": prefix})
    assert_status(response, 200)
    assert response.json() == {"repositories": repos[:2]}
    assert _link_params(response, "/v2/_catalog") == {"last": repos[1], "n": "2"}
    seen: list[str] = []
    for page in paginate(api, f"/v2/_catalog?n=2&last={prefix}", "repositories"):
        assert len(page) <= 2
        seen += page
        if any(not name.startswith(f"{prefix}/") for name in page):
            break
    assert [name for name in seen if name.startswith(f"{prefix}/")] == repos


def test_catalog_n_zero_and_bad_n(api: httpx.Client) -> None:
    push_image(api, unique_repo(), "v1")
    response = api.get("/v2/_catalog", params={"n": 0})
    assert_status(response, 200)
    assert response.json() == {"repositories": []}
    assert "link" not in response.headers
    for n in ("-1", "abc"):
        assert_error(api.get("/v2/_catalog", params={"n": n}), 400, "PAGINATION_NUMBER_INVALID")


# ---------------------------------------------------------------------------------------------
# referrers


def _referrers(
    client: httpx.Client, repo: str, digest: str, artifact_type: str | None = None
) -> httpx.Response:
    params = {"artifactType": artifact_type} if artifact_type is not None else None
    response = client.get(f"/v2/{repo}/referrers/{digest}", params=params)
    # "Upon success, the response MUST be a JSON body with an image index containing a list of
    # descriptors. The Content-Type header MUST be set to application/vnd.oci.image.index.v1+json"
    assert_status(response, 200)
    assert media_type_of(response) == OCI_INDEX
    body = response.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    assert isinstance(body["manifests"], list)
    return response


def _by_digest(response: httpx.Response) -> dict[str, dict[str, object]]:
    return {entry["digest"]: entry for entry in response.json()["manifests"]}


def test_referrers_lists_manifests_with_that_subject(api: httpx.Client) -> None:
    # "The descriptors MUST include an artifactType field that is set to the value of the
    # artifactType in the image manifest or index, if present. If the artifactType is empty or
    # missing in the image manifest, the value of artifactType MUST be set to the config
    # descriptor mediaType value. If the artifactType is empty or missing in an index, the
    # artifactType MUST be omitted. The descriptors MUST include annotations from the image
    # manifest or index."
    repo = unique_repo()
    subject = push_image(api, repo, "v1")
    sbom = push_image(
        api,
        repo,
        artifact_type=SBOM,
        subject=subject.as_descriptor(),
        annotations={"org.example.sbom.format": "json"},
    )
    signature = push_image(
        api,
        repo,
        config_media_type=SIG_CONFIG,
        subject=subject.as_descriptor(),
        annotations={"org.example.signature.fingerprint": "abcd"},
    )
    index_body = build_index(
        [push_image(api, repo).as_descriptor()],
        subject=subject.as_descriptor(),
        annotations={"org.opencontainers.image.created": "2023-01-01T07:21:33Z"},
    )
    index_digest = push_manifest(api, repo, digest_of(index_body), index_body, OCI_INDEX)
    push_image(api, repo, "unrelated")  # no subject
    push_image(api, unique_repo("elsewhere"), subject=subject.as_descriptor())  # other repo

    entries = _by_digest(_referrers(api, repo, subject.digest))
    assert set(entries) == {sbom.digest, signature.digest, index_digest}
    assert entries[sbom.digest] == {
        "mediaType": OCI_MANIFEST,
        "digest": sbom.digest,
        "size": sbom.size,
        "artifactType": SBOM,
        "annotations": {"org.example.sbom.format": "json"},
    }
    assert entries[signature.digest]["artifactType"] == SIG_CONFIG
    assert entries[signature.digest]["annotations"] == {"org.example.signature.fingerprint": "abcd"}
    assert entries[signature.digest]["size"] == signature.size
    assert "artifactType" not in entries[index_digest]
    assert entries[index_digest]["mediaType"] == OCI_INDEX
    assert entries[index_digest]["size"] == len(index_body)
    assert entries[index_digest]["annotations"] == {
        "org.opencontainers.image.created": "2023-01-01T07:21:33Z"
    }


def test_many_referrers_are_all_listed_across_pages(api: httpx.Client) -> None:
    # "A Link header MUST be included in the response when the descriptor list cannot be
    # returned in a single manifest." Following Link headers (if any) yields every referrer once.
    repo = unique_repo()
    subject = push_image(api, repo, "v1")
    pushed = {
        push_image(
            api, repo, layer_count=0, artifact_type=SBOM, subject=subject.as_descriptor()
        ).digest
        for _ in range(30)
    }
    listed: list[str] = []
    for page in paginate(api, f"/v2/{repo}/referrers/{subject.digest}", "manifests"):
        listed += [entry["digest"] for entry in page]
    assert sorted(listed) == sorted(pushed)


def test_referrers_filter_by_artifact_type(api: httpx.Client) -> None:
    # "If filtering is requested and applied, the response MUST include a header
    # OCI-Filters-Applied: artifactType".
    repo = unique_repo()
    subject = push_image(api, repo, "v1")
    sbom = push_image(api, repo, artifact_type=SBOM, subject=subject.as_descriptor())
    push_image(api, repo, artifact_type=SIGNATURE, subject=subject.as_descriptor())
    unfiltered = _referrers(api, repo, subject.digest)
    assert len(unfiltered.json()["manifests"]) == 2
    assert "artifactType" not in unfiltered.headers.get("oci-filters-applied", "")
    filtered = _referrers(api, repo, subject.digest, SBOM)
    assert filtered.headers.get("oci-filters-applied") == "artifactType", describe(filtered)
    assert list(_by_digest(filtered)) == [sbom.digest]
    nothing = _referrers(api, repo, subject.digest, "application/vnd.example.none")
    assert nothing.headers.get("oci-filters-applied") == "artifactType"
    assert nothing.json()["manifests"] == []


def test_referrers_of_digest_without_referrers_is_empty(api: httpx.Client) -> None:
    # "If a query results in no matching referrers, an empty manifest list MUST be returned."
    repo = unique_repo()
    subject = push_image(api, repo, "v1")
    assert _referrers(api, repo, subject.digest).json()["manifests"] == []
    unknown = digest_of(random_bytes(8))
    assert _referrers(api, repo, unknown).json()["manifests"] == []


def test_referrers_of_unknown_repository_is_not_404(api: httpx.Client) -> None:
    # "If the registry supports the referrers API, the registry MUST NOT return a 404 Not Found
    # to a referrers API requests."
    repo = unique_repo()
    assert _referrers(api, repo, digest_of(b"anything")).json()["manifests"] == []


def test_referrer_pushed_before_its_subject(api: httpx.Client) -> None:
    repo = unique_repo()
    subject = prepare_image(api, repo)
    referrer = push_image(api, repo, artifact_type=SBOM, subject=subject.as_descriptor())
    assert list(_by_digest(_referrers(api, repo, subject.digest))) == [referrer.digest]
    push_manifest(api, repo, "v1", subject.manifest)
    assert list(_by_digest(_referrers(api, repo, subject.digest))) == [referrer.digest]


def test_deleted_referrer_is_no_longer_listed(api: httpx.Client) -> None:
    repo = unique_repo()
    subject = push_image(api, repo, "v1")
    kept = push_image(api, repo, artifact_type=SBOM, subject=subject.as_descriptor())
    gone = push_image(api, repo, artifact_type=SIGNATURE, subject=subject.as_descriptor())
    assert_status(api.delete(f"/v2/{repo}/manifests/{gone.digest}"), 202)
    assert list(_by_digest(_referrers(api, repo, subject.digest))) == [kept.digest]


@pytest.mark.parametrize("bad", ["sha256:abc", "notadigest", "sha256:" + "Z" * 64])
def test_referrers_with_invalid_digest_is_400(api: httpx.Client, bad: str) -> None:
    # "If the request is invalid, such as a <digest> with an invalid syntax, a 400 Bad Request
    # MUST be returned."
    repo = unique_repo()
    push_image(api, repo, "v1")
    response = api.get(f"/v2/{repo}/referrers/{bad}")
    assert_error(response, 400, "DIGEST_INVALID")


def test_referrers_by_tag_is_400(api: httpx.Client) -> None:
    # end-12a takes a <digest>; a tag is "a <digest> with an invalid syntax".
    repo = unique_repo()
    push_image(api, repo, "v1")
    response = api.get(f"/v2/{repo}/referrers/v1")
    assert_error(response, 400, "DIGEST_INVALID")


def test_referrer_with_missing_blobs_is_rejected(api: httpx.Client) -> None:
    # An artifact manifest's own blobs must still exist: subject is the only exemption.
    repo = unique_repo()
    subject = push_image(api, repo, "v1")
    image = build_image(repo, artifact_type=SBOM, subject=subject.as_descriptor())
    response = api.put(
        f"/v2/{repo}/manifests/{image.digest}",
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert _referrers(api, repo, subject.digest).json()["manifests"] == []
