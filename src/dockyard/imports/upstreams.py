"""The upstream clients of one worker: one per registry host, settings and credentials.

A project's credentials for a registry come from ``credentials(namespace, registry)``; the
clients are kept per host and credentials, so a token fetched once serves many requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from dockyard.imports.client import Credentials, UpstreamClient
from dockyard.imports.credentials import PullSecrets
from dockyard.imports.policy import RegistryPolicy, RegistrySources, cluster_policy
from dockyard.imports.reference import ImageReference
from dockyard.metadata.resources import ResourceStore

CredentialLookup = Callable[[str, str], Awaitable[Credentials | None]]
"""``(namespace, registry host) -> credentials``: the project's pull secret for the host."""


async def no_credentials(namespace: str, registry: str) -> Credentials | None:
    return None


async def allow_all() -> RegistryPolicy:
    return RegistryPolicy(RegistrySources())


class Upstreams:
    def __init__(
        self,
        credentials: CredentialLookup = no_credentials,
        policy: Callable[[], Awaitable[RegistryPolicy]] = allow_all,
    ) -> None:
        self.credentials = credentials
        self.policy = policy
        self._clients: dict[tuple[str, bool, Credentials | None, str | None], UpstreamClient] = {}

    @classmethod
    def from_store(cls, store: ResourceStore) -> Upstreams:
        """Credentials from the projects' pull secrets, rules from the cluster image config."""
        return cls(PullSecrets(store), partial(cluster_policy, store))

    async def client(
        self, namespace: str, reference: ImageReference, insecure: bool
    ) -> UpstreamClient:
        """A client for the image's registry, if the cluster image config allows it (which
        may also make it insecure)."""
        policy = await self.policy()
        insecure = policy.check(reference) or insecure
        ca_bundle = policy.ca_for(reference.registry)
        credentials = await self.credentials(namespace, reference.registry)
        key = (reference.endpoint, insecure, credentials, ca_bundle)
        found = self._clients.get(key)
        if found is None:
            found = UpstreamClient(
                reference.endpoint,
                insecure=insecure,
                credentials=credentials,
                ca_bundle=ca_bundle,
            )
            self._clients[key] = found
        return found

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
