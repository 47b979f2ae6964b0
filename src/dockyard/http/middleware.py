"""The outermost request middleware: a request id on every log line, one access-log line per
request naming the authenticated user (``auth.user.name``, as Distribution's log does), and the
HTTP metrics.

The log line and the metrics need the same facts (status, bytes each way, times), so one layer
gathers them: one wrapper around ``send`` and ``receive`` per request, not one per consumer.
"""

from __future__ import annotations

import logging
import random
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.auth.access import Principal
from dockyard.http.metrics import request_finished, request_started
from dockyard.observability.logging import ACCESS_LOGGER, current_request_id

access_logger = logging.getLogger(ACCESS_LOGGER)


def new_request_id() -> str:
    """32 random hex digits. A correlation id, not a secret: drawn from the process's seeded
    generator rather than the kernel's, which would cost a system call per request."""
    return f"{random.getrandbits(128):032x}"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        header_at = 0.0
        status = 0
        received = sent = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def observing_send(message: Message) -> None:
            nonlocal status, sent, header_at
            if message["type"] == "http.response.start":
                status = message["status"]
                header_at = time.perf_counter()
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        request_started()
        try:
            await self.app(scope, counting_receive, observing_send)
        finally:
            ended = time.perf_counter()
            request_finished(
                scope["method"],
                status,
                received,
                sent,
                ended - started,
                header_at - started if header_at else None,
            )
            if self.enabled:
                self._log(scope, status, sent, ended - started)
            current_request_id.reset(token)

    @staticmethod
    def _log(scope: Scope, status: int, sent: int, duration: float) -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        agent = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                agent = value
                break
        client = scope.get("client")
        principal = (scope.get("state") or {}).get("principal")
        user = (
            principal.name if isinstance(principal, Principal) and principal.authenticated else ""
        )
        fields = {
            "http.request.method": scope["method"],
            "http.request.uri": scope["path"],
            "http.request.remoteaddr": client[0] if client else "",
            "http.request.useragent": agent.decode("latin-1"),
            "http.response.status": status,
            "http.response.written": sent,
            "http.response.duration": f"{duration:.6f}",
        }
        if user:
            fields["auth.user.name"] = user
        # Made directly, as ``Logger.info`` would, but without its walk up the stack for the
        # caller's file and line, which no formatter of ours prints.
        record = access_logger.makeRecord(
            access_logger.name, logging.INFO, "", 0, "response completed", (), None, extra=fields
        )
        access_logger.handle(record)
