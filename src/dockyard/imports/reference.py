"""Pull specs of images in other registries: ``[host[:port]/]path[:tag][@digest]``.

Docker's rules decide what is a host: a first component with a ``.`` or ``:``, or
``localhost``. Without one the image is on Docker Hub, where a single component is short for
``library/<name>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import RegistryError
from dockyard.registry.digest import parse_digest
from dockyard.registry.reference import TAG_RE

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
PATH_RE = re.compile(rf"{COMPONENT}(?:/{COMPONENT})*")
HOST_RE = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")


class ReferenceError(ValueError):
    """A pull spec that can't name an image; the message says why."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def endpoint(self) -> str:
        """The host to connect to (Docker Hub's API lives on another name)."""
        return DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What ``/v2/<name>/manifests/<reference>`` takes: the digest, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def repository_spec(self) -> str:
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, tag)

    def with_digest(self, digest: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, digest=digest)

    def __str__(self) -> str:
        text = self.repository_spec
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_reference(text: str) -> ImageReference:
    """Parse a pull spec; a missing tag and digest is left empty (``latest`` when fetched)."""
    rest, at, digest = text.partition("@")
    if at:
        try:
            parse_digest(digest)
        except RegistryError as exc:
            raise ReferenceError(f"{text!r}: {exc.message}") from None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag = ""
    head, colon, tail = path.rpartition(":")
    if colon and "/" not in tail:
        path, tag = head, tail
    if not HOST_RE.fullmatch(registry):
        raise ReferenceError(f"{text!r}: {registry!r} is not a registry host")
    if not PATH_RE.fullmatch(path):
        raise ReferenceError(f"{text!r}: the repository must be lowercase components joined by '/'")
    if tag and not TAG_RE.fullmatch(tag):
        raise ReferenceError(f"{text!r}: {tag!r} is not a valid tag")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageReference(registry, path, tag, digest if at else "")
