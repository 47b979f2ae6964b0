"""One routed ``/v2`` request: what the handlers receive."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from dockyard.auth.access import Access, Authorizer, Principal
from dockyard.errors import DeniedError, UnauthorizedError
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

    def location(self, path: str) -> str:
        """A ``Location`` for ``path``: absolute when ``http.host`` is set, else relative."""
        return f"{self.services.base_url}{path}"

    async def require(self, access: Access) -> None:
        """Stop the request unless the principal may do ``access``."""
        if await self.services.authorizer.allows(self.principal, access):
            return
        if not self.principal.authenticated:
            raise UnauthorizedError(
                detail=[{"Type": access.type, "Name": access.name, "Action": access.action}]
            )
        raise DeniedError(
            detail=[{"Type": access.type, "Name": access.name, "Action": access.action}]
        )

    async def allowed(self, access: Access) -> bool:
        return await self.services.authorizer.allows(self.principal, access)
