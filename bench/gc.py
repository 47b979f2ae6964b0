"""Garbage collection of a registry of 10,000 blobs: Dockyard online against Distribution
offline, on the same content.

Both registries get the same images, pushed over HTTP: ``--blobs`` blobs of 1 KiB, four layers
and a config per image, each image tagged in one repository. Then half of the images are
deleted by digest, which leaves their manifests and blobs unreferenced. Distribution 2.8 can
only collect while it is stopped: it is stopped and ``docker-registry garbage-collect`` runs on
its data. Dockyard collects while it serves: the image pruner (``POST
/extensions/v2/prune/images``, nothing kept for its age) and a collection (``POST
/extensions/v2/gc``, grace period 1 ms, the background collector off). Each side's time and
what it deleted go to ``bench/results/gc-latest.json`` and ``gc-latest.md``.

    python bench/gc.py [--blobs 10000] [--quick] [--keep]
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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from servers import (
    PEER_BINARY,
    REPO_ROOT,
    BenchError,
    Dockyard,
    Peer,
    dockyard_facts,
    log,
    machine_facts,
    stop_all,
    stop_on_sigterm,
    utc_now,
)

RESULTS_DIR = REPO_ROOT / "bench" / "results"
REPOSITORY = "bench/gc"
LAYERS = 4
BLOB_SIZE = 1024
THREADS = 8
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class CollectingDockyard(Dockyard):
    """Dockyard with the background collector off and a 1 ms grace period, so the one collection
    measured is the one asked for."""

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "REGISTRY_GC_DISABLED": "true",
                "REGISTRY_GC_GRACEPERIOD": "1ms"}  # fmt: skip


@dataclass(frozen=True)
class Image:
    tag: str
    blobs: list[tuple[str, bytes]]
    manifest: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


def build_images(blob_count: int) -> list[Image]:
    images = []
    for index in range(blob_count // (LAYERS + 1)):
        blobs = [os.urandom(BLOB_SIZE) for _ in range(LAYERS + 1)]
        described = [("sha256:" + hashlib.sha256(b).hexdigest(), b) for b in blobs]
        (config_digest, config), layers = described[0], described[1:]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(b)}
                for d, b in layers
            ],
        }
        images.append(Image(f"t{index}", described, json.dumps(manifest).encode()))
    return images


def push(url: str, auth: tuple[str, str] | None, images: list[Image]) -> None:
    def one(client: httpx.Client, image: Image) -> None:
        for digest, data in image.blobs:
            # POST then PUT: Distribution 2.8 has no single-request upload.
            started = client.post(f"/v2/{REPOSITORY}/blobs/uploads/")
            location = started.headers.get("location", "")
            separator = "&" if "?" in location else "?"
            response = client.put(f"{location}{separator}digest={digest}", content=data)
            if started.status_code != 202 or response.status_code != 201:
                raise BenchError(
                    f"blob push to {url} failed: {response.status_code} {response.text}"
                )
        response = client.put(
            f"/v2/{REPOSITORY}/manifests/{image.tag}",
            content=image.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        if response.status_code != 201:
            raise BenchError(
                f"manifest push to {url} failed: {response.status_code} {response.text}"
            )

    run_all(url, auth, images, one)


def delete(url: str, auth: tuple[str, str] | None, images: list[Image]) -> None:
    def one(client: httpx.Client, image: Image) -> None:
        response = client.delete(f"/v2/{REPOSITORY}/manifests/{image.digest}")
        if response.status_code != 202:
            raise BenchError(f"delete on {url} failed: {response.status_code} {response.text}")

    run_all(url, auth, images, one)


def run_all(url: str, auth: tuple[str, str] | None, images: list[Image], one: Any) -> None:
    clients = [httpx.Client(base_url=url, auth=auth, timeout=120) for _ in range(THREADS)]
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [
                pool.submit(one, clients[index % THREADS], image)
                for index, image in enumerate(images)
            ]
            for future in futures:
                future.result()
    finally:
        for client in clients:
            client.close()


def blob_files(data_dir: Path) -> int:
    """Blob files at Distribution's paths (Dockyard keeps them under ``storage/``)."""
    return sum(1 for path in data_dir.rglob("data") if "blobs" in path.parts)


