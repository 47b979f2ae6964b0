"""Import images from other registries into image streams (ImageStreamImport, ``oc
import-image``, spec tags that point at a ``DockerImage``).

An import reads the remote manifest (and, for an index imported whole, every child; for one
imported as ``Legacy``, the child of the preferred platform) and the image config, checks each
against its digest, stores them as a push would, and moves the tag with a history event in one
transaction. Layers are not copied: pull-through fetches them when a client first asks.
"""

from __future__ import annotations

import contextlib
import platform as host_platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.errors import RegistryError, StatusError, invalid_field
from dockyard.imagestreams import importstatus
from dockyard.imagestreams.images import docker_image_metadata
from dockyard.imagestreams.spec import TagImportPolicy, TagReferencePolicy, parse_model
from dockyard.imagestreams.streams import API_VERSION, ImageStreamService
from dockyard.imports.client import UpstreamClient, UpstreamError
from dockyard.imports.reference import ImageReference, ReferenceError, parse_image_reference
from dockyard.imports.spec import ImageStreamImportSpec, RepositoryImportSpec
from dockyard.imports.upstreams import Upstreams
from dockyard.metadata import (
    blobs as blob_rows,
    images as image_rows,
    repositories,
    streams as stream_rows,
    tags as tag_rows,
)
from dockyard.metadata.engine import Database
from dockyard.metadata.resources import ResourceStore
from dockyard.registry.blobs import blob_path
from dockyard.registry.digest import Hasher, parse_digest
from dockyard.registry.images import manifest_references
from dockyard.registry.manifests import Descriptor, ParsedManifest, parse_manifest
from dockyard.registry.reference import TAG_RE
from dockyard.storage.driver import StorageDriver

JSON = dict[str, Any]
MAX_CONFIG_SIZE = 4 << 20
"""Configs up to this size are copied at import, so the image's metadata is known at once."""
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


@dataclass(frozen=True)
class Fetched:
    """One manifest read from the upstream, with what it needs stored alongside."""

    source: ImageReference
    digest: str
    content: bytes
    manifest: ParsedManifest
    config: bytes | None = None
    children: tuple[Fetched, ...] = ()

    def all(self) -> list[Fetched]:
        return [self, *(m for child in self.children for m in child.all())]


@dataclass
class TagImport:
    """One tag to import: where from, how, and (once tried) the result."""

    tag: str
    source: ImageReference
    import_policy: TagImportPolicy
    reference_policy: TagReferencePolicy
    include_manifest: bool = False
    fetched: Fetched | None = None
    error: UpstreamError | None = None
    spec: JSON | None = None
    """The stream's spec tag this imports again, kept as it is (annotations and all)."""

    def spec_entry(self) -> JSON:
        if self.spec is not None:
            return {k: v for k, v in self.spec.items() if k != "generation"}
        return {
            "name": self.tag,
            "from": {"kind": "DockerImage", "name": str(self.source)},
            "reference": False,
            "importPolicy": self.import_policy.model_dump(),
            "referencePolicy": self.reference_policy.model_dump(),
        }


@dataclass
class ImportResult:
    images: list[TagImport]
    repository: list[TagImport] = field(default_factory=list)
    additional_tags: list[str] = field(default_factory=list)
    repository_error: UpstreamError | None = None


