"""Manifest parsing and validation: pure functions over the pushed bytes, no storage.

Everything a client can get wrong raises ``ManifestInvalidError`` whose message names the JSON
path at fault, so a failed push says what to fix. Existence checks (blobs, child manifests) are the
service's job; ``ParsedManifest.blob_references`` tells it which blobs to look for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from dockyard.errors import ManifestInvalidError, RegistryError
from dockyard.registry.digest import Digest, digest_of, parse_digest
from dockyard.registry.mediatypes import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    INDEXES,
    MANIFESTS,
    OCI_INDEX,
    OCI_MANIFEST,
)

# Layers that clients fetch from their ``urls`` rather than from the registry, so a manifest may
# name them without the blob being pushed (Distribution's schema2 and ocischema handlers).
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_NONDISTRIBUTABLE_LAYERS = frozenset(
    {
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
FOREIGN_LAYERS = OCI_NONDISTRIBUTABLE_LAYERS | {DOCKER_FOREIGN_LAYER}

# Content types that say nothing about the manifest, so the body's ``mediaType`` decides.
GENERIC_CONTENT_TYPES = frozenset({"", "application/json", "application/octet-stream"})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
DOCKER_TYPES = frozenset({DOCKER_MANIFEST, DOCKER_MANIFEST_LIST})

# RFC 6838 section 4.2 as the image spec's JSON schema writes it (defs-descriptor.json).
MEDIA_TYPE_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)
MAX_SIZE = 2**63 - 1  # descriptors carry an int64 size in every Go client

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Platform:
    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = None


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: Mapping[str, str]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEXES

    def blob_references(self) -> tuple[Descriptor, ...]:
        """The config and layers that must already be blobs in the repository, each digest once.

        Foreign and non-distributable layers are left out: clients download them from their
        ``urls``, so the registry never holds them (Distribution skips them too).
        """
        if self.config is None:
            return ()
        seen: set[Digest] = set()
        wanted: list[Descriptor] = []
        for descriptor in (self.config, *self.layers):
            if descriptor.media_type in FOREIGN_LAYERS or descriptor.digest in seen:
                continue
            seen.add(descriptor.digest)
            wanted.append(descriptor)
        return tuple(wanted)


def parse_manifest(content: bytes, content_type: str | None) -> ParsedManifest:
    """Parse and validate a pushed manifest; ``content_type`` is the request's header."""
    declared = _normalise_content_type(content_type)
    if declared in SCHEMA1_TYPES:
        _refuse_schema1()
    body = _load_object(content)
    body_type = _optional_str(body, "mediaType", "mediaType")
    version = body.get("schemaVersion")
    if body_type in SCHEMA1_TYPES or (type(version) is int and version == 1):
        _refuse_schema1()
    if type(version) is not int or version != 2:
        raise ManifestInvalidError(
            f"schemaVersion must be the integer 2, got {_show(version)}",
            detail={"schemaVersion": _show(version)},
        )
    media_type = _manifest_type(declared, body_type, body)
    if media_type in INDEXES:
        return _parse_index(body, media_type)
    return _parse_image_manifest(body, media_type)


def _refuse_schema1() -> NoReturn:
    raise ManifestInvalidError(
        "Docker schema1 manifests are not supported: push a Docker schema2 or OCI manifest"
        " (for example with a current docker, podman, skopeo or crane)",
        detail={"supported": sorted(MANIFESTS)},
    )


def _normalise_content_type(content_type: str | None) -> str:
    # The distribution spec says registries SHOULD ignore parameters on the Content-Type.
    if content_type is None:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _manifest_type(declared: str, body_type: str | None, body: dict[str, Any]) -> str:
    """Pick the manifest type from the header and the body, refusing any disagreement."""
    if declared not in GENERIC_CONTENT_TYPES:
        if declared not in MANIFESTS:
            raise ManifestInvalidError(
                f"unsupported manifest media type {declared[:200]!r} in Content-Type",
                detail={"mediaType": declared[:200], "supported": sorted(MANIFESTS)},
            )
        if body_type is not None and body_type != declared:
            raise ManifestInvalidError(
                f"mediaType {body_type[:200]!r} in the manifest does not match the Content-Type"
                f" {declared!r}",
                detail={"mediaType": body_type[:200], "contentType": declared},
            )
        media_type = declared
    elif body_type is not None:
        if body_type not in MANIFESTS:
            raise ManifestInvalidError(
                f"unsupported manifest media type {body_type[:200]!r}",
                detail={"mediaType": body_type[:200], "supported": sorted(MANIFESTS)},
            )
        media_type = body_type
    else:
        has_manifests = body.get("manifests") is not None
        has_config = body.get("config") is not None
        if has_manifests and has_config:
            raise ManifestInvalidError(
                "cannot tell an index from an image manifest: the document has both 'manifests'"
                " and 'config'; set mediaType or the Content-Type"
            )
        if has_manifests:
            media_type = OCI_INDEX
        elif has_config:
            media_type = OCI_MANIFEST
        else:
            raise ManifestInvalidError(
                "cannot determine the manifest type: set the Content-Type header or mediaType,"
                " or include 'config' (image manifest) or 'manifests' (index)"
            )
    if media_type in DOCKER_TYPES and body_type is None:
        raise ManifestInvalidError(
            f"mediaType is required in a {media_type} manifest",
            detail={"mediaType": media_type},
        )
    return media_type


