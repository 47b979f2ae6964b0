"""Many clients pushing (and deleting) the same blobs, manifests and tags at once end in a
consistent registry, each answered as if it ran alone."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from distribution_helpers import (
    build_image,
    get_manifest,
    prepare_image,
    push_blob,
    push_manifest,
    put_manifest,
    unique_repo,
)
from images import OCI_MANIFEST, digest_of

if TYPE_CHECKING:
    from conftest import RegistryProcess

pytestmark = [pytest.mark.integration, pytest.mark.database]

CLIENTS = 16


def test_concurrent_pushes_of_one_blob_and_one_tag_end_consistent(
    shared_registry: RegistryProcess,
) -> None:
    repo = unique_repo("race")
    shared = build_image(repo, layer_count=2, layer_size=256 * 1024)
    # Each client pushes the same config and layers, then its own manifest to the same tag.

    def client_push(i: int) -> str:
        with shared_registry.client(timeout=60) as client:
            push_blob(client, repo, shared.config)
            for layer in shared.layers:
                push_blob(client, repo, layer)
            manifest = json.loads(shared.manifest)
            manifest["annotations"] = {"client": str(i)}
            body = json.dumps(manifest).encode()
            return push_manifest(client, repo, "latest", body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        pushed = set(pool.map(client_push, range(CLIENTS)))
    assert len(pushed) == CLIENTS

    with shared_registry.client() as client:
        tags = client.get(f"/v2/{repo}/tags/list").json()["tags"]
        assert tags == ["latest"]
        current = get_manifest(client, repo, "latest")
        assert current.status_code == 200
        assert current.headers["content-type"] == OCI_MANIFEST
        winner = current.headers["docker-content-digest"]
        assert winner in pushed
        assert digest_of(current.content) == winner
        for digest in pushed:  # every manifest stays reachable by digest
            assert client.head(f"/v2/{repo}/manifests/{digest}").status_code == 200
        for blob in [shared.config, *shared.layers]:
            response = client.get(f"/v2/{repo}/blobs/{digest_of(blob)}")
            assert response.status_code == 200
            assert response.content == blob


def test_pushes_and_deletes_of_one_manifest_at_once_never_fail(
    shared_registry: RegistryProcess,
) -> None:
    """Clients pushing a manifest while others delete it lock the same rows (on PostgreSQL in
    whatever order each statement reaches them): each answers as if it ran alone, never 500."""
    repo = unique_repo("churn")
    with shared_registry.client(timeout=60) as client:
        image = prepare_image(client, repo, layer_count=2)
    deadline = time.monotonic() + 4

    def churn(i: int) -> list[int]:
        statuses = []
        with shared_registry.client(timeout=60) as client:
            while time.monotonic() < deadline:
                if i % 2:
                    response = put_manifest(client, repo, f"t{i}", image.manifest, image.media_type)
                else:
                    response = client.delete(f"/v2/{repo}/manifests/{image.digest}")
                statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(6) as pool:
        statuses = [status for done in pool.map(churn, range(6)) for status in done]
    assert 201 in statuses and 202 in statuses
    assert set(statuses) <= {201, 202, 404}, sorted(set(statuses))
    with shared_registry.client() as client:
        push_manifest(client, repo, "last", image.manifest, image.media_type)
        assert get_manifest(client, repo, "last").content == image.manifest
