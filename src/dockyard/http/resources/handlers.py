"""The resource API's one REST handler: parse → authorize → call a service → render.

``KINDS`` says, per kind, which service call serves each verb; authorization, bodies, names and
status codes are the same for every kind and live here once. Authorization always comes before
any lookup, so whoever may not ``get`` an object can't learn whether it exists. The few
endpoints that are not plain CRUD (``users/~``, passwords, project requests, token requests)
are in ``actions``, on the same helpers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.auth.access import ANONYMOUS, Principal
from dockyard.auth.identities import IdentityService
from dockyard.auth.model import Group, Project, RoleBinding, ServiceAccount, User
from dockyard.auth.policy import PolicyService
from dockyard.auth.projects import ProjectService
from dockyard.auth.rbac import Role
from dockyard.errors import StatusError
from dockyard.http.resources import objects
from dockyard.http.resources.objects import (
    JSON,
    GroupBody,
    ObjectBody,
    RoleBindingBody,
    ServiceAccountBody,
    UserBody,
)

MAX_BODY_BYTES = 1 << 20
"""Resource objects are small; a larger body is a mistake or an attack, refused before parsing."""

USER_GROUP = "user.openshift.io"
PROJECT_GROUP = "project.openshift.io"
RBAC_GROUP = objects.RBAC_GROUP
CORE_GROUP = ""

T = TypeVar("T")
B = TypeVar("B", bound=ObjectBody)
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Call:
    """One routed resource request: who asks, the services, and the object the path names."""

    request: Request
    principal: Principal
    identities: IdentityService
    projects: ProjectService
    policy: PolicyService
    namespace: str | None
    name: str

    @property
    def project(self) -> str:
        """The namespace of a namespaced route, which always has one."""
        assert self.namespace is not None, "routed without a namespace"
        return self.namespace

    @classmethod
    def of(cls, request: Request) -> Call:
        state = request.scope.get("state") or {}
        if state.get("auth_failed"):
            # Bad credentials are never downgraded to anonymous: the client must learn they failed.
            raise unauthorized()
        principal: Principal = state.get("principal") or ANONYMOUS
        if principal.grants is not None:
            raise StatusError(
                403,
                "Forbidden",
                f'User "{principal.name}" presented a registry bearer token, which grants registry'
                " access only; use an API token (dockyard whoami -t) for the resource API",
            )
        services = request.app.state.services
        return cls(
            request=request,
            principal=principal,
            identities=services.identities,
            projects=services.projects,
            policy=services.policy,
            namespace=request.path_params.get("namespace"),
            name=request.path_params.get("name", ""),
        )


# --- the shared steps ----------------------------------------------------------------------


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden(
    principal: Principal,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    name: str | None,
) -> StatusError:
    """Kubernetes' words: who may not do what, where."""
    base = resource.partition("/")[0]  # a subresource is forbidden on its resource's object
    target = f'{base} "{name}"' if name else base
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    details: JSON = {"group": group, "kind": base}
    if name:
        details["name"] = name
    return StatusError(
        403,
        "Forbidden",
        f'{target} is forbidden: User "{principal.name}" cannot {verb} resource "{resource}"'
        f' in API group "{group}"{where}',
        details,
    )


async def authorize(
    call: Call,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    name: str | None = None,
) -> None:
    """Continue only if the caller may; anonymous callers are told to authenticate (401)."""
    if await call.policy.can(call.principal, verb, group, resource, namespace, name or None):
        return
    if not call.principal.authenticated:
        raise unauthorized()
    raise forbidden(call.principal, verb, group, resource, namespace, name)


def method_not_allowed() -> StatusError:
    return StatusError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


async def read_json(request: Request) -> Any:
    """The body as JSON, at most ``MAX_BODY_BYTES``; an empty body is ``None``."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f'the body of the request was in an unknown format ("{media_type}"); accepted media'
            " types include: application/json",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise objects.bad_request(f"the request body is not valid JSON: {exc}") from None


def _too_large() -> StatusError:
    return StatusError(
        413,
        "RequestEntityTooLarge",
        f"the request body is too large: the limit is {MAX_BODY_BYTES} bytes",
    )


def respond(body: JSON, status: int = 200) -> Response:
    return JSONResponse(body, status)


# --- the table of kinds --------------------------------------------------------------------


@dataclass(frozen=True)
class Kind(Generic[T, B]):
    """One kind: where it lives, how it renders, and the service call behind each verb.

    A verb left ``None`` answers 405. ``own_namespace``: the object is its own namespace for
    RBAC (a project). ``lists_visible``: ``list`` needs no check of its own because
    ``get_all`` returns only what the caller may see.
    """

    kind: str
    group: str
    resource: str
    namespaced: bool
    render: Callable[[T], JSON]
    body: type[B] | None = None
    get_one: Callable[[Call], Awaitable[T]] | None = None
    get_all: Callable[[Call], Awaitable[Sequence[T]]] | None = None
    create: Callable[[Call, B], Awaitable[T]] | None = None
    update: Callable[[Call, B], Awaitable[T]] | None = None
    delete: Callable[[Call], Awaitable[None]] | None = None
    name_rule: Callable[[str], str | None] | None = None
    own_namespace: bool = False
    lists_visible: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self) -> str:
        return objects.qualified_kind(self.kind, self.group)

    @property
    def path(self) -> str:
        """The collection's path, with ``{namespace}`` for namespaced kinds."""
        root = f"/apis/{self.group}/v1" if self.group else "/api/v1"
        scope = "/namespaces/{namespace}" if self.namespaced else ""
        return f"{root}{scope}/{self.resource}"


