"""Worker memory while one large layer goes up and comes back: does it stay flat?

Starts ``dockyard serve`` with its defaults (a worker per CPU, SQLite, authentication on) on
filesystem storage, or with ``--storage s3`` on a bucket of moto's S3 server (started here,
redirects off so that the worker itself streams every byte), and moves layers of ``--size``
MiB (2 GiB by default) through it four ways: a streamed ``PATCH`` (what skopeo and podman
send), ``PATCH`` chunks of ``--chunk`` MiB with ``Content-Range``, one monolithic ``PUT`` (each
push a layer of its own, so each stores a new blob and moves it into place), and a ``GET`` of
the last one, checked against its digest. The client never holds a layer: it is a random block
repeated, generated as it is sent.

A thread reads ``VmRSS`` and ``VmHWM`` of every worker from ``/proc`` every 0.2 s throughout.
Each phase reports its time and throughput and, over the workers, the resident set before it
and at its highest during it; the results go to ``bench/results/memory-latest.json`` and
``memory-latest.md``.

    python bench/memory.py [--storage filesystem] [--storage s3] [--size 2048] [--chunk 64]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from servers import (
    REPO_ROOT,
    BenchError,
    Dockyard,
    Server,
    dockyard_facts,
    log,
    machine_facts,
    memory_kib,
    stop_all,
    stop_on_sigterm,
    utc_now,
)

RESULTS_DIR = REPO_ROOT / "bench" / "results"
MiB = 1 << 20
BLOCK = 8 * MiB
"""The random block the layer repeats: distinct bytes per block boundary are not needed, the
server hashes and stores whatever comes."""
SEND_PIECE = MiB
SAMPLE_S = 0.2
REPOSITORY = "bench/memory"
TIMEOUT = httpx.Timeout(600.0, connect=30.0)


class Moto(Server):
    """moto's S3 server (the ``dev`` extra installs it), in memory."""

    name = "moto"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self, status: int) -> bool:
        return status < 500


class MemoryDockyard(Dockyard):
    """Dockyard's defaults, with the storage settings of the run on top."""

    def __init__(self, workdir: Path, storage: dict[str, str]) -> None:
        super().__init__(workdir)
        self.storage = storage

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **self.storage}


class Layer:
    """``size`` bytes of one random block repeated, produced piece by piece on demand."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.block = os.urandom(BLOCK)
        digest = hashlib.sha256()
        for piece in self.pieces(0, size):
            digest.update(piece)
        self.digest = f"sha256:{digest.hexdigest()}"

    def pieces(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes ``[start, end)`` in pieces of at most ``SEND_PIECE``."""
        position = start
        while position < end:
            offset = position % BLOCK
            length = min(SEND_PIECE, BLOCK - offset, end - position)
            yield self.block[offset : offset + length]
            position += length


class Sampler:
    """Every worker's ``VmRSS`` and ``VmHWM`` (KiB), read every ``SAMPLE_S`` seconds."""

    def __init__(self, server: Dockyard) -> None:
        self.server = server
        self.samples: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._began = time.monotonic()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def sample(self) -> dict[str, Any]:
        workers = {str(pid): memory_kib(pid) for pid in self.server.workers()}
        taken = {"t": round(time.monotonic() - self._began, 2), "workers": workers}
        with self._lock:
            self.samples.append(taken)
        return taken

    def since(self, index: int) -> list[dict[str, Any]]:
        with self._lock:
            return self.samples[index:]

    def mark(self) -> int:
        with self._lock:
            return len(self.samples)


def most(samples: list[dict[str, Any]], key: str) -> int:
    """The highest ``key`` of any worker in the samples (KiB)."""
    return max(
        (memory.get(key, 0) for sample in samples for memory in sample["workers"].values()),
        default=0,
    )


def start_upload(client: httpx.Client) -> str:
    response = client.post(f"/v2/{REPOSITORY}/blobs/uploads/")
    if response.status_code != 202:
        raise BenchError(f"POST upload answered {response.status_code}: {response.text}")
    return urljoin(str(client.base_url), response.headers["location"])


