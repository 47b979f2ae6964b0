"""Cloud storage emulators on loopback, started by the tests: moto's S3 server, Azurite, and
the GCS emulator. Each runs once per session on a free port; tests keep apart by using buckets
or containers of their own.

Importing a fixture into a test module or conftest (``from emulators import moto_s3``) makes it
available there. Without the emulator's package a test is skipped, or fails under CI, which
installs them all (``.ci/run`` and the ``dev`` extra).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

START_TIMEOUT = 30.0
AZURITE_DIR_ENV = "DOCKYARD_AZURITE_DIR"
"""Where ``npm install azurite`` put ``node_modules`` (``.ci/run`` sets it)."""
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""Azurite's well-known development key, public in its documentation."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(what: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is not installed; .ci/run installs it")
    pytest.skip(f"{what} is not installed")


def unique_bucket(prefix: str = "dockyard") -> str:
    """A bucket or container name of one test: lower case, at most 63 characters."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@dataclass
class Emulator:
    """A running emulator process tree; ``endpoint`` is its base URL."""

    name: str
    process: subprocess.Popen[bytes]
    endpoint: str
    log_path: Path

    @classmethod
    def start(cls, name: str, command: list[str], port: int, log_path: Path) -> Emulator:
        emulator = cls.launch(name, command, port, log_path)
        emulator.wait_ready()
        return emulator

    @classmethod
    def launch(cls, name: str, command: list[str], port: int, log_path: Path) -> Emulator:
        """Start the process without waiting, so that several can start at once."""
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, process, f"http://127.0.0.1:{port}", log_path)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(self.endpoint, timeout=2)
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, chars: int = 8000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, grace: float = 10) -> None:
        """Terminate the process tree, and kill it when it outlives ``grace`` seconds."""
        self.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def start_moto(tmp_path_factory: pytest.TempPathFactory) -> Emulator:
    """moto's S3 server on a free port; any access key works, signatures are not checked."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        _unavailable("moto[server]")
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return Emulator.start("moto S3", command, port, log)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """moto's S3 server for the session (of this pytest worker)."""
    emulator = start_moto(tmp_path_factory)
    yield emulator
    emulator.stop()


STORAGE_ENV = "DOCKYARD_TEST_STORAGE"
"""``s3``: every registry the tests start keeps its blobs in a bucket of its own on moto;
unset or ``filesystem``: under its data directory."""
DRIVER_PREFIXES = tuple(
    f"REGISTRY_STORAGE_{name}_"
    for name in ("FILESYSTEM", "INMEMORY", "S3", "AZURE", "GCS", "SWIFT")
)
S3_ROOT = "dockyard"
S3_CHUNK_SIZE = 5 * 1024 * 1024


def storage_kind() -> str:
    """The storage of the registries the tests start: ``filesystem`` or ``s3``."""
    kind = os.environ.get(STORAGE_ENV, "").strip().lower() or "filesystem"
    if kind not in ("filesystem", "s3"):
        raise pytest.UsageError(f"{STORAGE_ENV} must be filesystem or s3, not {kind!r}")
    return kind


def skip_unless_filesystem(why: str) -> None:
    """Skip a test that looks at files under the data directory when the blobs are elsewhere."""
    if storage_kind() != "filesystem":
        pytest.skip(f"{STORAGE_ENV}={storage_kind()}: {why}")


def chooses_driver(env: Mapping[str, str]) -> bool:
    """Whether settings variables name a storage driver of their own."""
    return any(key.startswith(DRIVER_PREFIXES) for key in env)


def s3_registry_env(
    moto: Emulator, *, redirect: bool, endpoint: str | None = None
) -> dict[str, str]:
    """``REGISTRY_*`` variables for a registry on a fresh bucket of moto's server, reached at
    ``endpoint`` (a proxy in front of it) or directly, with the smallest part size."""
    return {
        "REGISTRY_STORAGE_S3_BUCKET": unique_bucket("registry"),
        "REGISTRY_STORAGE_S3_REGIONENDPOINT": endpoint or moto.endpoint,
        "REGISTRY_STORAGE_S3_ACCESSKEY": "testing",
        "REGISTRY_STORAGE_S3_SECRETKEY": "testing",
        "REGISTRY_STORAGE_S3_CHUNKSIZE": str(S3_CHUNK_SIZE),
        "REGISTRY_STORAGE_S3_ROOTDIRECTORY": f"/{S3_ROOT}",
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "false" if redirect else "true",
    }


