"""Media types of manifests and the ``Accept`` negotiation that picks what a client can read."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = IMAGE_MANIFESTS | INDEXES


def accepted_types(accept_headers: list[str]) -> set[str]:
    """The media types named in every ``Accept`` header, without parameters."""
    types: set[str] = set()
    for header in accept_headers:
        for part in header.split(","):
            media_type = part.split(";", 1)[0].strip().lower()
            if media_type:
                types.add(media_type)
    return types


def is_acceptable(media_type: str, accepted: set[str]) -> bool:
    """Whether a stored manifest may be served to a client that sent ``accepted``.

    Like Distribution, a client that names no manifest type at all gets what is stored; OCI and
    Docker schema2 content is served even when only the other family is listed, because clients
    that send only one family (old Docker) still parse both. An index is withheld only from a
    client that lists image manifests and no index type, so it can be told the tag is a list.
    """
    if not accepted & MANIFESTS or media_type in accepted or "*/*" in accepted:
        return True
    if media_type in INDEXES:
        return bool(accepted & INDEXES)
    return True
