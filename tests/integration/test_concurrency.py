"""Many clients pushing the same blobs and the same tag at once end in a consistent registry."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from distribution_helpers import build_image, get_manifest, push_blob, push_manifest, unique_repo
from images import OCI_MANIFEST, digest_of

if TYPE_CHECKING:
    from conftest import RegistryProcess

pytestmark = pytest.mark.integration

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
