"""The resource API's handlers over a small Starlette app: every endpoint, check and error path.

The services are in-memory fakes (``Fake...``): they stand in for the real identity, project and
policy services only in these handler unit tests, recording the RBAC checks asked and mimicking
the real services' errors. End-to-end tests run the real services.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.auth.access import ANONYMOUS, Principal
from dockyard.auth.model import (
    Group,
    IssuedToken,
    Project,
    RoleBinding,
    ServiceAccount,
    User,
    service_account_user,
)
from dockyard.auth.rbac import BUILTIN_CLUSTER_ROLES, Role
from dockyard.errors import StatusError
from dockyard.http.errors import handle_status_error
from dockyard.http.resources.handlers import MAX_BODY_BYTES
from dockyard.http.resources.routes import resource_routes

pytestmark = pytest.mark.anyio

USERS = "/apis/user.openshift.io/v1/users"
GROUPS = "/apis/user.openshift.io/v1/groups"
PROJECTS = "/apis/project.openshift.io/v1/projects"
PROJECT_REQUESTS = "/apis/project.openshift.io/v1/projectrequests"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
CORE = "/api/v1"
NOW = 1_700_000_000.0
NOW_TEXT = "2023-11-14T22:13:20Z"


def not_found(resource: str, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{resource} "{name}" not found')


def exists(resource: str, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{resource} "{name}" already exists')


class FakeIdentities:
    """Stands in for ``IdentityService`` in these handler tests only."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.passwords: dict[str, tuple[str | None, str | None]] = {}
        self.groups: dict[str, Group] = {}
        self.accounts: dict[tuple[str, str], ServiceAccount] = {}
        self.tokens: list[IssuedToken] = []

    async def create_user(
        self, name: str, password: str | None = None, full_name: str = ""
    ) -> User:
        if name in self.users:
            raise exists("users.user.openshift.io", name)
        if password is not None and len(password) < 8:
            raise StatusError(422, "Invalid", f'users "{name}" is invalid: password too short')
        self.users[name] = User(name, f"uid-{name}", full_name, (), NOW)
        if password is not None:
            self.passwords[name] = (password, None)
        return self.users[name]

    async def get_user(self, name: str) -> User:
        if name not in self.users:
            raise not_found("users.user.openshift.io", name)
        return self.users[name]

    async def list_users(self) -> list[User]:
        return list(self.users.values())

    async def delete_user(self, name: str) -> None:
        await self.get_user(name)
        del self.users[name]

    async def set_password(
        self, name: str, password: str | None = None, password_hash: str | None = None
    ) -> None:
        if (password is None) == (password_hash is None):
            raise StatusError(422, "Invalid", f'users "{name}" is invalid: give exactly one')
        await self.get_user(name)
        self.passwords[name] = (password, password_hash)

    async def create_group(self, name: str, users: tuple[str, ...] = ()) -> Group:
        if name in self.groups:
            raise exists("groups.user.openshift.io", name)
        self.groups[name] = Group(name, f"uid-{name}", tuple(users), NOW)
        return self.groups[name]

    async def get_group(self, name: str) -> Group:
        if name not in self.groups:
            raise not_found("groups.user.openshift.io", name)
        return self.groups[name]

    async def list_groups(self) -> list[Group]:
        return list(self.groups.values())

    async def set_group_users(self, name: str, users: tuple[str, ...]) -> Group:
        self.groups[name] = replace(await self.get_group(name), users=tuple(users))
        return self.groups[name]

    async def delete_group(self, name: str) -> None:
        await self.get_group(name)
        del self.groups[name]

    async def create_service_account(self, namespace: str, name: str) -> ServiceAccount:
        if (namespace, name) in self.accounts:
            raise exists("serviceaccounts", name)
        self.accounts[namespace, name] = ServiceAccount(namespace, name, f"uid-{name}", NOW)
        return self.accounts[namespace, name]

    async def get_service_account(self, namespace: str, name: str) -> ServiceAccount:
        if (namespace, name) not in self.accounts:
            raise not_found("serviceaccounts", name)
        return self.accounts[namespace, name]

    async def list_service_accounts(self, namespace: str) -> list[ServiceAccount]:
        return [a for (ns, _), a in self.accounts.items() if ns == namespace]

    async def delete_service_account(self, namespace: str, name: str) -> None:
        await self.get_service_account(namespace, name)
        del self.accounts[namespace, name]

    async def issue_token(self, user_name: str, ttl: float | None) -> IssuedToken:
        issued = IssuedToken(
            f"dyt~{len(self.tokens)}", str(len(self.tokens)), user_name, NOW + (ttl or 0)
        )
        self.tokens.append(issued)
        return issued