def blob_stored(env: Mapping[str, str], storage_root: Path, digest: str) -> bool:
    """Whether a registry with settings variables ``env`` holds the blob's data in its store:
    the S3 bucket they name, else the filesystem under ``storage_root``."""
    algorithm, hex_digest = digest.split(":")
    path = f"docker/registry/v2/blobs/{algorithm}/{hex_digest[:2]}/{hex_digest}/data"
    bucket = env.get("REGISTRY_STORAGE_S3_BUCKET")
    if bucket is None:
        return (storage_root / path).exists()
    client = s3_client(env["REGISTRY_STORAGE_S3_REGIONENDPOINT"])
    root = env.get("REGISTRY_STORAGE_S3_ROOTDIRECTORY", "").strip("/")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{root}/{path}" if root else path)
    return bool(listed.get("KeyCount"))


@contextlib.contextmanager
def tls_in_front(moto: Emulator, directory: Path) -> Iterator[tuple[str, Path]]:
    """moto behind a proxy that ends TLS with a certificate for ``localhost`` signed by a CA of
    the test's own making; yields the ``https://localhost:PORT`` endpoint and the CA's PEM file,
    which no system trust store knows."""
    from dockyard.operator.certificates import serving_certificate
    from faultproxy import FaultProxy

    serving = serving_certificate("localhost")
    (directory / "server.crt").write_bytes(serving.certificate)
    (directory / "server.key").write_bytes(serving.key)
    (directory / "ca.crt").write_bytes(serving.ca)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    proxy = FaultProxy(moto.endpoint, tls=context).start()
    try:
        yield proxy.endpoint.replace("127.0.0.1", "localhost"), directory / "ca.crt"
    finally:
        proxy.stop()


def s3_params(moto: Emulator, **extra: object) -> dict[str, Any]:
    """Driver parameters for a fresh bucket, absent until the driver creates it, under a root
    directory, with the smallest part size S3 takes."""
    return {
        "bucket": unique_bucket(),
        "regionendpoint": moto.endpoint,
        "accesskey": "testing",
        "secretkey": "testing",
        "rootdirectory": "/registry/",
        "chunksize": 5 * 1024 * 1024,
        **extra,
    }


def azure_params(azurite: Emulator, **extra: object) -> dict[str, Any]:
    """Driver parameters for a fresh container of Azurite's account, under a root directory,
    with small blocks so that writers append many."""
    return {
        "accountname": AZURITE_ACCOUNT,
        "accountkey": AZURITE_KEY,
        "container": unique_bucket(),
        "serviceurl": azurite.endpoint,
        "rootdirectory": "registry",
        "chunksize": 1024 * 1024,
        **extra,
    }


def gcs_params(gcs: Emulator, **extra: object) -> dict[str, Any]:
    """Driver parameters for a fresh bucket of the GCS emulator, under a root directory, with
    the smallest part size."""
    return {
        "bucket": unique_bucket(),
        "endpoint": gcs.endpoint,
        "rootdirectory": "registry",
        "chunksize": 256 * 1024,
        **extra,
    }


def swift_params(swift: Emulator, **extra: object) -> dict[str, Any]:
    """Driver parameters for a fresh container of the test cluster, logging in through
    TempAuth (auth version 1), with 1 MiB segments and a TempURL key."""
    return {
        "authurl": f"{swift.endpoint}/auth/v1.0",
        "authversion": 1,
        "username": SWIFT_USER,
        "password": SWIFT_PASSWORD,
        "container": unique_bucket(),
        "prefix": "registry",
        "chunksize": 1024 * 1024,
        "secretkey": "dockyard-tempurl-key",
        **extra,
    }


