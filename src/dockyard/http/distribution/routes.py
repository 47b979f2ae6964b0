"""The ``/v2`` route table and its ASGI router.

Routing reads the raw request path, never the percent-decoded one, so ``%2F`` or ``%2e%2e``
can't smuggle a separator or a dot segment into a repository name: such names fail the name
grammar and get ``NAME_INVALID``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.auth.access import ANONYMOUS, Principal
from dockyard.errors import NameUnknownError, RegistryError, UnauthorizedError, UnsupportedError
from dockyard.http.distribution import blobs, listing, manifests, uploads
from dockyard.http.distribution.call import Call, Services, challenge
from dockyard.http.errors import registry_error_response, unexpected_error_response
from dockyard.registry.reference import validate_name

Handler = Callable[[Call], Awaitable[Response]]

NAME = r"(?P<name>.+)"
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (
        re.compile(rf"^/v2/{NAME}/manifests/(?P<arg>[^/]+)$"),
        {
            "GET": manifests.get_manifest,
            "HEAD": manifests.head_manifest,
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    (re.compile(rf"^/v2/{NAME}/blobs/uploads/?$"), {"POST": uploads.start_upload}),
    (
        re.compile(rf"^/v2/{NAME}/blobs/uploads/(?P<arg>[^/]+)$"),
        {
            "GET": uploads.get_upload,
            "PATCH": uploads.patch_upload,
            "PUT": uploads.put_upload,
            "DELETE": uploads.delete_upload,
        },
    ),
    (
        re.compile(rf"^/v2/{NAME}/blobs/(?P<arg>[^/]+)$"),
        {"GET": blobs.get_blob, "HEAD": blobs.head_blob, "DELETE": blobs.delete_blob},
    ),
    (re.compile(rf"^/v2/{NAME}/tags/list$"), {"GET": listing.list_tags}),
    (re.compile(rf"^/v2/{NAME}/referrers/(?P<arg>[^/]+)$"), {"GET": listing.referrers}),
]
CATALOG: dict[str, Handler] = {"GET": listing.catalog}


def base_response() -> Response:
    return Response(
        b"{}",
        media_type="application/json",
        headers={"Docker-Distribution-API-Version": "registry/2.0"},
    )


class DistributionRouter:
    """ASGI app for everything under ``/v2``; ``services`` is set when the app starts."""

    def __init__(self) -> None:
        self.services: Services | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        head = request.method == "HEAD"
        try:
            response = await self._dispatch(request, scope)
        except RegistryError as exc:
            response = registry_error_response(exc, head)
        except ClientDisconnect:
            return
        except Exception as exc:
            response = unexpected_error_response(exc, head)
        response.headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
        await response(scope, receive, send)

    async def _dispatch(self, request: Request, scope: Scope) -> Response:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.split(b"?", 1)[0].decode("latin-1")
        services = self.services
        if services is None:
            raise RuntimeError("distribution router used before the app started")
        state = scope.get("state", {})
        principal: Principal = state.get("principal", ANONYMOUS)
        if state.get("auth_failed") or (path in ("/v2", "/v2/") and not principal.authenticated):
            raise UnauthorizedError(
                "authentication required"
                if not state.get("auth_failed")
                else "invalid credentials",
                headers=challenge(request, services, []),
            )
        if path in ("/v2", "/v2/"):
            if request.method not in ("GET", "HEAD"):
                raise UnsupportedError(
                    f"method {request.method} is not allowed here", headers={"Allow": "GET, HEAD"}
                )
            return base_response()
        if path == "/v2/_catalog":
            return await self._handle(CATALOG, request, Call(request, services, principal, "", ""))
        for pattern, handlers in ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            name = validate_name(match["name"])
            call = Call(request, services, principal, name, match.groupdict().get("arg") or "")
            return await self._handle(handlers, request, call)
        raise NameUnknownError("no such endpoint in the distribution API", status=404)

    @staticmethod
    async def _handle(handlers: dict[str, Handler], request: Request, call: Call) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            raise UnsupportedError(
                f"method {request.method} is not allowed here",
                headers={"Allow": ", ".join(sorted(handlers))},
            )
        return await handler(call)


class DistributionDispatch:
    """Middleware, innermost: hands ``/v2/...`` to the distribution router directly.

    Starlette's exception middleware, router and mount add nothing there (the router renders
    every error itself) but cost a few layers per request on the registry's hottest path.
    Everything else, and ``/v2`` without a slash (which the mount redirects), goes on to the app.
    """

    def __init__(self, app: ASGIApp, router: DistributionRouter) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v2/"):
            await self.router(scope, receive, send)
        else:
            await self.app(scope, receive, send)
