"""Fixtures shared by every test: databases, free ports and real server processes.

- ``database_url``: a fresh, empty metadata database for one test. SQLite in ``tmp_path`` by
  default; with ``DOCKYARD_TEST_DATABASE=postgres`` a new database on a throwaway PostgreSQL
  cluster that this session starts from Debian's package and stops at the end.
- ``registry``: a ``dockyard serve`` process of its own for one test (``RegistryProcess``);
  ``registry_factory`` starts more, with extra settings. ``shared_registry``: one server for the
  whole session, for tests that only need a place to push (each uses its own repository names).
- Logging in: a server with authentication prints its admin password on its first start;
  ``RegistryProcess`` reads it (``admin_password``), fetches an API token with it once
  (``token``) and offers ``auth`` (``("admin", token)``, or None when the server printed no
  password: then nothing is sent). ``registry.client()`` is an httpx client that sends it;
  ``dockyard_credentials(host)`` finds the ``auth`` of the server a test uses on ``host``.
- Storage: a server keeps its blobs under its data dir; with ``DOCKYARD_TEST_STORAGE=s3``
  every server whose settings choose no driver uses a fresh bucket of a moto S3 server that
  each pytest worker starts once (``registry_storage``), with redirects off, so responses are
  the same as from a filesystem.
- ``upstream``: Debian's ``docker-registry`` (Distribution 2.8) as a peer registry, no auth.
- ``free_port()``: a TCP port on 127.0.0.1 that nothing listens on right now;
  ``binary_path(name)``: an installed tool, or a skip (a failure under CI).

When a test fails, the log of every server it used is attached to the report.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol

import httpx
import pytest

from emulators import Emulator, chooses_driver, s3_registry_env, start_moto, storage_kind

HTTP_SECRET = "dockyard-tests-http-secret-0123456789abcdef"
"""The ``REGISTRY_HTTP_SECRET`` of every test server (it signs upload ``Location`` URLs)."""

START_TIMEOUT = 60.0
"""A start takes a few seconds; on a machine loaded by three pytest workers and their servers,
spawning two workers has been seen to take over 20."""
STOP_TIMEOUT = 20.0
LOG_TAIL_CHARS = 12_000

ADMIN_USER = "admin"
ADMIN_LOGIN = re.compile(r"dockyard login -u admin -p (\S+)")
"""The line of the block a server with authentication prints on its first start."""

Auth = tuple[str, str]
"""HTTP Basic credentials: ``(user, password)``; Dockyard takes any user with a token."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bind to port 0, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def in_ci() -> bool:
    """Whether this runs in CI, where a missing tool is a failure, never a skip."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(what: str) -> NoReturn:
    """Skip the test for want of ``what``; under CI, which installs everything, fail it."""
    message = f"{what} is not installed (.ci/run lists the packages the tests need)"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_binary(name: str) -> str:
    """The path of an executable; skips the test when it is absent, fails instead under CI."""
    found = shutil.which(name)
    if found is None:
        unavailable(name)
    return found


@pytest.fixture(scope="session")
def binary_path() -> Callable[[str], str]:
    """``binary_path(name)``: ``require_binary`` for the fixtures of the conftests below."""
    return require_binary


# --- databases -------------------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path)],
    )
    if dirs:
        return Path(dirs[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster (trust auth, no fsync) owned by this test session."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root
        self.port = port

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def start(cls, bindir: Path) -> PostgresCluster:
        # Not under pytest's temp dir: that one is private to root, and the server runs as the
        # ``postgres`` user, which must reach the data and socket directories.
        root = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        cluster = cls(bindir, root, port=0)
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        last_error = ""
        for _ in range(3):  # the free port can be taken in between; try another one
            cluster.port = free_port()
            options = (
                f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            )
            result = cluster._run(
                "pg_ctl",
                "-D",
                str(cluster.data_dir),
                "-l",
                str(root / "postgres.log"),
                "-w",
                "-t",
                "30",
                "-o",
                options,
                "start",
                check=False,
            )
            if result.returncode == 0:
                return cluster
            last_error = result.stdout + result.stderr + cluster.log_tail()
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start:\n{last_error}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "postgres.log").read_text(errors="replace")[-LOG_TAIL_CHARS:]
        return ""

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.root, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        return result

    def create_database(self) -> str:
        """Create a new empty database; returns its SQLAlchemy asyncpg URL."""
        name = f"dockyard_{uuid.uuid4().hex[:16]}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _database_kind() -> str:
    kind = os.environ.get("DOCKYARD_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
    if kind not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"DOCKYARD_TEST_DATABASE must be sqlite or postgres, not {kind!r}")
    return kind


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster (started on first use)."""
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        unavailable("PostgreSQL")
    cluster = PostgresCluster.start(bindir)
    yield cluster
    cluster.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass runs the tests where the database matters: the unit tests that use
    one (every one reaches it through ``new_database``) and the integration tests marked
    ``database`` (the metadata layer's behaviour seen through the API: pushes, deletes,
    pruning, resources, identities, imports, caches across workers and replicas). The SQLite
    pass has run the others; they drive clients, processes and storage the same way on both."""
    if _database_kind() != "postgres":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        uses_database = "new_database" in getattr(item, "fixturenames", ())
        chosen = not item.get_closest_marker("integration") or item.get_closest_marker("database")
        (keep if uses_database and chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


NewDatabase = Callable[[Path], str]


@pytest.fixture(scope="session")
def new_database(request: pytest.FixtureRequest) -> NewDatabase:
    """A function that makes a fresh database URL (an SQLite file goes into the given dir)."""
    if _database_kind() == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        return lambda _directory: cluster.create_database()
    return lambda directory: f"sqlite+aiosqlite:///{directory / 'dockyard.db'}"


@pytest.fixture
def database_url(new_database: NewDatabase, tmp_path: Path) -> str:
    """A fresh, empty metadata database for this test (SQLite, or PostgreSQL when asked)."""
    directory = tmp_path / "db"
    directory.mkdir(exist_ok=True)
    return new_database(directory)


# --- server processes ------------------------------------------------------------------------


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies don't count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat_path in proc.glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


class ServerProcess:
    """A server process tree on ``127.0.0.1:<port>`` with its output appended to ``log_path``.

    A subclass's ``start()`` calls ``_spawn()`` and ``_wait_ready()``; ``stop()`` sends SIGTERM
    and waits; ``kill()`` sends SIGKILL to the whole process group, workers included.
    """

    name = "server"

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.log_path = log_path
        self.port = port if port is not None else free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def auth(self) -> Auth | None:
        """HTTP Basic credentials to send with every request; None: it needs none."""
        return None

    def client(self, *, timeout: float = 30.0, **options: Any) -> httpx.Client:
        """An httpx client for this server: relative URLs, and ``auth`` on every request."""
        return httpx.Client(base_url=self.url, auth=self.auth, timeout=timeout, **options)

    def _spawn(self, command: list[str], *, cwd: Path, env: Mapping[str, str] | None) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} on {self.host} is already running")
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== starting {self.name} on {self.host} =====\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group, so kill() reaches the workers
        )

    def _wait_ready(self, timeout: float, ready: Callable[[int], bool]) -> None:
        """Poll ``GET /v2/`` until ``ready(status)``; raises if the server exits or times out."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    code = self.process.returncode
                    self._reap_group()
                    raise RuntimeError(
                        f"{self.name} exited with {code} before answering on {self.host}:\n"
                        f"{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if ready(client.get(f"{self.url}/v2/").status_code):
                        return
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"{self.name} did not answer GET /v2/ on {self.host} within "
                        f"{timeout:.0f}s:\n{self.log_tail()}"
                    )
                time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM the server and wait for it; returns its exit status.

        Raises if it has not exited within ``timeout`` (it is then killed).
        """
        if self.process is None:
            return 0
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(
                f"{self.name} did not exit within {timeout:.0f}s of SIGTERM:\n{self.log_tail()}"
            ) from None
        self._wait_group_gone(pgid, timeout)
        self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL every process of the server (the main process and its workers) and reap it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        self._wait_group_gone(self.process.pid, STOP_TIMEOUT)
        self._close_log()

    def _wait_group_gone(self, pgid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while _group_alive(pgid):
            if time.monotonic() > deadline:
                self._reap_group()
                return
            time.sleep(0.02)

    def _reap_group(self) -> None:
        """Kill whatever is left of the group, e.g. workers orphaned by a crashed main process."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        """Teardown: kill the server if it still runs."""
        if self.running:
            self.kill()
        elif self.process is not None:
            self._reap_group()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.log_text()[-chars:]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} log={self.log_path}>"


class RegistryProcess(ServerProcess):
    """One ``python -m dockyard serve`` process tree on a fixed port, data dir and database.

    ``start()`` starts it (again) and waits until ``GET /v2/`` answers. Output goes to
    ``log_path``, appended across restarts.

    Credentials: after the first start, ``admin_password`` is what the server printed (None
    when it printed none, i.e. has no authentication); ``token`` an API token fetched once with
    it; ``auth`` the HTTP Basic pair to send, ``("admin", token)``, or None. They outlive
    ``stop()``/``kill()`` and ``start()``, which print nothing of the kind again.
    """

    name = "dockyard serve"

    def __init__(
        self,
        data_dir: Path,
        database_url: str,
        log_path: Path,
        *,
        port: int | None = None,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(log_path, port)
        self.data_dir = data_dir
        self.database_url = database_url
        self.workers = workers
        self.extra_env = dict(env or {})
        self.extra_args = args
        self.admin_password: str | None = None
        self.token: str | None = None

    @property
    def auth(self) -> Auth | None:
        """``("admin", token)``: a token, cheap for the server, unlike the password; None
        while the server has no authentication."""
        return None if self.token is None else (ADMIN_USER, self.token)

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
        env.update(
            REGISTRY_DATABASE_URL=self.database_url,
            REGISTRY_HTTP_SECRET=HTTP_SECRET,
            REGISTRY_LOG_LEVEL="info",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--addr",
            self.host,
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]
        self._spawn(command, cwd=self.data_dir.parent, env=self.environment())
        self._wait_ready(timeout, lambda status: status < 500)  # 401 too: it is up
        self._log_in()

    def _log_in(self) -> None:
        """Read the admin password the first start printed; fetch a token with it, once."""
        if self.admin_password is None:
            found = ADMIN_LOGIN.search(self.log_text())
            if found is None:
                return  # no authentication: nothing to send
            self.admin_password = found.group(1)
        if self.token is None:
            response = httpx.post(
                f"{self.url}/oauth/token",
                data={
                    "grant_type": "password",
                    "username": ADMIN_USER,
                    "password": self.admin_password,
                },
                timeout=30,
            )
            if response.status_code != 200:
                raise RuntimeError(
                    f"POST /oauth/token on {self.host} answered {response.status_code}: "
                    f"{response.text}\n{self.log_tail()}"
                )
            self.token = str(response.json()["access_token"])

    def __repr__(self) -> str:
        return f"<RegistryProcess {self.url} data_dir={self.data_dir}>"


class Upstream(ServerProcess):
    """A Distribution 2.8 ``docker-registry`` on plain HTTP, with deletes enabled, no auth."""

    name = "docker-registry"

    def __init__(self, binary: str, root: Path) -> None:
        super().__init__(root / "registry.log")
        self.binary = binary
        self.root = root
        self.config_path = root / "registry.yml"
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
            f"  addr: {self.host}\n"
            "  secret: dockyard-tests-upstream-secret\n"
            "health: {storagedriver: {enabled: false}}\n"
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self._spawn([self.binary, "serve", str(self.config_path)], cwd=self.root, env=None)
        self._wait_ready(timeout, lambda status: status == 200)


def _registry_in(root: Path, database_url: str, **options: Any) -> RegistryProcess:
    """A (not yet started) server with its data dir and log under ``root``."""
    return RegistryProcess(root / "data", database_url, root / "dockyard.log", **options)


class RegistryFactory(Protocol):
    def __call__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        workers: int = 2,
        args: tuple[str, ...] = (),
        database_url: str | None = None,
        start: bool = True,
    ) -> RegistryProcess: ...


StorageEnv = Callable[[Mapping[str, str] | None], dict[str, str]]


@pytest.fixture(scope="session")
def registry_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEnv]:
    """``registry_storage(env)``: a server's settings variables with the storage of this run
    added (``DOCKYARD_TEST_STORAGE``), unless they choose a driver themselves."""
    moto: Emulator | None = None

    def storage(env: Mapping[str, str] | None) -> dict[str, str]:
        nonlocal moto
        given = dict(env or {})
        if storage_kind() == "filesystem" or chooses_driver(given):
            return given
        if moto is None:
            moto = start_moto(tmp_path_factory)
        return {**s3_registry_env(moto, redirect=False), **given}

    yield storage
    if moto is not None:
        moto.stop()


@pytest.fixture
def registry_factory(
    tmp_path: Path,
    new_database: NewDatabase,
    registry_storage: StorageEnv,
    request: pytest.FixtureRequest,
) -> Iterator[RegistryFactory]:
    """Start extra servers: ``registry_factory(env={...}, workers=1, args=(...), start=True)``.

    Each has its own data dir, database and port unless ``database_url`` is given.
    """
    started: list[RegistryProcess] = []

    def make(
        *,
        env: Mapping[str, str] | None = None,
        workers: int = 2,
        args: tuple[str, ...] = (),
        database_url: str | None = None,
        start: bool = True,
    ) -> RegistryProcess:
        root = tmp_path / f"registry-{len(started)}"
        root.mkdir()
        process = _registry_in(
            root,
            database_url or new_database(root),
            workers=workers,
            env=registry_storage(env),
            args=args,
        )
        started.append(process)
        request.node.stash.setdefault(_REGISTRIES, []).append(process)
        if start:
            process.start()
        return process

    yield make
    for process in started:
        process.close()


@pytest.fixture
def registry(registry_factory: RegistryFactory, database_url: str) -> RegistryProcess:
    """A registry of this test's own, on the ``database_url`` database."""
    return registry_factory(database_url=database_url)