def with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def finish(client: httpx.Client, location: str, layer: Layer) -> None:
    response = client.put(with_digest(location, layer.digest))
    if response.status_code != 201:
        raise BenchError(f"PUT upload answered {response.status_code}: {response.text}")


def push_streamed(client: httpx.Client, layer: Layer, _: int) -> None:
    """One ``PATCH`` carrying the whole layer, then an empty ``PUT``."""
    location = start_upload(client)
    response = client.patch(
        location,
        content=layer.pieces(0, layer.size),
        headers={"Content-Type": "application/octet-stream"},
    )
    if response.status_code != 202:
        raise BenchError(f"PATCH answered {response.status_code}: {response.text}")
    finish(client, urljoin(location, response.headers["location"]), layer)


def push_chunked(client: httpx.Client, layer: Layer, chunk: int) -> None:
    """``PATCH`` requests of ``chunk`` bytes with ``Content-Range``, then an empty ``PUT``."""
    location = start_upload(client)
    for start in range(0, layer.size, chunk):
        end = min(start + chunk, layer.size)
        response = client.patch(
            location,
            content=layer.pieces(start, end),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{end - 1}",
                "Content-Length": str(end - start),
            },
        )
        if response.status_code != 202:
            raise BenchError(f"PATCH {start}-{end - 1} answered {response.status_code}")
        location = urljoin(location, response.headers["location"])
    finish(client, location, layer)


def push_monolithic(client: httpx.Client, layer: Layer, _: int) -> None:
    """The whole layer in the ``PUT`` that closes the upload."""
    location = start_upload(client)
    response = client.put(
        with_digest(location, layer.digest),
        content=layer.pieces(0, layer.size),
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(layer.size)},
    )
    if response.status_code != 201:
        raise BenchError(f"monolithic PUT answered {response.status_code}: {response.text}")


def pull(client: httpx.Client, layer: Layer, _: int) -> None:
    """``GET`` the blob (following a redirect, if any) and check its digest."""
    digest = hashlib.sha256()
    with client.stream("GET", f"/v2/{REPOSITORY}/blobs/{layer.digest}") as response:
        if response.status_code != 200:
            raise BenchError(f"GET blob answered {response.status_code}")
        for piece in response.iter_bytes(SEND_PIECE):
            digest.update(piece)
    if f"sha256:{digest.hexdigest()}" != layer.digest:
        raise BenchError("the pulled layer does not match its digest")


Phase = Callable[[httpx.Client, Layer, int], None]
PHASES: list[tuple[str, Phase]] = [
    ("push, one streamed PATCH", push_streamed),
    ("push, PATCH chunks", push_chunked),
    ("push, monolithic PUT", push_monolithic),
    ("pull, GET", pull),
]


def growth(before: dict[str, Any], during: list[dict[str, Any]]) -> int:
    """The most any one worker's ``VmRSS`` rose above its own value before the phase (KiB)."""
    rises = [
        memory.get("VmRSS", 0) - before["workers"].get(pid, {}).get("VmRSS", 0)
        for sample in during
        for pid, memory in sample["workers"].items()
        if pid in before["workers"]
    ]
    return max(rises, default=0)


