"""The one ASGI application: routes, middleware, error handlers, and per-worker services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from dockyard.auth.authorizer import RegistryAuthorizer
from dockyard.auth.bearer import BearerTokens
from dockyard.auth.identities import IdentityService
from dockyard.auth.policy import PolicyService
from dockyard.auth.projects import ProjectService
from dockyard.config.model import Settings
from dockyard.errors import RegistryError, StatusError
from dockyard.events.delivery import NotificationDispatcher
from dockyard.events.pulls import PullRecorder
from dockyard.http.auth.authn import AuthenticationMiddleware, Authenticator
from dockyard.http.auth.token import oauth_revoke, oauth_token, registry_token
from dockyard.http.distribution.call import Services
from dockyard.http.distribution.routes import DistributionDispatch, DistributionRouter
from dockyard.http.errors import handle_registry_error, handle_status_error, handle_unexpected
from dockyard.http.guard import RegistryGuardMiddleware
from dockyard.http.metrics import METRICS_PATH, metrics_endpoint, record_build_info, storage_timing
from dockyard.http.middleware import AccessLogMiddleware
from dockyard.http.pruning import pruning_routes, start_pruning
from dockyard.http.relay import HttpsRelayMiddleware
from dockyard.http.resources.routes import resource_routes
from dockyard.imagestreams.images import ImageObjectService
from dockyard.imagestreams.streams import ImageStreamService
from dockyard.imports.importer import Importer
from dockyard.imports.pullthrough import PullThrough
from dockyard.imports.scheduler import ImportScheduler
from dockyard.imports.upstreams import Upstreams
from dockyard.metadata.engine import Database
from dockyard.metadata.resources import ResourceStore
from dockyard.operator.reconciler import Reconciler, apply_proxy, startup
from dockyard.registry.blobs import BlobService
from dockyard.registry.context import RegistryContext
from dockyard.registry.images import ImageService
from dockyard.registry.listing import ListingService
from dockyard.registry.uploads import UploadService
from dockyard.storage.factory import create_driver


@dataclass(frozen=True)
class AppServices:
    """The services handlers outside ``/v2`` reach through ``request.app.state.services``."""

    identities: IdentityService
    projects: ProjectService
    policy: PolicyService
    authorizer: RegistryAuthorizer
    bearer: BearerTokens
    authenticator: Authenticator
    imagestreams: ImageStreamService
    images: ImageObjectService
    imports: Importer
    resources: ResourceStore


def registry_host(settings: Settings) -> str:
    """The host clients pull from, for ``dockerImageReference``: the configured public URL's,
    or the listen address, with a wildcard shown as loopback (a pull spec can't be 0.0.0.0)."""
    if settings.http.host:
        return urlsplit(settings.http.host).netloc
    host, port = settings.http.bind_address()
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(settings: Settings) -> Starlette:
    router = DistributionRouter()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database.url)
        # The Config decides the secret, storage, redirects and proxy the worker starts with.
        start = await startup(ResourceStore(db), settings)
        apply_proxy(start)
        driver = create_driver(start.driver, start.params)
        driver.on_timing = storage_timing
        ctx = RegistryContext(
            db=db,
            storage=driver,
            secret=start.http_secret.encode(),
            delete_enabled=settings.storage.delete.enabled,
            redirect_enabled=start.redirect,
        )
        identities = IdentityService(db)
        policy = PolicyService(db)
        authorizer = RegistryAuthorizer(db, policy)
        bearer = BearerTokens(db)
        await bearer.start()
        reconciler = Reconciler(ResourceStore(db), settings)
        imagestreams = ImageStreamService(
            db, registry_host(settings), lambda: reconciler.state.public_host
        )
        upstreams = Upstreams.from_store(ResourceStore(db))
        importer = Importer(db, ctx.storage, upstreams, imagestreams, settings.imports.maxtags)
        app.state.services = AppServices(
            identities=identities,
            projects=ProjectService(db, policy, identities),
            policy=policy,
            authorizer=authorizer,
            bearer=bearer,
            authenticator=Authenticator(identities, bearer),
            imagestreams=imagestreams,
            images=ImageObjectService(db, ctx.storage, registry_host(settings)),
            imports=importer,
            resources=ResourceStore(db),
        )
        # Webhooks: delivery from the change log, and pull events recorded into it.
        notifier = NotificationDispatcher.from_settings(db, settings)
        wake = notifier.wake if notifier is not None else None
        pulls = PullRecorder.from_settings(db, settings.notifications, on_flush=wake)
        pullthrough = PullThrough(db, ctx.storage, upstreams)
        router.services = Services(
            blobs=BlobService(ctx, remote=pullthrough),
            uploads=UploadService(ctx),
            images=ImageService(ctx, remote=pullthrough),
            listing=ListingService(ctx),
            authorizer=authorizer,
            secret=ctx.secret,
            base_url=(settings.http.host or "").rstrip("/"),
            pulls=pulls,
            changed=wake,
        )
        if notifier is not None:
            await notifier.start()
        if pulls is not None:
            pulls.start()
        scheduler = ImportScheduler(db, importer, settings.imports.scheduledinterval)
        await scheduler.start()
        record_build_info()
        await reconciler.start()
        app.state.reconciler = reconciler
        pruning = start_pruning(app, db, ctx.storage, settings)
        try:
            yield
        finally:
            await pruning.stop()
            await reconciler.stop()
            if notifier is not None:
                await notifier.stop()
            if pulls is not None:
                await pulls.stop()
            await scheduler.stop()
            await upstreams.aclose()
            await db.close()

    return Starlette(
        routes=[
            Mount("/v2", app=router),
            Route("/openshift/token", registry_token, methods=["GET", "POST"]),
            Route("/oauth/token", oauth_token, methods=["POST"]),
            Route("/oauth/revoke", oauth_revoke, methods=["POST"]),
            *resource_routes(),
            *pruning_routes(),
            Route(METRICS_PATH, metrics_endpoint(settings.metrics.secret), methods=["GET", "HEAD"]),
            Route("/healthz", healthz),
            Route("/readyz", healthz),
        ],
        middleware=[
            Middleware(AccessLogMiddleware, enabled=not settings.log.accesslog.disabled),
            Middleware(HttpsRelayMiddleware),
            Middleware(RegistryGuardMiddleware),
            Middleware(AuthenticationMiddleware),
            Middleware(DistributionDispatch, router=router),
        ],
        exception_handlers={
            RegistryError: handle_registry_error,
            StatusError: handle_status_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
