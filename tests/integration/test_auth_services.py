"""The auth services on a real database: bindings, decisions, projects, logins, bearer tokens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from dockyard.auth.access import ANONYMOUS, Access, Principal
from dockyard.auth.bearer import BearerTokens, ensure_signing_key
from dockyard.auth.identities import IdentityService
from dockyard.auth.jwt import LEEWAY
from dockyard.auth.model import RoleBinding, Subject
from dockyard.auth.policy import PolicyService
from dockyard.auth.projects import ProjectService
from dockyard.errors import StatusError
from dockyard.metadata import repositories
from dockyard.metadata.engine import Database, upgrade

pytestmark = pytest.mark.anyio

ALICE = Principal("alice", True, ("devs", "system:authenticated"))
BOB = Principal("bob", True, ("system:authenticated",))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def identities(db: Database) -> IdentityService:
    return IdentityService(db, bcrypt_rounds=4)


@pytest.fixture
def policy(db: Database) -> PolicyService:
    return PolicyService(db)


@pytest.fixture
def projects(db: Database, policy: PolicyService, identities: IdentityService) -> ProjectService:
    return ProjectService(db, policy, identities)


async def test_add_role_extends_the_binding_of_the_role_and_names_new_ones_apart(
    policy: PolicyService,
) -> None:
    await policy.create_binding(
        RoleBinding("registry-viewer", "p", "ClusterRole", "registry-editor", ())
    )
    first = await policy.add_role("p", "registry-viewer", [Subject("User", "alice")])
    assert first.name == "registry-viewer-0"  # the role's own name is taken by another role
    again = await policy.add_role("p", "registry-viewer", [Subject("User", "bob")])
    assert again.name == "registry-viewer-0"
    assert again.subjects == (Subject("User", "alice"), Subject("User", "bob"))
    same = await policy.add_role("p", "registry-viewer", [Subject("User", "bob")])
    assert same.subjects == again.subjects


async def test_remove_role_drops_subjects_then_the_empty_binding(policy: PolicyService) -> None:
    await policy.add_role(
        "p", "registry-viewer", [Subject("User", "alice"), Subject("User", "bob")]
    )
    await policy.remove_role("p", "registry-viewer", [Subject("User", "alice")])
    (binding,) = [b for b in await policy.list_bindings("p") if b.role_name == "registry-viewer"]
    assert binding.subjects == (Subject("User", "bob"),)
    await policy.remove_role("p", "registry-viewer", [Subject("User", "bob")])
    assert [b for b in await policy.list_bindings("p") if b.role_name == "registry-viewer"] == []
    with pytest.raises(StatusError) as raised:
        await policy.remove_role("p", "registry-viewer", [Subject("User", "bob")])
    assert raised.value.code == 404


async def test_decisions_follow_bindings_of_users_groups_and_the_cluster(
    policy: PolicyService,
) -> None:
    group = "image.openshift.io"
    assert not await policy.can(ALICE, "get", group, "imagestreams/layers", "p", "app")
    await policy.add_role("p", "registry-viewer", [Subject("Group", "devs")])
    assert await policy.can(ALICE, "get", group, "imagestreams/layers", "p", "app")
    assert not await policy.can(ALICE, "update", group, "imagestreams/layers", "p", "app")
    assert not await policy.can(ALICE, "get", group, "imagestreams/layers", "q", "app")
    assert not await policy.can(BOB, "get", group, "imagestreams/layers", "p", "app")
    assert await policy.namespaces_where(ALICE, "list", group, "imagestreams") == {"p"}
    await policy.add_role(None, "cluster-admin", [Subject("User", "bob")])
    assert await policy.can(BOB, "delete", group, "images", None)
    assert await policy.namespaces_where(BOB, "list", group, "imagestreams") is None
    with pytest.raises(StatusError):
        await policy.add_role("p", "no-such-role", [Subject("User", "bob")])


async def test_project_creator_administers_it_and_deletion_takes_its_contents(
    db: Database, policy: PolicyService, projects: ProjectService, identities: IdentityService
) -> None:
    await projects.create_project("team", ALICE, display_name="Team")
    assert await policy.can(ALICE, "create", "rbac.authorization.k8s.io", "rolebindings", "team")
    assert not await policy.can(BOB, "get", "project.openshift.io", "projects", "team", "team")
    with pytest.raises(StatusError) as raised:
        await projects.create_project("team", BOB)
    assert raised.value.code == 409
    with pytest.raises(StatusError) as raised:
        await projects.create_project("Bad_Name", BOB)
    assert raised.value.code == 422
    await identities.create_service_account("team", "builder")
    async with db.write() as conn:
        await repositories.ensure(conn, "team/app")
    await projects.delete_project("team")
    async with db.read() as conn:
        assert await repositories.find_id(conn, "team/app") is None
    assert await policy.list_bindings("team") == []
    assert await identities.list_service_accounts("team") == []


async def test_login_locks_a_name_after_five_failures(identities: IdentityService) -> None:
    await identities.create_user("carol", "correct horse")
    for _ in range(5):
        with pytest.raises(StatusError) as raised:
            await identities.login("carol", "wrong password")
        assert raised.value.code == 401
    with pytest.raises(StatusError) as raised:
        await identities.login("carol", "correct horse")
    assert raised.value.code == 429


async def test_bearer_tokens_grant_what_was_issued_and_die_with_their_api_token(
    db: Database, identities: IdentityService
) -> None:
    await ensure_signing_key(db)
    await identities.create_user("dave", "correct horse")
    issued = await identities.issue_token("dave", 3600)
    principal = await identities.authenticate_token(issued.token)
    assert principal is not None and principal.token_id == issued.id
    bearer = BearerTokens(db)
    await bearer.start()
    jwt, _ = await bearer.issue(principal, [Access("repository", "p/app", "pull")])
    seen = await bearer.authenticate(jwt)
    assert seen is not None and seen.grants == frozenset({"repository:p/app:pull"})
    assert await bearer.authenticate(jwt + "x") is None
    await identities.revoke(issued.token)
    assert await identities.authenticate_token(issued.token) is None
    bearer._checked_at = 0.0  # the next check reads revocations now instead of within a second
    assert await bearer.authenticate(jwt) is None
    anonymous, _ = await bearer.issue(ANONYMOUS, [])
    seen = await bearer.authenticate(anonymous)
    assert seen is not None and not seen.authenticated


async def test_a_remembered_bearer_token_still_expires(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_signing_key(db)
    bearer = BearerTokens(db, ttl=60)
    await bearer.start()
    user = Principal("erin", True, ("system:authenticated",))
    jwt, _ = await bearer.issue(user, [Access("repository", "p/app", "pull")])
    assert await bearer.authenticate(jwt) is not None  # verified, and remembered
    assert await bearer.authenticate(jwt) is not None
    issued_at = time.time()
    monkeypatch.setattr(time, "time", lambda: issued_at + 60 + LEEWAY + 1)
    assert await bearer.authenticate(jwt) is None
    assert await bearer.authenticate(jwt) is None  # and it is not remembered as valid either
