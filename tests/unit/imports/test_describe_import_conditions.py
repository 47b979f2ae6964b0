from __future__ import annotations

from datetime import UTC, datetime

from dockyard.cli.describe import describe_image_stream


def test_describe_shows_a_failed_import_under_its_tag() -> None:
    stream = {
        "metadata": {
            "name": "app",
            "namespace": "proj",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "tags": [
                {
                    "name": "1.0",
                    "from": {"kind": "DockerImage", "name": "registry.lab:5000/team/app:1.0"},
                    "importPolicy": {"scheduled": True},
                }
            ]
        },
        "status": {
            "dockerImageRepository": "127.0.0.1:5000/proj/app",
            "tags": [
                {
                    "tag": "1.0",
                    "items": [
                        {
                            "created": "2026-01-01T00:00:00Z",
                            "dockerImageReference": "registry.lab:5000/team/app@sha256:aa",
                            "image": "sha256:aa",
                        }
                    ],
                    "conditions": [
                        {
                            "type": "ImportSuccess",
                            "status": "False",
                            "reason": "NotFound",
                            "message": "registry.lab:5000/v2/team/app/manifests/1.0: not found",
                            "lastTransitionTime": "2026-01-01T00:05:00Z",
                        }
                    ],
                }
            ],
        },
    }
    text = describe_image_stream(stream, datetime(2026, 1, 1, 0, 10, tzinfo=UTC))
    assert (
        "1.0\n"
        "  updates automatically from registry registry.lab:5000/team/app:1.0\n"
        "  ! error: Import failed (NotFound): registry.lab:5000/v2/team/app/manifests/1.0: not"
        " found\n"
        "      5 minutes ago\n"
        "\n"
        "  * registry.lab:5000/team/app@sha256:aa\n"
    ) in text
