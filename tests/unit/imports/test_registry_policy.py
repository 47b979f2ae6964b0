from __future__ import annotations

import pytest

from dockyard.imports.client import UpstreamError
from dockyard.imports.policy import RegistryPolicy, RegistrySources, matches
from dockyard.imports.reference import parse_image_reference


@pytest.mark.parametrize(
    ("entry", "image", "expected"),
    [
        ("quay.io", "quay.io/team/app:1", True),
        ("quay.io", "quay.io:443/team/app:1", False),
        ("quay.io/team", "quay.io/team/app:1", True),
        ("quay.io/team", "quay.io/teams/app:1", False),
        ("quay.io/team/app", "quay.io/team/app:1", True),
        ("*.example.com", "registry.example.com/a:1", True),
        ("*.example.com", "example.com/a:1", False),
        ("docker.io", "nginx:1", True),
        ("docker.io/library", "nginx:1", True),
        ("Registry.Lab:5000/", "registry.lab:5000/a:1", True),
    ],
)
def test_entries_match_hosts_repositories_and_subdomains(
    entry: str, image: str, expected: bool
) -> None:
    assert matches(entry, parse_image_reference(image)) is expected


def test_blocked_allowed_and_insecure() -> None:
    image = parse_image_reference("registry.lab:5000/team/app:1")
    assert RegistryPolicy(RegistrySources()).check(image) is False
    insecure = RegistrySources(insecureRegistries=["registry.lab:5000"])
    assert RegistryPolicy(insecure).check(image) is True
    with pytest.raises(UpstreamError, match="blockedRegistries"):
        RegistryPolicy(RegistrySources(blockedRegistries=["registry.lab:5000"])).check(image)
    with pytest.raises(UpstreamError, match="allowedRegistries"):
        RegistryPolicy(RegistrySources(allowedRegistries=["quay.io"])).check(image)
    allowed = RegistrySources(allowedRegistries=["registry.lab:5000/team"])
    assert RegistryPolicy(allowed).check(image) is False
