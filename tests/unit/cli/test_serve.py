"""``dockyard serve`` orchestration, with the database migration and the supervisor replaced.

Starting real workers needs the whole application; integration tests do that.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE

from dockyard.cli import serve
from dockyard.cli.main import main
from dockyard.config.model import Settings
from dockyard.errors import ConfigError
from dockyard.http.protocol import DrainingProtocol

SECRET = "serve-test-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeSupervisor:
    """Stands in for uvicorn's Multiprocess; records what a worker would see at start."""

    instances: ClassVar[list[FakeSupervisor]] = []
    exitcode: ClassVar[int | None] = 0

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.processes = [types.SimpleNamespace(exitcode=self.exitcode)]
        self.seen: dict[str, Any] = {}
        FakeSupervisor.instances.append(self)

    def run(self) -> None:
        path = Path(os.environ[serve.SETTINGS_FILE_ENV])
        self.seen = {
            "mode": stat.S_IMODE(path.stat().st_mode),
            "settings": Settings.model_validate_json(path.read_text()),
            "path": path,
            "listening": self.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
            "address": self.sockets[0].getsockname(),
        }


def replace_bootstrap(monkeypatch: pytest.MonkeyPatch, password: str | None) -> None:
    bootstrap = types.ModuleType("dockyard.auth.bootstrap")
    bootstrap.bootstrap = lambda url: password  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.auth.bootstrap", bootstrap)


class IdleOperator:
    """Stands in for the operator's thread: the database it would read is not there."""

    def __init__(self, settings: Settings, workers: Any, relay_port: int | None = None) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def replace_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    supervision = types.ModuleType("dockyard.operator.supervision")
    supervision.seed = lambda settings: settings.workers  # type: ignore[attr-defined]
    supervision.Operator = IdleOperator  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.operator.supervision", supervision)


@pytest.fixture
def migrations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    engine = types.ModuleType("dockyard.metadata.engine")
    engine.migrate = calls.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.metadata.engine", engine)
    replace_bootstrap(monkeypatch, None)
    replace_operator(monkeypatch)
    return calls


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeSupervisor]]:
    monkeypatch.setattr(serve, "Multiprocess", FakeSupervisor)
    FakeSupervisor.instances = []
    yield FakeSupervisor
    FakeSupervisor.exitcode = 0


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REGISTRY_HTTP_SECRET", SECRET)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = saved


def serve_args(tmp_path: Path, port: int, *extra: str) -> list[str]:
    data_dir = str(tmp_path / "data")
    return ["serve", "--data-dir", data_dir, "--addr", f"127.0.0.1:{port}", *extra]


