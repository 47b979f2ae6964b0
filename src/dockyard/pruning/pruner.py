"""``adm prune images``: plan from a snapshot, then (when confirmed) apply with guarded deletes.

A dry run and a confirmed run make the same plan; the confirmed run reports what its deletes
really removed, which is less when pushes made something young or referenced again meanwhile.
A run that dies half-way leaves only finished transactions behind, and the next run's plan
covers what is left.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import StatusError
from dockyard.metadata.engine import Database
from dockyard.pruning import sweep
from dockyard.pruning.inventory import read_inventory
from dockyard.pruning.plan import Plan, PruneOptions, make_plan
from dockyard.storage.driver import StorageDriver

Progress = Callable[[str, int, int], None]
"""Called with a phase name, the items done and the items in that phase."""


@dataclass(slots=True)
class PruneReport:
    dry_run: bool
    tag_events: list[dict[str, Any]] = field(default_factory=list)
    manifest_links: list[dict[str, str]] = field(default_factory=list)
    layer_links: list[dict[str, str]] = field(default_factory=list)
    streams: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    blobs: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "images": len(self.images),
            "tagEvents": len(self.tag_events),
            "streamsUpdated": len(self.streams),
            "manifestLinks": len(self.manifest_links),
            "layerLinks": len(self.layer_links),
            "blobs": len(self.blobs),
            "bytesFreed": sum(int(blob["size"]) for blob in self.blobs),
        }

    def render(self) -> dict[str, Any]:
        return {
            "kind": "ImagePruneResult",
            "dryRun": self.dry_run,
            "summary": self.summary(),
            "deleted": {
                "tagEvents": self.tag_events,
                "manifestLinks": self.manifest_links,
                "layerLinks": self.layer_links,
                "streams": self.streams,
                "images": self.images,
                "blobs": self.blobs,
            },
        }


def planned(plan: Plan) -> PruneReport:
    """What a dry run reports: the plan as it stands."""
    return PruneReport(
        dry_run=True,
        tag_events=[
            {"repository": e.repository, "tag": e.tag, "image": e.image, "created": e.created}
            for e in plan.tag_events
        ],
        manifest_links=[{"repository": r, "image": d} for r, d in plan.manifest_links],
        layer_links=[{"repository": r, "blob": d} for r, d in plan.layer_links],
        streams=plan.streams,
        images=list(plan.images),
        blobs=[{"digest": d, "size": size} for d, size in plan.blobs],
    )


class ImagePruner:
    def __init__(self, db: Database, storage: StorageDriver) -> None:
        self.db = db
        self.storage = storage

    async def plan(self, options: PruneOptions) -> Plan:
        async with self.db.read() as conn:
            inventory = await read_inventory(conn)
        plan = make_plan(inventory, options, time.time())
        if plan.invalid_refs and not options.ignore_invalid_refs:
            shown = "; ".join(plan.invalid_refs[:5])
            raise StatusError(
                422,
                "Invalid",
                f"{len(plan.invalid_refs)} invalid image reference(s): {shown}; fix them or"
                " prune with --ignore-invalid-refs",
            )
        return plan

    async def run(
        self,
        options: PruneOptions,
        *,
        confirm: bool,
        origin: Mapping[str, Any],
    ) -> PruneReport:
        plan = await self.plan(options)
        if not confirm:
            return planned(plan)
        return await self.apply(plan, {**origin, "by": "prune"})

    async def apply(
        self, plan: Plan, origin: Mapping[str, Any], progress: Progress | None = None
    ) -> PruneReport:
        progress = progress or _quiet
        report = PruneReport(dry_run=False)
        events = defaultdict(list)
        for event in plan.tag_events:
            events[event.repository].append(event)
        manifests, layers = defaultdict(list), defaultdict(list)
        for repository, digest in plan.manifest_links:
            manifests[repository].append(digest)
        for repository, digest in plan.layer_links:
            layers[repository].append(digest)
        touched = sorted({*events, *manifests, *layers})
        for done, repository in enumerate(touched):
            progress("repositories", done, len(touched))
            swept = await sweep.prune_repository(
                self.db,
                repository,
                events=[event.id for event in events[repository]],
                manifests=manifests[repository],
                layers=layers[repository],
                cutoff=plan.cutoff,
                origin=origin,
            )
            if swept.tag_events or swept.manifest_links:
                report.streams.append(repository)
            removed = set(swept.tag_events)
            report.tag_events += [
                {"repository": repository, "tag": e.tag, "image": e.image, "created": e.created}
                for e in events[repository]
                if e.id in removed
            ]
            report.manifest_links += [
                {"repository": repository, "image": d} for d in swept.manifest_links
            ]
            report.layer_links += [{"repository": repository, "blob": d} for d in swept.layer_links]
        progress("repositories", len(touched), len(touched))
        images = len(plan.images)
        progress("images", 0, images)
        report.images = await sweep.delete_images(
            self.db, plan.images, plan.cutoff, origin, lambda n: progress("images", n, images)
        )
        if plan.blobs:
            blobs = len(plan.blobs)
            progress("blobs", 0, blobs)
            deleted = await sweep.delete_blobs(
                self.db,
                self.storage,
                [digest for digest, _ in plan.blobs],
                plan.cutoff,
                origin,
                lambda n: progress("blobs", n, blobs),
            )
            report.blobs = [{"digest": digest, "size": size} for digest, size in deleted]
        progress("done", 1, 1)
        return report


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None
