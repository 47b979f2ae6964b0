"""Rendering of the error model: OCI error JSON, Kubernetes ``Status``, and the unexpected."""

from __future__ import annotations

import json
import logging

from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import RegistryError, StatusError, UnavailableError, UnknownError
from dockyard.storage.driver import StorageError

logger = logging.getLogger(__name__)


def registry_error_response(exc: RegistryError, head: bool = False) -> Response:
    """The error JSON; logged at debug (``logLevel: Debug``), where someone is looking for why
    a client was refused."""
    logger.debug(
        "request refused",
        extra={
            "err.code": exc.code.value,
            "http.response.status": exc.status,
            "err.message": exc.message,
        },
    )
    body = b"" if head else json.dumps(exc.to_json(), separators=(",", ":")).encode()
    response = Response(body, status_code=exc.status, media_type="application/json")
    if head:
        response.headers["Content-Length"] = "0"
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def unexpected_error_response(exc: BaseException, head: bool = False) -> Response:
    """Log the traceback; tell the client only that something failed on our side.

    A storage backend that still fails after its driver's retries is ``503 UNAVAILABLE``, which
    clients retry, rather than a 500 that reads like a bug of ours.
    """
    if type(exc) is StorageError and exc.__cause__ is not None:
        logger.error("storage backend failed", exc_info=exc)
        unavailable = UnavailableError(
            "the storage backend failed; try again later", headers={"Retry-After": "10"}
        )
        return registry_error_response(unavailable, head)
    logger.error("unexpected error", exc_info=exc)
    return registry_error_response(UnknownError("internal error; see the registry log"), head)


async def handle_registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    return registry_error_response(exc, request.method == "HEAD")


async def handle_status_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StatusError)
    body = json.dumps(exc.to_json(), separators=(",", ":")).encode()
    return Response(body, status_code=exc.code, media_type="application/json")


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_error_response(exc, request.method == "HEAD")
