"""What the registry acknowledged survives a restart or a SIGKILL; what it did not finish never
becomes visible; and it serves normally afterwards."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from distribution_helpers import (
    OCTET_STREAM,
    get_manifest,
    push_blob,
    put_manifest,
    start_upload,
    with_digest,
)
from images import Image, digest_of, make_image, make_layout, read_layout_ref

if TYPE_CHECKING:
    from conftest import RegistryProcess
    from integration.conftest import Skopeo

pytestmark = [pytest.mark.integration, pytest.mark.database]

KiB = 1024
MiB = 1024 * KiB


def restart(registry: RegistryProcess, how: str) -> None:
    if how == "stop":
        assert registry.stop() == 0, "dockyard serve did not exit cleanly on SIGTERM"
    else:
        registry.kill()
    registry.start()


def push_image(client: httpx.Client, repository: str, tag: str, image: Image) -> httpx.Response:
    """Push the blobs of ``image``, then its manifest by ``tag``; returns the manifest PUT."""
    for blob in image.blobs:
        push_blob(client, repository, blob.data)
    return put_manifest(client, repository, tag, image.manifest.data, image.manifest.media_type)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_pushed_images_pull_back_identical_after_restart(
    registry: RegistryProcess, skopeo: Skopeo, tmp_path: Path, repository: str, how: str
) -> None:
    platforms = [("linux", "amd64"), ("linux", "arm64", "v8")]
    multi = make_layout(tmp_path / "src", "multi", layers=2, platforms=platforms)
    docker = make_layout(tmp_path / "src", "docker", layers=3, docker=True)
    base = f"docker://{registry.host}/{repository}"
    skopeo.copy(multi.ref, f"{base}:multi", "--all")
    skopeo.copy(docker.ref, f"{base}:docker")
    skopeo.copy(f"{base}:docker", f"{base}:docker-again")

    restart(registry, how)

    assert sorted(skopeo.list_tags(base)) == ["docker", "docker-again", "multi"]
    assert skopeo.inspect_raw(f"{base}:multi") == multi.top.data
    assert skopeo.inspect_raw(f"{base}:docker") == docker.top.data
    assert skopeo.inspect_raw(f"{base}:docker-again") == docker.top.data
    for image in multi.images:
        assert skopeo.inspect_raw(f"{base}@{image.digest}") == image.manifest.data
    skopeo.copy(f"{base}:multi", f"oci:{tmp_path / 'back'}:multi", "--all")
    assert read_layout_ref(tmp_path / "back", "multi")["digest"] == multi.digest
    with registry.client() as client:
        for layout in (multi, docker):
            for blob in layout.blobs.values():
                response = client.get(f"/v2/{repository}/blobs/{blob.digest}")
                assert response.status_code == 200, blob.digest
                assert response.content == blob.data


@pytest.mark.storage
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_chunked_upload_continues_after_restart(
    registry: RegistryProcess, repository: str, how: str
) -> None:
    data = os.urandom(3 * MiB + 4321)
    first, rest = data[:MiB], data[MiB:]
    digest = digest_of(data)
    with registry.client(timeout=60) as client:
        patched = client.patch(
            start_upload(client, repository).headers["location"],
            content=first,
            headers={"Content-Type": OCTET_STREAM, "Content-Range": f"0-{len(first) - 1}"},
        )
        assert patched.status_code == 202, patched.text
        assert patched.headers["range"] == f"0-{len(first) - 1}"
        location = patched.headers["location"]

    restart(registry, how)

    with registry.client(timeout=60) as client:
        status = client.get(location)
        assert status.status_code == 204, status.text
        assert status.headers["range"] == f"0-{len(first) - 1}"
        continued = client.patch(
            location,
            content=rest,
            headers={
                "Content-Type": OCTET_STREAM,
                "Content-Range": f"{len(first)}-{len(data) - 1}",
            },
        )
        assert continued.status_code == 202, continued.text
        assert continued.headers["range"] == f"0-{len(data) - 1}"
        finished = client.put(with_digest(continued.headers["location"], digest))
        assert finished.status_code == 201, finished.text
        assert finished.headers["docker-content-digest"] == digest
        fetched = client.get(f"/v2/{repository}/blobs/{digest}")
        assert fetched.status_code == 200
        assert digest_of(fetched.content) == digest
        assert fetched.content == data


@pytest.mark.storage
def test_sigkill_during_streamed_patch_leaves_no_blob(
    registry: RegistryProcess, repository: str
) -> None:
    total, chunk = 64 * MiB, 256 * KiB
    data = random.Random(7).randbytes(total)
    digest = digest_of(data)
    killed = threading.Event()

    def body() -> Iterator[bytes]:
        for offset in range(0, total, chunk):
            if offset >= total // 4 and not killed.is_set():
                registry.kill()  # a quarter is on its way; the server dies mid-request
                killed.set()
            yield data[offset : offset + chunk]

    with registry.client(timeout=60) as client:
        location = start_upload(client, repository).headers["location"]
        with pytest.raises(httpx.TransportError):
            client.patch(location, content=body(), headers={"Content-Type": OCTET_STREAM})
    assert killed.is_set()

    registry.start()

    with registry.client(timeout=60) as client:
        assert client.head(f"/v2/{repository}/blobs/{digest}").status_code == 404
        # Finishing the interrupted session with the full digest must not make a blob appear.
        finished = client.put(with_digest(location, digest))
        assert finished.status_code in (400, 404, 416), finished.text
        assert client.head(f"/v2/{repository}/blobs/{digest}").status_code == 404

        assert client.get("/v2/").status_code == 200
        assert push_blob(client, repository, data) == digest
        fetched = client.get(f"/v2/{repository}/blobs/{digest}")
        assert fetched.status_code == 200
        assert digest_of(fetched.content) == digest


def test_sigkill_during_parallel_pushes_leaves_no_dangling_tag(
    registry: RegistryProcess, repository: str
) -> None:
    repositories = [repository.replace("/app", f"/app{n}") for n in range(3)]
    rng = random.Random(11)
    jobs = [
        (
            repositories[n % len(repositories)],
            f"t{n}",
            make_image(("linux", "amd64"), layers=2, layer_size=64 * KiB, rng=rng),
        )
        for n in range(60)
    ]
    kill_after_manifest_puts = 12
    manifest_puts = 0
    lock = threading.Lock()
    time_to_kill = threading.Event()
    acknowledged: list[tuple[str, str, str]] = []

    def on_request(request: httpx.Request) -> None:
        nonlocal manifest_puts
        if request.method == "PUT" and "/manifests/" in request.url.path:
            with lock:
                manifest_puts += 1
                if manifest_puts == kill_after_manifest_puts:
                    time_to_kill.set()

    def worker(share: list[tuple[str, str, Image]]) -> None:
        with registry.client(event_hooks={"request": [on_request]}) as client:
            for repo, tag, image in share:
                try:
                    response = push_image(client, repo, tag, image)
                except httpx.TransportError:
                    return  # the server is gone
                assert response.status_code == 201, response.text
                with lock:
                    acknowledged.append((repo, tag, image.digest))

    workers = 8
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(worker, jobs[n::workers]) for n in range(workers)]
        assert time_to_kill.wait(60), "the pushes never reached the kill point"
        time.sleep(0.002)
        registry.kill()
        for future in futures:
            future.result()
    assert acknowledged, "no push completed before the kill"

    registry.start()

    with registry.client() as client:
        for repo, tag, digest in acknowledged:  # what was acknowledged is durable
            response = get_manifest(client, repo, tag)
            assert response.status_code == 200, f"{repo}:{tag} was acknowledged, then lost"
            assert response.headers["docker-content-digest"] == digest
        for repo in repositories:
            listed = client.get(f"/v2/{repo}/tags/list")
            if listed.status_code == 404:
                assert all(entry[0] != repo for entry in acknowledged)
                continue
            assert listed.status_code == 200, listed.text
            for tag in listed.json()["tags"] or []:
                response = get_manifest(client, repo, tag)
                assert response.status_code == 200, f"tag {repo}:{tag} is listed but dangles"
                assert digest_of(response.content) == response.headers["docker-content-digest"]
                manifest = response.json()
                for descriptor in [manifest["config"], *manifest["layers"]]:
                    blob = client.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
                    assert blob.status_code == 200, f"{repo}:{tag} references missing {descriptor}"
                    assert digest_of(blob.content) == descriptor["digest"]

        # And it takes pushes again.
        repo, tag, image = repositories[0], "after-restart", make_image(("linux", "arm64"))
        assert push_image(client, repo, tag, image).status_code == 201
        response = get_manifest(client, repo, tag)
        assert response.content == image.manifest.data
