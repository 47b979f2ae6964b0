"""Image streams, their tags (ImageStreamTag), images seen through them (ImageStreamImage),
tag mappings (ImageStreamMapping) and layers (ImageStreamLayers).

A repository is an image stream: ``/v2`` pushes and these calls read and write the same rows,
so a tag moved here is served by ``/v2`` at once, and a push shows up here (and in watches)
as a new tag event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard import errors
from dockyard.errors import RegistryError, StatusError, invalid_field
from dockyard.imagestreams import importstatus
from dockyard.imagestreams.spec import ImageStreamSpec, TagReference, parse_model
from dockyard.metadata import (
    blobs as blob_rows,
    images as image_rows,
    repositories,
    streams as rows,
    tags as tag_rows,
)
from dockyard.metadata.engine import Database
from dockyard.registry.digest import parse_digest
from dockyard.registry.reference import validate_name

API_VERSION = "image.openshift.io/v1"
GROUP = "image.openshift.io"
JSON = dict[str, Any]


def timestamp(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def not_found(resource: str, name: str) -> StatusError:
    return errors.not_found(resource, name, GROUP)


def conflict(resource: str, name: str) -> StatusError:
    return errors.conflict(resource, name, GROUP)


def _if(key: str, value: Any) -> JSON:
    """``{key: value}`` when there is a value, else nothing: optional fields stay absent."""
    return {key: value} if value else {}


def split_tag_name(value: str) -> tuple[str, str]:
    stream, sep, tag = value.rpartition(":")
    if not sep or not stream or not tag:
        raise StatusError(
            400, "BadRequest", f'"{value}" must be of the form <stream>:<tag>', {"name": value}
        )
    return stream, tag


def split_image_name(value: str) -> tuple[str, str]:
    stream, sep, digest = value.partition("@")
    if not sep or not stream:
        raise StatusError(
            400, "BadRequest", f'"{value}" must be of the form <stream>@<digest>', {"name": value}
        )
    return stream, digest


class ImageStreamService:
    def __init__(
        self, db: Database, registry_host: str, public_host: Callable[[], str] = lambda: ""
    ) -> None:
        self.db = db
        self.registry_host = registry_host
        self.public_host = public_host
        """The host of the route clients outside pull from, as the Config says now; empty:
        none, and streams show no ``publicDockerImageRepository``."""

    # rendering

    def _reference(self, repository: str, digest: str) -> str:
        return f"{self.registry_host}/{repository}@{digest}"

    def _tag_reference(self, row: Any, tag: str, digest: str) -> str:
        """Where consumers pull the tag's image: here, or for a tag imported with the
        ``Source`` reference policy (the default), the registry it came from."""
        entry: JSON = next((t for t in (row.spec or {}).get("tags", []) if t["name"] == tag), {})
        source = entry.get("from") or {}
        policy = (entry.get("referencePolicy") or {}).get("type", "Source")
        if source.get("kind") != "DockerImage" or policy != "Source":
            return self._reference(row.name, digest)
        path = str(source.get("name", "")).partition("@")[0]
        head, colon, tail = path.rpartition(":")
        return f"{head if colon and '/' not in tail else path}@{digest}"

    async def _render(self, conn: AsyncConnection, row: Any) -> JSON:
        namespace, _, name = row.name.partition("/")
        current = await rows.current_tags(conn, row.id)
        history = await rows.history(conn, row.id)
        imports = await importstatus.of_stream(conn, namespace, name)
        public = self.public_host()
        status_tags = []
        spec = row.spec or {}
        failing = {t["name"] for t in spec.get("tags", [])} & {
            t for t, record in imports.items() if record.get("conditions")
        }
        for tag in sorted(current.keys() | failing):
            items = [
                {
                    "created": timestamp(event.created_at),
                    "dockerImageReference": self._tag_reference(row, tag, event.image_digest),
                    "image": event.image_digest,
                    "generation": event.generation,
                }
                for event in history.get(tag, [])
            ]
            conditions = imports.get(tag, {}).get("conditions")
            status_tags.append({"tag": tag, "items": items, **_if("conditions", conditions)})
        return {
            "kind": "ImageStream",
            "apiVersion": API_VERSION,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": row.uid or "",
                "resourceVersion": str(row.resource_version),
                "generation": row.generation,
                "creationTimestamp": timestamp(row.created_at),
                "labels": row.labels or {},
                "annotations": row.annotations or {},
            },
            "spec": {
                "lookupPolicy": spec.get("lookupPolicy", {"local": False}),
                "tags": spec.get("tags", []),
            },
            "status": {
                "dockerImageRepository": f"{self.registry_host}/{row.name}",
                **_if("publicDockerImageRepository", public and f"{public}/{row.name}"),
                "tags": status_tags,
            },
        }

    # streams

    async def get(self, namespace: str, name: str) -> JSON:
        async with self.db.read() as conn:
            row = await rows.get(conn, f"{namespace}/{name}")
            if row is None:
                raise not_found("imagestreams", name)
            return await self._render(conn, row)

    async def list_streams(self, namespace: str | None) -> list[JSON]:
        async with self.db.read() as conn:
            return [await self._render(conn, row) for row in await rows.list_in(conn, namespace)]

    async def create(self, namespace: str, body: JSON) -> JSON:
        name = self._name(body)
        repository = self._repository(namespace, name)
        spec = self._spec(body, name)
        async with self.db.write() as conn:
            if await rows.get(conn, repository) is not None:
                raise StatusError(
                    409, "AlreadyExists", f'imagestreams.{GROUP} "{name}" already exists'
                )
            repository_id = await repositories.ensure(conn, repository, lock=True)
            await rows.ensure_uid(conn, repository_id)
            await self._apply(conn, repository_id, repository, body, spec, generation=1)
            await rows.touch(conn, repository_id, repository, "ADDED")
            return await self._render(conn, await rows.get(conn, repository))

    async def update(self, namespace: str, name: str, body: JSON) -> JSON:
        """Replace labels, annotations and spec; a stale ``resourceVersion`` is a conflict."""
        if self._name(body) != name:
            raise invalid_field(
                "ImageStream", name, "must match the name in the path", "metadata.name"
            )
        repository = self._repository(namespace, name)
        spec = self._spec(body, name)
        async with self.db.write() as conn:
            row = await rows.get(conn, repository, for_update=True)
            if row is None:
                raise not_found("imagestreams", name)
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted not in (None, "") and str(wanted) != str(row.resource_version):
                raise conflict("imagestreams", name)
            old_spec = row.spec or {"lookupPolicy": {"local": False}, "tags": []}
            generation = row.generation + (1 if spec != old_spec else 0)
            await self._apply(conn, row.id, repository, body, spec, generation)
            await rows.touch(conn, row.id, repository)
            return await self._render(conn, await rows.get(conn, repository))

    async def delete(self, namespace: str, name: str) -> None:
        """Delete the stream: its repository disappears from ``/v2`` with its tags."""
        repository = self._repository(namespace, name)
        async with self.db.write() as conn:
            row = await rows.get(conn, repository)
            if row is None:
                raise not_found("imagestreams", name)
            await rows.touch(conn, row.id, repository, "DELETED")
            await rows.remove(conn, row.id)

    async def _apply(
        self,
        conn: AsyncConnection,
        repository_id: int,
        repository: str,
        body: JSON,
        spec: JSON,
        generation: int,
    ) -> None:
        metadata = body.get("metadata") or {}
        for entry in spec["tags"]:
            entry["generation"] = generation
        await rows.save_object_fields(
            conn,
            repository_id,
            spec=spec,
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
            generation=generation,
        )
        for entry in spec["tags"]:
            source = entry.get("from")
            if source is not None and source["kind"] != "DockerImage":
                digest = await self._resolve(conn, repository, source)
                await self._link_image(conn, repository_id, digest)
                await tag_rows.move(conn, repository_id, entry["name"], digest)

    # tags

    async def get_tag(self, namespace: str, value: str) -> JSON:
        stream, tag = split_tag_name(value)
        async with self.db.read() as conn:
            row = await rows.get(conn, self._repository(namespace, stream))
            if row is None:
                raise not_found("imagestreamtags", value)
            return await self._render_tag(conn, row, tag)

    async def list_tags(self, namespace: str) -> list[JSON]:
        async with self.db.read() as conn:
            found = []
            for row in await rows.list_in(conn, namespace):
                current = await rows.tag_rows(conn, row.id)
                for tag in sorted(current):
                    found.append(await self._render_tag(conn, row, tag, current))
            return found

    async def _render_tag(
        self, conn: AsyncConnection, row: Any, tag: str, current: dict[str, Any] | None = None
    ) -> JSON:
        """The tag as an ImageStreamTag, created (as in OpenShift) when the tag last moved."""
        stream = row.name.partition("/")[2]
        if current is None:
            current = await rows.tag_rows(conn, row.id)
        spec_tag = next((t for t in (row.spec or {}).get("tags", []) if t["name"] == tag), None)
        if tag not in current:
            raise not_found("imagestreamtags", f"{stream}:{tag}")
        digest = current[tag].image_digest
        image = await image_rows.in_repository(conn, row.name, digest)
        conditions = None
        if spec_tag is not None and (spec_tag.get("from") or {}).get("kind") == "DockerImage":
            imports = await importstatus.of_stream(conn, row.name.partition("/")[0], stream)
            conditions = imports.get(tag, {}).get("conditions")
        return {
            "kind": "ImageStreamTag",
            "apiVersion": API_VERSION,
            "metadata": {
                "name": f"{stream}:{tag}",
                "namespace": row.name.partition("/")[0],
                "resourceVersion": str(row.resource_version),
                "creationTimestamp": timestamp(current[tag].updated_at),
            },
            "tag": spec_tag,
            "generation": row.generation,
            "lookupPolicy": (row.spec or {}).get("lookupPolicy", {"local": False}),
            "image": {
                "metadata": {"name": digest},
                "dockerImageReference": self._tag_reference(row, tag, digest),
                "dockerImageManifestMediaType": image.media_type if image else "",
            },
            **_if("conditions", conditions),
        }

    async def put_tag(
        self, namespace: str, value: str, body: JSON, resource_version: str | None = None
    ) -> JSON:
        """Point ``stream:tag`` at the image its ``tag.from`` names (a tag move or rollback);
        with ``resource_version``, only if the stream is still at it."""
        stream, tag = split_tag_name(value)
        reference = parse_model(
            TagReference, {**(body.get("tag") or {}), "name": tag}, "ImageStreamTag", value, "tag"
        )
        if reference.from_ is None:
            raise invalid_field("ImageStreamTag", value, "from is required", "tag.from")
        repository = self._repository(namespace, stream)
        async with self.db.write() as conn:
            repository_id = await repositories.ensure(conn, repository, lock=True)
            await rows.ensure_uid(conn, repository_id)
            row = await rows.get(conn, repository, for_update=True)
            if resource_version and resource_version != str(row.resource_version):
                raise conflict("imagestreamtags", value)
            entry = reference.model_dump(by_alias=True, exclude_none=True)
            if reference.from_.kind == "DockerImage":
                raise invalid_field(
                    "ImageStreamTag",
                    value,
                    "tags of external images need importing, which this registry can't do yet",
                    "tag.from.kind",
                )
            digest = await self._resolve(conn, repository, entry["from"])
            spec = dict(row.spec or {"lookupPolicy": {"local": False}, "tags": []})
            tags = [t for t in spec.get("tags", []) if t["name"] != tag]
            follows = reference.from_.kind == "ImageStreamTag" and self._same_stream(
                reference.from_.name, stream, reference.from_.namespace, namespace
            )
            if follows:  # an alias: the spec keeps it following its source
                entry["generation"] = row.generation + 1
                tags.append(entry)
            generation = row.generation + (1 if tags != spec.get("tags", []) else 0)
            spec["tags"] = tags
            await rows.save_object_fields(
                conn,
                repository_id,
                spec=spec,
                labels=row.labels or {},
                annotations=row.annotations or {},
                generation=generation,
            )
            await self._link_image(conn, repository_id, digest)
            await tag_rows.move(conn, repository_id, tag, digest)
            await rows.touch(conn, repository_id, repository)
            return await self._render_tag(conn, await rows.get(conn, repository), tag)

    async def delete_tag(self, namespace: str, value: str) -> None:
        """Remove the tag from spec and status; its images stay until pruned."""
        stream, tag = split_tag_name(value)
        repository = self._repository(namespace, stream)
        async with self.db.write() as conn:
            row = await rows.get(conn, repository)
            spec_tags = (row.spec or {}).get("tags", []) if row is not None else []
            removed = row is not None and await tag_rows.remove(conn, row.id, tag)
            kept = [t for t in spec_tags if t["name"] != tag]
            if row is None or (not removed and len(kept) == len(spec_tags)):
                raise not_found("imagestreamtags", value)
            if len(kept) != len(spec_tags):
                await rows.save_object_fields(
                    conn,
                    row.id,
                    spec={**(row.spec or {}), "tags": kept},
                    labels=row.labels or {},
                    annotations=row.annotations or {},
                    generation=row.generation + 1,
                )
            await rows.touch(conn, row.id, repository)

    # images through a stream

    async def get_stream_image(self, namespace: str, value: str) -> JSON:
        stream, digest = split_image_name(value)
        repository = self._repository(namespace, stream)
        async with self.db.read() as conn:
            row = await rows.get(conn, repository)
            if row is None or not await rows.tag_event_at(conn, row.id, digest):
                raise not_found("imagestreamimages", value)
        return {
            "kind": "ImageStreamImage",
            "apiVersion": API_VERSION,
            "metadata": {"name": value, "namespace": namespace, "uid": row.uid or ""},
            "image": {
                "metadata": {"name": digest},
                "dockerImageReference": self._reference(repository, digest),
            },
        }

    async def create_mapping(self, namespace: str, body: JSON) -> JSON:
        """An ImageStreamMapping: tag an image already in the registry into a stream."""
        name = self._name(body)
        tag = body.get("tag")
        image = (body.get("image") or {}).get("metadata", {}).get("name")
        if not isinstance(tag, str) or not tag:
            raise invalid_field("ImageStreamMapping", name, "tag is required", "tag")
        if not isinstance(image, str) or not image:
            raise invalid_field(
                "ImageStreamMapping", name, "image.metadata.name is required", "image"
            )
        repository = self._repository(namespace, name)
        parse_model(TagReference, {"name": tag}, "ImageStreamMapping", name, "tag")
        async with self.db.write() as conn:
            if await image_rows.row(conn, image) is None:
                raise not_found("images", image)
            repository_id = await repositories.ensure(conn, repository, lock=True)
            await rows.ensure_uid(conn, repository_id)
            await self._link_image(conn, repository_id, image)
            await tag_rows.move(conn, repository_id, tag, image)
            await rows.touch(conn, repository_id, repository)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    async def layers(self, namespace: str, name: str) -> JSON:
        """ImageStreamLayers: every blob of every image in the stream, with each image's."""
        repository = self._repository(namespace, name)
        async with self.db.read() as conn:
            row = await rows.get(conn, repository)
            if row is None:
                raise not_found("imagestreams", name)
            blobs: JSON = {}
            images: JSON = {}
            for digest in await image_rows.digests_in(conn, row.id):
                refs = await image_rows.references(conn, digest)
                entry: JSON = {"layers": [], "manifests": []}
                for ref in refs:
                    if ref.kind == "manifest":
                        entry["manifests"].append(ref.digest)
                        continue
                    blobs[ref.digest] = {"size": ref.size, "mediaType": ref.media_type}
                    if ref.kind == "config":
                        entry["config"] = ref.digest
                    else:
                        entry["layers"].append(ref.digest)
                images[digest] = entry
        return {
            "kind": "ImageStreamLayers",
            "apiVersion": API_VERSION,
            "metadata": {"name": name, "namespace": namespace, "uid": row.uid or ""},
            "blobs": blobs,
            "images": images,
        }

    # helpers

    async def _resolve(self, conn: AsyncConnection, repository: str, source: JSON) -> str:
        """The digest a ``from`` reference names (ImageStreamTag or ImageStreamImage)."""
        namespace = source.get("namespace") or repository.partition("/")[0]
        name = source["name"]
        if source["kind"] == "ImageStreamImage":
            stream, digest = split_image_name(name) if "@" in name else ("", name)
            origin = f"{namespace}/{stream}" if stream else repository
            try:
                parse_digest(digest)
            except RegistryError as exc:
                raise invalid_field(
                    "ImageStreamTag", name, f"bad digest {digest!r}", "from"
                ) from exc
            if await image_rows.in_repository(conn, origin, digest) is None:
                raise not_found("imagestreamimages", name)
            return digest
        stream, tag = split_tag_name(name) if ":" in name else (repository.partition("/")[2], name)
        found = await tag_rows.resolve(conn, f"{namespace}/{stream}", tag)
        if found is None:
            raise not_found("imagestreamtags", f"{stream}:{tag}")
        return found

    async def _link_image(self, conn: AsyncConnection, repository_id: int, digest: str) -> None:
        """Make an image (and for an index, its children) servable from the repository."""
        await image_rows.add_to_repository(conn, repository_id, digest)
        await blob_rows.link(conn, repository_id, digest)
        for ref in await image_rows.references(conn, digest):
            if ref.kind == "manifest":
                await self._link_image(conn, repository_id, ref.digest)
            else:
                await blob_rows.link(conn, repository_id, ref.digest)

    @staticmethod
    def _same_stream(name: str, stream: str, namespace: str | None, current: str) -> bool:
        if namespace not in (None, "", current):
            return False
        return ":" not in name or name.rpartition(":")[0] == stream

    @staticmethod
    def _name(body: JSON) -> str:
        name = (body.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise invalid_field("ImageStream", "", "name is required", "metadata.name")
        return name

    @staticmethod
    def _repository(namespace: str, name: str) -> str:
        repository = f"{namespace}/{name}"
        try:
            return validate_name(repository)
        except RegistryError as exc:
            raise invalid_field(
                "ImageStream", name, "must be a repository name component", "metadata.name"
            ) from exc

    @staticmethod
    def _spec(body: JSON, name: str) -> JSON:
        spec = parse_model(ImageStreamSpec, body.get("spec"), "ImageStream", name, "spec")
        dumped: JSON = spec.model_dump(by_alias=True, exclude_none=True)
        dumped.pop("dockerImageRepository", None)
        return dumped
