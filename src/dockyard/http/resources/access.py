"""The kinds of identity and access: users, groups, projects, role bindings, cluster roles
and service accounts, each a row of the generic handler's table.

What sets each apart is only its service calls and its name rule; the rest is ``handlers``'.
The endpoints of ``actions`` hang here too, as subresources (a user's password, a service
account's token) or a collection of its own (project requests), so discovery lists them.
"""

from __future__ import annotations

from typing import Any

from dockyard import errors
from dockyard.auth.model import Group, Project, RoleBinding, ServiceAccount, User
from dockyard.auth.rbac import CORE_GROUP, PROJECT_GROUP, RBAC_GROUP, USER_GROUP, Role
from dockyard.http.resources import actions, objects
from dockyard.http.resources.handlers import (
    Call,
    Kind,
    Subresource,
)
from dockyard.http.resources.objects import (
    GroupBody,
    ObjectBody,
    ProjectRequestBody,
    RoleBindingBody,
    ServiceAccountBody,
    UserBody,
)


async def _list_visible_projects(call: Call) -> list[Project]:
    visible = await call.policy.namespaces_where(call.principal, "get", PROJECT_GROUP, "projects")
    found = await call.projects.list_projects()
    return found if visible is None else [p for p in found if p.name in visible]


async def _create_user(call: Call, body: UserBody) -> User:
    for field in ("groups", "identities"):
        if getattr(body, field):
            raise errors.invalid(
                "User.user.openshift.io",
                body.metadata.name,
                [(field, "FieldValueForbidden", "Forbidden: membership is set on groups")],
            )
    return await call.identities.create_user(
        body.metadata.name, password=body.password, full_name=body.full_name
    )


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
    subresources=(Subresource("password", "User", ("update",), actions.set_password),),
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
PROJECT_REQUESTS: Kind[Project, ProjectRequestBody] = Kind(
    "ProjectRequest",
    PROJECT_GROUP,
    "projectrequests",
    namespaced=False,
    render=objects.render_project,
    body=ProjectRequestBody,
    collection=actions.request_project,
    custom_verbs=("create",),
)


def _bindings(kind: str, resource: str, namespaced: bool) -> Kind[RoleBinding, RoleBindingBody]:
    """RoleBindings of a project, or ClusterRoleBindings (no namespace): one shape."""

    def scope(call: Call) -> str | None:
        return call.namespace if namespaced else None

    return Kind(
        kind,
        RBAC_GROUP,
        resource,
        namespaced=namespaced,
        render=objects.render_role_binding,
        body=RoleBindingBody,
        get_one=lambda call: call.policy.get_binding(scope(call), call.name),
        get_all=lambda call: call.policy.list_bindings(scope(call)),
        create=lambda call, body: call.policy.create_binding(
            objects.to_role_binding(body, scope(call), body.metadata.name)
        ),
        update=lambda call, body: call.policy.replace_binding(
            objects.to_role_binding(body, scope(call), call.name)
        ),
        delete=lambda call: call.policy.delete_binding(scope(call), call.name),
        name_rule=objects.path_segment_name,
    )


ROLE_BINDINGS = _bindings("RoleBinding", "rolebindings", namespaced=True)
CLUSTER_ROLE_BINDINGS = _bindings("ClusterRoleBinding", "clusterrolebindings", namespaced=False)
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
    subresources=(Subresource("token", "TokenRequest", ("create",), actions.request_token),),
    short_names=("sa",),
)

KINDS: tuple[Kind[Any, Any], ...] = (
    USERS,
    GROUPS,
    PROJECTS,
    PROJECT_REQUESTS,
    ROLE_BINDINGS,
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    SERVICE_ACCOUNTS,
)
