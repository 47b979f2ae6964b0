"""Which spec tags follow a tag when it moves: aliases of the same stream only."""

from __future__ import annotations

from dockyard.metadata.tags import followers


def alias(name: str, source: str, namespace: str | None = None) -> dict[str, object]:
    reference: dict[str, object] = {"kind": "ImageStreamTag", "name": source}
    if namespace is not None:
        reference["namespace"] = namespace
    return {"name": name, "from": reference}


def test_aliases_by_tag_and_by_stream_tag_follow() -> None:
    spec = {"tags": [alias("current", "latest"), alias("stable", "app:latest")]}
    assert followers(spec, "team/app", "latest") == ["current", "stable"]


def test_a_namespace_naming_the_own_project_is_the_same_stream() -> None:
    spec = {"tags": [alias("current", "app:latest", "team"), alias("empty", "latest", "")]}
    assert followers(spec, "team/app", "latest") == ["current", "empty"]


def test_other_projects_streams_and_kinds_do_not_follow() -> None:
    spec = {
        "tags": [
            alias("elsewhere", "app:latest", "other"),
            alias("sibling", "web:latest"),
            alias("other-tag", "1.0"),
            {"name": "pinned", "from": {"kind": "ImageStreamImage", "name": "app@sha256:ab"}},
            {"name": "external", "from": {"kind": "DockerImage", "name": "quay.io/x/app:latest"}},
        ]
    }
    assert followers(spec, "team/app", "latest") == []
    assert followers(None, "team/app", "latest") == []