def _parse_image_manifest(body: dict[str, Any], media_type: str) -> ParsedManifest:
    # CVE-2021-41190: a document must not be readable as both an index and a manifest.
    if body.get("manifests") is not None:
        raise ManifestInvalidError(
            "an image manifest must not have 'manifests' (that field belongs to an index)"
        )
    if "config" not in body or body["config"] is None:
        raise ManifestInvalidError("config is required in an image manifest")
    config = _descriptor(body["config"], "config")
    layers_raw = body.get("layers")
    if not isinstance(layers_raw, list):
        raise ManifestInvalidError(
            f"layers must be a list of descriptors, got {_show(layers_raw)}"
            " (use [] for an artifact without layers)"
        )
    layers = tuple(_descriptor(item, f"layers[{i}]") for i, item in enumerate(layers_raw))
    for i, layer in enumerate(layers):
        if layer.media_type in FOREIGN_LAYERS:
            _check_foreign_urls(layer, f"layers[{i}]", layers_raw[i])
    is_oci = media_type == OCI_MANIFEST
    artifact_type = _artifact_type(body) if is_oci else None
    return ParsedManifest(
        media_type=media_type,
        config=config,
        layers=layers,
        manifests=(),
        subject=_subject(body) if is_oci else None,
        # Distribution spec, listing referrers: artifactType, else the config's media type.
        artifact_type=artifact_type or config.media_type,
        annotations=_annotations(body.get("annotations"), "annotations"),
    )


def _parse_index(body: dict[str, Any], media_type: str) -> ParsedManifest:
    for name in ("config", "layers"):
        if body.get(name) is not None:
            raise ManifestInvalidError(
                f"an index must not have '{name}' (that field belongs to an image manifest)"
            )
    children = body.get("manifests")
    if not isinstance(children, list):
        raise ManifestInvalidError(
            f"manifests must be a list of descriptors, got {_show(children)}"
        )
    is_oci = media_type == OCI_INDEX
    return ParsedManifest(
        media_type=media_type,
        config=None,
        layers=(),
        manifests=tuple(_descriptor(item, f"manifests[{i}]") for i, item in enumerate(children)),
        subject=_subject(body) if is_oci else None,
        artifact_type=_artifact_type(body) if is_oci else None,
        annotations=_annotations(body.get("annotations"), "annotations"),
    )


def _subject(body: dict[str, Any]) -> Descriptor | None:
    raw = body.get("subject")
    return None if raw is None else _descriptor(raw, "subject")


def _artifact_type(body: dict[str, Any]) -> str | None:
    value = _optional_str(body, "artifactType", "artifactType")
    if value is None or value == "":
        return None
    _check_media_type(value, "artifactType")
    return value


def _descriptor(raw: Any, path: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestInvalidError(
            f"{path} must be a descriptor object, got {_show(raw)}", detail={"field": path}
        )
    media_type = raw.get("mediaType")
    if not isinstance(media_type, str):
        raise _bad_descriptor(
            path, raw, f"{path}.mediaType must be a string, got {_show(media_type)}"
        )
    _check_media_type(media_type, f"{path}.mediaType")
    digest_raw = raw.get("digest")
    if not isinstance(digest_raw, str):
        raise _bad_descriptor(path, raw, f"{path}.digest must be a string, got {_show(digest_raw)}")
    try:
        digest = parse_digest(digest_raw)
    except RegistryError as exc:
        raise _bad_descriptor(path, raw, f"{path}.digest: {exc.message}") from None
    size = raw.get("size")
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        raise _bad_descriptor(
            path, raw, f"{path}.size must be an integer from 0 to {MAX_SIZE}, got {_show(size)}"
        )
    artifact_type = _optional_str(raw, "artifactType", f"{path}.artifactType")
    if artifact_type:
        _check_media_type(artifact_type, f"{path}.artifactType")
    urls_raw = raw.get("urls")
    urls: tuple[str, ...] = ()
    if urls_raw is not None:
        if not isinstance(urls_raw, list) or not all(isinstance(u, str) for u in urls_raw):
            raise _bad_descriptor(path, raw, f"{path}.urls must be a list of strings")
        urls = tuple(_text(u, f"{path}.urls") for u in urls_raw)
    if raw.get("data") is not None:
        _check_data(raw["data"], digest, size, path, raw)
    platform_raw = raw.get("platform")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=artifact_type or None,
        platform=None if platform_raw is None else _platform(platform_raw, f"{path}.platform"),
        annotations=_annotations(raw.get("annotations"), f"{path}.annotations"),
        urls=urls,
    )