class Importer:
    def __init__(
        self,
        db: Database,
        storage: StorageDriver,
        upstreams: Upstreams,
        streams: ImageStreamService,
        max_tags: int = 50,
    ) -> None:
        self.db = db
        self.storage = storage
        self.upstreams = upstreams
        self.streams = streams
        self.max_tags = max_tags
        self.status = ResourceStore(db)

    # --- the ImageStreamImport resource ----------------------------------------------------

    async def create(self, namespace: str, name: str, body: JSON) -> JSON:
        """Run an ImageStreamImport; the object returned carries the results in ``status``."""
        spec = parse_model(
            ImageStreamImportSpec, body.get("spec"), "ImageStreamImport", name, "spec"
        )
        if spec.repository is None and not spec.images:
            raise invalid_field(
                "ImageStreamImport", name, "give spec.images or spec.repository", "spec"
            )
        if len(spec.images) > self.max_tags:
            raise invalid_field(
                "ImageStreamImport", name, f"at most {self.max_tags} images at once", "spec.images"
            )
        wanted = [self._image_request(name, i, entry) for i, entry in enumerate(spec.images)]
        tags = [item.tag for item in wanted]
        repeated = next((i for i, tag in enumerate(tags) if tag in tags[:i]), None)
        if repeated is not None:
            raise invalid_field(
                "ImageStreamImport",
                name,
                f"tag {tags[repeated]!r} is imported more than once",
                f"spec.images[{repeated}].to",
            )
        source = None
        if spec.repository is not None:
            source = self._repository_request(name, spec.repository)
        result = ImportResult(wanted)
        for item in wanted:
            await self._fetch(namespace, item)
        if spec.repository is not None and source is not None:
            await self._fetch_repository(namespace, source, spec.repository, result)
        if spec.import_:
            tried = [*result.images, *result.repository]
            done = [i for i in tried if i.fetched is not None]
            if done:
                await self.commit(namespace, name, done)
            for item in tried:  # shown where the stream's spec has the tag already
                if item.error is not None:
                    entry = {"name": item.tag, "generation": 0}
                    await self._failed(namespace, name, entry, item.error)
        status: JSON = {"images": [self._render_item(i) for i in result.images]}
        if spec.repository is not None:
            status["repository"] = {
                "status": _status(result.repository_error),
                "images": [self._render_item(i) for i in result.repository],
                "additionalTags": result.additional_tags,
            }
        if spec.import_:
            with contextlib.suppress(StatusError):  # nothing imported into a new stream
                status["import"] = await self.streams.get(namespace, name)
        return {
            "kind": "ImageStreamImport",
            "apiVersion": API_VERSION,
            "metadata": {**(body.get("metadata") or {}), "name": name, "namespace": namespace},
            "spec": spec.model_dump(by_alias=True, exclude_none=True),
            "status": status,
        }

    async def import_tag(
        self,
        namespace: str,
        stream: str,
        tag: str,
        source: str,
        policy: TagImportPolicy,
        reference_policy: TagReferencePolicy,
    ) -> None:
        """Import one spec tag (``dockyard tag --source=docker``); a failure is a 422 naming
        what the upstream said."""
        item = TagImport(
            tag,
            self._parse(f"{stream}:{tag}", source, "tag.from.name", "ImageStreamTag"),
            policy,
            reference_policy,
        )
        await self._fetch(namespace, item)
        if item.error is not None:
            raise invalid_field(
                "ImageStreamTag",
                f"{stream}:{tag}",
                f"cannot import {source}: {item.error.message}",
                "tag.from",
            )
        await self.commit(namespace, stream, [item])

    def _image_request(self, name: str, index: int, entry: Any) -> TagImport:
        where = f"spec.images[{index}]"
        if entry.from_.kind != "DockerImage":
            raise invalid_field(
                "ImageStreamImport", name, "must be DockerImage", f"{where}.from.kind"
            )
        source = self._parse(name, entry.from_.name, f"{where}.from.name")
        tag = (entry.to.name if entry.to else "") or source.tag or "latest"
        if not TAG_RE.fullmatch(tag):
            raise invalid_field(
                "ImageStreamImport", name, f"{tag!r} is not a valid tag", f"{where}.to"
            )
        return TagImport(
            tag, source, entry.importPolicy, entry.referencePolicy, entry.includeManifest
        )

    @staticmethod
    def _parse(name: str, text: str, field: str, kind: str = "ImageStreamImport") -> ImageReference:
        try:
            return parse_image_reference(text)
        except ReferenceError as exc:
            raise invalid_field(kind, name, str(exc), field) from None

    def _repository_request(self, name: str, repository: RepositoryImportSpec) -> ImageReference:
        if repository.from_.kind != "DockerImage":
            raise invalid_field(
                "ImageStreamImport", name, "must be DockerImage", "spec.repository.from.kind"
            )
        source = self._parse(name, repository.from_.name, "spec.repository.from.name")
        if source.tag or source.digest:
            raise invalid_field(
                "ImageStreamImport",
                name,
                "must name a repository, without a tag or digest",
                "spec.repository.from.name",
            )
        return source

    async def _fetch_repository(
        self,
        namespace: str,
        source: ImageReference,
        repository: RepositoryImportSpec,
        result: ImportResult,
    ) -> None:
        """Every tag of the remote repository, up to ``max_tags``; the rest are reported."""
        policy = repository.importPolicy
        try:
            client = await self.upstreams.client(namespace, source, policy.insecure)
            tags = sorted(await client.tags(source.repository))
        except UpstreamError as exc:
            result.repository_error = exc
            return
        result.additional_tags = tags[self.max_tags :]
        for tag in tags[: self.max_tags]:
            item = TagImport(
                tag,
                source.with_tag(tag),
                policy,
                repository.referencePolicy,
                repository.includeManifest,
            )
            await self._fetch(namespace, item)
            result.repository.append(item)

    # --- reading the upstream --------------------------------------------------------------

    async def _fetch(self, namespace: str, item: TagImport) -> None:
        policy = item.import_policy
        try:
            client = await self.upstreams.client(namespace, item.source, policy.insecure)
            item.fetched = await self._fetch_manifest(
                client, item.source, item.source.reference, policy.importMode
            )
        except UpstreamError as exc:
            item.error = exc

    async def _fetch_manifest(
        self, client: UpstreamClient, source: ImageReference, reference: str, mode: str
    ) -> Fetched:
        remote = await client.manifest(source.repository, reference)
        try:
            manifest = parse_manifest(remote.content, remote.media_type)
        except RegistryError as exc:
            raise UpstreamError(
                f"{source}: the upstream manifest is invalid: {exc.message}"
            ) from None
        pinned = source.with_digest(str(remote.digest))
        if not manifest.is_index:
            config = await self._fetch_config(client, source, manifest.config)
            return Fetched(pinned, str(remote.digest), remote.content, manifest, config)
        if mode == "PreserveOriginal":
            children = [
                await self._fetch_manifest(client, source, str(child.digest), mode)
                for child in manifest.manifests
            ]
            return Fetched(
                pinned, str(remote.digest), remote.content, manifest, children=tuple(children)
            )
        chosen = preferred_child(manifest.manifests)
        if chosen is None:
            raise UpstreamError(f"{source}: the index lists no manifests")
        return await self._fetch_manifest(client, source, str(chosen.digest), mode)

    async def _fetch_config(
        self, client: UpstreamClient, source: ImageReference, config: Descriptor | None
    ) -> bytes | None:
        if config is None or config.size > MAX_CONFIG_SIZE:
            return None
        data = bytearray()
        hasher = Hasher(config.digest.algorithm)
        async for chunk in await client.blob(source.repository, str(config.digest)):
            data += chunk
            hasher.update(chunk)
            if len(data) > config.size:
                break
        if len(data) != config.size or hasher.digest() != config.digest:
            raise UpstreamError(
                f"{source}: the config blob {config.digest} does not match its digest"
            )
        return bytes(data)

    # --- storing ---------------------------------------------------------------------------

    async def commit(self, namespace: str, stream: str, items: Sequence[TagImport]) -> None:
        """Store the fetched images and move the tags, the stream's spec with them, at once."""
        for item in items:
            assert item.fetched is not None
            for fetched in item.fetched.all():
                await self._put(str(fetched.digest), fetched.content)
                if fetched.config is not None and fetched.manifest.config is not None:
                    await self._put(str(fetched.manifest.config.digest), fetched.config)
        repository = f"{namespace}/{stream}"
        async with self.db.write() as conn:
            repository_id = await repositories.ensure(conn, repository, lock=True)
            await stream_rows.ensure_uid(conn, repository_id)
            row = await stream_rows.get(conn, repository, for_update=True)
            spec = dict(row.spec or {"lookupPolicy": {"local": False}, "tags": []})
            old_tags: list[JSON] = list(spec.get("tags") or [])
            entries = {item.tag: item.spec_entry() for item in items}
            changed = any(
                {k: v for k, v in t.items() if k != "generation"} != entries[t["name"]]
                for t in old_tags
                if t["name"] in entries
            ) or not entries.keys() <= {t["name"] for t in old_tags}
            generation = row.generation + (1 if changed else 0)
            for entry in entries.values():
                entry["generation"] = generation
            kept = [t for t in old_tags if t["name"] not in entries]
            spec["tags"] = sorted([*kept, *entries.values()], key=lambda t: str(t["name"]))
            await stream_rows.save_object_fields(
                conn,
                repository_id,
                spec=spec,
                labels=row.labels or {},
                annotations=row.annotations or {},
                generation=generation,
            )
            for item in items:
                assert item.fetched is not None
                for fetched in item.fetched.all():
                    await self._record(conn, repository_id, fetched)
                await tag_rows.move(conn, repository_id, item.tag, item.fetched.digest)
            await stream_rows.touch(conn, repository_id, repository)
        for item in items:
            await self._remember(namespace, stream, item.tag, None, generation)

    async def reimport(self, namespace: str, stream: str, entry: JSON) -> None:
        """Import a spec tag again (a scheduled import); a failure becomes the tag's
        ``ImportSuccess`` condition, as it does in OpenShift."""
        try:
            source = parse_image_reference(entry["from"]["name"])
        except ReferenceError as exc:
            await self._failed(namespace, stream, entry, UpstreamError(str(exc)))
            return
        item = TagImport(
            entry["name"],
            source,
            TagImportPolicy.model_validate(entry.get("importPolicy") or {}),
            TagReferencePolicy.model_validate(entry.get("referencePolicy") or {}),
            spec=entry,
        )
        await self._fetch(namespace, item)
        if item.error is not None:
            await self._failed(namespace, stream, entry, item.error)
            return
        assert item.fetched is not None
        async with self.db.read() as conn:
            current = await tag_rows.resolve(conn, f"{namespace}/{stream}", item.tag)
        generation = int(entry.get("generation") or 0)
        if current != item.fetched.digest:
            await self.commit(namespace, stream, [item])
        elif await self._remember(namespace, stream, item.tag, None, generation):
            await self._touch(namespace, stream)  # it works again: the condition is gone

    async def _failed(self, namespace: str, stream: str, entry: JSON, error: UpstreamError) -> None:
        generation = int(entry.get("generation") or 0)
        if await self._remember(namespace, stream, entry["name"], error, generation):
            await self._touch(namespace, stream)

    async def _touch(self, namespace: str, stream: str) -> None:
        """A new resourceVersion for the stream, whose status changed (watches see it)."""
        repository = f"{namespace}/{stream}"
        async with self.db.write() as conn:
            repository_id = await repositories.find_id(conn, repository, lock=True)
            if repository_id is not None:
                await stream_rows.touch(conn, repository_id, repository)

    async def _remember(
        self,
        namespace: str,
        stream: str,
        tag: str,
        error: UpstreamError | None,
        generation: int,
    ) -> bool:
        """Store when the tag was last tried, for which spec generation, and how it went; True
        if its conditions changed."""
        name = importstatus.name_of(stream, tag)
        now = time.time()
        found = await self.status.find(importstatus.TAG_IMPORTS, namespace, name)
        before = list((found or {}).get("conditions") or [])
        conditions = [] if error is None else [_condition(error, generation, before)]
        body = {"lastAttempt": now, "generation": generation, "conditions": conditions}
        if found is None:
            with contextlib.suppress(StatusError):  # else a concurrent import created it
                await self.status.create(importstatus.TAG_IMPORTS, namespace, name, body)
                return conditions != before
        await self.status.replace(importstatus.TAG_IMPORTS, namespace, name, lambda _: body)
        return conditions != before

    async def _put(self, digest: str, content: bytes) -> None:
        path = blob_path(parse_digest(digest))
        if not await self.storage.exists(path):
            await self.storage.put_content(path, content)

    async def _record(self, conn: AsyncConnection, repository_id: int, fetched: Fetched) -> None:
        """Record what was stored; bytes that garbage collection took since are put back,
        after the rows are refreshed, as pushes do."""
        manifest = fetched.manifest
        stored = [(fetched.digest, fetched.content)]
        if fetched.config is not None and manifest.config is not None:
            stored.append((str(manifest.config.digest), fetched.config))
        for digest, content in stored:
            await blob_rows.record(conn, digest, len(content))
            await self._put(digest, content)
            await blob_rows.link(conn, repository_id, digest)
        await image_rows.record(
            conn,
            digest=fetched.digest,
            media_type=manifest.media_type,
            size=len(fetched.content),
            config_digest=str(manifest.config.digest) if manifest.config else None,
            artifact_type=manifest.artifact_type,
            subject_digest=str(manifest.subject.digest) if manifest.subject else None,
            annotations=dict(manifest.annotations),
            references=manifest_references(manifest),
            managed=False,
        )
        await image_rows.add_to_repository(conn, repository_id, fetched.digest)

    # --- rendering -------------------------------------------------------------------------

    def _render_item(self, item: TagImport) -> JSON:
        entry: JSON = {"tag": item.tag, "status": _status(item.error)}
        if item.fetched is not None:
            entry["image"] = render_image(item.fetched, item.include_manifest)
            if item.fetched.children:
                entry["manifests"] = [
                    render_image(c, item.include_manifest) for c in item.fetched.children
                ]
        return entry