class FakeProjects:
    """Stands in for ``ProjectService`` in these handler tests only."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.creators: dict[str, Principal] = {}

    async def create_project(
        self, name: str, creator: Principal, display_name: str = "", description: str = ""
    ) -> Project:
        if not name.isalnum() or not name.islower():
            raise StatusError(422, "Invalid", f'projects "{name}" is invalid: metadata.name')
        if name in self.projects:
            raise exists("projects.project.openshift.io", name)
        self.projects[name] = Project(name, f"uid-{name}", display_name, description, NOW)
        self.creators[name] = creator
        return self.projects[name]

    async def get_project(self, name: str) -> Project:
        if name not in self.projects:
            raise not_found("projects.project.openshift.io", name)
        return self.projects[name]

    async def list_projects(self) -> list[Project]:
        return list(self.projects.values())

    async def delete_project(self, name: str) -> None:
        await self.get_project(name)
        del self.projects[name]


Check = tuple[str, str, str, str, str | None, str | None]


@dataclass
class FakePolicy:
    """Stands in for ``PolicyService`` in these handler tests only: ``grants`` holds
    ``(user, verb, resource, namespace)``, namespace None meaning every namespace; ``admin``
    may do anything. Every check asked is recorded in ``checks``."""

    grants: set[tuple[str, str, str, str | None]] = field(default_factory=set)
    bindings: dict[tuple[str | None, str], RoleBinding] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    async def can(
        self,
        principal: Principal,
        verb: str,
        api_group: str,
        resource: str,
        namespace: str | None,
        name: str | None = None,
    ) -> bool:
        self.checks.append((principal.name, verb, api_group, resource, namespace, name))
        return principal.name == "admin" or any(
            (principal.name, verb, resource, scope) in self.grants for scope in (None, namespace)
        )

    async def namespaces_where(
        self, principal: Principal, verb: str, api_group: str, resource: str
    ) -> set[str] | None:
        if await self.can(principal, verb, api_group, resource, None):
            return None
        return {
            ns
            for user, v, r, ns in self.grants
            if (user, v, r) == (principal.name, verb, resource) and ns
        }

    async def list_bindings(self, namespace: str | None) -> list[RoleBinding]:
        return [b for (ns, _), b in self.bindings.items() if ns == namespace]

    async def get_binding(self, namespace: str | None, name: str) -> RoleBinding:
        if (namespace, name) not in self.bindings:
            raise not_found("rolebindings.rbac.authorization.k8s.io", name)
        return self.bindings[namespace, name]

    async def create_binding(self, binding: RoleBinding) -> RoleBinding:
        key = (binding.namespace, binding.name)
        if key in self.bindings:
            raise exists("rolebindings.rbac.authorization.k8s.io", binding.name)
        self.bindings[key] = replace(binding, uid=str(uuid.uuid4()), created_at=NOW)
        return self.bindings[key]

    async def replace_binding(self, binding: RoleBinding) -> RoleBinding:
        current = await self.get_binding(binding.namespace, binding.name)
        if current.role_name != binding.role_name:
            raise StatusError(422, "Invalid", "roleRef: cannot change roleRef")
        self.bindings[binding.namespace, binding.name] = replace(current, subjects=binding.subjects)
        return self.bindings[binding.namespace, binding.name]

    async def delete_binding(self, namespace: str | None, name: str) -> None:
        await self.get_binding(namespace, name)
        del self.bindings[namespace, name]

    def roles(self) -> list[Role]:
        return sorted(BUILTIN_CLUSTER_ROLES.values(), key=lambda role: role.name)

    def role(self, kind: str, name: str) -> Role:
        if name not in BUILTIN_CLUSTER_ROLES:
            raise not_found("clusterroles.rbac.authorization.k8s.io", name)
        return BUILTIN_CLUSTER_ROLES[name]


class FakeAuthentication:
    """Stands in for the authentication middleware: ``Bearer <name>`` is user <name>,
    ``Bearer invalid`` failed credentials, ``Bearer jwt:<name>`` a registry bearer token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            header = dict(scope["headers"]).get(b"authorization", b"").decode()
            token = header.removeprefix("Bearer ")
            state["auth_failed"] = token == "invalid"
            if not header or token == "invalid":
                state["principal"] = ANONYMOUS
            elif token.startswith("jwt:"):
                state["principal"] = Principal(token[4:], True, (), grants=frozenset())
            else:
                state["principal"] = Principal(token, True, ("system:authenticated",))
        await self.app(scope, receive, send)


@dataclass
class Env:
    client: httpx.AsyncClient
    identities: FakeIdentities
    projects: FakeProjects
    policy: FakePolicy

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = "admin",
        body: Any = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {user}"
        if body is not None:
            kwargs["json"] = body
        return await self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    app = Starlette(
        routes=resource_routes(),
        middleware=[Middleware(FakeAuthentication)],
        exception_handlers={StatusError: handle_status_error},
    )
    identities, projects, policy = FakeIdentities(), FakeProjects(), FakePolicy()
    app.state.services = SimpleNamespace(identities=identities, projects=projects, policy=policy)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dockyard") as client:
        yield Env(client, identities, projects, policy)


def assert_status(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert (body["reason"], body["code"]) == (reason, code)
    return body


def user_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "user.openshift.io/v1",
        "kind": "User",
        "metadata": {"name": name},
        **extra,
    }


def binding_body(name: str, role: str = "registry-viewer", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
        **extra,
    }


# --- users/~ -------------------------------------------------------------------------------


async def test_current_user_is_the_callers_user_object(env: Env) -> None:
    await env.identities.create_user("alice", full_name="Alice Liddell")
    response = await env.call("GET", f"{USERS}/~", user="alice")
    assert response.status_code == 200
    assert response.json() == {
        "kind": "User",
        "apiVersion": "user.openshift.io/v1",
        "metadata": {"name": "alice", "uid": "uid-alice", "creationTimestamp": NOW_TEXT},
        "fullName": "Alice Liddell",
        "identities": [],
        "groups": [],
    }
    assert env.policy.checks == []  # everyone may ask who they are