def collect_dockyard(server: Dockyard, token: str) -> dict[str, Any]:
    """What Distribution's garbage-collect does, online: the pruner drops the layer links no
    image needs any more and deletes the blobs left unreferenced, then the collector takes
    the manifests deleted by digest."""
    steps = {
        "prune": (
            "/extensions/v2/prune/images",
            {"confirm": True, "keepYoungerThanSeconds": 0, "keepTagRevisions": 1_000_000},
        ),
        "gc": ("/extensions/v2/gc", None),
    }
    found: dict[str, Any] = {}
    began = time.monotonic()
    for step, (path, body) in steps.items():
        response = httpx.post(f"{server.url}{path}", json=body, auth=("any", token), timeout=3600)
        if response.status_code != 200:
            raise BenchError(f"dockyard {step} failed: {response.status_code} {response.text}")
        found[step] = response.json()
    return {"seconds": round(time.monotonic() - began, 3), "result": found}


def collect_peer(server: Peer) -> dict[str, Any]:
    stop_all([server])  # Distribution collects only while it is stopped
    command = [shutil.which(PEER_BINARY) or PEER_BINARY, "garbage-collect", "--delete-untagged",
               str(server.workdir / "config.yml")]  # fmt: skip
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.monotonic() - began
    if done.returncode != 0:
        raise BenchError(f"docker-registry garbage-collect failed:\n{done.stderr[-2000:]}")
    return {"seconds": round(took, 3), "stopped": True}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=10_000, help="blobs in each registry")
    parser.add_argument("--quick", action="store_true", help="2,000 blobs")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args(argv)
    blob_count = 2_000 if args.quick else args.blobs
    images = build_images(blob_count)
    doomed = images[::2]
    work = Path(tempfile.mkdtemp(prefix="dockyard-gc-bench-"))
    ours, peer = CollectingDockyard(work / "dockyard"), Peer(work / "peer")
    results: dict[str, Any] = {}
    started = utc_now()
    try:
        with stop_on_sigterm():
            for server in (ours, peer):
                server.start()
            token = ours.api_token()
            for server, auth in ((peer, None), (ours, ("any", token))):
                log(f"{server.name}: pushing {len(images)} images ({blob_count} blobs)")
                began = time.monotonic()
                push(server.url, auth, images)
                pushed = time.monotonic() - began
                delete(server.url, auth, doomed)
                results[server.name] = {
                    "push_seconds": round(pushed, 3),
                    "blob_files_before": blob_files(server.data_dir),
                }
            log("collecting: dockyard online, docker-registry stopped")
            results[ours.name].update(collect_dockyard(ours, token))
            results[peer.name].update(collect_peer(peer))
            for server in (ours, peer):
                results[server.name]["blob_files_after"] = blob_files(server.data_dir)
    except BenchError as exc:
        log(str(exc))
        return 1
    finally:
        stop_all([s for s in (ours, peer) if s.proc is not None and s.proc.poll() is None])
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    document = {
        "schema": 1,
        "date": started,
        "machine": machine_facts(),
        "dockyard": dockyard_facts(),
        "blobs": blob_count,
        "images": len(images),
        "deleted_images": len(doomed),
        "results": results,
        "speedup": round(results[peer.name]["seconds"] / results[ours.name]["seconds"], 2),
    }
    write(args.out, document)
    return 0


def write(out: Path, document: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gc-latest.json").write_text(json.dumps(document, indent=2) + "\n")
    ours, peer = document["results"]["dockyard"], document["results"]["docker-registry"]
    rows = [
        "| | Dockyard (online) | docker-registry 2.8 (stopped) |",
        "|---|---|---|",
        f"| collection, s | {ours['seconds']} | {peer['seconds']} |",
        f"| blob files before | {ours['blob_files_before']} | {peer['blob_files_before']} |",
        f"| blob files after | {ours['blob_files_after']} | {peer['blob_files_after']} |",
        "| registry serving meanwhile | yes | no |",
    ]
    text = (
        f"`bench/gc.py`, {document['date']}: {document['blobs']} blobs in "
        f"{document['images']} images, {document['deleted_images']} deleted by digest; "
        f"Dockyard collects {document['speedup']}\u00d7 as fast.\n\n" + "\n".join(rows) + "\n"
    )
    (out / "gc-latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