def preferred_child(children: Sequence[Descriptor]) -> Descriptor | None:
    """``Legacy`` mode's choice: this machine's architecture on linux, then linux/amd64, then
    the first."""
    machine = host_platform.machine().lower()
    wanted = [("linux", ARCHITECTURES.get(machine, machine)), ("linux", "amd64")]
    for os_name, architecture in wanted:
        for child in children:
            found = child.platform
            if found is not None and (found.os, found.architecture) == (os_name, architecture):
                return child
    return children[0] if children else None


def render_image(fetched: Fetched, include_manifest: bool = False) -> JSON:
    """The Image an import produced, as the resource API shows images; with
    ``include_manifest`` (``spec.images[].includeManifest``) its raw manifest too."""
    manifest = fetched.manifest
    body: JSON = {
        "kind": "Image",
        "apiVersion": API_VERSION,
        "metadata": {"name": fetched.digest},
        "dockerImageReference": str(fetched.source),
        "dockerImageManifestMediaType": manifest.media_type,
        "dockerImageMetadataVersion": "1.0",
    }
    if include_manifest:
        body["dockerImageManifest"] = fetched.content.decode()
    if manifest.is_index:
        body["dockerImageManifests"] = [
            {
                "digest": str(child.digest),
                "mediaType": child.media_type,
                "manifestSize": child.size,
                "architecture": child.platform.architecture if child.platform else "",
                "os": child.platform.os if child.platform else "",
                "variant": (child.platform.variant or "") if child.platform else "",
            }
            for child in manifest.manifests
        ]
        return body
    body["dockerImageLayers"] = [
        {"name": str(layer.digest), "size": layer.size, "mediaType": layer.media_type}
        for layer in manifest.layers
    ]
    if fetched.config is not None:
        body["dockerImageMetadata"] = _config_metadata(fetched)
    return body


