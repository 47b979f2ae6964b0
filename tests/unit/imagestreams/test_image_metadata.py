"""``dockerImageMetadata``: one rendering for images pushed here and images imported."""

from __future__ import annotations

import json

from dockyard.imagestreams.images import docker_image_metadata

DIGEST = "sha256:" + "a" * 64


def test_the_config_fields_oc_describe_shows() -> None:
    config = {
        "created": "2026-01-02T03:04:05Z",
        "architecture": "arm64",
        "os": "linux",
        "author": "Dockyard",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    found = docker_image_metadata(DIGEST, 1234, json.dumps(config).encode())
    assert found == {
        "kind": "DockerImage",
        "apiVersion": "image.openshift.io/1.0",
        "Id": DIGEST,
        "Size": 1234,
        "Created": "2026-01-02T03:04:05Z",
        "Architecture": "arm64",
        "Os": "linux",
        "Author": "Dockyard",
        "Config": {"Env": ["PATH=/bin"]},
    }


def test_a_config_that_is_not_a_json_object_gives_size_and_id_only() -> None:
    for config in (None, b"\xff not json", b"[1, 2]"):
        found = docker_image_metadata(DIGEST, 7, config)
        assert found == {
            "kind": "DockerImage",
            "apiVersion": "image.openshift.io/1.0",
            "Id": DIGEST,
            "Size": 7,
        }