def _check_data(data: Any, digest: Digest, size: int, path: str, raw: dict[str, Any]) -> None:
    """Embedded ``data`` must be the referenced content itself (image spec, descriptor.md)."""
    if not isinstance(data, str):
        raise _bad_descriptor(path, raw, f"{path}.data must be a base64 string")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_descriptor(path, raw, f"{path}.data is not valid base64") from None
    if len(decoded) != size:
        raise _bad_descriptor(
            path, raw, f"{path}.data decodes to {len(decoded)} bytes but size is {size}"
        )
    if digest_of(decoded, digest.algorithm) != digest:
        raise _bad_descriptor(path, raw, f"{path}.data does not match {path}.digest")


def _check_foreign_urls(layer: Descriptor, path: str, raw: dict[str, Any]) -> None:
    """A foreign layer is only usable through its URLs, which must be plain http(s)."""
    if not layer.urls:
        raise _bad_descriptor(
            path, raw, f"{path} has the foreign layer type {layer.media_type} but no urls"
        )
    for url in layer.urls:
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or parts.fragment:
            raise _bad_descriptor(
                path, raw, f"{path}.urls: {url[:200]!r} is not an http or https URL"
            )


def _platform(raw: Any, path: str) -> Platform:
    if not isinstance(raw, dict):
        raise ManifestInvalidError(
            f"{path} must be an object, got {_show(raw)}", detail={"field": path}
        )
    architecture = raw.get("architecture")
    os_name = raw.get("os")
    if not isinstance(architecture, str) or not isinstance(os_name, str):
        raise ManifestInvalidError(
            f"{path} needs string 'architecture' and 'os'", detail={"field": path}
        )
    features = raw.get("os.features")
    if features is not None and (
        not isinstance(features, list) or not all(isinstance(f, str) for f in features)
    ):
        raise ManifestInvalidError(
            f"{path}.os.features must be a list of strings", detail={"field": path}
        )
    variant = _optional_str(raw, "variant", f"{path}.variant")
    os_version = _optional_str(raw, "os.version", f"{path}.os.version")
    return Platform(
        architecture=_text(architecture, f"{path}.architecture"),
        os=_text(os_name, f"{path}.os"),
        variant=None if variant is None else _text(variant, f"{path}.variant"),
        os_version=None if os_version is None else _text(os_version, f"{path}.os.version"),
    )


def _annotations(raw: Any, path: str) -> Mapping[str, str]:
    if raw is None:
        return _EMPTY
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ManifestInvalidError(
            f"{path} must be a map of strings to strings", detail={"field": path}
        )
    for key, value in raw.items():
        _text(key, path)
        _text(value, f"{path}[{key!r}]")
    return MappingProxyType(dict(raw))


def _optional_str(raw: dict[str, Any], key: str, path: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ManifestInvalidError(
            f"{path} must be a string, got {_show(value)}", detail={"field": path}
        )
    return value


def _check_media_type(value: str, path: str) -> None:
    if MEDIA_TYPE_RE.fullmatch(value) is None:
        raise ManifestInvalidError(
            f"{path} {value[:200]!r} is not a media type (type/subtype, RFC 6838)",
            detail={"field": path, "value": value[:200]},
        )


def _text(value: str, path: str) -> str:
    # JSON may carry lone surrogates (\ud800) that no UTF-8 store or header can hold.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestInvalidError(
            f"{path} contains an invalid unicode escape (a lone surrogate)",
            detail={"field": path},
        ) from None
    return value


def _bad_descriptor(path: str, raw: dict[str, Any], message: str) -> ManifestInvalidError:
    return ManifestInvalidError(message, detail={"field": path, "descriptor": _summary(raw)})


def _summary(raw: dict[str, Any]) -> dict[str, Any]:
    """The identifying fields of a bad descriptor, bounded so the error body stays small."""
    summary: dict[str, Any] = {}
    for key in ("mediaType", "digest", "size"):
        value = raw.get(key)
        if isinstance(value, str):
            summary[key] = value[:200]
        elif type(value) is int and abs(value) <= MAX_SIZE:
            summary[key] = value
        elif key in raw:
            summary[key] = _show(value)  # strict JSON renderers refuse inf and NaN
    return summary


def _show(value: Any) -> str:
    """A short rendering of a bad value for a message; containers are named, never dumped."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _load_object(content: bytes) -> dict[str, Any]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestInvalidError(
            f"manifest is not valid UTF-8 (byte {exc.start})", detail={"offset": exc.start}
        ) from None
    try:
        body = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ManifestInvalidError(
            f"manifest is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            detail={"offset": exc.pos},
        ) from None
    except (ValueError, RecursionError) as exc:
        # Duplicate keys, NaN, integers past the conversion limit, nesting beyond the stack.
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise ManifestInvalidError(f"manifest is not valid JSON: {message[:200]}") from None
    if not isinstance(body, dict):
        kind = "a list" if isinstance(body, list) else "null" if body is None else _show(body)
        raise ManifestInvalidError(f"manifest must be a JSON object, got {kind}")
    return body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse duplicate keys: parsers disagree on which one wins, so the meaning is ambiguous."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:100]!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")
