"""Hand-made OCI image layouts for tests, standard library only.

``make_layout`` writes an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``)
holding one image per platform, each with N gzip'd tar layers, plus an image index when there
is more than one platform. skopeo copies such a layout with every digest kept, so a test can
follow each digest from the layout through the registry and back.

With ``docker=True`` the manifests, configs, layers and list use the Docker schema2 media
types. The ``oci:`` transport of containers/image only resolves tags whose ``index.json``
descriptor has an OCI media type, so Docker images are written in the format of the ``dir:``
transport instead: one directory per tag holding ``version``, ``manifest.json``,
``<hex>.manifest.json`` per list instance and ``<hex>`` per blob. skopeo copies that byte for
byte too. ``Layout.ref`` is the right reference either way.

Content is random, or reproducible when ``seed`` is given.

The media types and ``digest_of`` here are the ones every test module uses.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

REF_NAME = "org.opencontainers.image.ref.name"

ACCEPT_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])
"""An ``Accept`` header naming every manifest type, so a registry serves what it stores."""

Platform = tuple[str, str] | tuple[str, str, str]
"""``(os, architecture)`` or ``(os, architecture, variant)``."""

DEFAULT_PLATFORMS: tuple[Platform, ...] = (("linux", "amd64"),)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def canonical_json(value: object) -> bytes:
    """Compact JSON with sorted keys, the way most registries' clients serialise manifests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    """A piece of content addressed by digest (a layer, a config or a manifest)."""

    media_type: str
    data: bytes = field(repr=False)
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", digest_of(self.data))

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Image:
    """One single-platform image: its manifest, config and layers."""

    platform: Platform
    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def os(self) -> str:
        return self.platform[0]

    @property
    def architecture(self) -> str:
        return self.platform[1]

    @property
    def variant(self) -> str | None:
        return self.platform[2] if len(self.platform) > 2 else None

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """The config and the layers: everything the manifest references."""
        return (self.config, *self.layers)


@dataclass(frozen=True)
class Layout:
    """What ``make_layout`` wrote for one tag."""

    path: Path
    """The OCI layout directory, or for Docker images the ``dir:`` directory of this tag."""
    tag: str
    images: tuple[Image, ...]
    index: Blob | None
    """The image index (or Docker manifest list) when there is more than one platform."""
    transport: str = "oci"
    """``oci`` or ``dir``."""

    @property
    def top(self) -> Blob:
        """The manifest the tag points at: the index, or the only image manifest."""
        return self.index if self.index is not None else self.images[0].manifest

    @property
    def digest(self) -> str:
        return self.top.digest

    @property
    def media_type(self) -> str:
        return self.top.media_type

    @property
    def ref(self) -> str:
        """The skopeo reference of this tag: ``oci:DIR:TAG`` or ``dir:DIR``."""
        if self.transport == "dir":
            return f"dir:{self.path}"
        return f"oci:{self.path}:{self.tag}"

    @property
    def manifests(self) -> tuple[Blob, ...]:
        """Every manifest: the index first (if any), then each image manifest."""
        children = tuple(image.manifest for image in self.images)
        return (self.index, *children) if self.index is not None else children

    @property
    def blobs(self) -> dict[str, Blob]:
        """Every config and layer, by digest."""
        return {blob.digest: blob for image in self.images for blob in image.blobs}

    def image(self, architecture: str) -> Image:
        for image in self.images:
            if image.architecture == architecture:
                return image
        raise KeyError(architecture)


def _random_bytes(rng: random.Random | None, size: int) -> bytes:
    return rng.randbytes(size) if rng is not None else os.urandom(size)


