"""What the cluster Config asks of every ``/v2`` request, before authentication does any work.

``managementState: Removed`` answers 503 UNAVAILABLE, ``readOnly`` refuses writes with 405
UNSUPPORTED (pulls go on), and ``requests.read`` / ``requests.write`` queue or refuse with 429
TOOMANYREQUESTS and ``Retry-After``. The state comes from the worker's reconciler, in memory, so
the check costs no database read. The resource API is never guarded: it is how an
administrator undoes any of this.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.errors import RegistryError, TooManyRequestsError, UnavailableError, UnsupportedError
from dockyard.http.errors import registry_error_response
from dockyard.operator.config import CONFIG, NAME
from dockyard.operator.reconciler import Reconciler

READS = ("GET", "HEAD")
CONFIG_NAME = f"{CONFIG.resource}.{CONFIG.group}/{NAME}"
RETRY_AFTER_SECONDS = "1"


def removed() -> RegistryError:
    return UnavailableError(
        f"the registry is removed: {CONFIG_NAME} has spec.managementState Removed; set it to"
        " Managed to serve images again"
    )


def read_only() -> RegistryError:
    return UnsupportedError(
        f"the registry is in read-only mode ({CONFIG_NAME} spec.readOnly): pulls work,"
        " pushes and deletes are refused"
    )


def too_many(kind: str) -> RegistryError:
    return TooManyRequestsError(
        f"too many {kind} requests: the limits of {CONFIG_NAME} spec.requests.{kind} are"
        " reached; retry later",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


class RegistryGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/v2" or path.startswith("/v2/")):
            await self.app(scope, receive, send)
            return
        reconciler: Reconciler | None = getattr(scope["app"].state, "reconciler", None)
        if reconciler is None:
            await self.app(scope, receive, send)
            return
        state = reconciler.state
        method = scope["method"]
        reading = method in READS
        refusal = removed() if state.removed else None
        if refusal is None and state.read_only and not reading:
            refusal = read_only()
        if refusal is not None:
            await registry_error_response(refusal, method == "HEAD")(scope, receive, send)
            return
        limiter = reconciler.read_limiter if reading else reconciler.write_limiter
        if not await limiter.acquire():
            refusal = too_many("read" if reading else "write")
            response = registry_error_response(refusal, method == "HEAD")
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            limiter.release()
