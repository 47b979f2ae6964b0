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
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Summary,
    generate_latest,
    multiprocess,
)
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from dockyard import __version__
from dockyard.auth.access import ANONYMOUS, Principal
from dockyard.auth.rbac import IMAGE_GROUP
from dockyard.errors import DeniedError, UnauthorizedError
from dockyard.http.auth.authn import parse_authorization
from dockyard.observability import metrics

METRICS_PATH = "/extensions/v2/metrics"
LABELLED_KEPT = 256


def record_build_info() -> None:
    major, minor, *_ = [*__version__.split("."), "0", "0"]
    metrics.BUILD_INFO.labels(major, minor, "", f"v{__version__}").set(1)


def exposition() -> bytes:
    """Every metric, of all workers when they share a multiprocess directory."""
    if os.environ.get(metrics.MULTIPROCESS_ENV):
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


def request_started() -> None:
    metrics.HTTP_IN_FLIGHT.inc()


def request_finished(
    method: str,
    status: int,
    received: int,
    sent: int,
    duration: float,
    to_header: float | None,
) -> None:
    """Counts by code and method, durations and sizes of a request that ``request_started``
    counted in flight; a request that ended before its status line counts as a 500."""
    metrics.HTTP_IN_FLIGHT.dec()
    counted, timed = _children(status or 500, method)
    counted.inc()
    timed.observe(duration)
    metrics.HTTP_REQUEST_SIZE.observe(received)
    metrics.HTTP_RESPONSE_SIZE.observe(sent)
    if to_header is not None:
        metrics.HTTP_TIME_TO_HEADER.observe(to_header)


_labelled: dict[tuple[int, str], tuple[Counter, Summary]] = {}


def _children(status: int, method: str) -> tuple[Counter, Summary]:
    """The labelled series of a status and method, looked up once per worker: ``labels()``
    takes a lock and builds its key on every call."""
    found = _labelled.get((status, method))
    if found is None:
        lowered = method.lower()
        found = (
            metrics.HTTP_REQUESTS.labels(str(status), lowered),
            metrics.HTTP_DURATION.labels(lowered),
        )
        if len(_labelled) < LABELLED_KEPT:  # methods and codes are few; a client's junk is not
            _labelled[(status, method)] = found
    return found


def storage_timing(driver: str, operation: str, seconds: float) -> None:
    """The storage wrapper's timing hook."""
    metrics.STORAGE_DURATION.labels(f"{driver}.{operation}").observe(seconds)