def run_phases(
    server: Dockyard, layers: list[Layer], chunk: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each push moves a layer of its own, so each stores a new blob and moves it into place;
    the pull fetches the last one pushed."""
    auth = ("any", server.api_token())
    results = []
    with (
        Sampler(server) as sampler,
        httpx.Client(base_url=server.url, auth=auth, timeout=TIMEOUT) as client,
    ):
        time.sleep(1.0)
        for index, (name, phase) in enumerate(PHASES):
            layer = layers[min(index, len(layers) - 1)]
            time.sleep(1.0)  # let the previous phase's buffers go
            before = sampler.sample()
            mark = sampler.mark()
            log(f"{name}: {layer.size // MiB} MiB")
            began = time.monotonic()
            phase(client, layer, chunk)
            seconds = time.monotonic() - began
            during = [*sampler.since(mark), sampler.sample()]
            results.append(
                {
                    "phase": name,
                    "seconds": round(seconds, 2),
                    "mib_per_s": round(layer.size / MiB / seconds, 1),
                    "rss_before_kib": most([before], "VmRSS"),
                    "rss_peak_kib": most(during, "VmRSS"),
                    "rss_growth_kib": growth(before, during),
                    "hwm_after_kib": most(during[-1:], "VmHWM"),
                }
            )
        return results, sampler.since(0)


def storage_settings(kind: str, moto: Moto | None) -> dict[str, str]:
    if kind == "filesystem":
        return {}
    assert moto is not None
    return {
        "REGISTRY_STORAGE_S3_BUCKET": f"memory-{uuid.uuid4().hex[:12]}",
        "REGISTRY_STORAGE_S3_REGIONENDPOINT": moto.url,
        "REGISTRY_STORAGE_S3_ACCESSKEY": "bench",
        "REGISTRY_STORAGE_S3_SECRETKEY": "bench",
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
    }


def measure(kind: str, layers: list[Layer], chunk: int, work: Path) -> dict[str, Any]:
    """One registry on ``kind`` storage through every phase; stopped whatever happens."""
    moto = Moto(work / "moto") if kind == "s3" else None
    servers: list[Server] = []
    try:
        if moto is not None:
            servers.append(moto)
            moto.start()
        ours = MemoryDockyard(work / "dockyard", storage_settings(kind, moto))
        servers.insert(0, ours)
        ours.start()
        phases, samples = run_phases(ours, layers, chunk)
    finally:
        stop_all([s for s in servers if s.proc is not None and s.proc.poll() is None])
    workers = len(samples[-1]["workers"]) if samples else 0
    return {"storage": kind, "workers": workers, "phases": phases, "samples": samples}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--storage",
        action="append",
        choices=("filesystem", "s3"),
        help="storage to measure, repeatable (default: filesystem)",
    )
    parser.add_argument("--size", type=int, default=2048, help="layer size, MiB")
    parser.add_argument("--chunk", type=int, default=64, help="PATCH chunk size, MiB")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args(argv)
    log(f"generating {args.size} MiB layers and their digests")
    pushes = sum(name.startswith("push") for name, _ in PHASES)
    layers = [Layer(args.size * MiB) for _ in range(pushes)]
    work = Path(tempfile.mkdtemp(prefix="dockyard-memory-bench-"))
    started = utc_now()
    runs = []
    try:
        with stop_on_sigterm():
            for kind in args.storage or ["filesystem"]:
                runs.append(measure(kind, layers, args.chunk * MiB, work / kind))
    except (BenchError, httpx.HTTPError, subprocess.SubprocessError) as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    document = {
        "schema": 1,
        "date": started,
        "machine": machine_facts(),
        "dockyard": dockyard_facts(),
        "layer_mib": args.size,
        "chunk_mib": args.chunk,
        "runs": runs,
    }
    write(args.out, document)
    return 0


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def write(out: Path, document: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    rows = [
        "| storage | phase | s | MiB/s | worker RSS before, MiB | peak, MiB | growth, MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in document["runs"]:
        for row in run["phases"]:
            rows.append(
                f"| {run['storage']} | {row['phase']} | {row['seconds']} | {row['mib_per_s']} | "
                f"{mib(row['rss_before_kib'])} | {mib(row['rss_peak_kib'])} | "
                f"{mib(row['rss_growth_kib'])} |"
            )
    machine = document["machine"]
    workers = ", ".join(f"{run['workers']} on {run['storage']}" for run in document["runs"])
    text = (
        f"`make bench-memory`, {document['date']}: a {document['layer_mib']} MiB layer "
        f"({document['chunk_mib']} MiB PATCH chunks), workers: {workers}; {machine['nproc']} "
        f"CPUs. Worker RSS is `VmRSS` from `/proc`, sampled every {SAMPLE_S} s: before a phase "
        "and at its highest during it (the most of any worker); growth is the most any one "
        "worker rose above its own value before the phase.\n\n" + "\n".join(rows) + "\n"
    )
    (out / "memory-latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