def make_layer(
    files: dict[str, bytes], *, docker: bool = False, mtime: int = 0
) -> tuple[Blob, str]:
    """A gzip'd tar holding ``files``; returns the compressed blob and the uncompressed diff ID."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, compresslevel=1, mtime=0)
    media_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    return Blob(media_type, compressed), digest_of(uncompressed)


def make_image(
    platform: Platform,
    *,
    layers: int = 1,
    layer_size: int = 1024,
    docker: bool = False,
    rng: random.Random | None = None,
    annotations: dict[str, str] | None = None,
) -> Image:
    """One image for ``platform`` with ``layers`` layers of ``layer_size`` content bytes each."""
    blobs: list[Blob] = []
    diff_ids: list[str] = []
    for number in range(layers):
        content = _random_bytes(rng, layer_size)
        layer, diff_id = make_layer({f"layer{number}/data.bin": content}, docker=docker)
        blobs.append(layer)
        diff_ids.append(diff_id)
    os_name, architecture = platform[0], platform[1]
    config_doc: dict[str, object] = {
        "architecture": architecture,
        "os": os_name,
        "created": "2026-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2026-01-01T00:00:00Z", "created_by": f"layer {n}"} for n in range(layers)
        ],
    }
    if len(platform) > 2:
        config_doc["variant"] = platform[2]
    config = Blob(DOCKER_CONFIG if docker else OCI_CONFIG, canonical_json(config_doc))
    manifest_doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in blobs],
    }
    if annotations and not docker:
        manifest_doc["annotations"] = annotations
    manifest = Blob(str(manifest_doc["mediaType"]), canonical_json(manifest_doc))
    return Image(platform=platform, manifest=manifest, config=config, layers=tuple(blobs))


def platform_descriptor(platform: Platform) -> dict[str, str]:
    doc = {"architecture": platform[1], "os": platform[0]}
    if len(platform) > 2:
        doc["variant"] = platform[2]
    return doc


def make_index(images: list[Image] | tuple[Image, ...], *, docker: bool = False) -> Blob:
    """An OCI image index (or a Docker manifest list) over ``images``."""
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            image.manifest.descriptor(platform=platform_descriptor(image.platform))
            for image in images
        ],
    }
    return Blob(media_type, canonical_json(doc))


def write_blob(layout_dir: Path, blob: Blob) -> Path:
    algorithm, hex_digest = blob.digest.split(":", 1)
    path = layout_dir / "blobs" / algorithm / hex_digest
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(blob.data)
    return path


def make_layout(
    dir: Path | str,
    tag: str,
    layers: int = 1,
    platforms: list[Platform] | tuple[Platform, ...] = DEFAULT_PLATFORMS,
    docker: bool = False,
    seed: int | None = None,
    *,
    layer_size: int = 1024,
) -> Layout:
    """Write (or add ``tag`` to) an OCI image layout at ``dir``.

    One image per platform, each with ``layers`` layers; with more than one platform the tag points
    at an image index (a Docker manifest list when ``docker``). Returns every digest written. Docker
    images go to a ``dir:`` directory ``dir/tag`` (see the module docstring).
    """
    if not platforms:
        raise ValueError("at least one platform is needed")
    rng = random.Random(seed) if seed is not None else None
    images = tuple(
        make_image(platform, layers=layers, layer_size=layer_size, docker=docker, rng=rng)
        for platform in platforms
    )
    index = make_index(images, docker=docker) if len(images) > 1 else None
    if docker:
        return write_dir(Path(dir) / tag, tag, images, index)
    layout_dir = Path(dir)
    layout_dir.mkdir(parents=True, exist_ok=True)
    for image in images:
        for blob in (*image.blobs, image.manifest):
            write_blob(layout_dir, blob)
    if index is not None:
        write_blob(layout_dir, index)
    layout = Layout(path=layout_dir, tag=tag, images=images, index=index)
    _add_ref(layout_dir, tag, layout.top)
    return layout


def write_dir(path: Path, tag: str, images: tuple[Image, ...], index: Blob | None = None) -> Layout:
    """Write ``images`` (and ``index``) in the format of skopeo's ``dir:`` transport at ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    for image in images:
        for blob in image.blobs:
            (path / blob.digest.split(":", 1)[1]).write_bytes(blob.data)
        if index is not None:
            hex_digest = image.digest.split(":", 1)[1]
            (path / f"{hex_digest}.manifest.json").write_bytes(image.manifest.data)
    layout = Layout(path=path, tag=tag, images=images, index=index, transport="dir")
    (path / "manifest.json").write_bytes(layout.top.data)
    return layout


def _add_ref(layout_dir: Path, tag: str, top: Blob) -> None:
    (layout_dir / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = layout_dir / "index.json"
    if index_path.exists():
        doc = json.loads(index_path.read_text())
    else:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    doc["manifests"] = [
        entry for entry in doc["manifests"] if entry.get("annotations", {}).get(REF_NAME) != tag
    ]
    doc["manifests"].append(top.descriptor(annotations={REF_NAME: tag}))
    index_path.write_text(json.dumps(doc, indent=2))


def read_layout_ref(dir: Path | str, tag: str) -> dict[str, object]:
    """The descriptor that ``index.json`` of the layout at ``dir`` holds for ``tag``."""
    doc = json.loads((Path(dir) / "index.json").read_text())
    for entry in doc["manifests"]:
        if entry.get("annotations", {}).get(REF_NAME) == tag:
            return dict(entry)
    raise KeyError(tag)


def read_layout_blob(dir: Path | str, digest: str) -> bytes:
    """The bytes of ``digest`` in the layout at ``dir``; checks they match the digest."""
    algorithm, hex_digest = digest.split(":", 1)
    data = (Path(dir) / "blobs" / algorithm / hex_digest).read_bytes()
    if algorithm == "sha256" and digest_of(data) != digest:
        raise ValueError(f"blob {digest} in {dir} does not match its digest")
    return data


def read_dir_manifest(path: Path | str, digest: str | None = None) -> bytes:
    """The top manifest of a ``dir:`` directory, or the list instance ``digest``."""
    name = "manifest.json" if digest is None else f"{digest.split(':', 1)[1]}.manifest.json"
    return (Path(path) / name).read_bytes()


def read_dir_blob(path: Path | str, digest: str) -> bytes:
    """The bytes of blob ``digest`` in a ``dir:`` directory; checks they match the digest."""
    data = (Path(path) / digest.split(":", 1)[1]).read_bytes()
    if digest.startswith("sha256:") and digest_of(data) != digest:
        raise ValueError(f"blob {digest} in {path} does not match its digest")
    return data
