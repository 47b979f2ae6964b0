"""``/openshift/token`` (the Docker token protocol) and ``/oauth/token`` (CLI login)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth.access import Access, Principal
from dockyard.auth.authorizer import RegistryAuthorizer
from dockyard.auth.bearer import BearerTokens
from dockyard.auth.identities import IdentityService
from dockyard.auth.scopes import parse_scope
from dockyard.auth.tokens import looks_like_token
from dockyard.errors import StatusError, UnauthorizedError
from dockyard.http.auth.authn import parse_authorization

MAX_FORM_SIZE = 64 * 1024


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode()
    base = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    return Response(content, status, {**base, **(headers or {})}, media_type="application/json")


def _principal(request: Request) -> Principal:
    if request.state.auth_failed:
        raise UnauthorizedError(
            "invalid credentials", headers={"WWW-Authenticate": 'Basic realm="dockyard"'}
        )
    principal: Principal = request.state.principal
    return principal


async def _form(request: Request) -> dict[str, str]:
    if request.method != "POST":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_SIZE:
            raise StatusError(413, "RequestEntityTooLarge", "request body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StatusError(400, "BadRequest", "request body is not UTF-8") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


async def registry_token(request: Request) -> Response:
    """Grant what was asked and is allowed, and nothing else, in a short-lived JWT."""
    state = request.app.state.services
    authorizer: RegistryAuthorizer = state.authorizer
    bearer: BearerTokens = state.bearer
    form = await _form(request)
    principal = _principal(request)
    if "password" in form and "username" in form:
        identities: IdentityService = state.identities
        found = await identities.authenticate(form["username"], form["password"])
        if found is None:
            raise UnauthorizedError("invalid credentials")
        principal = found
    requested: list[Access] = []
    scopes = request.query_params.getlist("scope") + form.get("scope", "").split()
    for scope in scopes:
        for item in scope.split(" "):
            try:
                requested.extend(parse_scope(item))
            except ValueError:
                continue
    granted = [a for a in dict.fromkeys(requested) if await authorizer.permits(principal, a)]
    token, ttl = await bearer.issue(principal, granted)
    issued = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return _json(
        {"token": token, "access_token": token, "expires_in": int(ttl), "issued_at": issued}
    )


async def oauth_token(request: Request) -> Response:
    """The password grant: a user name and password for an API token (``dockyard login``)."""
    identities: IdentityService = request.app.state.services.identities
    form = await _form(request)
    if form.get("grant_type") != "password" or not form.get("username"):
        return _json(
            {
                "error": "unsupported_grant_type",
                "error_description": "use grant_type=password with username and password",
            },
            400,
        )
    try:
        issued = await identities.login(form["username"], form.get("password", ""))
    except StatusError as exc:
        if exc.code == 429:
            retry = str((exc.details or {}).get("retryAfterSeconds", 60))
            return _json(
                {"error": "slow_down", "error_description": exc.message},
                429,
                {"Retry-After": retry},
            )
        return _json({"error": "invalid_grant", "error_description": exc.message}, 401)
    expires_in = int(issued.expires_at - time.time()) if issued.expires_at else None
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "user": issued.user,
    }
    if expires_in is not None:
        body["expires_in"] = expires_in
    return _json(body)


async def oauth_revoke(request: Request) -> Response:
    """Revoke the API token the request is made with (``dockyard logout``), or ``token=``."""
    identities: IdentityService = request.app.state.services.identities
    form = await _form(request)
    token = form.get("token")
    if token is None:
        credentials = parse_authorization(request.headers.get("authorization", ""))
        token = credentials.secret if credentials is not None else None
    if not token or not looks_like_token(token):
        return _json({"error": "invalid_request", "error_description": "no API token given"}, 400)
    await identities.revoke(token)
    return _json({})
