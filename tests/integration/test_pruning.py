"""Pruning and garbage collection against a real ``dockyard serve``: ``adm prune images``,
``adm prune registry`` and ``adm top`` run as ``python -m dockyard`` processes, the online
collector while httpx and skopeo push, and what is left checked through ``/v2`` and on disk.

Each test has a registry of its own (pruning is registry-wide). The pruning tests turn the
background collector off so that only the command deletes; the collector tests give it a
second's interval and grace period.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from access_helpers import DockyardCLI, admin_cli
from distribution_helpers import (
    blob_status,
    build_index,
    get_manifest,
    manifest_status,
    push_blob,
    push_image,
    push_manifest,
    random_bytes,
    start_upload,
)
from images import OCI_INDEX, digest_of

from emulators import blob_stored, skip_unless_filesystem

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess, Skopeo

pytestmark = [pytest.mark.integration, pytest.mark.database]

TIMEOUT = 120
NO_GC = {"REGISTRY_GC_DISABLED": "true"}
FAST_GC = {"REGISTRY_GC_INTERVAL": "1s", "REGISTRY_GC_GRACEPERIOD": "1s"}


def cli_for(registry: RegistryProcess, home: Path) -> DockyardCLI:
    return admin_cli(registry, home)


@pytest.fixture
def quiet(registry_factory: RegistryFactory) -> RegistryProcess:
    """A registry whose garbage is removed only by the commands."""
    return registry_factory(env=NO_GC, workers=1)


@pytest.fixture
def cli(quiet: RegistryProcess, tmp_path: Path) -> DockyardCLI:
    return cli_for(quiet, tmp_path)


def blob_file(registry: RegistryProcess, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":")
    root = registry.data_dir / "storage" / "docker" / "registry" / "v2" / "blobs"
    return root / algorithm / hex_digest[:2] / hex_digest / "data"


def stored(registry: RegistryProcess, digest: str) -> bool:
    """Whether the registry's store (its directory, or its S3 bucket) holds the blob's data."""
    return blob_stored(registry.extra_env, registry.data_dir / "storage", digest)


def pulls_completely(client: httpx.Client, repo: str, reference: str) -> bool:
    """The manifest and everything it references (children too) serve their bytes."""
    response = get_manifest(client, repo, reference)
    if response.status_code != 200:
        return False
    body = response.json()
    for child in body.get("manifests", []):
        if not pulls_completely(client, repo, child["digest"]):
            return False
    for blob in [body["config"], *body["layers"]] if "config" in body else []:
        got = client.get(f"/v2/{repo}/blobs/{blob['digest']}", follow_redirects=True)
        if got.status_code != 200 or digest_of(got.content) != blob["digest"]:
            return False
    return True


# --- adm prune images ---------------------------------------------------------------------


@pytest.mark.storage
def test_dry_run_lists_then_confirm_prunes_old_revisions_and_their_blobs(
    quiet: RegistryProcess, cli: DockyardCLI
) -> None:
    repo = "team/app"
    with quiet.client() as client:
        old = [push_image(client, repo, "latest") for _ in range(3)]
        current = push_image(client, repo, "latest")
    flags = ("--keep-tag-revisions=2", "--keep-younger-than=0s")

    dry = cli.run("adm", "prune", "images", *flags).stdout
    assert "Dry run enabled" in dry
    for image in old[:2]:
        assert image.digest in dry
    assert old[2].digest not in dry and current.digest not in dry
    assert "Summary: would delete 2 images, 2 tag history entries (1 image streams updated)" in dry
    with quiet.client() as client:
        assert manifest_status(client, repo, old[0].digest) == 200  # nothing went

    result = cli.json("adm", "prune", "images", *flags, "--confirm")
    assert result["dryRun"] is False
    summary = result["summary"]
    assert summary["images"] == 2 and summary["tagEvents"] == 2 and summary["streamsUpdated"] == 1
    assert summary["manifestLinks"] == 2
    assert summary["layerLinks"] == 4  # config and layer of each
    assert summary["blobs"] == 6
    freed = sum(len(i.manifest) + len(i.config) + len(i.layers[0]) for i in old[:2])
    assert summary["bytesFreed"] == freed
    with quiet.client() as client:
        for image in old[:2]:
            assert manifest_status(client, repo, image.digest) == 404
            assert blob_status(client, repo, image.layer_digests[0]) == 404
            assert not stored(quiet, image.layer_digests[0])
            assert not stored(quiet, image.digest)
        for image in (old[2], current):
            assert pulls_completely(client, repo, image.digest)
        history = client.get("/apis/image.openshift.io/v1/namespaces/team/imagestreams/app")
        items = history.json()["status"]["tags"][0]["items"]
        assert [item["image"] for item in items] == [current.digest, old[2].digest]
        changes = cli.run("adm", "prune", "images", *flags, "--confirm").stdout
    assert "Summary: deleted 0 images, 0 tag history entries" in changes


def test_young_images_and_kept_revisions_stay(quiet: RegistryProcess, cli: DockyardCLI) -> None:
    with quiet.client() as client:
        images = [push_image(client, "team/young", "v1") for _ in range(3)]
    result = cli.json("adm", "prune", "images", "--keep-tag-revisions=1", "--confirm")
    assert result["summary"]["images"] == 0  # younger than the default 60m
    with quiet.client() as client:
        for image in images:
            assert pulls_completely(client, "team/young", image.digest)


def test_an_index_keeps_its_children_until_it_goes_itself(
    quiet: RegistryProcess, cli: DockyardCLI
) -> None:
    repo = "team/multi"
    with quiet.client() as client:
        children = [push_image(client, repo) for _ in range(2)]
        index = build_index([child.as_descriptor() for child in children])
        digest = push_manifest(client, repo, "multi", index, OCI_INDEX)
    flags = ("--keep-younger-than=0s", "--confirm")
    assert cli.json("adm", "prune", "images", *flags)["summary"]["images"] == 0
    with quiet.client() as client:
        assert pulls_completely(client, repo, "multi")
        assert client.delete(f"/v2/{repo}/manifests/multi").status_code == 202
    done = cli.run("adm", "prune", "images", *flags, "-o", "json")
    assert "Pruning repositories: 0/1" in done.stderr and "Pruning images: 0/3" in done.stderr
    result = json.loads(done.stdout)
    assert sorted(result["deleted"]["images"]) == sorted([digest, *(c.digest for c in children)])
    with quiet.client() as client:
        assert manifest_status(client, repo, children[0].digest) == 404
        assert not stored(quiet, children[0].layer_digests[0])


def test_referrers_go_with_their_subject_or_are_kept(
    quiet: RegistryProcess, cli: DockyardCLI
) -> None:
    repo = "team/signed"
    flags = ("--keep-younger-than=0s", "--confirm")
    with quiet.client() as client:
        subject = push_image(client, repo, "v1")
        signature = push_image(
            client, repo, subject=subject.as_descriptor(), artifact_type="application/x-sig"
        )
    assert cli.json("adm", "prune", "images", *flags)["summary"]["images"] == 0
    with quiet.client() as client:
        assert pulls_completely(client, repo, signature.digest)
        assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202
    kept = cli.json("adm", "prune", "images", *flags, "--keep-referrers")
    assert kept["summary"]["images"] == 0  # the referrer stays, and with it its subject
    gone = cli.json("adm", "prune", "images", *flags)
    assert sorted(gone["deleted"]["images"]) == sorted([subject.digest, signature.digest])


def test_a_blob_shared_by_two_repositories_survives_one(
    quiet: RegistryProcess, cli: DockyardCLI
) -> None:
    layer = random_bytes(2048)
    with quiet.client() as client:
        for repo in ("team/one", "team/two"):
            push_blob(client, repo, layer)
        first = push_image(client, "team/one", "v1")
        second = push_image(client, "team/two", "v1")
        # Both images carry the shared layer: rebuild their manifests around it.
        shared = digest_of(layer)
        for image in (first, second):
            body = json.loads(image.manifest)
            body["layers"].append(
                {"mediaType": body["layers"][0]["mediaType"], "digest": shared, "size": len(layer)}
            )
            push_manifest(client, image.repo, "v2", json.dumps(body).encode())
        assert client.delete("/v2/team/one/manifests/v1").status_code == 202
        assert client.delete("/v2/team/one/manifests/v2").status_code == 202
    result = cli.json("adm", "prune", "images", "--keep-younger-than=0s", "--confirm")
    assert shared not in {blob["digest"] for blob in result["deleted"]["blobs"]}
    assert first.layer_digests[0] in {blob["digest"] for blob in result["deleted"]["blobs"]}
    with quiet.client() as client:
        assert pulls_completely(client, "team/two", "v2")
        assert pulls_completely(client, "team/two", "v1")
        assert blob_status(client, "team/one", shared) == 404


def test_without_prune_registry_blobs_stay_for_the_collector(
    quiet: RegistryProcess, cli: DockyardCLI
) -> None:
    with quiet.client() as client:
        image = push_image(client, "team/keep", "v1")
        assert client.delete("/v2/team/keep/manifests/v1").status_code == 202
    result = cli.json(
        "adm", "prune", "images", "--keep-younger-than=0s", "--prune-registry=false", "--confirm"
    )
    assert result["summary"]["images"] == 1 and result["summary"]["blobs"] == 0
    assert stored(quiet, image.layer_digests[0])
    with quiet.client() as client:
        response = client.post("/extensions/v2/gc")
    assert response.status_code == 200, response.text
    assert stored(quiet, image.layer_digests[0])  # the grace period (1h) holds


def test_pruning_needs_the_pruner_role_and_a_valid_request(
    quiet: RegistryProcess, cli: DockyardCLI, tmp_path: Path
) -> None:
    cli.run("create", "user", "mallory", "--password", "a long passphrase here")
    with quiet.client() as client:
        bad = client.post("/extensions/v2/prune/images", json={"keepTagRevisions": -1})
        assert bad.status_code == 422 and bad.json()["kind"] == "Status", bad.text
        unknown = client.post("/extensions/v2/prune/images", json={"confirmm": True})
        assert unknown.status_code == 422 and "confirmm" in unknown.json()["message"]
        wrong = client.get("/extensions/v2/prune/images")
        assert wrong.status_code == 405 and wrong.json()["kind"] == "Status"
        text = client.post(
            "/extensions/v2/prune/images",
            content=b"{",
            headers={"Content-Type": "application/json"},
        )
        assert text.status_code == 400 and text.json()["kind"] == "Status"
    mallory = cli_for(quiet, tmp_path / "mallory")
    mallory.run("login", "-u", "mallory", "--password=a long passphrase here", quiet.url)
    denied = mallory.run("adm", "prune", "images", check=False)
    assert denied.returncode == 1
    assert 'cannot delete resource "images"' in denied.stderr
    cli.run("adm", "policy", "add-cluster-role-to-user", "system:image-pruner", "mallory")
    assert "Dry run enabled" in mallory.run("adm", "prune", "images").stdout
    anonymous = httpx.post(f"{quiet.url}/extensions/v2/prune/images", json={})
    assert anonymous.status_code == 401


# --- adm prune registry --------------------------------------------------------------------


def test_hard_prune_removes_orphan_files_and_abandoned_uploads(
    quiet: RegistryProcess, cli: DockyardCLI
) -> None:
    skip_unless_filesystem("it plants files with old times in the storage directory")
    long_ago = time.time() - 7200
    with quiet.client() as client:
        push_image(client, "team/hard", "v1")
        location = start_upload(client, "team/hard").headers["location"]
    orphan = random_bytes(4096)
    path = blob_file(quiet, digest_of(orphan))
    path.parent.mkdir(parents=True)
    path.write_bytes(orphan)
    os.utime(path, (long_ago, long_ago))
    fresh = random_bytes(100)
    fresh_path = blob_file(quiet, digest_of(fresh))
    fresh_path.parent.mkdir(parents=True)
    fresh_path.write_bytes(fresh)
    uploads = quiet.data_dir / "storage/docker/registry/v2/repositories/team/hard/_uploads"
    for item in uploads.rglob("*"):
        os.utime(item, (long_ago, long_ago))

    dry = cli.json("adm", "prune", "registry")
    assert [b["digest"] for b in dry["deleted"]["blobs"]] == [digest_of(orphan)]
    assert len(dry["deleted"]["uploads"]) == 1
    assert path.exists()
    done = cli.json("adm", "prune", "registry", "--confirm")
    assert done["summary"] == {"blobs": 1, "uploads": 1, "bytesFreed": 4096}
    assert not path.exists() and fresh_path.exists()
    assert not any(uploads.iterdir())
    with quiet.client() as client:
        assert pulls_completely(client, "team/hard", "v1")
        assert client.get(location).status_code == 404


# --- adm top -------------------------------------------------------------------------------


def test_top_counts_shared_layers_once(quiet: RegistryProcess, cli: DockyardCLI) -> None:
    layer = random_bytes(10_000)
    with quiet.client() as client:
        digest = push_blob(client, "acme/app", layer)
        images = []
        for tag in ("a", "b"):
            image = push_image(client, "acme/app", tag)
            body = json.loads(image.manifest)
            body["layers"] = [{**body["layers"][0], "digest": digest, "size": len(layer)}]
            push_manifest(client, "acme/app", tag, json.dumps(body).encode())
            images.append(body)
    usage = cli.json("adm", "top", "imagestreams")
    stream = next(r for r in usage["repositories"] if r["name"] == "acme/app")
    assert stream["images"] == 4
    assert stream["storage"] < 2 * len(layer)  # the big layer once, not twice
    project = next(p for p in usage["projects"] if p["name"] == "acme")
    assert project["storage"] == stream["storage"]
    table = cli.run("adm", "top", "images").stdout
    assert "acme/app:a" in table and "STORAGE" in table
    assert "acme" in cli.run("adm", "top", "projects").stdout


# --- online garbage collection ---------------------------------------------------------------


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.storage
def test_collector_removes_deleted_manifests_and_their_blobs(
    registry_factory: RegistryFactory,
) -> None:
    registry = registry_factory(env=FAST_GC, workers=2)
    with registry.client() as client:
        gone = push_image(client, "team/gc", "v1")
        kept = push_image(client, "team/gc", "v2")
        loose = push_blob(client, "team/gc", random_bytes(300))  # linked: an upload in progress
        assert client.delete(f"/v2/team/gc/manifests/{gone.digest}").status_code == 202
        for digest in (gone.config_digest, *gone.layer_digests):
            assert client.delete(f"/v2/team/gc/blobs/{digest}").status_code == 202
    wait_for(lambda: not stored(registry, gone.layer_digests[0]))
    wait_for(lambda: not stored(registry, gone.digest))
    assert stored(registry, loose)
    with registry.client() as client:
        assert pulls_completely(client, "team/gc", kept.digest)
        assert blob_status(client, "team/gc", loose) == 200
        metrics = client.get("/extensions/v2/metrics").text.splitlines()
    deleted = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics
        if line.startswith("dockyard_gc_deleted_total{")
        and 'type="blob"' in line
        and 'by="gc"' in line
    ]
    assert deleted and deleted[0] >= 3, metrics  # the manifest's bytes, config and layer
    log = registry.log_text()
    assert "garbage collected" in log
    assert log.count('msg="lease taken" lease=gc ') == 1, "one collector of the two workers"


def test_a_push_racing_the_collector_never_loses_a_blob(
    registry_factory: RegistryFactory,
) -> None:
    """Blobs made garbage and pushed again, over and over, while collections run."""
    registry = registry_factory(
        env={"REGISTRY_GC_INTERVAL": "200ms", "REGISTRY_GC_GRACEPERIOD": "10ms"}, workers=2
    )
    layers = [random_bytes(2000) for _ in range(4)]
    stop = threading.Event()
    failures: list[str] = []
    collected: list[int] = []

    def collect() -> None:
        with registry.client() as client:
            while not stop.is_set():
                response = client.post("/extensions/v2/gc")
                if response.status_code != 200:
                    failures.append(f"gc: {response.status_code} {response.text}")
                else:
                    collected.append(response.json()["blobs"])

    def push(worker: int) -> None:
        repo = f"race/app{worker}"
        with registry.client() as client:
            for round_ in range(15):
                image = push_image(client, repo, "latest")
                body = json.loads(image.manifest)
                for layer in layers:
                    digest = push_blob(client, repo, layer)
                    body["layers"].append({**body["layers"][0], "digest": digest, "size": 2000})
                pushed = client.put(
                    f"/v2/{repo}/manifests/latest",
                    content=json.dumps(body).encode(),
                    headers={"Content-Type": image.media_type},
                )
                if pushed.status_code != 201:
                    failures.append(f"push {round_}: {pushed.status_code} {pushed.text}")
                elif not pulls_completely(client, repo, "latest"):
                    failures.append(f"{repo} round {round_} does not pull completely")
                for layer in layers:
                    client.delete(f"/v2/{repo}/blobs/{digest_of(layer)}")
                client.delete(f"/v2/{repo}/manifests/{digest_of(json.dumps(body).encode())}")
                time.sleep(random.random() * 0.05)

    threads = [threading.Thread(target=collect) for _ in range(2)]
    threads += [threading.Thread(target=push, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads[2:]:
        thread.join(TIMEOUT)
    stop.set()
    for thread in threads[:2]:
        thread.join(TIMEOUT)
    assert failures == []
    assert sum(collected) > 0, "the collections raced nothing"


@pytest.mark.storage
def test_skopeo_pushes_while_collecting_and_everything_tagged_pulls(
    registry_factory: RegistryFactory, skopeo: Skopeo, tmp_path: Path
) -> None:
    """skopeo copies an image in and out again and again while manifests are deleted and the
    collector runs every 200ms with a grace period of 10ms; each tagged image pulls whole."""
    registry = registry_factory(
        env={"REGISTRY_GC_INTERVAL": "200ms", "REGISTRY_GC_GRACEPERIOD": "10ms"}, workers=2
    )
    source = "team/source"
    with registry.client() as client:
        push_image(client, source, "v1", layer_count=3, layer_size=50_000)
    layout = tmp_path / "layout"
    skopeo.copy(f"docker://{registry.host}/{source}:v1", f"oci:{layout}:v1")
    stop = threading.Event()

    def churn() -> None:
        with registry.client() as client:
            while not stop.is_set():
                found = get_manifest(client, "team/copy", "v1")
                if found.status_code == 200:
                    digest = digest_of(found.content)
                    client.delete(f"/v2/team/copy/manifests/{digest}")
                client.post("/extensions/v2/gc")

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        for round_ in range(6):
            skopeo.copy(f"oci:{layout}:v1", f"docker://{registry.host}/team/copy:v1")
            out = tmp_path / f"out{round_}"
            result = skopeo.try_copy(f"docker://{registry.host}/team/copy:v1", f"dir:{out}")
            if result.returncode != 0:
                assert "manifest unknown" in result.stderr.lower(), result.stderr
    finally:
        stop.set()
        churner.join(TIMEOUT)
    skopeo.copy(f"oci:{layout}:v1", f"docker://{registry.host}/team/copy:v1")
    with registry.client() as client:
        assert pulls_completely(client, "team/copy", "v1")
        assert pulls_completely(client, source, "v1")


def test_randomized_pushes_deletes_tag_moves_and_collections(
    registry_factory: RegistryFactory,
) -> None:
    """Pushes (with layers shared across repositories), deletes by digest, tag moves, pushes of
    deleted manifests again and collections, all at once for a while; every push succeeds and,
    at the end, every tagged manifest pulls completely."""
    registry = registry_factory(
        env={"REGISTRY_GC_INTERVAL": "200ms", "REGISTRY_GC_GRACEPERIOD": "10ms"}, workers=2
    )
    shared = [random_bytes(1500) for _ in range(3)]
    repos = ["rand/a", "rand/b"]
    deleted: list[tuple[str, bytes, str]] = []
    deadline = time.monotonic() + 15
    errors: list[str] = []

    def put(client: httpx.Client, repo: str, tag: str, body: bytes, media_type: str) -> None:
        response = client.put(
            f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": media_type}
        )
        if response.status_code != 201:
            errors.append(f"PUT {repo}:{tag}: {response.status_code} {response.text}")

    def actor(seed: int) -> None:
        rng = random.Random(seed)
        with registry.client() as client:
            while time.monotonic() < deadline:
                repo, tag, action = rng.choice(repos), f"t{rng.randrange(4)}", rng.random()
                if action < 0.4:
                    image = push_image(client, repo)
                    body = json.loads(image.manifest)
                    layer = push_blob(client, repo, rng.choice(shared))
                    body["layers"].append({**body["layers"][0], "digest": layer, "size": 1500})
                    put(client, repo, tag, json.dumps(body).encode(), image.media_type)
                elif action < 0.6:
                    found = get_manifest(client, repo, tag)
                    if found.status_code == 200:
                        digest = digest_of(found.content)
                        media_type = found.headers["content-type"]
                        client.delete(f"/v2/{repo}/manifests/{digest}")
                        deleted.append((repo, found.content, media_type))
                elif action < 0.75 and deleted:
                    again_repo, body, media_type = rng.choice(deleted)
                    put(client, again_repo, tag, body, media_type)
                elif action < 0.9:
                    found = get_manifest(client, repo, tag)
                    if found.status_code == 200:
                        other = f"t{rng.randrange(4)}"
                        put(client, repo, other, found.content, found.headers["content-type"])
                else:
                    response = client.post("/extensions/v2/gc")
                    if response.status_code != 200:
                        errors.append(f"gc: {response.status_code} {response.text}")

    threads = [threading.Thread(target=actor, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert errors == []
    assert deleted, "the run deleted nothing"
    time.sleep(1)  # a last collection or two
    with registry.client() as client:
        checked = 0
        for repo in repos:
            for tag in client.get(f"/v2/{repo}/tags/list").json().get("tags") or []:
                assert pulls_completely(client, repo, tag), f"{repo}:{tag}"
                checked += 1
    assert checked > 0


# --- the ImagePruner resource ----------------------------------------------------------------

PRUNERS = "/apis/imageregistry.operator.openshift.io/v1/imagepruners"


def test_image_pruner_runs_on_its_schedule_and_records_each_run(
    quiet: RegistryProcess, cli: DockyardCLI
) -> None:
    repo = "team/scheduled"
    with quiet.client() as client:
        old = push_image(client, repo, "latest")
        current = push_image(client, repo, "latest")
        bad = client.post(
            PRUNERS,
            json={"metadata": {"name": "cluster"}, "spec": {"schedule": "61 * * * *"}},
        )
        assert bad.status_code == 422, bad.text
        assert "spec.schedule" in bad.json()["message"]
        other = client.post(PRUNERS, json={"metadata": {"name": "nightly"}})
        assert other.status_code == 422, other.text
        manifest = quiet.data_dir.parent / "pruner.yaml"
        manifest.write_text(
            "apiVersion: imageregistry.operator.openshift.io/v1\n"
            "kind: ImagePruner\n"
            "metadata: {name: cluster}\n"
            'spec: {schedule: "@every 2s", keepTagRevisions: 1, keepYoungerThan: 0}\n'
        )
        cli.run("apply", "-f", str(manifest))
        spec = client.get(f"{PRUNERS}/cluster").json()["spec"]
        assert spec["successfulJobsHistoryLimit"] == 3 and spec["suspend"] is False

        def runs() -> list[dict[str, Any]]:
            status = client.get(f"{PRUNERS}/cluster").json().get("status") or {}
            return list(status.get("runs") or [])

        wait_for(lambda: len(runs()) >= 1)
        first = runs()[-1]
        assert first["result"] == "Succeeded", first
        assert first["summary"]["images"] == 1 and first["summary"]["tagEvents"] == 1
        assert first["startTime"] <= first["completionTime"]
        assert manifest_status(client, repo, old.digest) == 404
        assert pulls_completely(client, repo, current.digest)
        wait_for(lambda: len(runs()) == 3)
        third = runs()[0]["scheduleTime"]
        wait_for(lambda: runs()[0]["scheduleTime"] != third)
        assert len(runs()) == 3  # successfulJobsHistoryLimit
        status = client.get(f"{PRUNERS}/cluster").json()["status"]
        failed = next(c for c in status["conditions"] if c["type"] == "Failed")
        assert failed["status"] == "False"
        suspended = client.patch(
            f"{PRUNERS}/cluster",
            json={"spec": {"suspend": True}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert suspended.status_code == 200, suspended.text
    shown = cli.run("get", "imagepruner", "cluster", "-o", "json").stdout
    assert json.loads(shown)["status"]["runs"][0]["result"] == "Succeeded"
    assert "cluster" in cli.run("get", "imagepruners").stdout
    described = cli.run("describe", "imagepruner", "cluster").stdout
    assert "Succeeded" in described