async def test_current_user_of_a_service_account_is_described_from_the_principal(env: Env) -> None:
    name = service_account_user("proj", "builder")
    response = await env.call("GET", f"{USERS}/~", user=name)
    assert response.status_code == 200
    assert response.json()["metadata"] == {"name": name}
    assert response.json()["groups"] == ["system:authenticated"]


async def test_current_user_needs_credentials(env: Env) -> None:
    body = assert_status(await env.call("GET", f"{USERS}/~", user=None), 401, "Unauthorized")
    assert body["message"] == "Unauthorized"


async def test_failed_credentials_are_401_even_where_anonymous_may(env: Env) -> None:
    env.policy.grants.add(("system:anonymous", "list", "clusterroles", None))
    assert (await env.call("GET", f"{RBAC}/clusterroles", user=None)).status_code == 200
    response = await env.call("GET", f"{RBAC}/clusterroles", user="invalid")
    assert_status(response, 401, "Unauthorized")


async def test_registry_bearer_tokens_are_refused(env: Env) -> None:
    body = assert_status(await env.call("GET", f"{USERS}/~", user="jwt:admin"), 403, "Forbidden")
    assert "registry bearer token" in body["message"]


async def test_current_user_only_answers_get(env: Env) -> None:
    response = await env.call("DELETE", f"{USERS}/~")
    body = assert_status(response, 405, "MethodNotAllowed")
    assert "does not allow this method" in body["message"]


# --- users ---------------------------------------------------------------------------------


async def test_create_user_with_initial_password(env: Env) -> None:
    response = await env.call(
        "POST", USERS, body=user_body("alice", fullName="Alice", password="s3cret-pass")
    )
    assert response.status_code == 201
    assert response.json()["metadata"]["name"] == "alice"
    assert response.json()["fullName"] == "Alice"
    assert "password" not in response.text
    assert env.identities.passwords["alice"] == ("s3cret-pass", None)
    assert env.policy.checks == [("admin", "create", "user.openshift.io", "users", None, None)]


async def test_create_user_without_kind_and_api_version(env: Env) -> None:
    response = await env.call("POST", USERS, body={"metadata": {"name": "alice"}})
    assert response.status_code == 201
    assert "alice" not in env.identities.passwords


async def test_created_object_can_be_sent_back_as_fetched(env: Env) -> None:
    created = (await env.call("POST", GROUPS, body={"metadata": {"name": "devs"}})).json()
    response = await env.call("PUT", f"{GROUPS}/devs", body={**created, "users": ["alice"]})
    assert response.status_code == 200
    assert response.json()["users"] == ["alice"]


async def test_list_users(env: Env) -> None:
    await env.identities.create_user("alice")
    await env.identities.create_user("bob")
    response = await env.call("GET", USERS)
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["apiVersion"], body["metadata"]) == (
        "UserList",
        "user.openshift.io/v1",
        {},
    )
    assert [item["metadata"]["name"] for item in body["items"]] == ["alice", "bob"]
    assert env.policy.checks == [("admin", "list", "user.openshift.io", "users", None, None)]


async def test_get_and_delete_user(env: Env) -> None:
    await env.identities.create_user("alice")
    assert (await env.call("GET", f"{USERS}/alice")).json()["metadata"]["name"] == "alice"
    response = await env.call("DELETE", f"{USERS}/alice")
    assert response.status_code == 200
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "alice", "group": "user.openshift.io", "kind": "users"},
    }
    assert "alice" not in env.identities.users
    assert env.policy.checks[-1] == (
        "admin",
        "delete",
        "user.openshift.io",
        "users",
        None,
        "alice",
    )


async def test_missing_user_is_404_from_the_service(env: Env) -> None:
    body = assert_status(await env.call("GET", f"{USERS}/ghost"), 404, "NotFound")
    assert body["message"] == 'users.user.openshift.io "ghost" not found'
    assert_status(await env.call("DELETE", f"{USERS}/ghost"), 404, "NotFound")


async def test_duplicate_user_is_409(env: Env) -> None:
    await env.identities.create_user("alice")
    assert_status(await env.call("POST", USERS, body=user_body("alice")), 409, "AlreadyExists")


async def test_forbidden_message_says_who_may_not_do_what(env: Env) -> None:
    await env.identities.create_user("alice")
    body = assert_status(await env.call("DELETE", f"{USERS}/alice", user="bob"), 403, "Forbidden")
    assert body["message"] == (
        'users "alice" is forbidden: User "bob" cannot delete resource "users" in API group'
        ' "user.openshift.io" at the cluster scope'
    )
    assert body["details"] == {"name": "alice", "group": "user.openshift.io", "kind": "users"}
    assert "alice" in env.identities.users


async def test_denied_lookups_do_not_reveal_existence(env: Env) -> None:
    await env.identities.create_user("alice")
    existing = await env.call("GET", f"{USERS}/alice", user="bob")
    missing = await env.call("GET", f"{USERS}/ghost", user="bob")
    assert_status(existing, 403, "Forbidden")
    assert_status(missing, 403, "Forbidden")
    assert existing.json()["message"].replace("alice", "ghost") == missing.json()["message"]


async def test_anonymous_denied_is_401(env: Env) -> None:
    assert_status(await env.call("GET", USERS, user=None), 401, "Unauthorized")
    assert_status(
        await env.call("POST", USERS, user=None, body=user_body("x")), 401, "Unauthorized"
    )
    assert env.identities.users == {}


