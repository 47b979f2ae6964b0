"""``/extensions/v2/metrics`` and the HTTP metrics every request feeds.

The endpoint answers in Prometheus' text format for a caller that may ``get registry/metrics``
(the ``prometheus-scraper`` cluster role), or that sends the ``metrics.secret`` setting, as
OpenShift's registry does; others get 401 (no credentials) or 403. With
``PROMETHEUS_MULTIPROC_DIR`` set (``dockyard serve`` sets it) it sums the samples of every
worker process.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard import __version__
from dockyard.auth.access import ANONYMOUS, Principal
from dockyard.auth.rbac import IMAGE_GROUP
from dockyard.errors import DeniedError, UnauthorizedError
from dockyard.http.auth.authn import parse_authorization
from dockyard.observability import metrics

METRICS_PATH = "/extensions/v2/metrics"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def record_build_info() -> None:
    major, minor, *_ = [*__version__.split("."), "0", "0"]
    metrics.BUILD_INFO.labels(major, minor, "", f"v{__version__}").set(1)


def exposition() -> bytes:
    """Every metric, of all workers when they share a multiprocess directory."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def sends_secret(request: Request, secret: SecretStr | None) -> bool:
    """Whether the request carries the metrics secret as a Basic password (any user name) or
    a bearer token; compared in constant time, so timing tells nothing of it."""
    if secret is None or not secret.get_secret_value():  # an empty secret opens nothing
        return False
    credentials = parse_authorization(request.headers.get("authorization", ""))
    return credentials is not None and hmac.compare_digest(
        credentials.secret.encode(), secret.get_secret_value().encode()
    )


def metrics_endpoint(
    secret: SecretStr | None,
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The endpoint, open to the holders of ``metrics.secret`` and of ``get registry/metrics``."""

    async def endpoint(request: Request) -> Response:
        if not sends_secret(request, secret):
            await _authorize(request)
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return endpoint


async def _authorize(request: Request) -> None:
    state = request.scope.get("state") or {}
    principal: Principal = state.get("principal") or ANONYMOUS
    policy = request.app.state.services.policy
    if state.get("auth_failed") or not await policy.can(
        principal, "get", IMAGE_GROUP, "registry/metrics", None
    ):
        if state.get("auth_failed") or not principal.authenticated:
            raise UnauthorizedError(headers={"WWW-Authenticate": 'Basic realm="dockyard"'})
        raise DeniedError(
            f'User "{principal.name}" cannot get registry/metrics: bind the prometheus-scraper'
            " cluster role"
        )


class HttpMetricsMiddleware:
    """In-flight requests, counts by code and method, durations and sizes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        status = 0
        received = sent = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                metrics.HTTP_TIME_TO_HEADER.observe(time.perf_counter() - started)
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            metrics.HTTP_REQUESTS.labels(str(status or 500), method.lower()).inc()
            metrics.HTTP_DURATION.labels(method.lower()).observe(time.perf_counter() - started)
            metrics.HTTP_REQUEST_SIZE.observe(received)
            metrics.HTTP_RESPONSE_SIZE.observe(sent)


def storage_timing(driver: str, operation: str, seconds: float) -> None:
    """The storage wrapper's timing hook."""
    metrics.STORAGE_DURATION.labels(f"{driver}.{operation}").observe(seconds)
