"""Request middleware: a request id on every log line and one access-log line per request,
naming the authenticated user (``auth.user.name``, as Distribution's log does)."""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.auth.access import Principal
from dockyard.observability.logging import current_request_id

access_logger = logging.getLogger("dockyard.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = os.urandom(16).hex()
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 0
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if self.enabled:
                self._log(scope, status, sent, time.perf_counter() - started)
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
