"""Which storage paths the hard prune reads as blobs: only the ones this registry writes."""

from __future__ import annotations

import pytest

from dockyard.pruning.orphans import blob_digest

HEX = "ab" + "0" * 62
ROOT = "/docker/registry/v2/blobs"


def test_a_blob_data_path_names_its_digest() -> None:
    assert blob_digest(f"{ROOT}/sha256/ab/{HEX}/data") == f"sha256:{HEX}"


@pytest.mark.parametrize(
    "path",
    [
        f"{ROOT}/sha256/cd/{HEX}/data",  # in the wrong directory
        f"{ROOT}/sha256/ab/{HEX}/other",
        f"{ROOT}/sha256/ab/{HEX}",
        f"{ROOT}/sha256/ab/abc/data",  # too short for sha256
        f"{ROOT}/md5/ab/{HEX}/data",
        f"{ROOT}/sha256/ab/{HEX.upper()}/data",
    ],
)
def test_anything_else_is_left_alone(path: str) -> None:
    assert blob_digest(path) is None
