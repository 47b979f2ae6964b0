"""Throwaway registries for the benchmarks: Dockyard and Debian's ``docker-registry``.

Each server gets a fresh data directory and a free loopback port, runs in its own session (so a
Ctrl-C in the terminal reaches only the orchestrator, which then stops the servers in order), and
is stopped by its own process id: SIGTERM, a grace period, then SIGKILL to its process group.

Shared by ``bench/run.py`` (the side-by-side run) and ``bench/scaling.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
HARNESS_RELATIVE = Path("..") / "shared" / "bench" / "regbench.py"
"""Where the shared harness lives, relative to the repository root."""
HARNESS_ENV = "REGBENCH"
"""Overrides the harness location (a path to regbench.py)."""

PEER_BINARY = "docker-registry"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0
"""Dockyard lets requests in flight finish for up to 30 s on SIGTERM."""

_ADMIN_LINE = re.compile(r"dockyard login -u (\S+) -p (\S+) (\S+)")


class BenchError(Exception):
    """A failure the user can act on; the message says what to do."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def find_harness(override: str | None = None) -> Path:
    """``regbench.py``: ``override``, else ``$REGBENCH``, else ``../shared/bench`` of the repo."""
    chosen = override or os.environ.get(HARNESS_ENV)
    path = Path(chosen) if chosen else (REPO_ROOT / HARNESS_RELATIVE)
    if not path.is_file():
        raise BenchError(
            f"the benchmark harness is missing: {path} does not exist.\n"
            f"  It is expected at {HARNESS_RELATIVE} relative to the repository root "
            "(a checkout of the shared bench next to this one);\n"
            f"  point ${HARNESS_ENV} or --harness at regbench.py if it lives elsewhere."
        )
    return path.resolve()


def free_port() -> int:
    """A port the kernel considers free on 127.0.0.1 (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory_kib(pid: int) -> dict[str, int]:
    """``VmHWM`` (peak resident set) and ``VmRSS`` of a live process, in KiB; {} if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = {}
    for key in ("VmHWM", "VmRSS"):
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        if match:
            found[key] = int(match.group(1))
    return found


class Server:
    """One registry process in its own session, with its stdout/stderr in files."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self, status: int) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with status {self.proc.returncode} before it was "
                    f"ready:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                time.sleep(0.2)
                continue
            if self.ready(status):
                return
            time.sleep(0.2)
        raise BenchError(f"{self.name} not ready on {self.url} after {READY_TIMEOUT_S:.0f} s")

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                if tail:
                    parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts) or "(no output)"

    def stop(self) -> int | None:
        """SIGTERM, wait, then SIGKILL whatever is left of its process group; exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {proc.pid}) ignored SIGTERM for {STOP_TIMEOUT_S:.0f} s")
        # Its session's process group carries its id: this reaches its workers and nothing else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        return proc.returncode


class Dockyard(Server):
    """``python -m dockyard serve`` as a user runs it: default workers, SQLite, filesystem
    storage, authentication on, logging at info (with the access log)."""

    name = "dockyard"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.user = ""
        self.password = ""

    def command(self) -> list[str]:
        addr = f"127.0.0.1:{self.port}"
        return [sys.executable, "-m", "dockyard", "serve", "--data-dir", str(self.data_dir),
                "--addr", addr]  # fmt: skip

    def environment(self) -> dict[str, str]:
        # Only the defaults: no settings file or REGISTRY_* override leaks in from the caller.
        return {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("REGISTRY_", "DOCKYARD_"))
        }

    def ready(self, status: int) -> bool:
        return status in (200, 401)

    def start(self) -> None:
        super().start()
        match = _ADMIN_LINE.search(self.stdout_path.read_text(errors="replace"))
        if match is None:
            raise BenchError(
                "dockyard did not print the administrator's password on its first start "
                f"(expected a line 'dockyard login -u admin -p PASSWORD URL'):\n{self.log_tail()}"
            )
        self.user, self.password = match.group(1), match.group(2)

    def api_token(self) -> str:
        """An API token for the administrator, as ``dockyard login`` gets one (one bcrypt)."""
        form = urllib.parse.urlencode(
            {"grant_type": "password", "username": self.user, "password": self.password}
        ).encode()
        with urllib.request.urlopen(f"{self.url}/oauth/token", data=form, timeout=60) as response:
            token: str = json.loads(response.read())["access_token"]
        return token

    def workers(self) -> list[int]:
        """The worker processes: children of the supervisor that multiprocessing spawned."""
        if self.proc is None:
            return []
        return [
            pid
            for pid in _children(self.proc.pid)
            if "multiprocessing.spawn" in _cmdline(pid) and "resource_tracker" not in _cmdline(pid)
        ]


