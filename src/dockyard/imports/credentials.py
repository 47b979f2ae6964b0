"""Upstream credentials from a project's pull secrets (``kubernetes.io/dockerconfigjson``).

As in OpenShift, every such secret of the project is a candidate, in name order; the first whose
``auths`` names the registry wins. Keys are matched by host, whatever scheme or path Docker wrote
around them (``https://index.docker.io/v1/`` is Docker Hub).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import urlsplit

from dockyard.imports.client import Credentials
from dockyard.imports.reference import DOCKER_HUB
from dockyard.metadata.resources import SECRET, ResourceStore

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})


def registry_key(key: str) -> str:
    """The host of an ``auths`` key: ``https://host:5000/v1/`` is ``host:5000``."""
    host = urlsplit(key if "://" in key else f"//{key}").netloc.lower()
    return DOCKER_HUB if host in HUB_ALIASES else host


def auths_of(secret: dict[str, Any]) -> dict[str, Any]:
    """The ``auths`` map of a pull secret; ``{}`` for any other secret or bad data."""
    kind = secret.get("type")
    field = {DOCKER_CONFIG_JSON: ".dockerconfigjson", DOCKER_CFG: ".dockercfg"}.get(str(kind))
    encoded = (secret.get("data") or {}).get(field or "")
    if not isinstance(encoded, str):
        return {}
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(document, dict):
        return {}
    auths = document.get("auths") if kind == DOCKER_CONFIG_JSON else document
    return auths if isinstance(auths, dict) else {}


def credentials_in(auths: dict[str, Any], registry: str) -> Credentials | None:
    wanted = DOCKER_HUB if registry.lower() in HUB_ALIASES else registry.lower()
    for key, entry in auths.items():
        if registry_key(key) != wanted or not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if isinstance(entry.get("auth"), str):
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, ValueError):
                continue
        if isinstance(username, str) and isinstance(password, str) and username:
            return Credentials(username, password)
    return None


class PullSecrets:
    """A ``CredentialLookup`` over the pull secrets of each project."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    async def __call__(self, namespace: str, registry: str) -> Credentials | None:
        for secret in await self.store.list(SECRET, namespace):
            found = credentials_in(auths_of(secret), registry)
            if found is not None:
                return found
        return None
