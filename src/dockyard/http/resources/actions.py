"""The resource API's endpoints that are not plain CRUD: ``users/~``, ``users/{name}/password``,
``projectrequests`` and ``serviceaccounts/{name}/token``.

Each is a small handler on the shared steps of ``handlers`` (authorize before any lookup, strict
bodies, ``Status`` errors); what sets them apart is who may call them: anyone authenticated
(``users/~``, project requests), a user for themself (password), or a subresource check (token).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard import errors
from dockyard.auth.model import User
from dockyard.auth.rbac import CORE_GROUP, USER_GROUP
from dockyard.errors import StatusError
from dockyard.http.resources import objects
from dockyard.http.resources.handlers import (
    Call,
    authorize,
    method_not_allowed,
    read_json,
    respond,
    unauthorized,
)
from dockyard.http.resources.objects import PasswordBody, ProjectRequestBody, TokenRequestBody

TOKEN_SECONDS_DEFAULT = 3600
TOKEN_SECONDS_MIN = 600
TOKEN_SECONDS_MAX = 1 << 32
"""Kubernetes' TokenRequest bounds: an hour by default, at least ten minutes."""


async def current_user(request: Request) -> Response:
    """``users/~``: who the caller is. A service account has no User object; like OpenShift,
    it is described from the principal (name and groups)."""
    call = Call.of(request)
    if request.method not in ("GET", "HEAD"):
        raise method_not_allowed()
    principal = call.principal
    if not principal.authenticated:
        raise unauthorized()
    try:
        return respond(objects.render_user(await call.identities.get_user(principal.name)))
    except StatusError as exc:
        if exc.code != 404:
            raise
    return respond(objects.render_user(User(principal.name, "", "", tuple(principal.groups), 0.0)))


async def set_password(request: Request) -> Response:
    """``PUT users/{name}/password``: a user changes their own; an admin (``update users``) any."""
    call = Call.of(request)
    if request.method != "PUT":
        raise method_not_allowed()
    principal = call.principal
    if not (principal.authenticated and principal.name == call.name):
        await authorize(call, "update", USER_GROUP, "users", None, call.name)
    body = objects.decode(
        PasswordBody, await read_json(request), "User.user.openshift.io", name=call.name
    )
    await call.identities.set_password(
        call.name, password=body.password, password_hash=body.password_hash
    )
    return respond(
        objects.render_success(
            "users", USER_GROUP, call.name, f'password of user "{call.name}" changed'
        )
    )


async def request_project(request: Request) -> Response:
    """``POST projectrequests``: any authenticated user may create a project, and administers
    it (the project service binds the creator)."""
    call = Call.of(request)
    if request.method != "POST":
        raise method_not_allowed()
    if not call.principal.authenticated:
        raise unauthorized()
    qualified = "ProjectRequest.project.openshift.io"
    body = objects.decode(
        ProjectRequestBody,
        await read_json(request),
        qualified,
        api_version=objects.PROJECT_V1,
        kind="ProjectRequest",
    )
    objects.check_metadata(body, qualified, body.metadata.name)
    project = await call.projects.create_project(
        body.metadata.name,
        call.principal,
        display_name=body.display_name,
        description=body.description,
    )
    return respond(objects.render_project(project), 201)


async def request_token(request: Request) -> Response:
    """``POST serviceaccounts/{name}/token``: a TokenRequest for a service account."""
    call = Call.of(request)
    if request.method != "POST":
        raise method_not_allowed()
    namespace = call.project
    await authorize(call, "create", CORE_GROUP, "serviceaccounts/token", namespace, call.name)
    data = await read_json(request)
    body = objects.decode(
        TokenRequestBody,
        {} if data is None else data,
        "TokenRequest.authentication.k8s.io",
        api_version=objects.AUTHENTICATION_V1,
        kind="TokenRequest",
        name=call.name,
    )
    seconds = body.spec.expiration_seconds
    seconds = TOKEN_SECONDS_DEFAULT if seconds is None else seconds
    if not TOKEN_SECONDS_MIN <= seconds <= TOKEN_SECONDS_MAX:
        raise errors.invalid(
            "TokenRequest.authentication.k8s.io",
            call.name,
            [
                (
                    "spec.expirationSeconds",
                    "FieldValueInvalid",
                    f"Invalid value: {seconds}: must be between {TOKEN_SECONDS_MIN} seconds"
                    f" (10 minutes) and {TOKEN_SECONDS_MAX} seconds",
                )
            ],
        )
    account = await call.identities.get_service_account(namespace, call.name)
    issued = await call.identities.issue_token(account.user_name, float(seconds))
    return respond(objects.render_token_request(account, issued, seconds), 201)