async def test_list_forbidden_names_no_object(env: Env) -> None:
    body = assert_status(await env.call("GET", USERS, user="bob"), 403, "Forbidden")
    assert body["message"] == (
        'users is forbidden: User "bob" cannot list resource "users" in API group'
        ' "user.openshift.io" at the cluster scope'
    )


async def test_granted_user_may_list(env: Env) -> None:
    env.policy.grants.add(("bob", "list", "users", None))
    assert (await env.call("GET", USERS, user="bob")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"metadata": {"name": "a"}, "fulName": "typo"}, "fulName", "FieldValueInvalid"),
        ({"metadata": {"name": "a", "nmae": "b"}}, "metadata.nmae", "FieldValueInvalid"),
        ({"metadata": {"name": "a"}, "fullName": 3}, "fullName", "FieldValueInvalid"),
        ({"metadata": {"name": 7}}, "metadata.name", "FieldValueInvalid"),
        ({"metadata": {}}, "metadata.name", "FieldValueRequired"),
        ({"metadata": {"name": "a"}, "groups": ["devs"]}, "groups", "FieldValueForbidden"),
        (
            {"metadata": {"name": "a", "labels": {"x": "y"}}},
            "metadata.labels",
            "FieldValueForbidden",
        ),
    ],
)
async def test_invalid_user_bodies_are_422_naming_the_field(
    env: Env, body: dict[str, Any], field: str, reason: str
) -> None:
    status = assert_status(await env.call("POST", USERS, body=body), 422, "Invalid")
    assert status["message"].startswith("User.user.openshift.io ")
    assert f"{field}: " in status["message"]
    assert status["details"]["causes"][0]["field"] == field
    assert status["details"]["causes"][0]["reason"] == reason
    assert env.identities.users == {}


async def test_invalid_values_are_not_echoed(env: Env) -> None:
    response = await env.call("POST", USERS, body={"metadata": {"name": "a"}, "password": 12345678})
    status = assert_status(response, 422, "Invalid")
    assert "12345678" not in json.dumps(status)


async def test_several_problems_are_listed_together(env: Env) -> None:
    body = {"metadata": {"name": "a"}, "fullName": 3, "extra": True}
    status = assert_status(await env.call("POST", USERS, body=body), 422, "Invalid")
    assert {cause["field"] for cause in status["details"]["causes"]} == {"fullName", "extra"}
    assert "is invalid: [" in status["message"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (user_body("a") | {"kind": "Group"}, "kind", "the kind in the data (Group)"),
        (user_body("a") | {"apiVersion": "v1"}, "apiVersion", "the API version in the data (v1)"),
        (
            {"kind": "Group", "metadata": {"name": "devs"}, "users": ["alice"]},
            "kind",
            "the kind in the data (Group) does not match the expected kind (User)",
        ),
    ],
)
async def test_wrong_kind_or_api_version_is_400(
    env: Env, body: dict[str, Any], field: str, message: str
) -> None:
    status = assert_status(await env.call("POST", USERS, body=body), 400, "BadRequest")
    assert status["message"].startswith(message)
    assert status["details"]["causes"][0]["field"] == field


@pytest.mark.parametrize("content", [b"{", b"", b"\xff", b"[" * 100_000])
async def test_unreadable_json_is_400(env: Env, content: bytes) -> None:
    response = await env.call(
        "POST", USERS, content=content, headers={"Content-Type": "application/json"}
    )
    assert_status(response, 400, "BadRequest")


async def test_an_empty_body_is_400(env: Env) -> None:
    status = assert_status(await env.call("POST", USERS, content=b""), 400, "BadRequest")
    assert status["message"] == "the request body is empty; send a JSON object"


async def test_password_problems_name_the_user(env: Env) -> None:
    await env.identities.create_user("alice")
    response = await env.call("PUT", f"{USERS}/alice/password", body={"pasword": "typo"})
    status = assert_status(response, 422, "Invalid")
    assert status["message"] == (
        'User.user.openshift.io "alice" is invalid: pasword: unknown field "pasword"'
    )


async def test_a_body_that_is_no_object_is_400(env: Env) -> None:
    status = assert_status(await env.call("POST", USERS, body=["alice"]), 400, "BadRequest")
    assert "must be a JSON object" in status["message"]


async def test_body_over_one_mebibyte_is_413(env: Env) -> None:
    big = user_body("a", fullName="x" * MAX_BODY_BYTES)
    assert_status(await env.call("POST", USERS, body=big), 413, "RequestEntityTooLarge")


