"""Images: one cluster-scoped object per manifest digest, with its layers and platforms."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.imagestreams.streams import API_VERSION, JSON, not_found, timestamp
from dockyard.metadata import images as image_rows
from dockyard.metadata.engine import Database
from dockyard.registry.digest import parse_digest
from dockyard.registry.mediatypes import INDEXES
from dockyard.storage import paths
from dockyard.storage.driver import StorageDriver, StorageError

MANAGED = "openshift.io/image.managed"
MAX_CONFIG_SIZE = 1 << 20
CONFIG_FIELDS = (
    ("Created", "created"),
    ("Architecture", "architecture"),
    ("Os", "os"),
    ("Author", "author"),
    ("Config", "config"),
)
"""The config blob's fields that ``dockerImageMetadata`` shows, by its names for them."""


class ImageObjectService:
    def __init__(self, db: Database, storage: StorageDriver, registry_host: str) -> None:
        self.db = db
        self.storage = storage
        self.registry_host = registry_host

    async def get(self, digest: str) -> JSON:
        async with self.db.read() as conn:
            row = await image_rows.details(conn, digest)
            if row is None:
                raise not_found("images", digest)
            return await self._render(conn, row)

    async def list_images(self, last: str | None = None, limit: int = 500) -> list[JSON]:
        async with self.db.read() as conn:
            return [
                await self._render(conn, row) for row in await image_rows.page(conn, last, limit)
            ]

    async def _render(self, conn: AsyncConnection, row: Any) -> JSON:
        refs = await image_rows.references(conn, row.digest)
        repository = await image_rows.first_repository(conn, row.digest)
        body: JSON = {
            "kind": "Image",
            "apiVersion": API_VERSION,
            "metadata": {
                "name": row.digest,
                "creationTimestamp": timestamp(row.created_at),
                "annotations": {MANAGED: "true"} if row.managed else {},
            },
            "dockerImageReference": (
                f"{self.registry_host}/{repository}@{row.digest}" if repository else ""
            ),
            "dockerImageManifestMediaType": row.media_type,
            "dockerImageMetadataVersion": "1.0",
        }
        if row.media_type in INDEXES:
            body["dockerImageManifests"] = [
                {
                    "digest": ref.digest,
                    "mediaType": ref.media_type,
                    "manifestSize": ref.size,
                    **{
                        key: (ref.platform or {}).get(source, "")
                        for key, source in (
                            ("architecture", "architecture"),
                            ("os", "os"),
                            ("variant", "variant"),
                        )
                    },
                }
                for ref in refs
                if ref.kind == "manifest"
            ]
            return body
        layers = [r for r in refs if r.kind == "layer"]
        body["dockerImageLayers"] = [
            {"name": r.digest, "size": r.size, "mediaType": r.media_type} for r in layers
        ]
        config = next((r for r in refs if r.kind == "config"), None)
        if config is not None:
            body["dockerImageMetadata"] = await self._metadata(config.digest, config.size, layers)
        return body

    async def _metadata(self, digest: str, size: int, layers: list[Any]) -> JSON:
        """What ``oc describe image`` shows, read from the image's config blob."""
        total = sum(layer.size for layer in layers) + size
        if size > MAX_CONFIG_SIZE:
            return docker_image_metadata(digest, total, None)
        parsed = parse_digest(digest)
        try:
            config = await self.storage.get_content(
                paths.blob_data_path(parsed.algorithm, parsed.hex)
            )
        except StorageError:
            config = None
        return docker_image_metadata(digest, total, config)


def docker_image_metadata(config_digest: str, size: int, config: bytes | None) -> JSON:
    """An image's ``dockerImageMetadata`` (what ``oc describe image`` shows): its size and what
    its config blob says, where that is JSON."""
    found: JSON = {
        "kind": "DockerImage",
        "apiVersion": "image.openshift.io/1.0",
        "Id": config_digest,
        "Size": size,
    }
    try:
        parsed = json.loads(config) if config is not None else None
    except ValueError:
        return found
    if isinstance(parsed, dict):
        for key, source in CONFIG_FIELDS:
            if source in parsed:
                found[key] = parsed[source]
    return found
