from __future__ import annotations

import pytest

from dockyard.registry.mediatypes import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    accepted_types,
    is_acceptable,
)

ALL = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]


def test_accepted_types_parses_lists_parameters_and_case() -> None:
    headers = [
        f"{OCI_MANIFEST}, {DOCKER_MANIFEST};q=0.9",
        " Application/VND.OCI.Image.Index.v1+JSON ; q=0.5 ,, ",
        "",
    ]
    assert accepted_types(headers) == {OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX}


def test_accepted_types_empty() -> None:
    assert accepted_types([]) == set()


@pytest.mark.parametrize("accept", [[], ["application/json"], ["text/html, application/xml"]])
@pytest.mark.parametrize("media_type", ALL)
def test_client_naming_no_manifest_type_gets_what_is_stored(
    accept: list[str], media_type: str
) -> None:
    assert is_acceptable(media_type, accepted_types(accept))


@pytest.mark.parametrize("media_type", ALL)
def test_wildcard_accepts_everything(media_type: str) -> None:
    assert is_acceptable(media_type, accepted_types([f"{DOCKER_MANIFEST}, */*"]))


@pytest.mark.parametrize("index", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_index_withheld_from_client_listing_only_image_manifests(index: str) -> None:
    accepted = accepted_types([f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"])
    assert not is_acceptable(index, accepted)


@pytest.mark.parametrize("index", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_any_index_type_accepts_either_index(index: str) -> None:
    assert is_acceptable(index, accepted_types([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]))
    assert is_acceptable(index, accepted_types([OCI_MANIFEST, OCI_INDEX]))


def test_image_manifests_cross_families() -> None:
    assert is_acceptable(OCI_MANIFEST, accepted_types([DOCKER_MANIFEST]))
    assert is_acceptable(DOCKER_MANIFEST, accepted_types([OCI_MANIFEST]))
    assert is_acceptable(OCI_MANIFEST, accepted_types([OCI_MANIFEST]))