class Peer(Server):
    """Debian's ``docker-registry`` (CNCF Distribution 2.8), no auth, the bench README's config."""

    name = "docker-registry"

    def command(self) -> list[str]:
        binary = shutil.which(PEER_BINARY)
        if binary is None:
            raise BenchError(f"{PEER_BINARY} is not installed: apt-get install -y docker-registry")
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error, accesslog: {disabled: true}}\n"
            "storage:\n"
            "  cache: {blobdescriptor: inmemory}\n"
            f"  filesystem: {{rootdirectory: {self.data_dir}}}\n"
            "  delete: {enabled: true}\n"
            "  maintenance: {uploadpurging: {enabled: false}}\n"
            f"http: {{addr: 127.0.0.1:{self.port}, secret: benchsecret{self.port}}}\n"
        )
        return [binary, "serve", str(config)]

    def ready(self, status: int) -> bool:
        return status == 200


class MemorySampler:
    """Peak RSS (``VmHWM``) of each Dockyard worker and of the other server processes.

    ``VmHWM`` is a process's own high-water mark, so sampling only has to catch workers that
    exit (a restarted worker gets a new pid and its own entry)."""

    def __init__(self, dockyard: Dockyard, others: list[Server], interval_s: float = 1.0) -> None:
        self.dockyard = dockyard
        self.others = others
        self.interval_s = interval_s
        self.workers: dict[int, int] = {}
        self.processes: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        for pid in self.dockyard.workers():
            peak = memory_kib(pid).get("VmHWM")
            if peak is not None:
                self.workers[pid] = max(peak, self.workers.get(pid, 0))
        for server in [self.dockyard, *self.others]:
            if server.proc is None:
                continue
            peak = memory_kib(server.proc.pid).get("VmHWM")
            if peak is not None:
                key = f"{server.name} (pid {server.proc.pid})"
                self.processes[key] = max(peak, self.processes.get(key, 0))

    def report(self) -> dict[str, Any]:
        return {
            "unit": "KiB",
            "source": "/proc/<pid>/status VmHWM, sampled every second and at the end",
            "dockyard_workers": {str(pid): kib for pid, kib in sorted(self.workers.items())},
            "processes": dict(self.processes),
        }


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (and SIGHUP) into SystemExit, so ``finally`` blocks stop the servers."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_all(servers: list[Server]) -> None:
    """Stop every server, even if another Ctrl-C arrives meanwhile."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for server in servers:
            if server.proc is None:
                continue
            began = time.monotonic()
            status = server.stop()
            took = time.monotonic() - began
            log(
                f"stopped {server.name} (pid {server.proc.pid}, exit status {status}, {took:.1f} s)"
            )
    finally:
        signal.signal(signal.SIGINT, old)


def _first_line(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def machine_facts() -> dict[str, Any]:
    """What the figures depend on: CPUs, memory, kernel, Python, the tools' versions."""
    cpu_model = None
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu_model = match.group(1).strip() if match else None
    mem_kib = None
    with contextlib.suppress(OSError):
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        mem_kib = int(match.group(1)) if match else None
    debian = None
    with contextlib.suppress(OSError):
        debian = Path("/etc/debian_version").read_text().strip()
    wrk = _first_line(["wrk", "--version"]) if shutil.which("wrk") else None
    peer = _first_line([PEER_BINARY, "--version"]) if shutil.which(PEER_BINARY) else None
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_total_mib": round(mem_kib / 1024) if mem_kib else None,
        "kernel": platform.release(),
        "os": f"Debian {debian}" if debian else platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "docker_registry": peer,
        "wrk": wrk.split(" [")[0] if wrk else None,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def dockyard_facts(**more: Any) -> dict[str, Any]:
    """The ``dockyard`` entry of a results document: which Dockyard ran, and how."""
    return {"version": dockyard_version(), "revision": source_revision(), **more}


def dockyard_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dockyard")
    except PackageNotFoundError:
        return None


def source_revision() -> str | None:
    """The checked-out commit, read from ``.git`` (no git command), or None."""
    git = REPO_ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        loose = git / ref
        if loose.is_file():
            return loose.read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        return None
    return None


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
