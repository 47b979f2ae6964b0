"""The CAs the cluster trusts for outbound TLS: ``spec.additionalTrustedCA`` of the cluster
image config (``images.config.openshift.io/cluster``).

It names a config map in ``openshift-config`` whose keys are hosts (``host``, or ``host..5000``
for ``host:5000``) and values PEM bundles trusted for that host, on top of the system's CAs.
Imports, pull-through and webhook deliveries all read it here, so they agree on what is trusted.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping
from types import MappingProxyType

from dockyard.metadata.resources import CONFIG_MAP, JSON, ResourceStore, ResourceType

IMAGE_CONFIG = ResourceType("config.openshift.io", "Image", "images", namespaced=False)
CLUSTER = "cluster"
CONFIG_NAMESPACE = "openshift-config"
REFRESH = 5.0
"""Seconds a read of the bundles serves before the config map is read again."""

Bundles = Mapping[str, str]
"""PEM bundles by lowercase ``host`` or ``host:port``."""

NO_BUNDLES: Bundles = MappingProxyType({})

logger = logging.getLogger(__name__)


def config_map_name(image_config: JSON | None) -> str:
    """The config map ``spec.additionalTrustedCA`` names ("" when none)."""
    spec = (image_config or {}).get("spec")
    reference = spec.get("additionalTrustedCA") if isinstance(spec, dict) else None
    name = reference.get("name") if isinstance(reference, dict) else None
    return name if isinstance(name, str) else ""


async def bundles_of(store: ResourceStore, image_config: JSON | None) -> Bundles:
    """The bundles the given cluster image config names (none when it names no config map)."""
    name = config_map_name(image_config)
    if not name:
        return NO_BUNDLES
    found = await store.find(CONFIG_MAP, CONFIG_NAMESPACE, name)
    data = (found or {}).get("data") or {}
    return MappingProxyType({key.replace("..", ":").lower(): pem for key, pem in data.items()})


async def cluster_bundles(store: ResourceStore) -> Bundles:
    """The bundles of the cluster image config as it is now."""
    return await bundles_of(store, await store.find(IMAGE_CONFIG, None, CLUSTER))


def bundle_for(bundles: Bundles, host: str, port: int | None = None) -> str | None:
    """The bundle for ``host:port`` if there is one, else for ``host`` alone."""
    host = host.lower()
    if port is not None and (found := bundles.get(f"{host}:{port}")) is not None:
        return found
    return bundles.get(host)


def client_context(bundle: str | None) -> ssl.SSLContext:
    """A client context trusting the system's CAs plus ``bundle``; ValueError when the bundle
    holds no PEM certificate."""
    context = ssl.create_default_context()
    if bundle:
        try:
            context.load_verify_locations(cadata=bundle)
        except (ssl.SSLError, ValueError):
            raise ValueError("the trusted CA bundle is not a PEM certificate") from None
    return context


class TrustedCAs:
    """The cluster's bundles for long-running clients, read at most every ``refresh`` seconds.

    A failed read keeps the bundles last read: a database hiccup should not distrust a host.
    """

    def __init__(self, store: ResourceStore, *, refresh: float = REFRESH) -> None:
        self.store = store
        self.refresh = refresh
        self._bundles = NO_BUNDLES
        self._read_at: float | None = None

    async def bundles(self) -> Bundles:
        now = time.monotonic()
        if self._read_at is None or now - self._read_at >= self.refresh:
            self._read_at = now
            try:
                self._bundles = await cluster_bundles(self.store)
            except Exception:
                logger.warning("cannot read the trusted CA bundles", exc_info=True)
        return self._bundles
