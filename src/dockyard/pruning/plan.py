"""What ``adm prune images`` removes, decided from a snapshot of the metadata: pure logic.

OpenShift's pruner builds a graph of images and what references them; here the graph is per
repository (an image pushed to two repositories is pruned from each on its own), and an image
row goes only once no repository keeps it and no surviving index lists it.

A repository keeps an image (a *live* membership) when a tag points at it, one of the
``keep_tag_revisions`` newest history entries of a tag names it, it came into the repository
after the cut-off, it is not a candidate at all (imported, without ``all``), or a live image of
the same repository needs it: an index its children, a referrer its subject, and, unless
``keep_referrers``, a live subject its referrers (signatures and SBOMs go with their subject).
Everything the applier deletes is guarded again in the database, so this plan may be stale.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PruneOptions:
    keep_tag_revisions: int = 3
    keep_younger_than: float = 3600.0
    all: bool = True
    """False: only images pushed here (``managed``) are candidates, as ``oc``'s ``--all=false``."""
    prune_registry: bool = True
    ignore_invalid_refs: bool = False
    keep_referrers: bool = False
    """True: referrers stay although their subject goes (they are pruned only once untagged
    and old themselves, like any image)."""


@dataclass(frozen=True, slots=True)
class TagEvent:
    id: int
    repository: str
    tag: str
    image: str
    created: float


@dataclass(frozen=True, slots=True)
class ImageInfo:
    digest: str
    created: float
    managed: bool
    size: int
    subject: str | None
    children: tuple[str, ...]
    blobs: tuple[str, ...]
    """Config and layers."""


@dataclass(frozen=True, slots=True)
class Inventory:
    """The metadata a plan is made from; times are seconds since the epoch."""

    tags: dict[tuple[str, str], str]
    """(repository, tag) -> image."""
    events: list[TagEvent]
    memberships: dict[tuple[str, str], float]
    """(repository, image) -> when it came into the repository (last refreshed)."""
    images: dict[str, ImageInfo]
    links: dict[tuple[str, str], float]
    """(repository, blob) -> when it was linked (last refreshed)."""
    blobs: dict[str, tuple[int, float]]
    """blob -> (size, when recorded)."""


@dataclass(slots=True)
class Plan:
    cutoff: float
    tag_events: list[TagEvent] = field(default_factory=list)
    manifest_links: list[tuple[str, str]] = field(default_factory=list)
    layer_links: list[tuple[str, str]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    blobs: list[tuple[str, int]] = field(default_factory=list)
    invalid_refs: list[str] = field(default_factory=list)

    @property
    def streams(self) -> list[str]:
        """The repositories whose stream changes."""
        touched = {event.repository for event in self.tag_events}
        touched.update(repository for repository, _ in self.manifest_links)
        return sorted(touched)


def stale_events(inventory: Inventory, options: PruneOptions, cutoff: float) -> list[TagEvent]:
    """History entries beyond the kept revisions and older than the cut-off; a tag's current
    entry always stays, and every old entry of a tag that no longer exists goes. Entries
    naming an image that is gone go whatever their place: they refer to nothing."""
    history: dict[tuple[str, str], list[TagEvent]] = defaultdict(list)
    for event in inventory.events:
        history[(event.repository, event.tag)].append(event)
    stale = []
    for key, events in history.items():
        events.sort(key=lambda event: event.id, reverse=True)
        keep = max(options.keep_tag_revisions, 1) if key in inventory.tags else 0
        stale += [event for event in events[keep:] if event.created < cutoff]
        stale += [event for event in events[:keep] if event.image not in inventory.images]
    return sorted(stale, key=lambda event: event.id)


def make_plan(inventory: Inventory, options: PruneOptions, now: float) -> Plan:
    cutoff = now - options.keep_younger_than
    plan = Plan(cutoff, tag_events=stale_events(inventory, options, cutoff))
    images = inventory.images
    stale = {event.id for event in plan.tag_events}
    kept_events = [event for event in inventory.events if event.id not in stale]
    plan.invalid_refs = _invalid_refs(inventory)
    live = _live_memberships(inventory, options, cutoff, kept_events)
    plan.manifest_links = sorted(set(inventory.memberships) - live)
    surviving = _surviving_images(inventory, live, cutoff, kept_events)
    plan.images = sorted(set(images) - surviving)
    needed = {
        (repository, needed)
        for repository, digest in live
        if digest in images
        for needed in (digest, *images[digest].blobs)
    }
    # A pruned image's own link goes with its membership (counted there).
    unlinked = set(plan.manifest_links)
    plan.layer_links = sorted(
        key
        for key, since in inventory.links.items()
        if key not in needed and key not in unlinked and since < cutoff
    )
    if options.prune_registry:
        removed = set(plan.layer_links) | unlinked
        kept = {digest for key in inventory.links if key not in removed for digest in key[1:]}
        kept |= surviving
        kept.update(
            blob for digest in surviving if digest in images for blob in images[digest].blobs
        )
        plan.blobs = sorted(
            (digest, size)
            for digest, (size, recorded) in inventory.blobs.items()
            if digest not in kept and recorded < cutoff
        )
    return plan


def _invalid_refs(inventory: Inventory) -> list[str]:
    """Tags that name an image the registry does not have (its foreign keys forbid them, so
    only a database changed behind its back has them)."""
    return sorted(
        f"{repository}:{tag} -> {image}"
        for (repository, tag), image in inventory.tags.items()
        if image not in inventory.images
    )


def _live_memberships(
    inventory: Inventory, options: PruneOptions, cutoff: float, kept: list[TagEvent]
) -> set[tuple[str, str]]:
    images = inventory.images
    members = inventory.memberships
    roots: set[tuple[str, str]] = {
        (repository, image) for (repository, _), image in inventory.tags.items()
    }
    roots.update((event.repository, event.image) for event in kept)
    for (repository, digest), since in members.items():
        info = images.get(digest)
        if (
            since >= cutoff
            or info is None
            or (not options.all and not info.managed)
            or (options.keep_referrers and info.subject is not None)
        ):
            roots.add((repository, digest))
    referrers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for repository, digest in members:
        subject = images[digest].subject if digest in images else None
        if subject is not None:
            referrers[(repository, subject)].append(digest)
    live = {key for key in roots if key in members}
    pending = list(live)
    while pending:
        repository, digest = pending.pop()
        info = images.get(digest)
        needed: Iterable[str] = referrers.get((repository, digest), [])
        if info is not None:
            needed = [*needed, *info.children, *([info.subject] if info.subject else [])]
        for other in needed:
            key = (repository, other)
            if key in members and key not in live:
                live.add(key)
                pending.append(key)
    return live


def _surviving_images(
    inventory: Inventory, live: set[tuple[str, str]], cutoff: float, kept: list[TagEvent]
) -> set[str]:
    """Images with a live membership, named by kept history (a digest deleted from its
    repository stays an image while its history does, as in OpenShift), young ones, and the
    children of those, transitively."""
    images = inventory.images
    surviving = {digest for _, digest in live}
    surviving.update(event.image for event in kept)
    surviving.update(digest for digest, info in images.items() if info.created >= cutoff)
    pending = [digest for digest in surviving if digest in images]
    while pending:
        for child in images[pending.pop()].children:
            if child in images and child not in surviving:
                surviving.add(child)
                pending.append(child)
    return surviving
