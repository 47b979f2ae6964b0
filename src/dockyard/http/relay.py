"""Requests that came in over a route's HTTPS are ``https`` to the app.

The supervisor ends TLS for the Config's routes and relays the bytes to a loopback socket of
its own that every worker also serves (``operator.routes``). Requests arriving on that socket
get the ``https`` scheme, so the token realm and absolute URLs that clients follow stay on
HTTPS. Nothing a client sends decides this: only the socket the connection came in on.
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.config.model import TLS_RELAY_PORT_ENV


class HttpsRelayMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        port = os.environ.get(TLS_RELAY_PORT_ENV, "")
        self.port = int(port) if port.isdigit() else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if self.port is not None and scope["type"] == "http" and server and server[1] == self.port:
            scope = {**scope, "scheme": "https"}
        await self.app(scope, receive, send)
