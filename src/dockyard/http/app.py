"""The one ASGI application: routes, middleware, error handlers, and per-worker services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from dockyard.auth.access import OpenAuthorizer
from dockyard.config.model import Settings
from dockyard.errors import RegistryError, StatusError
from dockyard.http.distribution.call import Services
from dockyard.http.distribution.routes import DistributionRouter
from dockyard.http.errors import handle_registry_error, handle_status_error, handle_unexpected
from dockyard.http.middleware import AccessLogMiddleware
from dockyard.metadata.engine import Database
from dockyard.registry.blobs import BlobService
from dockyard.registry.context import RegistryContext
from dockyard.registry.images import ImageService
from dockyard.registry.listing import ListingService
from dockyard.registry.uploads import UploadService
from dockyard.storage.factory import create_driver


async def healthz(_: object) -> Response:
    return PlainTextResponse("ok")


def create_app(settings: Settings) -> Starlette:
    router = DistributionRouter()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database.url)
        name, params = settings.storage_driver()
        ctx = RegistryContext(
            db=db,
            storage=create_driver(name, params),
            secret=settings.http.secret.get_secret_value().encode(),
            delete_enabled=settings.storage.delete.enabled,
            redirect_enabled=not settings.storage.redirect.disable,
        )
        router.services = Services(
            blobs=BlobService(ctx),
            uploads=UploadService(ctx),
            images=ImageService(ctx),
            listing=ListingService(ctx),
            authorizer=OpenAuthorizer(),
            secret=ctx.secret,
            base_url=(settings.http.host or "").rstrip("/"),
        )
        try:
            yield
        finally:
            await db.close()

    return Starlette(
        routes=[
            Mount("/v2", app=router),
            Route("/healthz", healthz),
            Route("/readyz", healthz),
        ],
        middleware=[Middleware(AccessLogMiddleware, enabled=not settings.log.accesslog.disabled)],
        exception_handlers={
            RegistryError: handle_registry_error,
            StatusError: handle_status_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