def test_serve_migrates_once_then_supervises_workers(
    tmp_path: Path,
    migrations: list[str],
    supervisor: type[FakeSupervisor],
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    assert main(serve_args(tmp_path, port, "--workers", "3")) == 0

    assert migrations == [f"sqlite+aiosqlite:///{tmp_path / 'data'}/dockyard.db"]
    (instance,) = supervisor.instances
    config = instance.config
    assert (config.app, config.factory, config.workers) == (serve.WORKER_APP, True, 3)
    assert (config.loop, config.http, config.ws, config.lifespan) == (
        "uvloop",
        DrainingProtocol,
        "none",
        "on",
    )
    assert config.access_log is False
    assert config.proxy_headers is False
    assert config.timeout_keep_alive >= 30
    assert instance.seen["address"] == ("127.0.0.1", port)
    assert instance.seen["listening"] == 1
    assert instance.seen["mode"] == 0o600
    settings = instance.seen["settings"]
    assert settings.http.secret.get_secret_value() == SECRET
    assert settings.workers == 3
    assert settings.data_dir == tmp_path / "data"

    assert not instance.seen["path"].exists()
    assert serve.SETTINGS_FILE_ENV not in os.environ
    assert instance.sockets[0].fileno() == -1  # closed
    err = capsys.readouterr().err
    assert f'msg="listening on 127.0.0.1:{port}" workers=3' in err
    assert SECRET not in err


def test_even_one_worker_is_supervised(
    tmp_path: Path, migrations: list[str], supervisor: type[FakeSupervisor]
) -> None:
    assert main(serve_args(tmp_path, free_port(), "--workers", "1")) == 0
    (instance,) = supervisor.instances
    assert instance.config.workers == 1
    assert instance.seen["settings"].workers == 1


def test_worker_that_cannot_start_fails_serve(
    tmp_path: Path, migrations: list[str], supervisor: type[FakeSupervisor]
) -> None:
    supervisor.exitcode = STARTUP_FAILURE
    assert main(serve_args(tmp_path, free_port())) == 1


def test_failed_migration_starts_no_worker(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    supervisor: type[FakeSupervisor],
    capsys: pytest.CaptureFixture[str],
) -> None:
    def migrate(url: str) -> None:
        raise ConnectionRefusedError("database is down")

    engine = types.ModuleType("dockyard.metadata.engine")
    engine.migrate = migrate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.metadata.engine", engine)
    replace_bootstrap(monkeypatch, None)
    replace_operator(monkeypatch)
    assert main(serve_args(tmp_path, free_port())) == 1
    assert supervisor.instances == []
    err = capsys.readouterr().err
    assert 'msg="cannot prepare the database" err="ConnectionRefusedError: database is down"' in err


def test_first_start_shows_the_admin_password_on_stdout_only(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    migrations: list[str],
    supervisor: type[FakeSupervisor],
    capsys: pytest.CaptureFixture[str],
) -> None:
    replace_bootstrap(monkeypatch, "first-start-password")
    port = free_port()
    assert main(serve_args(tmp_path, port)) == 0
    captured = capsys.readouterr()
    assert (
        f"dockyard login -u admin -p first-start-password http://127.0.0.1:{port}" in captured.out
    )
    assert "first-start-password" not in captured.err


def test_busy_port_starts_no_worker(
    tmp_path: Path,
    migrations: list[str],
    supervisor: type[FakeSupervisor],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(serve_args(tmp_path, port)) == 1
    assert supervisor.instances == []
    assert f'msg="cannot listen" addr=127.0.0.1:{port} err="OSError: ' in capsys.readouterr().err


def test_worker_factory_builds_the_app_from_the_parents_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.model_validate(
        {"data_dir": str(tmp_path), "http": {"secret": SECRET}, "workers": 2}
    )
    built: list[Settings] = []
    app = object()

    def create_app(settings: Settings) -> object:
        built.append(settings)
        return app

    app_module = types.ModuleType("dockyard.http.app")
    app_module.create_app = create_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.http.app", app_module)
    watched: list[int] = []
    monkeypatch.setattr(serve, "_exit_with_parent", watched.append)
    monkeypatch.setenv(serve.SETTINGS_FILE_ENV, str(serve._write_settings_file(settings)))

    assert serve.create_worker_app() is app
    assert built == [settings]
    assert built[0].http.secret.get_secret_value() == SECRET
    assert watched == [os.getppid()]


def test_worker_factory_outside_serve_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(serve.SETTINGS_FILE_ENV, raising=False)
    with pytest.raises(ConfigError, match="workers are started by dockyard serve"):
        serve.create_worker_app()


def test_settings_files_of_dead_supervisors_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    stale = tmp_path / f".serve-{dead.pid}.json"
    live = tmp_path / f".serve-{os.getppid()}.json"
    stale.write_text("{}")
    live.write_text("{}")
    settings = Settings.model_validate({"data_dir": str(tmp_path), "http": {"secret": SECRET}})

    path = serve._write_settings_file(settings)

    assert path == tmp_path / f".serve-{os.getpid()}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not stale.exists()
    assert live.exists()


@pytest.mark.parametrize(("parent", "code"), [("-1", -15), ("os.getppid()", 0)])
def test_worker_stops_when_its_supervisor_is_gone(parent: str, code: int) -> None:
    script = (
        "import os, time\n"
        "from dockyard.cli.serve import _exit_with_parent\n"
        f"_exit_with_parent({parent})\n"
        "time.sleep(2.5)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
    assert result.returncode == code
