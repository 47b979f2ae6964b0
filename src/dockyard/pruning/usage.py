"""``adm top``: storage used by images, repositories and projects, each layer counted once.

An image's footprint is its manifest, config and layers, and for an index those of its
children; a repository's or a project's is the union of its images' footprints, so a layer
shared by ten images of a project counts once for the project. The registry's total is the
union over everything, which is what the storage holds for the images (blobs no image uses
are garbage and counted apart).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.schema import (
    blobs,
    image_references,
    images,
    repositories,
    repository_images,
    tags,
)


@dataclass(frozen=True, slots=True)
class ImageUsage:
    digest: str
    media_type: str
    storage: int
    layers: int
    tags: tuple[str, ...]
    repositories: int


@dataclass(frozen=True, slots=True)
class GroupUsage:
    name: str
    storage: int
    images: int
    blobs: int


@dataclass(frozen=True, slots=True)
class Usage:
    images: list[ImageUsage]
    repositories: list[GroupUsage]
    projects: list[GroupUsage]
    total: int
    stored: int
    """Bytes of every blob recorded, used or not."""


async def read_usage(conn: AsyncConnection) -> Usage:
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ")
    own: dict[str, dict[str, int]] = {}
    media: dict[str, str] = {}
    for row in await conn.execute(select(images.c.digest, images.c.size, images.c.media_type)):
        own[row.digest] = {row.digest: row.size}
        media[row.digest] = row.media_type
    children: dict[str, list[str]] = defaultdict(list)
    layers: dict[str, int] = defaultdict(int)
    query = select(
        image_references.c.image_digest,
        image_references.c.kind,
        image_references.c.digest,
        image_references.c.size,
    )
    for ref in await conn.execute(query):
        if ref.kind == "manifest":
            children[ref.image_digest].append(ref.digest)
        elif ref.image_digest in own:
            own[ref.image_digest][ref.digest] = ref.size
            layers[ref.image_digest] += ref.kind == "layer"
    footprints = {digest: _footprint(digest, own, children) for digest in own}
    names = {row.id: row.name for row in await conn.execute(select(repositories))}
    members: dict[str, set[str]] = defaultdict(set)
    held_in: dict[str, int] = defaultdict(int)
    for row in await conn.execute(select(repository_images)):
        members[names[row.repository_id]].add(row.image_digest)
        held_in[row.image_digest] += 1
    tagged: dict[str, list[str]] = defaultdict(list)
    for row in await conn.execute(select(tags.c.repository_id, tags.c.name, tags.c.image_digest)):
        tagged[row.image_digest].append(f"{names[row.repository_id]}:{row.name}")
    projects: dict[str, set[str]] = defaultdict(set)
    for repository, digests in members.items():
        projects[repository.partition("/")[0]].update(digests)
    stored = (await conn.execute(select(func.coalesce(func.sum(blobs.c.size), 0)))).scalar_one()
    return Usage(
        images=sorted(
            (
                ImageUsage(
                    digest=digest,
                    media_type=media[digest],
                    storage=sum(footprint.values()),
                    layers=layers[digest],
                    tags=tuple(sorted(tagged[digest])),
                    repositories=held_in[digest],
                )
                for digest, footprint in footprints.items()
            ),
            key=lambda image: (-image.storage, image.digest),
        ),
        repositories=_groups(members, footprints),
        projects=_groups(projects, footprints),
        total=sum(_union(set(own), footprints).values()),
        stored=int(stored),
    )


def _footprint(
    digest: str, own: dict[str, dict[str, int]], children: dict[str, list[str]]
) -> dict[str, int]:
    found: dict[str, int] = {}
    pending, seen = [digest], {digest}
    while pending:
        current = pending.pop()
        found.update(own.get(current, {}))
        for child in children.get(current, []):
            if child not in seen:
                seen.add(child)
                pending.append(child)
    return found


def _union(digests: set[str], footprints: dict[str, dict[str, int]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for digest in digests:
        found.update(footprints.get(digest, {}))
    return found


def _groups(groups: dict[str, set[str]], footprints: dict[str, dict[str, int]]) -> list[GroupUsage]:
    found = []
    for name, digests in groups.items():
        union = _union(digests, footprints)
        found.append(GroupUsage(name, sum(union.values()), len(digests), len(union)))
    return sorted(found, key=lambda group: (-group.storage, group.name))
