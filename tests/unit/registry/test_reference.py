from __future__ import annotations

import pytest

from dockyard.errors import DigestInvalidError, ErrorCode, NameInvalidError, TagInvalidError
from dockyard.registry.digest import Digest
from dockyard.registry.reference import (
    parse_reference,
    project_of,
    validate_name,
    validate_tag,
)

HEX = "a" * 64


@pytest.mark.parametrize(
    "name",
    [
        "a/b",
        "library/ubuntu",
        "proj/team/app",
        "proj/team/sub/app",
        "a0/b-c",
        "a/b__c",
        "a/b.c",
        "a/b_c",
        "a/b---c",
        "p/" + "a" * 253,
    ],
)
def test_good_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["ubuntu", "a", "my-app"])
def test_single_component_explains_project_form(name: str) -> None:
    with pytest.raises(NameInvalidError) as info:
        validate_name(name)
    assert info.value.code is ErrorCode.NAME_INVALID
    assert info.value.status == 400
    assert "<project>/<name>" in info.value.message
    assert f"{name}/{name}" in info.value.message


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "a/..",
        "a/../b",
        "a/./b",
        "%2e%2e",
        "a/%2e%2e/b",
        "a%2fb",
        "A/b",
        "a/B",
        "/a/b",
        "a/b/",
        "a//b",
        "",
        "a/b\n",
        "a/_b",
        "a/b_",
        "a/b___c",
        "a/-b",
        "a/b c",
        "a/b:tag",
        "a\\b",
    ],
)
def test_bad_names(name: str) -> None:
    with pytest.raises(NameInvalidError) as info:
        validate_name(name)
    assert "<project>/<name>" not in info.value.message


def test_name_length_limit() -> None:
    assert validate_name("p/" + "a" * 253)
    with pytest.raises(NameInvalidError, match="256 characters long; at most 255"):
        validate_name("p/" + "a" * 254)


@pytest.mark.parametrize(
    "tag", ["latest", "v1.2.3", "_x", "A_b-c.d", "a" * 128, "0", "x" * 127 + "-"]
)
def test_good_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", "a" * 129, ".x", "-x", "a:b", "a/b", "latest\n", "la test", "é", "a+b"]
)
def test_bad_tags(tag: str) -> None:
    with pytest.raises(TagInvalidError) as info:
        validate_tag(tag)
    assert info.value.code is ErrorCode.TAG_INVALID
    assert info.value.status == 400


def test_parse_reference() -> None:
    assert parse_reference("latest") == "latest"
    assert parse_reference(f"sha256:{HEX}") == Digest("sha256", HEX)
    with pytest.raises(DigestInvalidError):
        parse_reference("sha256:abc")
    with pytest.raises(TagInvalidError):
        parse_reference("bad tag")


def test_project_of() -> None:
    assert project_of("proj/team/app") == "proj"
