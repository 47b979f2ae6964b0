from __future__ import annotations

import pytest

from dockyard.imports.reference import ImageReference, ReferenceError, parse_image_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ImageReference("docker.io", "library/nginx")),
        ("nginx:1.25", ImageReference("docker.io", "library/nginx", "1.25")),
        ("team/app:1", ImageReference("docker.io", "team/app", "1")),
        ("quay.io/team/app", ImageReference("quay.io", "team/app")),
        ("localhost/app:v", ImageReference("localhost", "app", "v")),
        ("127.0.0.1:5000/a/b/c:1.0", ImageReference("127.0.0.1:5000", "a/b/c", "1.0")),
        (f"host:5000/app@{DIGEST}", ImageReference("host:5000", "app", digest=DIGEST)),
        (f"h.io/app:1@{DIGEST}", ImageReference("h.io", "app", "1", DIGEST)),
        ("host/app", ImageReference("docker.io", "host/app")),
        ("[::1]:5000/app", ImageReference("[::1]:5000", "app")),
    ],
)
def test_pull_specs_follow_dockers_rules(text: str, expected: ImageReference) -> None:
    assert parse_image_reference(text) == expected


def test_the_reference_fetched_is_the_digest_then_the_tag_then_latest() -> None:
    assert parse_image_reference(f"h.io/a:1@{DIGEST}").reference == DIGEST
    assert parse_image_reference("h.io/a:1").reference == "1"
    assert parse_image_reference("h.io/a").reference == "latest"
    assert parse_image_reference("a").endpoint == "registry-1.docker.io"
    assert str(parse_image_reference("h.io:5000/a/b:1")) == "h.io:5000/a/b:1"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Host.io/UPPER:1", "lowercase"),
        ("h.io/app:bad:tag", "lowercase"),
        ("h.io/app:-x", "not a valid tag"),
        ("h.io/app@sha256:short", "digest"),
        ("h_o.io/app", "not a registry host"),
        ("", "lowercase"),
    ],
)
def test_bad_pull_specs_say_why(text: str, why: str) -> None:
    with pytest.raises(ReferenceError, match=why):
        parse_image_reference(text)