async def _list_visible_projects(call: Call) -> list[Project]:
    visible = await call.policy.namespaces_where(call.principal, "get", PROJECT_GROUP, "projects")
    found = await call.projects.list_projects()
    return found if visible is None else [p for p in found if p.name in visible]


async def _create_user(call: Call, body: UserBody) -> User:
    for field in ("groups", "identities"):
        if getattr(body, field):
            raise objects.invalid(
                "User.user.openshift.io",
                body.metadata.name,
                [(field, "FieldValueForbidden", "Forbidden: membership is set on groups")],
            )
    return await call.identities.create_user(
        body.metadata.name, password=body.password, full_name=body.full_name
    )


async def _delete_binding(call: Call) -> None:
    await call.policy.delete_binding(call.namespace, call.name)


async def _get_cluster_role(call: Call) -> Role:
    return call.policy.role("ClusterRole", call.name)


async def _list_cluster_roles(call: Call) -> list[Role]:
    return call.policy.roles()


USERS: Kind[User, UserBody] = Kind(
    "User",
    USER_GROUP,
    "users",
    namespaced=False,
    render=objects.render_user,
    body=UserBody,
    get_one=lambda call: call.identities.get_user(call.name),
    get_all=lambda call: call.identities.list_users(),
    create=_create_user,
    delete=lambda call: call.identities.delete_user(call.name),
)
GROUPS: Kind[Group, GroupBody] = Kind(
    "Group",
    USER_GROUP,
    "groups",
    namespaced=False,
    render=objects.render_group,
    body=GroupBody,
    get_one=lambda call: call.identities.get_group(call.name),
    get_all=lambda call: call.identities.list_groups(),
    create=lambda call, body: call.identities.create_group(
        body.metadata.name, tuple(body.users or ())
    ),
    update=lambda call, body: call.identities.set_group_users(call.name, tuple(body.users or ())),
    delete=lambda call: call.identities.delete_group(call.name),
    name_rule=objects.path_segment_name,
)
PROJECTS: Kind[Project, ObjectBody] = Kind(
    "Project",
    PROJECT_GROUP,
    "projects",
    namespaced=False,
    render=objects.render_project,
    get_one=lambda call: call.projects.get_project(call.name),
    get_all=_list_visible_projects,
    delete=lambda call: call.projects.delete_project(call.name),
    own_namespace=True,
    lists_visible=True,
)
ROLE_BINDINGS: Kind[RoleBinding, RoleBindingBody] = Kind(
    "RoleBinding",
    RBAC_GROUP,
    "rolebindings",
    namespaced=True,
    render=objects.render_role_binding,
    body=RoleBindingBody,
    get_one=lambda call: call.policy.get_binding(call.namespace, call.name),
    get_all=lambda call: call.policy.list_bindings(call.namespace),
    create=lambda call, body: call.policy.create_binding(
        objects.to_role_binding(body, call.namespace, body.metadata.name)
    ),
    update=lambda call, body: call.policy.replace_binding(
        objects.to_role_binding(body, call.namespace, call.name)
    ),
    delete=_delete_binding,
    name_rule=objects.path_segment_name,
)
CLUSTER_ROLE_BINDINGS: Kind[RoleBinding, RoleBindingBody] = Kind(
    "ClusterRoleBinding",
    RBAC_GROUP,
    "clusterrolebindings",
    namespaced=False,
    render=objects.render_role_binding,
    body=RoleBindingBody,
    get_one=lambda call: call.policy.get_binding(None, call.name),
    get_all=lambda call: call.policy.list_bindings(None),
    create=lambda call, body: call.policy.create_binding(
        objects.to_role_binding(body, None, body.metadata.name)
    ),
    update=lambda call, body: call.policy.replace_binding(
        objects.to_role_binding(body, None, call.name)
    ),
    delete=_delete_binding,
    name_rule=objects.path_segment_name,
)
CLUSTER_ROLES: Kind[Role, ObjectBody] = Kind(
    "ClusterRole",
    RBAC_GROUP,
    "clusterroles",
    namespaced=False,
    render=objects.render_cluster_role,
    get_one=_get_cluster_role,
    get_all=_list_cluster_roles,
)
SERVICE_ACCOUNTS: Kind[ServiceAccount, ServiceAccountBody] = Kind(
    "ServiceAccount",
    CORE_GROUP,
    "serviceaccounts",
    namespaced=True,
    render=objects.render_service_account,
    body=ServiceAccountBody,
    get_one=lambda call: call.identities.get_service_account(call.project, call.name),
    get_all=lambda call: call.identities.list_service_accounts(call.project),
    create=lambda call, body: call.identities.create_service_account(
        call.project, body.metadata.name
    ),
    delete=lambda call: call.identities.delete_service_account(call.project, call.name),
    name_rule=objects.dns_subdomain_name,
)

