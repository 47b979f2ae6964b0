"""Authentication middleware: turn the ``Authorization`` header into a ``Principal``.

Accepted: ``Basic`` with any user name and an API token as password (``podman login -u any
-p $(dockyard whoami -t)``) or a user name and password; ``Bearer`` with a registry JWT from
``/openshift/token`` or an API token. No header means the anonymous principal; a header whose
credentials fail marks the request so that each API answers 401 in its own format.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.auth.access import ANONYMOUS, Principal
from dockyard.auth.bearer import BearerTokens
from dockyard.auth.identities import IdentityService
from dockyard.auth.tokens import looks_like_token


@dataclass(frozen=True, slots=True)
class Credentials:
    scheme: str  # "basic" or "bearer"
    user: str
    secret: str


def parse_authorization(header: str) -> Credentials | None:
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return Credentials("bearer", "", value)
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, secret = decoded.partition(":")
        return Credentials("basic", user, secret) if sep else None
    return None


class Authenticator:
    def __init__(self, identities: IdentityService, bearer: BearerTokens) -> None:
        self.identities = identities
        self.bearer = bearer

    async def authenticate(self, credentials: Credentials) -> Principal | None:
        if credentials.scheme == "bearer":
            if looks_like_token(credentials.secret):
                return await self.identities.authenticate_token(credentials.secret)
            return await self.bearer.authenticate(credentials.secret)
        if not credentials.user and not looks_like_token(credentials.secret):
            return None
        return await self.identities.authenticate(credentials.user, credentials.secret)


class AuthenticationMiddleware:
    """Sets ``state["principal"]`` and, for failed credentials, ``state["auth_failed"]``.

    The authenticator is the app's (``app.state.services.authenticator``), made when the app starts.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            authenticator: Authenticator = scope["app"].state.services.authenticator
            state = scope.setdefault("state", {})
            principal: Principal | None = ANONYMOUS
            for name, value in scope["headers"]:
                if name == b"authorization":
                    credentials = parse_authorization(value.decode("latin-1"))
                    principal = (
                        await authenticator.authenticate(credentials)
                        if credentials is not None
                        else None
                    )
                    break
            state["principal"] = principal or ANONYMOUS
            state["auth_failed"] = principal is None
        await self.app(scope, receive, send)
