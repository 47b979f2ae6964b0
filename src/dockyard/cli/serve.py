"""``dockyard serve``: the registry as worker processes that share one listening socket.

The parent resolves the settings, migrates the database and binds the socket, once; then it only
supervises, with uvicorn's ``Multiprocess``: a worker that dies is replaced, SIGTERM and SIGINT stop
them all gracefully, SIGHUP replaces them one at a time. It supervises even a single worker, so one
crash never takes the registry down. Workers read the resolved settings from a 0600 file that
``DOCKYARD_SETTINGS_FILE`` names: the secret never shows on a command line or in the environment,
and no worker reads the configuration differently from its parent.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from dockyard.config.loader import CONFIG_PATH_ENV, load_config
from dockyard.config.model import TLS_RELAY_PORT_ENV, Settings, dump_settings
from dockyard.errors import ConfigError
from dockyard.http.protocol import DrainingProtocol
from dockyard.observability.logfile import LOG_FILE_ENV, StderrTee
from dockyard.observability.logging import logging_config, setup_logging
from dockyard.observability.metrics import MULTIPROCESS_ENV

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from dockyard.operator.supervision import Operator

SETTINGS_FILE_ENV = "DOCKYARD_SETTINGS_FILE"
WORKER_APP = "dockyard.cli.serve:create_worker_app"
BACKLOG = 2048
KEEP_ALIVE_SECONDS = 75
"""Longer than the 60 s idle timeout of common load balancers, so they close first, never us
under a request they are sending; registry clients reuse connections across many blob requests."""
GRACEFUL_SHUTDOWN_SECONDS = 30
WORKER_READY_SECONDS = 60
"""How long a replacement worker may take to start before a roll gives up on it and keeps the
old one (uvicorn's 5 s is often too short for a busy machine, and a roll given up leaves the new
settings unapplied); also how long a worker may leave a health check unanswered."""

logger = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the registry server",
        description="Run the registry: migrate the database, then serve HTTP with N workers.",
        epilog="Every flag overrides the settings file and REGISTRY_* environment variables.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"YAML settings file (default: ${CONFIG_PATH_ENV}, else built-in defaults)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where metadata, blobs and the generated http secret live "
        "(default: $REGISTRY_DATA_DIR, else ~/.local/share/dockyard)",
    )
    parser.add_argument(
        "--addr", metavar="HOST:PORT", help="address to listen on (default: 127.0.0.1:5000)"
    )
    parser.add_argument(
        "--workers", metavar="N", type=int, help="worker processes (default: one per CPU)"
    )
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    flags = {"data_dir": args.data_dir, "http.addr": args.addr, "workers": args.workers}
    overrides = {key: value for key, value in flags.items() if value is not None}
    try:
        settings = load_config(
            args.config or os.environ.get(CONFIG_PATH_ENV), os.environ, overrides
        )
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except ConfigError as exc:
        print(f"dockyard: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"dockyard: error: data_dir: cannot create {exc.filename}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    setup_logging(settings.log.level, settings.log.formatter)

    from dockyard.auth.bootstrap import bootstrap
    from dockyard.metadata.engine import migrate
    from dockyard.operator.supervision import Operator, seed

    try:
        migrate(settings.database.url)
        admin_password = bootstrap(settings.database.url)
        # From the first start on, the cluster Config says how many workers run.
        replicas = seed(settings)
        if replicas != settings.workers:
            logger.warning(
                "the cluster Config's spec.replicas overrides workers",
                extra={"workers": settings.workers, "replicas": replicas},
            )
        settings = settings.model_copy(update={"workers": replicas})
    except Exception:
        logger.error("cannot prepare the database", exc_info=True)
        return 1
    if admin_password is not None:
        _announce_admin(admin_password, settings)
    try:
        listener = _listen(*settings.http.bind_address())
    except OSError:
        logger.error("cannot listen", extra={"addr": settings.http.addr}, exc_info=True)
        return 1
    with listener:
        return _supervise(settings, listener, Operator)


def _announce_admin(password: str, settings: Settings) -> None:
    """Show the new administrator's password once, on stdout: never in the log stream."""
    host, port = settings.http.bind_address()
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    url = settings.http.host or f"http://{shown}:{port}"
    print(
        'Created the cluster administrator "admin". Its password is shown only this once;\n'
        "Dockyard keeps only its hash. Log in with:\n"
        f"    dockyard login -u admin -p {password} {url}\n",
        flush=True,
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bound and listening before any worker runs, so early clients queue instead of failing."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(BACKLOG)
        listener.set_inheritable(True)
    except OSError:
        listener.close()
        raise
    return listener


def _supervise(settings: Settings, listener: socket.socket, operator_of: type[Operator]) -> int:
    host, port = settings.http.bind_address()
    settings_file = _write_settings_file(settings)
    # With routes served over HTTPS, the supervisor relays their requests to a loopback socket
    # that the workers serve as well, and know as https.
    relay = _listen("127.0.0.1", 0) if settings.http.tlsaddr else None
    relay_port = relay.getsockname()[1] if relay is not None else None
    # The log on stderr is kept in a file too, for `dockyard logs`.
    log_file = settings.data_dir / "logs" / "registry.log"
    tee = StderrTee(log_file)
    kept = _keep_log(tee)
    try:
        os.environ[SETTINGS_FILE_ENV] = str(settings_file)  # spawned workers inherit it
        if kept:
            os.environ[LOG_FILE_ENV] = str(log_file)
        os.environ[MULTIPROCESS_ENV] = str(_metrics_dir(settings))
        if relay_port is not None:
            os.environ[TLS_RELAY_PORT_ENV] = str(relay_port)
        config = Config(
            WORKER_APP,
            factory=True,
            host=host,
            port=port,
            workers=settings.workers,
            loop="uvloop",
            # httptools (which sets no limit on header size, so there is no h11 event size to
            # raise), drained gently when a worker stops.
            http=DrainingProtocol,
            ws="none",
            lifespan="on",
            log_config=logging_config(settings.log.level, settings.log.formatter),
            access_log=False,  # the app writes its own, to the dockyard.access logger
            proxy_headers=False,
            server_header=False,
            backlog=BACKLOG,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            timeout_worker_healthcheck=WORKER_READY_SECONDS,
        )
        sockets = [listener] if relay is None else [listener, relay]
        supervisor = Multiprocess(config, sockets=sockets)
        logger.info("listening on %s", settings.http.addr, extra={"workers": settings.workers})
        operator = operator_of(settings, _Workers(supervisor, settings.workers), relay_port)
        operator.start()
        try:
            supervisor.run()
        finally:
            operator.stop()
    finally:
        os.environ.pop(SETTINGS_FILE_ENV, None)
        os.environ.pop(MULTIPROCESS_ENV, None)
        os.environ.pop(TLS_RELAY_PORT_ENV, None)
        os.environ.pop(LOG_FILE_ENV, None)
        if relay is not None:
            relay.close()
        settings_file.unlink()
        if kept:
            tee.stop()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        logger.error("a worker failed to start; see the lines above")
        return 1
    return 0


def _keep_log(tee: StderrTee) -> bool:
    """Start copying the log to its file; a data directory that can't hold it only warns."""
    try:
        tee.start()
    except OSError:
        logger.warning("cannot keep the log in a file", extra={"path": str(tee.path)})
        return False
    return True


class _Workers:
    """uvicorn's supervisor as the operator drives it: through its signal queue, so every
    change is made by the supervisor's own thread, as if an administrator sent the signal."""

    def __init__(self, supervisor: Multiprocess, workers: int) -> None:
        self.supervisor = supervisor
        self.wanted = workers

    def count(self) -> int:
        return self.wanted

    def ready(self) -> int:
        return sum(alive for _, alive in self.processes())

    def processes(self) -> list[tuple[int, bool]]:
        return [
            (worker.pid or 0, worker.process.is_alive())
            for worker in list(self.supervisor.processes)
        ]

    def scale(self, replicas: int) -> None:
        step = signal.SIGTTIN if replicas > self.wanted else signal.SIGTTOU
        self.supervisor.signal_queue.extend([step] * abs(replicas - self.wanted))
        self.wanted = replicas

    def roll(self) -> None:
        self.supervisor.signal_queue.append(signal.SIGHUP)

    def recreate(self) -> None:
        """Stop every worker now; the supervisor starts their replacements as they exit."""
        self.supervisor.terminate_all()


def _write_settings_file(settings: Settings) -> Path:
    """``<data_dir>/.serve-<pid>.json``, mode 0600; those of supervisors gone are removed."""
    for stale in settings.data_dir.glob(".serve-*.json"):
        pid = stale.stem.removeprefix(".serve-")
        if pid.isdigit() and not _is_running(int(pid)):
            stale.unlink(missing_ok=True)
    path = settings.data_dir / f".serve-{os.getpid()}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(dump_settings(settings))
    return path


def _metrics_dir(settings: Settings) -> Path:
    """``<data_dir>/metrics``, emptied: where the workers' Prometheus samples meet."""
    path = settings.data_dir / "metrics"
    path.mkdir(mode=0o700, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def create_worker_app() -> Starlette:
    """uvicorn's app factory in each worker: the parent's settings, then the app."""
    from dockyard.http.app import create_app

    path = os.environ.get(SETTINGS_FILE_ENV)
    if not path:
        raise ConfigError(f"{SETTINGS_FILE_ENV} is not set; workers are started by dockyard serve")
    settings = Settings.model_validate_json(Path(path).read_text(encoding="utf-8"))
    _exit_with_parent(os.getppid())
    return create_app(settings)


def _exit_with_parent(parent: int) -> None:
    """Shut down gracefully when the supervisor is gone (killed, say), instead of serving on
    as an orphan that holds the port and escapes the next start's migrations."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