async def test_streamed_body_over_the_limit_is_413(env: Env) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b" " * (MAX_BODY_BYTES // 4)

    response = await env.call("POST", USERS, content=chunks())
    assert_status(response, 413, "RequestEntityTooLarge")


async def test_non_json_media_type_is_415(env: Env) -> None:
    response = await env.call(
        "POST", USERS, content=b"name: a", headers={"Content-Type": "application/yaml"}
    )
    assert_status(response, 415, "UnsupportedMediaType")


async def test_unsupported_verbs_are_405(env: Env) -> None:
    assert_status(await env.call("PUT", f"{USERS}/alice", body={}), 405, "MethodNotAllowed")
    assert_status(await env.call("PATCH", USERS, body={}), 405, "MethodNotAllowed")
    assert_status(await env.call("POST", PROJECTS, body={}), 405, "MethodNotAllowed")


async def test_service_validation_passes_through(env: Env) -> None:
    response = await env.call("POST", USERS, body=user_body("alice", password="short"))
    assert_status(response, 422, "Invalid")


# --- passwords -----------------------------------------------------------------------------


async def test_users_change_their_own_password(env: Env) -> None:
    await env.identities.create_user("alice")
    response = await env.call(
        "PUT", f"{USERS}/alice/password", user="alice", body={"password": "new-password"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "Success"
    assert response.json()["message"] == 'password of user "alice" changed'
    assert env.identities.passwords["alice"] == ("new-password", None)
    assert env.policy.checks == []


async def test_admin_sets_a_password_hash(env: Env) -> None:
    await env.identities.create_user("alice")
    hashed = "$2y$05$" + "a" * 53
    response = await env.call("PUT", f"{USERS}/alice/password", body={"passwordHash": hashed})
    assert response.status_code == 200
    assert env.identities.passwords["alice"] == (None, hashed)
    assert env.policy.checks == [("admin", "update", "user.openshift.io", "users", None, "alice")]


async def test_others_may_not_change_a_password(env: Env) -> None:
    await env.identities.create_user("alice")
    response = await env.call(
        "PUT", f"{USERS}/alice/password", user="bob", body={"password": "new-password"}
    )
    status = assert_status(response, 403, "Forbidden")
    assert 'User "bob" cannot update resource "users"' in status["message"]
    anonymous = await env.call(
        "PUT", f"{USERS}/alice/password", user=None, body={"password": "new-password"}
    )
    assert_status(anonymous, 401, "Unauthorized")
    assert env.identities.passwords == {}


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        ({}, 422, "Invalid"),
        ({"password": "a-password", "passwordHash": "$2y$"}, 422, "Invalid"),
        ({"pasword": "typo"}, 422, "Invalid"),
        ({"password": None}, 422, "Invalid"),
        ("password", 400, "BadRequest"),
    ],
)
async def test_bad_password_bodies(env: Env, body: Any, code: int, reason: str) -> None:
    await env.identities.create_user("alice")
    response = await env.call("PUT", f"{USERS}/alice/password", user="alice", body=body)
    assert_status(response, code, reason)
    assert env.identities.passwords == {}


async def test_password_endpoint_only_answers_put(env: Env) -> None:
    assert_status(await env.call("GET", f"{USERS}/alice/password"), 405, "MethodNotAllowed")


# --- groups --------------------------------------------------------------------------------


async def test_group_lifecycle(env: Env) -> None:
    group = {"apiVersion": "user.openshift.io/v1", "kind": "Group", "metadata": {"name": "devs"}}
    created = await env.call("POST", GROUPS, body={**group, "users": ["alice"]})
    assert created.status_code == 201
    assert created.json()["users"] == ["alice"]
    assert created.json()["metadata"]["uid"] == "uid-devs"
    listed = (await env.call("GET", GROUPS)).json()
    assert listed["kind"] == "GroupList"
    assert [g["metadata"]["name"] for g in listed["items"]] == ["devs"]
    updated = await env.call("PUT", f"{GROUPS}/devs", body={**group, "users": ["bob", "carol"]})
    assert updated.json()["users"] == ["bob", "carol"]
    assert (await env.call("GET", f"{GROUPS}/devs")).json()["users"] == ["bob", "carol"]
    assert (await env.call("DELETE", f"{GROUPS}/devs")).status_code == 200
    assert_status(await env.call("GET", f"{GROUPS}/devs"), 404, "NotFound")
    verbs = [check[1:4] for check in env.policy.checks]
    assert verbs == [
        (verb, "user.openshift.io", "groups")
        for verb in ("create", "list", "update", "get", "delete", "get")
    ]


async def test_group_users_null_means_none(env: Env) -> None:
    response = await env.call("POST", GROUPS, body={"metadata": {"name": "devs"}, "users": None})
    assert response.json()["users"] == []


async def test_update_with_another_name_is_400(env: Env) -> None:
    await env.identities.create_group("devs")
    response = await env.call("PUT", f"{GROUPS}/devs", body={"metadata": {"name": "ops"}})
    status = assert_status(response, 400, "BadRequest")
    assert status["message"] == (
        "the name of the object (ops) does not match the name on the URL (devs)"
    )


async def test_update_of_a_missing_group_is_404(env: Env) -> None:
    response = await env.call("PUT", f"{GROUPS}/ghost", body={"users": []})
    assert_status(response, 404, "NotFound")


async def test_update_is_authorized_before_the_body_is_read(env: Env) -> None:
    response = await env.call("PUT", f"{GROUPS}/devs", user="bob", content=b"not json")
    assert_status(response, 403, "Forbidden")


@pytest.mark.parametrize("name", ["a%b", "..", "."])
async def test_group_names_must_be_path_segments(env: Env, name: str) -> None:
    response = await env.call("POST", GROUPS, body={"metadata": {"name": name}})
    status = assert_status(response, 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"


# --- projects ------------------------------------------------------------------------------


async def test_any_authenticated_user_requests_a_project(env: Env) -> None:
    response = await env.call(
        "POST",
        PROJECT_REQUESTS,
        user="bob",
        body={
            "apiVersion": "project.openshift.io/v1",
            "kind": "ProjectRequest",
            "metadata": {"name": "web"},
            "displayName": "Web team",
            "description": "Front ends",
        },
    )
    assert response.status_code == 201
    assert response.json() == {
        "kind": "Project",
        "apiVersion": "project.openshift.io/v1",
        "metadata": {
            "name": "web",
            "uid": "uid-web",
            "creationTimestamp": NOW_TEXT,
            "annotations": {
                "openshift.io/display-name": "Web team",
                "openshift.io/description": "Front ends",
            },
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    assert env.projects.creators["web"].name == "bob"
    assert env.policy.checks == []


async def test_anonymous_may_not_request_a_project(env: Env) -> None:
    response = await env.call("POST", PROJECT_REQUESTS, user=None, body={"metadata": {"name": "w"}})
    assert_status(response, 401, "Unauthorized")
    assert env.projects.projects == {}


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        ({"metadata": {"name": "Bad_Name"}}, 422, "Invalid"),
        ({"metadata": {"name": "web"}, "kind": "Project"}, 400, "BadRequest"),
        ({"metadata": {"name": "web"}, "display": "typo"}, 422, "Invalid"),
    ],
)
async def test_bad_project_requests(env: Env, body: Any, code: int, reason: str) -> None:
    assert_status(await env.call("POST", PROJECT_REQUESTS, body=body), code, reason)
    assert env.projects.projects == {}


async def test_duplicate_project_request_is_409(env: Env) -> None:
    await env.call("POST", PROJECT_REQUESTS, body={"metadata": {"name": "web"}})
    response = await env.call("POST", PROJECT_REQUESTS, body={"metadata": {"name": "web"}})
    assert_status(response, 409, "AlreadyExists")


async def test_project_list_shows_only_what_the_caller_may_get(env: Env) -> None:
    for name in ("web", "ops", "data"):
        await env.projects.create_project(name, ANONYMOUS)
    env.policy.grants.add(("bob", "get", "projects", "web"))
    env.policy.grants.add(("bob", "get", "projects", "data"))
    response = await env.call("GET", PROJECTS, user="bob")
    assert response.json()["kind"] == "ProjectList"
    assert [p["metadata"]["name"] for p in response.json()["items"]] == ["web", "data"]
    everything = (await env.call("GET", PROJECTS)).json()["items"]
    assert len(everything) == 3
    nothing = await env.call("GET", PROJECTS, user=None)
    assert nothing.json()["items"] == []


async def test_project_get_and_delete_are_checked_in_the_project(env: Env) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    denied = await env.call("GET", f"{PROJECTS}/web", user="bob")
    status = assert_status(denied, 403, "Forbidden")
    assert status["message"] == (
        'projects "web" is forbidden: User "bob" cannot get resource "projects" in API group'
        ' "project.openshift.io" in the namespace "web"'
    )
    env.policy.grants.add(("bob", "get", "projects", "web"))
    assert (await env.call("GET", f"{PROJECTS}/web", user="bob")).status_code == 200
    assert_status(await env.call("DELETE", f"{PROJECTS}/web", user="bob"), 403, "Forbidden")
    env.policy.grants.add(("bob", "delete", "projects", "web"))
    assert (await env.call("DELETE", f"{PROJECTS}/web", user="bob")).status_code == 200
    assert env.projects.projects == {}
    assert env.policy.checks[-1] == (
        "bob",
        "delete",
        "project.openshift.io",
        "projects",
        "web",
        "web",
    )


async def test_project_without_display_name_has_no_annotations(env: Env) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    assert "annotations" not in (await env.call("GET", f"{PROJECTS}/web")).json()["metadata"]


# --- role bindings -------------------------------------------------------------------------


async def test_role_binding_lifecycle(env: Env) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    path = f"{RBAC}/namespaces/web/rolebindings"
    created = await env.call("POST", path, body=binding_body("viewers"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "RoleBinding"
    assert body["metadata"]["namespace"] == "web"
    assert body["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "registry-viewer",
    }
    assert body["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}
    ]
    listed = (await env.call("GET", path)).json()
    assert listed["kind"] == "RoleBindingList"
    assert [b["metadata"]["name"] for b in listed["items"]] == ["viewers"]
    update = binding_body(
        "viewers",
        subjects=[{"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "name": "ci"}],
    )
    replaced = await env.call("PUT", f"{path}/viewers", body=update)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "web"},
    ]
    assert replaced.json()["metadata"]["uid"] == body["metadata"]["uid"]
    assert (await env.call("GET", f"{path}/viewers")).json()["subjects"][1]["name"] == "ci"
    assert (await env.call("DELETE", f"{path}/viewers")).status_code == 200
    assert env.policy.bindings == {}
    assert {check[1:5] for check in env.policy.checks} == {
        (verb, "rbac.authorization.k8s.io", "rolebindings", "web")
        for verb in ("create", "list", "update", "get", "delete")
    }


async def test_role_binding_in_a_missing_project_is_404(env: Env) -> None:
    path = f"{RBAC}/namespaces/ghost/rolebindings"
    response = await env.call("POST", path, body=binding_body("viewers"))
    status = assert_status(response, 404, "NotFound")
    assert "ghost" in status["message"]


async def test_role_binding_namespace_must_match_the_path(env: Env) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    body = binding_body("viewers")
    body["metadata"]["namespace"] = "ops"
    response = await env.call("POST", f"{RBAC}/namespaces/web/rolebindings", body=body)
    status = assert_status(response, 400, "BadRequest")
    assert "does not match the namespace sent on the request" in status["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"roleRef": {"apiGroup": "x", "kind": "ClusterRole", "name": "r"}}, "roleRef.apiGroup"),
        (
            {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Cat", "name": "r"}},
            "roleRef.kind",
        ),
        ({"roleRef": {"kind": "ClusterRole", "name": "r"}}, "roleRef.apiGroup"),
        (
            {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole"}},
            "roleRef.name",
        ),
        ({"roleRef": None}, "roleRef"),
        ({"subjects": [{"kind": "Robot", "name": "r2"}]}, "subjects[0].kind"),
        ({"subjects": [{"kind": "User", "name": ""}]}, "subjects[0].name"),
        ({"subjects": [{"kind": "User", "name": "a", "apiGroup": "x"}]}, "subjects[0].apiGroup"),
        (
            {
                "subjects": [
                    {"kind": "ServiceAccount", "name": "a", "apiGroup": "rbac.authorization.k8s.io"}
                ]
            },
            "subjects[0].apiGroup",
        ),
        ({"subjects": [{"kind": "User"}]}, "subjects[0].name"),
    ],
)
async def test_invalid_role_bindings_are_422(env: Env, change: dict[str, Any], field: str) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    body = binding_body("viewers") | change
    response = await env.call("POST", f"{RBAC}/namespaces/web/rolebindings", body=body)
    status = assert_status(response, 422, "Invalid")
    assert field in [cause["field"] for cause in status["details"]["causes"]]
    assert env.policy.bindings == {}


async def test_role_binding_forbidden_in_another_namespace(env: Env) -> None:
    env.policy.grants.add(("bob", "create", "rolebindings", "web"))
    await env.projects.create_project("web", ANONYMOUS)
    await env.projects.create_project("ops", ANONYMOUS)
    ok = await env.call(
        "POST", f"{RBAC}/namespaces/web/rolebindings", user="bob", body=binding_body("v")
    )
    assert ok.status_code == 201
    denied = await env.call(
        "POST", f"{RBAC}/namespaces/ops/rolebindings", user="bob", body=binding_body("v")
    )
    status = assert_status(denied, 403, "Forbidden")
    assert status["message"].endswith('in the namespace "ops"')


async def test_changing_role_ref_passes_the_service_error_through(env: Env) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    path = f"{RBAC}/namespaces/web/rolebindings"
    await env.call("POST", path, body=binding_body("viewers"))
    response = await env.call(
        "PUT", f"{path}/viewers", body=binding_body("viewers", "registry-admin")
    )
    assert_status(response, 422, "Invalid")


async def test_cluster_role_binding_lifecycle(env: Env) -> None:
    path = f"{RBAC}/clusterrolebindings"
    body = binding_body("admins", "cluster-admin") | {"kind": "ClusterRoleBinding"}
    body["subjects"] = [{"kind": "ServiceAccount", "name": "ci", "namespace": "web"}]
    created = await env.call("POST", path, body=body)
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "ClusterRoleBinding"
    assert "namespace" not in created.json()["metadata"]
    assert (await env.call("GET", f"{path}/admins")).json()["roleRef"]["name"] == "cluster-admin"
    assert (await env.call("GET", path)).json()["kind"] == "ClusterRoleBindingList"
    assert (await env.call("PUT", f"{path}/admins", body=body)).status_code == 200
    assert (await env.call("DELETE", f"{path}/admins")).status_code == 200
    assert_status(await env.call("DELETE", f"{path}/admins"), 404, "NotFound")
    assert {c[3:5] for c in env.policy.checks} == {("clusterrolebindings", None)}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}},
            "roleRef.kind",
        ),
        ({"subjects": [{"kind": "ServiceAccount", "name": "ci"}]}, "subjects[0].namespace"),
    ],
)
async def test_invalid_cluster_role_bindings(env: Env, change: dict[str, Any], field: str) -> None:
    body = binding_body("admins") | {"kind": "ClusterRoleBinding"} | change
    response = await env.call("POST", f"{RBAC}/clusterrolebindings", body=body)
    status = assert_status(response, 422, "Invalid")
    assert status["message"].startswith('ClusterRoleBinding.rbac.authorization.k8s.io "admins"')
    assert status["details"]["causes"][0]["field"] == field


