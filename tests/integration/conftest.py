"""Fixtures for the real clients: skopeo, podman/buildah (isolated storage), oras, and Debian's
``docker-registry`` as a peer registry.

A test whose tool is not installed is skipped with the reason, except under CI (``CI=true``),
where it fails: CI installs every tool (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import RegistryProcess

TOOL_TIMEOUT = 300


def in_ci() -> bool:
    """Whether this runs in CI, where a missing tool is a failure, never a skip."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_binary(name: str) -> str:
    """The path of an executable; skips the test when it is absent, fails instead under CI."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (.ci/run lists the packages the tests need)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ToolError(AssertionError):
    """A client command failed; the message holds its command line, exit status and output."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        command = " ".join(str(arg) for arg in result.args)
        super().__init__(
            f"{command}\nexited with {result.returncode}\n"
            f"--- stderr ---\n{result.stderr[-8000:]}\n--- stdout ---\n{result.stdout[-4000:]}"
        )

    @property
    def stderr(self) -> str:
        return self.result.stderr


def run_tool(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = TOOL_TIMEOUT,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check and result.returncode != 0:
        raise ToolError(result)
    return result


def unique_repository(prefix: str = "it") -> str:
    """A fresh ``<project>/<name>`` repository name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}/app"


@pytest.fixture
def repository(request: pytest.FixtureRequest) -> str:
    """A repository name of this test's own: ``<test name>-<random>/app``."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return unique_repository(stem or "it")


# --- skopeo ----------------------------------------------------------------------------------


class Skopeo:
    """Runs skopeo against plain-HTTP registries; every failure raises ``ToolError``.

    The signature policy is ``--insecure-policy`` and credentials come from an empty auth file
    of its own, so the machine's ``/etc/containers`` settings and logins play no part.
    """

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        auth_file = workdir / "auth.json"
        auth_file.write_text(json.dumps({"auths": {}}))
        self.env = dict(os.environ, REGISTRY_AUTH_FILE=str(auth_file), TMPDIR=str(workdir))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool(
            [self.binary, "--insecure-policy", *args], env=self.env, check=check, cwd=self.workdir
        )

    def copy(self, source: str, destination: str, *options: str) -> str:
        """``skopeo copy``; returns its output. Pass ``--all`` for every image of an index."""
        result = self.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            *options,
            source,
            destination,
        )
        return result.stdout

    def try_copy(
        self, source: str, destination: str, *options: str
    ) -> subprocess.CompletedProcess[str]:
        """``skopeo copy`` that may fail (for negative tests)."""
        return self.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            *options,
            source,
            destination,
            check=False,
        )

    def inspect(self, reference: str, *options: str) -> dict[str, Any]:
        result = self.run("inspect", "--tls-verify=false", *options, reference)
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def inspect_raw(self, reference: str) -> bytes:
        """The exact manifest bytes the registry serves for ``reference``."""
        result = subprocess.run(
            [self.binary, "--insecure-policy", "inspect", "--tls-verify=false", "--raw", reference],
            capture_output=True,
            env=self.env,
            timeout=TOOL_TIMEOUT,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if result.returncode != 0:
            raise ToolError(
                subprocess.CompletedProcess(
                    result.args,
                    result.returncode,
                    result.stdout.decode(errors="replace"),
                    result.stderr.decode(errors="replace"),
                )
            )
        return result.stdout

    def list_tags(self, reference: str) -> list[str]:
        result = self.run("list-tags", "--tls-verify=false", reference)
        tags: list[str] = json.loads(result.stdout)["Tags"]
        return tags

    def delete(self, reference: str) -> None:
        self.run("delete", "--tls-verify=false", reference)


@pytest.fixture
def skopeo(tmp_path: Path) -> Skopeo:
    workdir = tmp_path / "skopeo"
    workdir.mkdir()
    return Skopeo(require_binary("skopeo"), workdir)


# --- podman and buildah ----------------------------------------------------------------------


class ContainersEnv:
    """Environment for podman and buildah with storage, registries and credentials of its own.

    vfs storage (no mounts left behind) with runroot and graphroot under ``root``; the given
    registries are marked insecure (plain HTTP); an empty auth file; events go to a file.
    """

    def __init__(self, root: Path, insecure_registries: list[str]) -> None:
        self.root = root
        self.insecure_registries = insecure_registries
        root.mkdir(parents=True, exist_ok=True)
        storage = root / "storage"
        (root / "storage.conf").write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'runroot = "{storage / "run"}"\n'
            f'graphroot = "{storage / "graph"}"\n'
        )
        entries = "".join(
            f'\n[[registry]]\nlocation = "{host}"\ninsecure = true\n'
            for host in insecure_registries
        )
        (root / "registries.conf").write_text(f"unqualified-search-registries = []\n{entries}")
        (root / "containers.conf").write_text(
            "[engine]\n"
            'events_logger = "file"\n'
            f'events_logfile_path = "{root / "events.log"}"\n'
            'cgroup_manager = "cgroupfs"\n'
        )
        (root / "auth.json").write_text(json.dumps({"auths": {}}))
        (root / "tmp").mkdir(exist_ok=True)
        self.env = dict(
            os.environ,
            CONTAINERS_STORAGE_CONF=str(root / "storage.conf"),
            CONTAINERS_REGISTRIES_CONF=str(root / "registries.conf"),
            CONTAINERS_CONF=str(root / "containers.conf"),
            REGISTRY_AUTH_FILE=str(root / "auth.json"),
            TMPDIR=str(root / "tmp"),
        )

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool([require_binary("podman"), *args], env=self.env, check=check, cwd=self.root)

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool(
            [require_binary("buildah"), *args], env=self.env, check=check, cwd=self.root
        )

    def sibling(self, name: str) -> ContainersEnv:
        """Another environment with empty storage of its own (to pull what this one pushed)."""
        return ContainersEnv(self.root.parent / name, self.insecure_registries)

    def cleanup(self) -> None:
        """Remove images and working containers, so nothing stays locked or mounted."""
        with contextlib.suppress(Exception):
            self.buildah("rm", "--all", check=False)
        with contextlib.suppress(Exception):
            self.podman("rmi", "--all", "--force", check=False)


