"""One routed ``/v2`` request: what the handlers receive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from dockyard.auth.access import Access, Authorizer, Principal
from dockyard.auth.bearer import SERVICE
from dockyard.auth.scopes import challenge_scope
from dockyard.errors import DeniedError, UnauthorizedError
from dockyard.events.pulls import PullRecorder
from dockyard.observability.logging import current_request_id
from dockyard.registry.blobs import BlobService
from dockyard.registry.images import ImageService
from dockyard.registry.listing import ListingService
from dockyard.registry.uploads import UploadService


@dataclass(frozen=True)
class Services:
    blobs: BlobService
    uploads: UploadService
    images: ImageService
    listing: ListingService
    authorizer: Authorizer
    secret: bytes
    base_url: str = ""
    pulls: PullRecorder | None = None
    """Records pull events for webhooks; None when no endpoint wants them."""
    changed: Callable[[], None] | None = None
    """Called after a handler commits a change: wakes this worker's webhook delivery."""


@dataclass(frozen=True)
class Call:
    request: Request
    services: Services
    principal: Principal
    name: str
    arg: str

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params)

    def origin(self) -> dict[str, Any]:
        """Who asked and how, as Distribution's event envelopes report it."""
        request = self.request
        return {
            "actor": self.principal.name,
            "request": {
                "id": current_request_id.get() or "",
                "addr": request.client.host if request.client else "",
                "host": request.headers.get("host", ""),
                "method": request.method,
                "useragent": request.headers.get("user-agent", ""),
            },
        }

    def location(self, path: str) -> str:
        """A ``Location`` for ``path``: absolute when ``http.host`` is set, else relative."""
        return f"{self.services.base_url}{path}"

    async def require(self, access: Access, *, also: Sequence[Access] = ()) -> None:
        """Stop the request unless it may do ``access``.

        Anonymous callers get 401 with a challenge naming the scope, so the client logs in and
        fetches a token that covers it; a known principal whose roles deny it gets 403. ``also``
        names the other scopes the challenge asks for, as Distribution's does: a push needs
        ``pull,push`` (a client caches the token and reuses it to check blobs), and a mount the
        source's pull.
        """
        if await self.services.authorizer.allows(self.principal, access):
            return
        detail = [{"Type": access.type, "Name": access.name, "Action": access.action}]
        if not self.principal.authenticated:
            raise UnauthorizedError(
                detail=detail, headers=challenge(self.request, self.services, [*also, access])
            )
        raise DeniedError(detail=detail)

    async def allowed(self, access: Access) -> bool:
        return await self.services.authorizer.allows(self.principal, access)


def realm(request: Request, services: Services) -> str:
    base = services.base_url or f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"
    return f"{base}/openshift/token"


def challenge(request: Request, services: Services, accesses: list[Access]) -> dict[str, str]:
    value = f'Bearer realm="{realm(request, services)}",service="{SERVICE}"'
    if accesses:
        value += f',scope="{challenge_scope(accesses)}"'
    return {"WWW-Authenticate": value}
