"""The pruner and the collector on a real database (SQLite, or PostgreSQL with
DOCKYARD_TEST_DATABASE=postgres) and the in-memory driver, with images pushed through the
registry's own services: a run cut short is finished by the next one, and the guards keep
what a push has just come to rely on."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.errors import BlobUnknownError, ManifestUnknownError
from dockyard.metadata.engine import Database, upgrade
from dockyard.metadata.resources import ResourceStore, body_of
from dockyard.operator.config import CONFIG
from dockyard.pruning import collector, sweep
from dockyard.pruning.imagepruner import IMAGE_PRUNER
from dockyard.pruning.plan import PruneOptions
from dockyard.pruning.pruner import ImagePruner
from dockyard.pruning.scheduler import PruneScheduler
from dockyard.registry.blobs import BlobService, blob_path
from dockyard.registry.context import RegistryContext
from dockyard.registry.digest import digest_of, parse_digest
from dockyard.registry.images import ImageService
from dockyard.registry.mediatypes import OCI_MANIFEST
from dockyard.registry.uploads import UploadService
from dockyard.storage.driver import PathNotFoundError
from dockyard.storage.factory import create_driver

pytestmark = pytest.mark.anyio
REPO = "team/app"
OPTIONS = PruneOptions(keep_tag_revisions=1, keep_younger_than=0.0)


class Stop(Exception):
    """Stands for the process dying at that point."""


@dataclass
class Registry:
    ctx: RegistryContext
    uploads: UploadService
    images: ImageService
    blobs: BlobService

    async def push_blob(self, repository: str, data: bytes) -> str:
        digest = digest_of(data)
        state = await self.uploads.start(repository)
        await self.uploads.finish(state, digest, _chunks(data))
        return str(digest)

    async def push_image(self, repository: str, tag: str, layer: bytes) -> str:
        config = json.dumps({"created": time.time_ns()}).encode()
        layers = [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(b)}
            for d, b in [(await self.push_blob(repository, layer), layer)]
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": await self.push_blob(repository, config),
                "size": len(config),
            },
            "layers": layers,
        }
        body = json.dumps(manifest).encode()
        await self.images.put(repository, tag, body, OCI_MANIFEST)
        return str(digest_of(body))

    async def stored(self, digest: str) -> bool:
        try:
            await self.ctx.storage.stat(blob_path(parse_digest(digest)))
        except PathNotFoundError:
            return False
        return True

    async def pulls(self, repository: str, reference: str) -> bool:
        """The manifest and its blobs serve their bytes."""
        try:
            ref = parse_digest(reference) if reference.startswith("sha256:") else reference
            manifest = json.loads((await self.images.get(repository, ref)).content)
            for blob in [manifest["config"], *manifest["layers"]]:
                content = await self.blobs.open(repository, parse_digest(blob["digest"]))
                data = b"".join([chunk async for chunk in content.chunks])
                if str(digest_of(data)) != blob["digest"]:
                    return False
        except (ManifestUnknownError, BlobUnknownError):
            return False
        return True


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def registry(database_url: str) -> AsyncIterator[Registry]:
    await upgrade(database_url)
    db = Database(database_url)
    ctx = RegistryContext(db=db, storage=create_driver("inmemory", {}), secret=b"s" * 32)
    try:
        yield Registry(ctx, UploadService(ctx), ImageService(ctx), BlobService(ctx))
    finally:
        await db.close()


async def test_a_run_cut_short_is_finished_by_the_next(registry: Registry) -> None:
    old_layer, new_layer = b"old layer", b"new layer"
    old = await registry.push_image(REPO, "latest", old_layer)
    new = await registry.push_image(REPO, "latest", new_layer)
    pruner = ImagePruner(registry.ctx.db, registry.ctx.storage)

    def die_before_images(phase: str, _done: int, _total: int) -> None:
        if phase == "images":
            raise Stop

    plan = await pruner.plan(OPTIONS)
    with pytest.raises(Stop):
        await pruner.apply(plan, {}, die_before_images)
    assert not await registry.pulls(REPO, old)  # its membership went
    assert await registry.stored(str(digest_of(old_layer)))  # its bytes not yet

    report = await pruner.run(OPTIONS, confirm=True, origin={})
    assert report.images == [old]
    assert str(digest_of(old_layer)) in {blob["digest"] for blob in report.blobs}
    assert not await registry.stored(str(digest_of(old_layer)))
    assert await registry.pulls(REPO, new) and await registry.pulls(REPO, "latest")
    again = await pruner.run(OPTIONS, confirm=True, origin={})
    assert again.summary()["images"] == 0 and again.summary()["blobs"] == 0


async def test_a_blob_pushed_or_mounted_again_after_it_was_found_is_kept(
    registry: Registry,
) -> None:
    db, storage = registry.ctx.db, registry.ctx.storage
    pushed, mounted = b"pushed again", b"mounted again"
    for data in (pushed, mounted):
        digest = await registry.push_blob(REPO, data)
        await registry.blobs.delete(REPO, parse_digest(digest))
    cutoff = time.time()
    async with db.read() as conn:
        found = await collector.garbage_blobs(conn, cutoff, "", 100)
    assert sorted(found) == sorted(str(digest_of(d)) for d in (pushed, mounted))
    await registry.push_blob("team/other", pushed)
    assert await registry.blobs.mount("team/other", digest_of(mounted), None) == len(mounted)
    assert await sweep.delete_blobs(db, storage, found, cutoff, {}) == []
    for data in (pushed, mounted):
        assert await registry.stored(str(digest_of(data)))


async def test_garbage_goes_and_comes_back_whole_when_pushed_again(registry: Registry) -> None:
    db, storage = registry.ctx.db, registry.ctx.storage
    layer = b"a layer"
    image = await registry.push_image(REPO, "v1", layer)
    await registry.images.delete(REPO, parse_digest(image))
    await registry.blobs.delete(REPO, digest_of(layer))
    done = await collector.collect(db, storage, grace=0.0, now=time.time() + 1)
    assert done.manifests == 1 and done.blobs >= 2  # the manifest's bytes and the layer
    assert not await registry.stored(image) and not await registry.stored(str(digest_of(layer)))
    assert await registry.blobs.mount(REPO, digest_of(layer), None) is None
    again = await registry.push_image(REPO, "v1", layer)
    assert await registry.pulls(REPO, again) and await registry.pulls(REPO, "v1")


async def test_the_schedule_runs_once_per_firing_and_a_removed_registry_keeps_its_blobs(
    registry: Registry,
) -> None:
    db, storage = registry.ctx.db, registry.ctx.storage
    old = await registry.push_image(REPO, "latest", b"old")
    await registry.push_image(REPO, "latest", b"new")
    store = ResourceStore(db)
    await store.create(CONFIG, None, "cluster", {"spec": {"managementState": "Removed"}})
    spec = {"schedule": "@every 1m", "keepTagRevisions": 1, "keepYoungerThan": 0}
    created = await store.create(IMAGE_PRUNER, None, "cluster", {"spec": spec})
    scheduler = PruneScheduler(store, ImagePruner(db, storage))
    start = datetime.strptime(created["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    start = start.replace(tzinfo=UTC)
    try:
        assert not await scheduler.tick(start + timedelta(seconds=30))  # not due yet
        assert await scheduler.tick(start + timedelta(minutes=3, seconds=10))
        assert not await scheduler.tick(start + timedelta(minutes=3, seconds=20))  # ran for 3m
        status = (await store.get(IMAGE_PRUNER, None, "cluster"))["status"]
        assert status["lastScheduleTime"] == _stamp(start + timedelta(minutes=3))
        (run,) = status["runs"]
        assert run["result"] == "Succeeded"
        assert run["summary"]["images"] == 1 and run["summary"]["blobs"] == 0
        assert await registry.stored(old)  # the registry is Removed: no blob pruning
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "Available": "True",
            "Scheduled": "True",
            "Failed": "False",
        }
        await store.replace(
            IMAGE_PRUNER,
            None,
            "cluster",
            lambda o: {**body_of(o), "spec": {**spec, "suspend": True}},
        )
        assert not await scheduler.tick(start + timedelta(hours=1))
    finally:
        await scheduler.stop()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_an_image_in_a_tags_history_waits_for_the_pruner(registry: Registry) -> None:
    db, storage = registry.ctx.db, registry.ctx.storage
    old = await registry.push_image(REPO, "latest", b"old layer")
    await registry.push_image(REPO, "latest", b"new layer")
    await registry.images.delete(REPO, parse_digest(old))
    done = await collector.collect(db, storage, grace=0.0, now=time.time() + 1)
    assert done.manifests == 0 and await registry.stored(old)
    report = await ImagePruner(db, storage).run(OPTIONS, confirm=True, origin={})
    assert report.images == [old] and len(report.tag_events) == 1
    assert not await registry.stored(old) and not await registry.stored(
        str(digest_of(b"old layer"))
    )