def swift_login(swift: Emulator) -> tuple[str, str]:
    """The storage URL and a token of ``SWIFT_USER``, from TempAuth (auth version 1)."""
    response = httpx.get(
        f"{swift.endpoint}/auth/v1.0",
        headers={"X-Auth-User": SWIFT_USER, "X-Auth-Key": SWIFT_PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return response.headers["x-storage-url"], response.headers["x-auth-token"]


def s3_client(moto: Emulator | str) -> Any:
    """A boto3 client of moto's server (or its endpoint URL), to look into buckets behind the
    driver's back."""
    import boto3
    import botocore.config

    return boto3.client(
        "s3",
        endpoint_url=moto if isinstance(moto, str) else moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """gcp-storage-emulator in memory; it takes any credentials."""
    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError:
        _unavailable("gcp-storage-emulator")
    port = _free_port()
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    command = [
        sys.executable,
        "-m",
        "gcp_storage_emulator",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
    ]
    emulator = Emulator.start("GCS emulator", command, port, log)
    yield emulator
    emulator.stop()


def _azurite_binary() -> str | None:
    directory = os.environ.get(AZURITE_DIR_ENV)
    candidates = [Path(directory)] if directory else []
    candidates.append(Path(__file__).resolve().parents[1] / ".ci" / "npm")
    for base in candidates:
        binary = base / "node_modules" / ".bin" / "azurite-blob"
        if binary.exists():
            return str(binary)
    return shutil.which("azurite-blob")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Azurite's blob service in memory, with its well-known account (``AZURITE_ACCOUNT``)."""
    binary = _azurite_binary()
    if binary is None:
        _unavailable("azurite (npm)")
    port = _free_port()
    root = tmp_path_factory.mktemp("azurite")
    command = [
        binary,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
    ]
    emulator = Emulator.start("Azurite", command, port, root / "azurite.log")
    emulator.endpoint = f"{emulator.endpoint}/{AZURITE_ACCOUNT}"
    yield emulator
    emulator.stop()


SWIFT_SERVERS = ("account", "container", "object")
SWIFT_PROXY_PIPELINE = (
    "catch_errors proxy-logging tempurl tempauth slo dlo copy proxy-logging proxy-server"
)
SWIFT_USER = "test:tester"
SWIFT_PASSWORD = "testing"
SWIFT_ACCOUNT = "AUTH_test"
SWIFT_TEMPAUTH = (
    f"user_{SWIFT_USER.replace(':', '_')} = {SWIFT_PASSWORD} .admin\n"
    # Fernet tokens: TempAuth keeps no token store, so it needs no memcached.
    "fernet_key_one = ZG9ja3lhcmQtdGVzdHMtc3dpZnQtZmVybmV0LWtleSE=\n"
    "active_fernet_key_id = one\n"
)


SWIFT_RINGS = """
import sys
from swift.common.ring import RingBuilder
for name, port in zip(sys.argv[1::2], sys.argv[2::2]):
    builder = RingBuilder(6, 1, 0)
    device = {"region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port), "device": "sdb1"}
    builder.add_dev({**device, "weight": 1})
    builder.rebalance()
    builder.get_ring().save(f"{name}.ring.gz")
"""
"""Builds the one-device rings in one process: a ``swift-ring-builder`` call per step takes
most of a second."""


def _swift_config(root: Path, name: str, port: int, pipeline: str, extra: str = "") -> Path:
    path = root / f"{name}-server.conf"
    path.write_text(
        "[DEFAULT]\n"
        f"devices = {root / 'node'}\nmount_check = false\nbind_ip = 127.0.0.1\n"
        f"bind_port = {port}\nswift_dir = {root}\nworkers = 0\nlog_name = {name}\n"
        f"[pipeline:main]\npipeline = {pipeline}\n"
        f"[app:{name}-server]\nuse = egg:swift#{name}\n{extra}"
    )
    return path


@pytest.fixture(scope="session")
def swift_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A one-node OpenStack Swift cluster (the ``swift`` package): account, container and
    object servers on rings of one device, and a proxy with TempURL, static large objects and
    TempAuth (auth version 1 at ``/auth/v1.0``, the user ``SWIFT_USER`` administers the account
    ``SWIFT_ACCOUNT``)."""
    bindir = Path(sys.executable).parent
    if not (bindir / "swift-proxy-server").exists():
        _unavailable("swift (the OpenStack Swift package)")
    root = tmp_path_factory.mktemp("swift")
    (root / "node" / "sdb1").mkdir(parents=True)
    (root / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = dockyard-tests\n"
        "[storage-policy:0]\nname = default\ndefault = yes\n"
    )
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    ports = {name: _free_port() for name in SWIFT_SERVERS}
    rings = [str(item) for pair in ports.items() for item in pair]
    python = str(bindir / "python")
    subprocess.run([python, "-c", SWIFT_RINGS, *rings], cwd=root, check=True, env=env)
    servers: list[Emulator] = []
    try:
        for name, port in ports.items():
            config = _swift_config(root, name, port, f"{name}-server")
            command = [str(bindir / f"swift-{name}-server"), str(config)]
            servers.append(Emulator.launch(f"swift {name}", command, port, root / f"{name}.log"))
        port = _free_port()
        filters = "".join(
            f"[filter:{name}]\nuse = egg:swift#{name.replace('-', '_')}\n"
            for name in ("catch_errors", "proxy-logging", "tempurl", "slo", "dlo", "copy")
        )
        filters += f"[filter:tempauth]\nuse = egg:swift#tempauth\n{SWIFT_TEMPAUTH}"
        config = _swift_config(
            root, "proxy", port, SWIFT_PROXY_PIPELINE, "account_autocreate = true\n" + filters
        )
        command = [str(bindir / "swift-proxy-server"), str(config)]
        proxy = Emulator.launch("swift proxy", command, port, root / "proxy.log")
        servers.append(proxy)
        for server in servers:
            server.wait_ready()
        yield proxy
    finally:
        # Swift's servers drain for seconds after SIGTERM; their data is thrown away anyway.
        for server in servers:
            server.terminate()
        for server in servers:
            server.stop(grace=1)