async def test_cluster_role_bindings_need_cluster_rights(env: Env) -> None:
    env.policy.grants.add(("bob", "list", "rolebindings", "web"))
    response = await env.call("GET", f"{RBAC}/clusterrolebindings", user="bob")
    assert_status(response, 403, "Forbidden")


# --- cluster roles -------------------------------------------------------------------------


async def test_cluster_roles_are_the_built_in_ones(env: Env) -> None:
    listed = (await env.call("GET", f"{RBAC}/clusterroles")).json()
    assert listed["kind"] == "ClusterRoleList"
    assert {r["metadata"]["name"] for r in listed["items"]} == set(BUILTIN_CLUSTER_ROLES)
    puller = (await env.call("GET", f"{RBAC}/clusterroles/system:image-puller")).json()
    assert puller == {
        "kind": "ClusterRole",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "system:image-puller"},
        "rules": [
            {
                "verbs": ["get"],
                "apiGroups": ["", "image.openshift.io"],
                "resources": ["imagestreams/layers"],
            }
        ],
    }


async def test_cluster_roles_are_read_only_and_checked(env: Env) -> None:
    assert_status(await env.call("GET", f"{RBAC}/clusterroles/nope"), 404, "NotFound")
    assert_status(await env.call("POST", f"{RBAC}/clusterroles", body={}), 405, "MethodNotAllowed")
    assert_status(
        await env.call("DELETE", f"{RBAC}/clusterroles/cluster-admin"), 405, "MethodNotAllowed"
    )
    assert_status(await env.call("GET", f"{RBAC}/clusterroles", user=None), 401, "Unauthorized")
    response = await env.call("GET", f"{RBAC}/clusterroles/cluster-admin", user="bob")
    assert_status(response, 403, "Forbidden")


