"""The upstream clients of one worker: one per registry host, settings and credentials.

A project's credentials for a registry come from ``credentials(namespace, registry)``; the
clients are kept per host and credentials, so a token fetched once serves many requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dockyard.imports.client import Credentials, UpstreamClient
from dockyard.imports.reference import ImageReference

CredentialLookup = Callable[[str, str], Awaitable[Credentials | None]]
"""``(namespace, registry host) -> credentials``: the project's pull secret for the host."""


async def no_credentials(namespace: str, registry: str) -> Credentials | None:
    return None


class Upstreams:
    def __init__(
        self,
        credentials: CredentialLookup = no_credentials,
        *,
        ca_bundle: str | None = None,
        proxy: str | None = None,
    ) -> None:
        self.credentials = credentials
        self.ca_bundle = ca_bundle
        self.proxy = proxy
        self._clients: dict[tuple[str, bool, Credentials | None], UpstreamClient] = {}

    async def client(
        self, namespace: str, reference: ImageReference, insecure: bool
    ) -> UpstreamClient:
        credentials = await self.credentials(namespace, reference.registry)
        key = (reference.endpoint, insecure, credentials)
        found = self._clients.get(key)
        if found is None:
            found = UpstreamClient(
                reference.endpoint,
                insecure=insecure,
                credentials=credentials,
                ca_bundle=self.ca_bundle,
                proxy=self.proxy,
            )
            self._clients[key] = found
        return found

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
