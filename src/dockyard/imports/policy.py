"""The cluster image config (``images.config.openshift.io/cluster``) as imports obey it.

``spec.registrySources``: ``blockedRegistries`` are refused, and when ``allowedRegistries`` is
set nothing else is allowed; ``insecureRegistries`` may be reached over plain HTTP or with an
untrusted certificate. Entries are ``host[:port]`` or ``host[:port]/path`` (a repository and
what is below it), and ``*.example.com`` stands for every subdomain, as in OpenShift.

``spec.additionalTrustedCA`` gives the CAs trusted per registry host, read by
``dockyard.operator.trust`` as for every outbound connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dockyard.imports.client import UpstreamError
from dockyard.imports.reference import ImageReference
from dockyard.metadata.resources import ResourceStore
from dockyard.operator.trust import CLUSTER, IMAGE_CONFIG, NO_BUNDLES, Bundles, bundles_of

WHERE = "images.config.openshift.io/cluster spec.registrySources"


class RegistrySources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowedRegistries: list[str] | None = None
    blockedRegistries: list[str] | None = None
    insecureRegistries: list[str] | None = None
    containerRuntimeSearchRegistries: list[str] | None = None


class LocalReference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""


class ImageConfigSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registrySources: RegistrySources = Field(default_factory=RegistrySources)
    additionalTrustedCA: LocalReference | None = None
    externalRegistryHostnames: list[str] | None = None


def matches(entry: str, reference: ImageReference) -> bool:
    """Whether a registry sources entry covers the image."""
    entry = entry.strip().lower().rstrip("/")
    host, slash, path = entry.partition("/")
    registry = reference.registry.lower()
    if host.startswith("*."):
        host_ok = registry.endswith(host[1:]) and registry != host[2:]
    else:
        host_ok = registry == host
    if not host_ok:
        return False
    return not slash or reference.repository == path or reference.repository.startswith(f"{path}/")


@dataclass(frozen=True)
class RegistryPolicy:
    sources: RegistrySources
    trusted_ca: Bundles = field(default_factory=lambda: NO_BUNDLES)
    """PEM bundles by registry host (``host:port``)."""

    def ca_for(self, registry: str) -> str | None:
        return self.trusted_ca.get(registry.lower())

    def check(self, reference: ImageReference) -> bool:
        """Raise unless the image may be imported; True when its registry is insecure."""
        blocked = self.sources.blockedRegistries or []
        if any(matches(entry, reference) for entry in blocked):
            raise UpstreamError(
                f"{reference.registry} is blocked: it is in {WHERE}.blockedRegistries", 403
            )
        allowed = self.sources.allowedRegistries
        if allowed and not any(matches(entry, reference) for entry in allowed):
            raise UpstreamError(
                f"{reference.repository_spec} is not allowed: it is not in"
                f" {WHERE}.allowedRegistries",
                403,
            )
        return any(matches(entry, reference) for entry in self.sources.insecureRegistries or [])


async def cluster_policy(store: ResourceStore) -> RegistryPolicy:
    """The policy of the cluster image config now; no config allows everything."""
    found = await store.find(IMAGE_CONFIG, None, CLUSTER)
    try:
        spec = ImageConfigSpec.model_validate((found or {}).get("spec") or {})
    except ValidationError:
        spec = ImageConfigSpec()
    return RegistryPolicy(spec.registrySources, await bundles_of(store, found))