KINDS: tuple[Kind[Any, Any], ...] = (
    USERS,
    GROUPS,
    PROJECTS,
    ROLE_BINDINGS,
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    SERVICE_ACCOUNTS,
)


# --- the generic verbs ---------------------------------------------------------------------


def collection_endpoint(kind: Kind[Any, Any]) -> Endpoint:
    """GET lists, POST creates."""

    async def endpoint(request: Request) -> Response:
        call = Call.of(request)
        if request.method in ("GET", "HEAD") and kind.get_all is not None:
            if not kind.lists_visible:
                await authorize(call, "list", kind.group, kind.resource, call.namespace)
            items = await kind.get_all(call)
            return respond(
                objects.render_list(kind.api_version, kind.kind, map(kind.render, items))
            )
        if request.method == "POST" and kind.create is not None:
            await authorize(call, "create", kind.group, kind.resource, call.namespace)
            body = await _read_object(call, kind)
            name = body.metadata.name
            if not name:
                raise objects.invalid(
                    kind.qualified,
                    "",
                    [("metadata.name", "FieldValueRequired", "Required value: name is required")],
                )
            _check_name(kind, name)
            if call.namespace is not None:
                await call.projects.get_project(call.namespace)  # no objects in a missing one
            return respond(kind.render(await kind.create(call, body)), 201)
        raise method_not_allowed()

    return endpoint


def item_endpoint(kind: Kind[Any, Any]) -> Endpoint:
    """GET reads, PUT replaces, DELETE deletes."""

    async def endpoint(request: Request) -> Response:
        call = Call.of(request)
        scope = call.name if kind.own_namespace else call.namespace
        if request.method in ("GET", "HEAD") and kind.get_one is not None:
            await authorize(call, "get", kind.group, kind.resource, scope, call.name)
            return respond(kind.render(await kind.get_one(call)))
        if request.method == "PUT" and kind.update is not None:
            await authorize(call, "update", kind.group, kind.resource, scope, call.name)
            body = await _read_object(call, kind)
            if body.metadata.name and body.metadata.name != call.name:
                raise objects.bad_request(
                    f"the name of the object ({body.metadata.name}) does not match the name on"
                    f" the URL ({call.name})",
                    "metadata.name",
                )
            return respond(kind.render(await kind.update(call, body)))
        if request.method == "DELETE" and kind.delete is not None:
            await authorize(call, "delete", kind.group, kind.resource, scope, call.name)
            await kind.delete(call)
            return respond(objects.render_success(kind.resource, kind.group, call.name))
        raise method_not_allowed()

    return endpoint


async def _read_object(call: Call, kind: Kind[Any, B]) -> B:
    assert kind.body is not None, f"{kind.kind} takes no body"
    body = objects.decode(
        kind.body,
        await read_json(call.request),
        kind.qualified,
        api_version=kind.api_version,
        kind=kind.kind,
    )
    objects.check_metadata(body, kind.qualified, body.metadata.name or call.name)
    if kind.namespaced and body.metadata.namespace not in ("", call.namespace):
        raise objects.bad_request(
            f"the namespace of the provided object ({body.metadata.namespace}) does not match"
            f" the namespace sent on the request ({call.namespace})",
            "metadata.namespace",
        )
    return body


def _check_name(kind: Kind[Any, Any], name: str) -> None:
    problem = kind.name_rule(name) if kind.name_rule is not None else None
    if problem is not None:
        raise objects.invalid(
            kind.qualified,
            name,
            [("metadata.name", "FieldValueInvalid", f"Invalid value: {problem}")],
        )