def _config_metadata(fetched: Fetched) -> JSON:
    assert fetched.config is not None and fetched.manifest.config is not None
    size = sum(layer.size for layer in fetched.manifest.layers) + len(fetched.config)
    return docker_image_metadata(str(fetched.manifest.config.digest), size, fetched.config)


def _condition(error: UpstreamError, generation: int, before: list[JSON]) -> JSON:
    """``ImportSuccess: False``; its transition time stays while it stays failed."""
    status = _status(error)
    previous = next((c for c in before if c.get("type") == "ImportSuccess"), None)
    return {
        "type": "ImportSuccess",
        "status": "False",
        "lastTransitionTime": (previous or {}).get("lastTransitionTime")
        or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": status["reason"],
        "message": status["message"],
        "generation": generation,
    }


def _status(error: UpstreamError | None) -> JSON:
    """A ``metav1.Status`` for one image, as OpenShift reports import results."""
    if error is None:
        return {"status": "Success", "metadata": {}}
    reason, code = {
        401: ("Unauthorized", 401),
        403: ("Forbidden", 403),
        404: ("NotFound", 404),
        429: ("TooManyRequests", 429),
    }.get(error.status or 0, ("InternalError", 500))
    return {
        "status": "Failure",
        "metadata": {},
        "message": error.message,
        "reason": reason,
        "code": code,
    }