# --- service accounts ----------------------------------------------------------------------


async def test_service_account_lifecycle(env: Env) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    path = f"{CORE}/namespaces/web/serviceaccounts"
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci"}}
    created = await env.call("POST", path, body=body)
    assert created.status_code == 201
    assert created.json() == {
        "kind": "ServiceAccount",
        "apiVersion": "v1",
        "metadata": {
            "name": "ci",
            "namespace": "web",
            "uid": "uid-ci",
            "creationTimestamp": NOW_TEXT,
        },
    }
    assert (await env.call("GET", path)).json()["kind"] == "ServiceAccountList"
    assert (await env.call("GET", f"{path}/ci")).json()["metadata"]["name"] == "ci"
    assert_status(await env.call("POST", path, body=body), 409, "AlreadyExists")
    assert (await env.call("DELETE", f"{path}/ci")).status_code == 200
    assert_status(await env.call("GET", f"{path}/ci"), 404, "NotFound")
    assert {c[1:5] for c in env.policy.checks} == {
        (verb, "", "serviceaccounts", "web") for verb in ("create", "list", "get", "delete")
    }


@pytest.mark.parametrize("name", ["CI", "a_b", "-a", "a:b", "x" * 254])
async def test_service_account_names_are_dns_subdomains(env: Env, name: str) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    response = await env.call(
        "POST", f"{CORE}/namespaces/web/serviceaccounts", body={"metadata": {"name": name}}
    )
    assert_status(response, 422, "Invalid")
    assert env.identities.accounts == {}