@pytest.fixture
def podman_env(tmp_path: Path, shared_registry: RegistryProcess) -> Iterator[ContainersEnv]:
    """podman/buildah settings isolated in ``tmp_path``, with the shared registry insecure."""
    require_binary("podman")
    require_binary("buildah")
    environment = ContainersEnv(tmp_path / "containers", [shared_registry.host])
    yield environment
    environment.cleanup()


# --- Debian's docker-registry as a peer ------------------------------------------------------


class Upstream:
    """A Distribution 2.8 ``docker-registry`` on plain HTTP, with deletes enabled."""

    def __init__(self, binary: str, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.config_path = root / "registry.yml"
        self.log_path = root / "registry.log"
        storage = root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "version: 0.1\n"
            "log: {level: info, accesslog: {disabled: true}}\n"
            "storage:\n"
            f"  filesystem: {{rootdirectory: {json.dumps(str(storage))}}}\n"
            "  delete: {enabled: true}\n"
            "  cache: {blobdescriptor: inmemory}\n"
            "http:\n"
            f"  addr: 127.0.0.1:{self.port}\n"
            "  secret: dockyard-tests-upstream-secret\n"
            "health: {storagedriver: {enabled: false}}\n"
        )
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [binary, "serve", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,
        )
        self._wait_ready()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"docker-registry exited:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/v2/", timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"docker-registry did not start:\n{self.log_path.read_text()}")
            time.sleep(0.03)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    """Debian's ``docker-registry`` (Distribution 2.8) on a free port, as a peer registry."""
    binary = require_binary("docker-registry")
    peer = Upstream(binary, tmp_path / "upstream")
    try:
        yield peer
    finally:
        peer.close()
