"""Repository names, tags and references, and the limits that keep names out of other paths."""

from __future__ import annotations

import re

from dockyard.errors import NameInvalidError, TagInvalidError
from dockyard.registry.digest import Digest, parse_digest

COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{COMPONENT}(?:/{COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    """Check a repository name ``<project>/<name>[/<more>]``; return it unchanged."""
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalidError(
            f"repository name is {len(name)} characters long; at most {MAX_NAME_LENGTH} allowed",
            detail={"name": name[:300]},
        )
    if not NAME_RE.fullmatch(name):
        raise NameInvalidError(
            "invalid repository name: components are lowercase letters and digits, separated by"
            " '.', '_', '__' or dashes, and joined by '/'",
            detail={"name": name},
        )
    if "/" not in name:
        raise NameInvalidError(
            f"repository name {name!r} must have the form <project>/<name>: push to, for"
            f" example, {name}/{name}",
            detail={"name": name},
        )
    return name


def project_of(name: str) -> str:
    return name.split("/", 1)[0]


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise TagInvalidError(
            "invalid tag: up to 128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'",
            detail={"tag": tag[:200]},
        )
    return tag


def parse_reference(reference: str) -> Digest | str:
    """A manifest reference is a digest when it contains ':', otherwise a tag."""
    if ":" in reference:
        return parse_digest(reference)
    return validate_tag(reference)