async def test_service_account_unknown_fields_are_422(env: Env) -> None:
    await env.projects.create_project("web", ANONYMOUS)
    response = await env.call(
        "POST",
        f"{CORE}/namespaces/web/serviceaccounts",
        body={"metadata": {"name": "ci"}, "automountServiceAccountToken": False},
    )
    status = assert_status(response, 422, "Invalid")
    assert status["message"].startswith('ServiceAccount "ci" is invalid: ')


async def test_token_request(env: Env) -> None:
    await env.identities.create_service_account("web", "ci")
    response = await env.call(
        "POST",
        f"{CORE}/namespaces/web/serviceaccounts/ci/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 7200},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "TokenRequest"
    assert body["spec"]["expirationSeconds"] == 7200
    assert body["status"] == {"token": "dyt~0", "expirationTimestamp": "2023-11-15T00:13:20Z"}
    assert env.identities.tokens[0].user == "system:serviceaccount:web:ci"
    assert env.policy.checks == [("admin", "create", "", "serviceaccounts/token", "web", "ci")]


async def test_token_request_defaults_to_an_hour(env: Env) -> None:
    await env.identities.create_service_account("web", "ci")
    response = await env.call("POST", f"{CORE}/namespaces/web/serviceaccounts/ci/token")
    assert response.status_code == 201
    assert response.json()["spec"]["expirationSeconds"] == 3600
    assert env.identities.tokens[0].expires_at == NOW + 3600


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        ({"spec": {"expirationSeconds": 60}}, 422, "Invalid"),
        ({"spec": {"expirationSeconds": "3600"}}, 422, "Invalid"),
        ({"spec": {"expirationSeconds": 2**40}}, 422, "Invalid"),
        ({"spec": {"boundObjectRef": {"kind": "Pod"}}}, 422, "Invalid"),
        ({"kind": "ServiceAccount"}, 400, "BadRequest"),
    ],
)
async def test_bad_token_requests(env: Env, body: Any, code: int, reason: str) -> None:
    await env.identities.create_service_account("web", "ci")
    response = await env.call("POST", f"{CORE}/namespaces/web/serviceaccounts/ci/token", body=body)
    assert_status(response, code, reason)
    assert env.identities.tokens == []


async def test_token_for_a_missing_account_is_404_only_to_the_authorized(env: Env) -> None:
    path = f"{CORE}/namespaces/web/serviceaccounts/ghost/token"
    assert_status(await env.call("POST", path), 404, "NotFound")
    status = assert_status(await env.call("POST", path, user="bob"), 403, "Forbidden")
    assert status["message"].startswith('serviceaccounts "ghost" is forbidden: User "bob" cannot')
    assert 'cannot create resource "serviceaccounts/token"' in status["message"]
    assert_status(await env.call("POST", path, user=None), 401, "Unauthorized")
    assert_status(await env.call("GET", path), 405, "MethodNotAllowed")


def test_timestamp_is_rfc3339_utc() -> None:
    from dockyard.http.resources.objects import timestamp

    assert timestamp(0) == "1970-01-01T00:00:00Z"
    assert timestamp(time.time()).endswith("Z")
