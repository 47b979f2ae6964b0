"""Fixtures shared by every test: databases, free ports and real ``dockyard serve`` processes.

- ``database_url``: a fresh, empty metadata database for one test. SQLite in ``tmp_path`` by
  default; with ``DOCKYARD_TEST_DATABASE=postgres`` a new database on a throwaway PostgreSQL
  cluster that this session starts from Debian's package and stops at the end.
- ``registry``: a ``dockyard serve`` process of its own for one test (``RegistryProcess``);
  ``registry_factory`` starts more, with extra settings. ``shared_registry``: one server for the
  whole session, for tests that only need a place to push (each uses its own repository names).
- ``free_port()``: a TCP port on 127.0.0.1 that nothing listens on right now.

When a test fails, the log of every registry it used is attached to the report.
"""

from __future__ import annotations

import contextlib
import glob
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
from typing import IO, Protocol

import httpx
import pytest

HTTP_SECRET = "dockyard-tests-http-secret-0123456789abcdef"
"""The ``REGISTRY_HTTP_SECRET`` of every test server (it signs upload ``Location`` URLs)."""

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
LOG_TAIL_CHARS = 12_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bind to port 0, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def in_ci() -> bool:
    """Whether this runs in CI, where a missing tool is a failure, never a skip."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


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
        message = "PostgreSQL is not installed (.ci/run lists the packages the tests need)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    cluster = PostgresCluster.start(bindir)
    yield cluster
    cluster.stop()


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


# --- registry processes ----------------------------------------------------------------------


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


class RegistryProcess:
    """One ``python -m dockyard serve`` process tree on a fixed port, data dir and database.

    ``start()`` starts it (again) and waits until ``GET /v2/`` answers; ``stop()`` sends SIGTERM and
    waits; ``kill()`` sends SIGKILL to the whole process group, workers included. Output goes to
    ``log_path``, appended across restarts.
    """

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
        self.data_dir = data_dir
        self.database_url = database_url
        self.log_path = log_path
        self.port = port if port is not None else free_port()
        self.workers = workers
        self.extra_env = dict(env or {})
        self.extra_args = args
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
        if self.running:
            raise RuntimeError(f"registry on {self.host} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== starting dockyard on {self.host} =====\n".encode())
        self._log.flush()
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
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            cwd=self.data_dir.parent,
            start_new_session=True,  # its own process group, so kill() reaches the workers
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    code = self.process.returncode
                    self._reap_group()
                    raise RuntimeError(
                        f"dockyard serve exited with {code} before answering on {self.host}:\n"
                        f"{self.log_tail()}"
                    )
                try:
                    response = client.get(f"{self.url}/v2/")
                except httpx.TransportError:
                    pass
                else:
                    if response.status_code < 500:
                        return
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"dockyard serve did not answer GET /v2/ on {self.host} within "
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
                f"dockyard serve did not exit within {timeout:.0f}s of SIGTERM:\n{self.log_tail()}"
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
        return f"<RegistryProcess {self.url} data_dir={self.data_dir}>"


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


@pytest.fixture
def registry_factory(
    tmp_path: Path, new_database: NewDatabase, request: pytest.FixtureRequest
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
        process = RegistryProcess(
            data_dir=root / "data",
            database_url=database_url or new_database(root),
            log_path=root / "dockyard.log",
            workers=workers,
            env=env,
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
    tmp_path_factory: pytest.TempPathFactory, new_database: NewDatabase
) -> Iterator[RegistryProcess]:
    """One registry for the whole session; tests must use repository names of their own."""
    root = tmp_path_factory.mktemp("shared-registry")
    process = RegistryProcess(
        data_dir=root / "data", database_url=new_database(root), log_path=root / "dockyard.log"
    )
    try:
        process.start()
        yield process
    finally:
        process.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- failure reports -------------------------------------------------------------------------

_REGISTRIES = pytest.StashKey[list[RegistryProcess]]()


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


def _registries_of(item: pytest.Item) -> list[RegistryProcess]:
    processes = list(item.stash.get(_REGISTRIES, []))
    funcargs = getattr(item, "funcargs", {})
    processes += [value for value in funcargs.values() if isinstance(value, RegistryProcess)]
    unique: dict[int, RegistryProcess] = {}
    for process in processes:
        unique.setdefault(id(process), process)
    return list(unique.values())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log lines each registry wrote during a failed test to its report."""
    report = yield
    if report.when == "setup" and report.passed:
        # A shared registry's log holds every test's lines; remember where this test's begin.
        item.stash[_LOG_OFFSETS] = {
            id(process): process.log_path.stat().st_size
            for process in _registries_of(item)
            if process.log_path.exists()
        }
    elif report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for process in _registries_of(item):
            text = process.log_text()
            start = offsets.get(id(process), 0)
            section = text[start:] if start <= len(text) else text
            if len(section) > LOG_TAIL_CHARS:
                section = "[...]\n" + section[-LOG_TAIL_CHARS:]
            report.sections.append((f"dockyard log {process.host} ({process.log_path})", section))
    return report
