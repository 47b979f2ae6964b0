"""Two replicas on one database and one storage, as behind a load balancer: what one changes,
the other's workers serve, however much they had cached (at once on SQLite, within the
milliseconds a notification takes on PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from distribution_helpers import push_image, unique_repo
from images import OCI_MANIFEST

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess

pytestmark = [pytest.mark.integration, pytest.mark.database]

DEADLINE = 2.0
ASKS = 6
"""GETs on new connections: enough to reach both workers of a replica."""


def _served(server: RegistryProcess, repo: str, tag: str) -> str | None:
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=30) as once:
        response = once.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.headers["Docker-Content-Digest"]


def _until_every_ask_serves(server: RegistryProcess, repo: str, tag: str, want: str | None) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        answers = {_served(server, repo, tag) for _ in range(ASKS)}
        if answers == {want}:
            return
        assert time.monotonic() < deadline, f"still {answers}, not {want}"
        time.sleep(0.05)


def test_a_tag_moved_through_one_replica_is_served_by_the_other(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    env = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "storage")}
    first = registry_factory(env=env)
    second = registry_factory(env=env, database_url=first.database_url)
    second.token = first.token  # the same database: the same users and tokens
    repo = unique_repo("replicas")
    with first.client() as one:
        for _ in range(3):
            image = push_image(one, repo, "moving")
            _until_every_ask_serves(second, repo, "moving", image.digest)
        assert one.delete(f"/v2/{repo}/manifests/{image.digest}").status_code == 202
    _until_every_ask_serves(second, repo, "moving", None)
