"""Fixtures for the real clients: skopeo, podman/buildah (isolated storage) and an httpx client.

Each client logs in to the Dockyard servers of the test (``RegistryProcess.auth``; nothing while
the server has no authentication) and sends nothing to Debian's ``docker-registry`` peer
(``upstream``, in ``tests/conftest.py``). A test whose tool is not installed is skipped with the
reason, except under CI (``CI=true``), where it fails: CI installs every tool (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import Auth, Credentials, RegistryProcess

TOOL_TIMEOUT = 300


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


@pytest.fixture
def api(shared_registry: RegistryProcess) -> Iterator[httpx.Client]:
    """An httpx client for the shared registry (relative URLs, logged in)."""
    with shared_registry.client(timeout=60) as client:
        yield client


# --- skopeo ----------------------------------------------------------------------------------


def _no_credentials(host: str) -> Auth | None:
    return None


class Skopeo:
    """Runs skopeo against plain-HTTP registries; every failure raises ``ToolError``.

    The signature policy is ``--insecure-policy`` and the auth file is an empty one of its own,
    so the machine's ``/etc/containers`` settings and logins play no part. Credentials for a
    ``docker://HOST/...`` reference come from ``credentials(HOST)`` and go on the command line
    (``--creds``, ``--src-creds``, ``--dest-creds``); None sends none.
    """

    def __init__(
        self, binary: str, workdir: Path, credentials: Credentials = _no_credentials
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.credentials = credentials
        auth_file = workdir / "auth.json"
        auth_file.write_text(json.dumps({"auths": {}}))
        self.env = dict(os.environ, REGISTRY_AUTH_FILE=str(auth_file), TMPDIR=str(workdir))

    def _creds(self, option: str, reference: str) -> list[str]:
        """``[--option=user:password]`` for the registry ``reference`` names, if it wants any."""
        if not reference.startswith("docker://"):
            return []
        auth = self.credentials(reference.removeprefix("docker://").split("/", 1)[0])
        return [] if auth is None else [f"{option}={auth[0]}:{auth[1]}"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool(
            [self.binary, "--insecure-policy", *args], env=self.env, check=check, cwd=self.workdir
        )

    def try_copy(
        self, source: str, destination: str, *options: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """``skopeo copy`` that may fail (for negative tests)."""
        return self.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            *self._creds("--src-creds", source),
            *self._creds("--dest-creds", destination),
            *options,
            source,
            destination,
            check=check,
        )

    def copy(self, source: str, destination: str, *options: str) -> str:
        """``skopeo copy``; returns its output. Pass ``--all`` for every image of an index."""
        return self.try_copy(source, destination, *options, check=True).stdout

    def _on(self, command: str, reference: str, *options: str) -> list[str]:
        """The arguments of ``skopeo COMMAND`` on one registry ``reference``."""
        return [command, "--tls-verify=false", *self._creds("--creds", reference), *options]

    def inspect(self, reference: str, *options: str) -> dict[str, Any]:
        result = self.run(*self._on("inspect", reference, *options), reference)
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def inspect_raw(self, reference: str) -> bytes:
        """The exact manifest bytes the registry serves for ``reference``."""
        command = [self.binary, "--insecure-policy", *self._on("inspect", reference, "--raw")]
        result = subprocess.run(
            [*command, reference],
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
        result = self.run(*self._on("list-tags", reference), reference)
        tags: list[str] = json.loads(result.stdout)["Tags"]
        return tags

    def delete(self, reference: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(*self._on("delete", reference), reference, check=check)


@pytest.fixture
def skopeo(
    tmp_path: Path, binary_path: Callable[[str], str], dockyard_credentials: Credentials
) -> Skopeo:
    """skopeo, logged in to every Dockyard server the test uses."""
    workdir = tmp_path / "skopeo"
    workdir.mkdir()
    return Skopeo(binary_path("skopeo"), workdir, dockyard_credentials)


# --- podman and buildah ----------------------------------------------------------------------


class ContainersEnv:
    """Environment for podman and buildah with storage, registries and credentials of its own.

    vfs storage (no mounts left behind) with runroot and graphroot under ``root``; the given
    registries are marked insecure (plain HTTP); an auth file of its own, which ``login()``
    fills; events go to a file.
    """

    def __init__(self, root: Path, insecure_registries: list[str], podman: str, buildah: str):
        self.root = root
        self.insecure_registries = insecure_registries
        self.binaries = {"podman": podman, "buildah": buildah}
        self.logins: dict[str, Auth] = {}
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

    def _run(
        self, tool: str, args: tuple[str, ...], check: bool
    ) -> subprocess.CompletedProcess[str]:
        return run_tool([self.binaries[tool], *args], env=self.env, check=check, cwd=self.root)

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("podman", args, check)

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("buildah", args, check)

    def login(self, host: str, auth: Auth | None) -> None:
        """``podman login`` to ``host`` into this environment's auth file; buildah reads it too.

        Nothing when ``auth`` is None (a server without authentication).
        """
        if auth is None:
            return
        user, password = auth
        self.podman("login", "--tls-verify=false", "-u", user, "-p", password, host)
        self.logins[host] = auth

    def sibling(self, name: str) -> ContainersEnv:
        """Another environment with empty storage of its own (to pull what this one pushed),
        logged in where this one is."""
        other = ContainersEnv(self.root.parent / name, self.insecure_registries, **self.binaries)
        for host, auth in self.logins.items():
            other.login(host, auth)
        return other

    def cleanup(self) -> None:
        """Remove images and working containers, so nothing stays locked or mounted."""
        with contextlib.suppress(Exception):
            self.buildah("rm", "--all", check=False)
        with contextlib.suppress(Exception):
            self.podman("rmi", "--all", "--force", check=False)


@pytest.fixture
def podman_env(
    tmp_path: Path, shared_registry: RegistryProcess, binary_path: Callable[[str], str]
) -> Iterator[ContainersEnv]:
    """podman/buildah settings isolated in ``tmp_path``, with the shared registry insecure and
    logged in to."""
    environment = ContainersEnv(
        tmp_path / "containers",
        [shared_registry.host],
        podman=binary_path("podman"),
        buildah=binary_path("buildah"),
    )
    try:
        environment.login(shared_registry.host, shared_registry.auth)
        yield environment
    finally:
        environment.cleanup()
