"""The registry's log kept by ``dockyard serve`` and read back: ``dockyard logs`` (with
``--tail`` and ``-f``) and ``pods/{name}/log`` of the resource API, for administrators only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from access_helpers import DockyardCLI
from test_operator_config import eventually

if TYPE_CHECKING:
    from conftest import RegistryFactory

pytestmark = pytest.mark.integration

PODS = "/api/v1/namespaces/openshift-image-registry/pods"


def test_logs_show_follow_and_tail_the_registry_log(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    server = registry_factory(workers=2)
    cli = DockyardCLI(tmp_path / "cli" / "config.yml", tmp_path / "home")
    assert server.admin_password is not None
    cli.login(server.url, "admin", server.admin_password)
    with server.client(timeout=30) as admin:
        marker = f"/v2/logs-{uuid.uuid4().hex[:8]}/tags/list"
        admin.get(marker)
        pods = eventually(lambda: admin.get(PODS).json()["items"], 10)
        name = pods[0]["metadata"]["name"]

        def logs_with_marker() -> str:
            out = cli.run("logs").stdout
            return out if marker in out else ""

        shown = eventually(logs_with_marker)
        assert 'msg="listening on' in shown  # the supervisor's lines are there too
        assert marker in cli.run("logs", name).stdout
        assert cli.run("logs", "--tail", "1").stdout.count("\n") == 1
        missing = cli.run("logs", "image-registry-nope", check=False)
        assert missing.returncode != 0 and "NotFound" in missing.stderr

        follower = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "logs", "-f", "--tail", "0"],
            env=cli.env,
            cwd=cli.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(2.0)  # connected and following
            later = f"/v2/later-{uuid.uuid4().hex[:8]}/tags/list"
            admin.get(later)
            assert follower.stdout is not None
            os.set_blocking(follower.stdout.fileno(), False)
            seen = b""

            def arrived() -> bool:
                nonlocal seen
                seen += follower.stdout.read() or b""  # type: ignore[union-attr]
                return later.encode() in seen

            eventually(arrived, 10)
            assert marker.encode() not in seen  # --tail 0: only what came after
        finally:
            follower.terminate()
            follower.wait(10)

        assert admin.get(f"{PODS}/{name}/log", params={"tailLines": "x"}).status_code == 400
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get(f"{PODS}/{name}/log").status_code == 401
    assert (server.data_dir / "logs" / "registry.log").stat().st_mode & 0o077 == 0
