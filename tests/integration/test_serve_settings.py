"""Process settings seen from outside: what a client observes when a setting changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from distribution_helpers import push_blob, random_bytes, unique_repo

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess

pytestmark = pytest.mark.integration


def test_http_host_makes_locations_absolute(registry_factory: RegistryFactory) -> None:
    server = registry_factory(env={"REGISTRY_HTTP_HOST": "https://registry.example.com/"})
    repo = unique_repo()
    with server.client() as client:
        started = client.post(f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202
        assert started.headers["location"].startswith(
            f"https://registry.example.com/v2/{repo}/blobs/uploads/"
        )


def test_relative_locations_by_default(shared_registry: RegistryProcess) -> None:
    repo = unique_repo()
    with shared_registry.client() as client:
        started = client.post(f"/v2/{repo}/blobs/uploads/")
        assert started.headers["location"].startswith(f"/v2/{repo}/blobs/uploads/")
        digest = push_blob(client, repo, random_bytes(64))
        head = client.head(f"/v2/{repo}/blobs/{digest}")
        assert head.status_code == 200


def test_deletes_can_be_disabled(registry_factory: RegistryFactory) -> None:
    server = registry_factory(env={"REGISTRY_STORAGE_DELETE_ENABLED": "false"})
    repo = unique_repo()
    with server.client() as client:
        digest = push_blob(client, repo, random_bytes(64))
        response = client.delete(f"/v2/{repo}/blobs/{digest}")
        assert response.status_code == 405
        assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
        assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200
