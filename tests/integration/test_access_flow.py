"""The README flow a newcomer follows, command by command, with the real CLI and clients.

Start a server and read the admin password it prints; ``dockyard login`` as admin; create alice;
alice logs in and creates her project; ``podman login`` with ``dockyard whoami -t``; buildah
builds an image from scratch, podman pushes it and pulls it back; skopeo copies with alice's
password; a restart prints no new password.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from access_helpers import (
    ADMIN_LOGIN,
    AUTH_FAILURE,
    DockyardCLI,
    SkopeoRunner,
    assert_bearer_challenge,
    describe,
    manifest_url,
)
from images import ACCEPT_MANIFESTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import RegistryFactory
    from integration.conftest import ContainersEnv

pytestmark = pytest.mark.integration


def test_newcomer_flow(
    registry_factory: RegistryFactory,
    database_url: str,
    podman_env: ContainersEnv,
    binary_path: Callable[[str], str],
    tmp_path: Path,
) -> None:
    registry = registry_factory(database_url=database_url, start=False)
    registry.start()
    url, host = registry.url, registry.host

    # The first start prints how to log in, with the admin's password.
    first_start = registry.log_text()
    found = ADMIN_LOGIN.search(first_start)
    assert found is not None, first_start
    admin_password = found.group(1)
    assert f"dockyard login -u admin -p {admin_password} {url}" in first_start

    # Nothing works without logging in.
    response = httpx.get(f"{url}/v2/")
    assert_bearer_challenge(response, url)

    home = tmp_path / "home"
    admin = DockyardCLI(tmp_path / "admin" / "config", home)
    admin.login(url, "admin", admin_password)
    assert admin.config_path.exists(), "dockyard login does not write $DOCKYARD_CONFIG"
    assert admin.whoami() == "admin"

    alice_password = "Alice-" + uuid.uuid4().hex[:12]
    admin.run("create", "user", "alice", "--password", alice_password)
    assert "alice" in admin.run("get", "users").stdout

    alice = DockyardCLI(tmp_path / "alice" / "config", home)
    alice.login(url, "alice", alice_password)
    assert alice.whoami() == "alice"
    assert admin.whoami() == "admin", "alice's login replaced the admin's"
    alice.run("new-project", "alice-proj")
    assert "alice-proj" in alice.run("get", "projects").stdout
    token = alice.token()

    # podman login -u anything -p $(dockyard whoami -t) HOST --tls-verify=false
    login = podman_env.podman("login", "-u", "anything", "-p", token, host, "--tls-verify=false")
    assert "Login Succeeded" in login.stdout, login.stdout + login.stderr

    # buildah builds a tiny image from scratch; podman pushes it to alice's project.
    (tmp_path / "hello.txt").write_text("hello from alice\n")
    container = podman_env.buildah("from", "scratch").stdout.strip()
    podman_env.buildah("copy", container, str(tmp_path / "hello.txt"), "/hello.txt")
    podman_env.buildah("config", "--cmd", '["/hello.txt"]', container)
    podman_env.buildah("commit", "-q", container, "localhost/alice-app:1")
    podman_env.buildah("rm", container)
    podman_env.podman(
        "push", "--tls-verify=false", "localhost/alice-app:1", f"docker://{host}/alice-proj/app:1"
    )
    with httpx.Client(base_url=url, auth=("alice", token), timeout=30) as client:
        stored = client.get(
            manifest_url("alice-proj/app", "1"), headers={"Accept": ACCEPT_MANIFESTS}
        )
        assert stored.status_code == 200, describe(stored)
    pushed_digest = stored.headers["docker-content-digest"]

    # ... and pulls it back into empty storage.
    puller = podman_env.sibling("pull-back")
    try:
        puller.podman("login", "-u", "anything", "-p", token, host, "--tls-verify=false")
        puller.podman("pull", "--tls-verify=false", f"{host}/alice-proj/app:1")
        inspected = json.loads(puller.podman("image", "inspect", f"{host}/alice-proj/app:1").stdout)
        assert pushed_digest in inspected[0]["RepoDigests"][0], inspected[0]["RepoDigests"]
    finally:
        puller.cleanup()

    # Without credentials, the image is not for everyone.
    skopeo = SkopeoRunner(binary_path("skopeo"), tmp_path / "skopeo")
    refused = skopeo.run("inspect", "--tls-verify=false", f"docker://{host}/alice-proj/app:1")
    assert refused.returncode != 0
    assert AUTH_FAILURE.search(refused.stderr), refused.stderr

    # skopeo with her password (not a token) works too.
    copied = skopeo.copy(
        f"docker://{host}/alice-proj/app:1",
        f"docker://{host}/alice-proj/app:2",
        f"--src-creds=alice:{alice_password}",
        f"--dest-creds=alice:{alice_password}",
    )
    assert copied.returncode == 0, copied.stderr
    tags = skopeo.run(
        "list-tags",
        "--tls-verify=false",
        f"--creds=alice:{token}",
        f"docker://{host}/alice-proj/app",
    )
    assert tags.returncode == 0, tags.stderr
    assert sorted(json.loads(tags.stdout)["Tags"]) == ["1", "2"]

    # The sandbox home stays empty of Dockyard files: the CLI wrote only $DOCKYARD_CONFIG.
    assert not [p for p in home.rglob("*") if "dockyard" in p.name.lower()]

    # A second start prints no new password, and the first one still works.
    registry.stop()
    before = len(registry.log_text())
    registry.start()
    second_start = registry.log_text()[before:]
    assert not ADMIN_LOGIN.search(second_start), second_start
    assert admin_password not in second_start
    again = DockyardCLI(tmp_path / "admin-again" / "config", home)
    again.login(url, "admin", admin_password)
    assert again.whoami() == "admin"
    assert alice.whoami() == "alice", "alice's token did not survive the restart"