@pytest.fixture(scope="session")
def shared_registry(
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
    registry_storage: StorageEnv,
) -> Iterator[RegistryProcess]:
    """One registry for the whole session; tests must use repository names of their own."""
    root = tmp_path_factory.mktemp("shared-registry")
    process = _registry_in(root, new_database(root), env=registry_storage(None))
    try:
        process.start()
        yield process
    finally:
        process.close()


Credentials = Callable[[str], Auth | None]


@pytest.fixture
def dockyard_credentials(request: pytest.FixtureRequest) -> Credentials:
    """``dockyard_credentials(host)``: the ``auth`` of the server this test uses on ``host``;
    None for a server without authentication (the ``docker-registry`` peer) and for any other
    host. For clients that name registries by host, like skopeo."""

    def lookup(host: str) -> Auth | None:
        for process in _servers_of(request.node):
            if process.host == host:
                return process.auth
        return None

    return lookup


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    """Debian's ``docker-registry`` (Distribution 2.8) on a free port, as a peer registry."""
    peer = Upstream(require_binary("docker-registry"), tmp_path / "upstream")
    try:
        peer.start()
        yield peer
    finally:
        peer.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- failure reports -------------------------------------------------------------------------

_REGISTRIES = pytest.StashKey[list[RegistryProcess]]()


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


def _servers_of(item: pytest.Item) -> list[ServerProcess]:
    """Every server a test uses: its fixtures' and those ``registry_factory`` started."""
    processes: list[ServerProcess] = list(item.stash.get(_REGISTRIES, []))
    funcargs = getattr(item, "funcargs", {})
    processes += [value for value in funcargs.values() if isinstance(value, ServerProcess)]
    unique: dict[int, ServerProcess] = {}
    for process in processes:
        unique.setdefault(id(process), process)
    return list(unique.values())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log lines each server wrote during a failed test to its report."""
    report = yield
    if report.when == "setup" and report.passed:
        # A shared server's log holds every test's lines; remember where this test's begin.
        item.stash[_LOG_OFFSETS] = {
            id(process): process.log_path.stat().st_size
            for process in _servers_of(item)
            if process.log_path.exists()
        }
    elif report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for process in _servers_of(item):
            text = process.log_text()
            start = offsets.get(id(process), 0)
            section = text[start:] if start <= len(text) else text
            if len(section) > LOG_TAIL_CHARS:
                section = "[...]\n" + section[-LOG_TAIL_CHARS:]
            title = f"{process.name} log {process.host} ({process.log_path})"
            report.sections.append((title, section))
    return report
