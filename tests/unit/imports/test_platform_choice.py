from __future__ import annotations

import platform

import pytest

from dockyard.imports.importer import preferred_child
from dockyard.registry.digest import Digest
from dockyard.registry.manifests import Descriptor, Platform


def child(os_name: str, architecture: str, n: int) -> Descriptor:
    return Descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        Digest("sha256", f"{n:064x}"),
        100,
        platform=Platform(architecture, os_name),
    )


def test_legacy_mode_prefers_this_machine_then_linux_amd64_then_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    children = [
        child("windows", "amd64", 1),
        child("linux", "arm64", 2),
        child("linux", "amd64", 3),
    ]
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert preferred_child(children) == children[1]
    monkeypatch.setattr(platform, "machine", lambda: "s390x")
    assert preferred_child(children) == children[2]
    assert preferred_child(children[:1]) == children[0]
    assert preferred_child([]) is None
