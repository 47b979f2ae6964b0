"""Users, groups, service accounts and role bindings managed with the CLI, each change checked
where the user meets it: the registry lets them in, or not.

Project creators administer their project; groups carry roles to their members; htpasswd files
(bcrypt, from apache2-utils) import users; ``passwd`` changes passwords; service accounts get
tokens for CI; removing a role or deleting a project takes the access away.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from access_helpers import (
    AUTH_FAILURE,
    DockyardCLI,
    SkopeoRunner,
    admin_password_of,
    api_token,
    assert_denied,
    basic,
    catalog,
    catalog_repositories,
    describe,
    granted,
    manifest_url,
    module_registry,
    oauth_token,
    parallel,
    pull,
    push,
    registry_jwt,
    run_command,
    unique,
)
from images import ACCEPT_MANIFESTS, make_layout

if TYPE_CHECKING:
    from conftest import NewDatabase, RegistryProcess

pytestmark = [pytest.mark.integration, pytest.mark.database]

CHANGE_DEADLINE = 5.0
"""How long a change of roles or groups may take to reach every worker."""


@dataclass
class Site:
    registry: RegistryProcess
    root: Path
    admin_cli: DockyardCLI
    admin: httpx.Client

    @property
    def url(self) -> str:
        return self.registry.url

    def cli(self, label: str) -> DockyardCLI:
        return DockyardCLI(
            self.root / "cli" / f"{label}-{uuid.uuid4().hex[:6]}", self.root / "home"
        )

    def users(self, count: int) -> list[tuple[str, str]]:
        """``count`` new users without roles (names and passwords), made a few at a time."""
        made = [(unique("user"), uuid.uuid4().hex) for _ in range(count)]

        def create(name: str, password: str) -> Callable[[], object]:
            return lambda: self.admin_cli.run("create", "user", name, "--password", password)

        parallel(create(name, password) for name, password in made)
        return made

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=basic(token), timeout=30)


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("access-identities")
    with module_registry(request.config, root, new_database(root)) as registry:
        admin_cli = DockyardCLI(root / "cli" / "admin", root / "home")
        admin_cli.login(registry.url, "admin", admin_password_of(registry))
        for project in ("own", "other"):
            admin_cli.run("new-project", project)
        with registry.client() as admin:
            for project in ("own", "other"):
                response = push(admin, f"{project}/existing", "v1")
                assert response.status_code == 201, describe(response)
            yield Site(registry, root, admin_cli, admin)


def eventually_status(call: Callable[[], httpx.Response], status: int) -> httpx.Response:
    """Poll ``call`` (at most ``CHANGE_DEADLINE``) until it answers ``status``."""
    deadline = time.monotonic() + CHANGE_DEADLINE
    while True:
        response = call()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_a_project_creator_administers_it(site: Site) -> None:
    (alice, alice_password), (bob, bob_password) = site.users(2)
    alice_cli = site.cli(alice)
    alice_cli.login(site.url, alice, alice_password)
    project = unique("team")
    alice_cli.run("new-project", project)
    assert project in alice_cli.run("get", "projects").stdout
    bob_token = api_token(site.url, bob, bob_password)
    with site.client(alice_cli.token()) as client:
        response = push(client, f"{project}/app", "v1")
        assert response.status_code == 201, describe(response)
    with site.client(bob_token) as client:
        assert_denied(pull(client, f"{project}/app", "v1"))
        # The creator may grant roles in her project ...
        alice_cli.run("policy", "add-role-to-user", "registry-viewer", bob, "-n", project)
        response = eventually_status(lambda: pull(client, f"{project}/app", "v1"), 200)
        assert response.status_code == 200, describe(response)
        assert_denied(push(client, f"{project}/app", "v2"))
    # ... but not in someone else's, and she sees only her projects.
    refused = alice_cli.run(
        "policy", "add-role-to-user", "registry-viewer", bob, "-n", "other", check=False
    )
    assert refused.returncode != 0, refused.stdout
    projects = alice_cli.run("get", "projects").stdout
    assert "other" not in projects.split(), projects


def test_group_members_get_the_groups_role(site: Site) -> None:
    (first, first_password), (second, second_password) = site.users(2)
    group = unique("devs")
    site.admin_cli.run("adm", "groups", "new", group, first)
    site.admin_cli.run("policy", "add-role-to-group", "registry-editor", group, "-n", "own")
    first_token = api_token(site.url, first, first_password)
    second_token = api_token(site.url, second, second_password)
    with site.client(first_token) as client:
        response = eventually_status(lambda: push(client, "own/existing", unique("g")), 201)
        assert response.status_code == 201, describe(response)
        assert_denied(push(client, "other/existing", unique("g")))
    with site.client(second_token) as client:
        assert_denied(push(client, "own/existing", unique("g")))
        site.admin_cli.run("adm", "groups", "add-users", group, second)
        assert second in site.admin_cli.run("get", "groups").stdout
        response = eventually_status(lambda: push(client, "own/existing", unique("g")), 201)
        assert response.status_code == 201, describe(response)


def test_removing_a_role_takes_the_access_away(site: Site) -> None:
    [(name, password)] = site.users(1)
    site.admin_cli.run("policy", "add-role-to-user", "registry-viewer", name, "-n", "own")
    token = api_token(site.url, name, password)
    with site.client(token) as client:
        response = eventually_status(lambda: pull(client, "own/existing", "v1"), 200)
        assert response.status_code == 200, describe(response)
        site.admin_cli.run("policy", "remove-role-from-user", "registry-viewer", name, "-n", "own")
        response = eventually_status(lambda: pull(client, "own/existing", "v1"), 403)
        assert_denied(response)
    # A registry JWT asked for afterwards grants nothing there.
    assert granted(registry_jwt(site.url, ["repository:own/existing:pull"], basic(token))) == set()


def test_htpasswd_import(site: Site, tmp_path: Path, binary_path: Callable[[str], str]) -> None:
    htpasswd = binary_path("htpasswd")
    file = tmp_path / "users.htpasswd"
    bob, carol = unique("bob"), unique("carol")
    run_command([htpasswd, "-B", "-b", "-c", str(file), bob, "bob-first-pw"])
    run_command([htpasswd, "-B", "-b", str(file), carol, "carol-pw"])
    site.admin_cli.run("adm", "import-htpasswd", str(file))
    users = site.admin_cli.run("get", "users").stdout
    assert bob in users and carol in users, users
    bob_cli = site.cli(bob)
    bob_cli.login(site.url, bob, "bob-first-pw")
    assert bob_cli.whoami() == bob
    assert oauth_token(site.url, carol, "carol-pw").status_code == 200
    assert oauth_token(site.url, carol, "bob-first-pw").status_code == 401
    # Importing again updates passwords.
    run_command([htpasswd, "-B", "-b", str(file), bob, "bob-second-pw"])
    site.admin_cli.run("adm", "import-htpasswd", str(file))
    assert oauth_token(site.url, bob, "bob-second-pw").status_code == 200
    assert oauth_token(site.url, bob, "bob-first-pw").status_code == 401


def test_passwd(site: Site) -> None:
    (name, password), (other, other_password) = site.users(2)
    cli = site.cli(name)
    cli.login(site.url, name, password)
    new_password = "New-" + uuid.uuid4().hex
    cli.run("passwd", "--password-stdin", input=new_password + "\n")
    assert oauth_token(site.url, name, new_password).status_code == 200
    assert oauth_token(site.url, name, password).status_code == 401
    # Not someone else's ...
    refused = cli.run("passwd", other, "--password-stdin", input="Hijack-123456\n", check=False)
    assert refused.returncode != 0, refused.stdout
    assert oauth_token(site.url, other, other_password).status_code == 200
    # ... unless an administrator does it.
    reset = "Reset-" + uuid.uuid4().hex
    site.admin_cli.run("passwd", other, "--password-stdin", input=reset + "\n")
    assert oauth_token(site.url, other, reset).status_code == 200
    assert oauth_token(site.url, other, other_password).status_code == 401


def test_a_service_account_token_pushes_from_ci(
    site: Site, tmp_path: Path, binary_path: Callable[[str], str]
) -> None:
    account = unique("ci")
    site.admin_cli.run("create", "serviceaccount", account, "-n", "own")
    site.admin_cli.run(
        "policy", "add-role-to-user", "system:image-builder", "-z", account, "-n", "own"
    )
    token = site.admin_cli.run("create", "token", account, "-n", "own").stdout.strip()
    assert token, "create token printed nothing"
    skopeo = SkopeoRunner(binary_path("skopeo"), tmp_path / "skopeo")
    layout = make_layout(tmp_path / "layout", "v1")
    repo = f"own/{unique('built')}"
    pushed = skopeo.copy(
        layout.ref, f"docker://{site.registry.host}/{repo}:1", f"--dest-creds={account}:{token}"
    )
    assert pushed.returncode == 0, pushed.stderr
    stored = site.admin.get(manifest_url(repo, "1"), headers={"Accept": ACCEPT_MANIFESTS})
    assert stored.status_code == 200, describe(stored)
    assert stored.headers["docker-content-digest"] == layout.digest
    elsewhere = skopeo.copy(
        layout.ref,
        f"docker://{site.registry.host}/other/{unique('built')}:1",
        f"--dest-creds={account}:{token}",
    )
    assert elsewhere.returncode != 0, elsewhere.stdout
    assert AUTH_FAILURE.search(elsewhere.stderr), elsewhere.stderr


def test_deleting_a_project(site: Site) -> None:
    [(name, password)] = site.users(1)
    cli = site.cli(name)
    cli.login(site.url, name, password)
    project = unique("temp")
    cli.run("new-project", project)
    with site.client(cli.token()) as client:
        assert push(client, f"{project}/app", "v1").status_code == 201
    assert f"{project}/app" in catalog_repositories(catalog(site.admin))
    # Someone else may not delete it.
    [(stranger, stranger_password)] = site.users(1)
    stranger_cli = site.cli(stranger)
    stranger_cli.login(site.url, stranger, stranger_password)
    refused = stranger_cli.run("delete", "project", project, check=False)
    assert refused.returncode != 0, refused.stdout
    assert project in cli.run("get", "projects").stdout
    cli.run("delete", "project", project)
    assert project not in cli.run("get", "projects").stdout.split()
    response = eventually_status(
        lambda: site.admin.get(
            manifest_url(f"{project}/app", "v1"), headers={"Accept": ACCEPT_MANIFESTS}
        ),
        404,
    )
    assert response.status_code == 404, describe(response)
    assert not [
        repo for repo in catalog_repositories(catalog(site.admin)) if repo.startswith(f"{project}/")
    ]
