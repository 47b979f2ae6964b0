"""Every built-in role against every registry action, in its own project and in another one.

One server for the module: projects ``own`` and ``other``, one user per built-in role bound in
``own`` (``system:image-pruner`` and ``cluster-admin`` cluster-wide), a user with no role, and
nobody at all (no credentials). Each cell of ``MATRIX`` is one test over HTTP with Basic
``any:TOKEN``; pull and push are also done once per subject by skopeo, through the token
protocol (``--creds`` → ``/openshift/token`` → a JWT).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
    assert_bearer_challenge,
    assert_denied,
    basic,
    blob_url,
    catalog,
    catalog_repositories,
    describe,
    manifest_url,
    module_registry,
    new_image,
    parallel,
    projects_in,
    pull,
    push,
    unique,
    upload,
)
from images import ACCEPT_MANIFESTS, make_layout

if TYPE_CHECKING:
    from conftest import NewDatabase, RegistryProcess

pytestmark = [pytest.mark.integration, pytest.mark.database]

# The expected outcome of every (subject, project, action), derived from
# reference/openshift-registry.md §3 and not from the code:
#   pull     GET a manifest and its blobs       get imagestreams/layers           → 200
#   push     blobs + manifest, existing stream  update imagestreams/layers        → 201
#   new      the same into a new stream         … + create imagestreams           → 201
#   del-m    DELETE a manifest by digest        delete images (cluster-scoped)    → 202
#   del-b    DELETE a blob                      delete images (cluster-scoped)    → 202
#   catalog  GET /v2/_catalog                   list imagestreams, or pull, there → listed/hidden
# `images` is cluster-scoped: only a cluster-wide binding can grant `delete images`, so no role
# bound in a project may delete, whatever it says about images. A rule on `imagestreams` grants
# none of its subresources: system:registry and system:image-pruner (get/update imagestreams)
# may neither pull nor push, `imagestreams/layers` being what pull and push check.
# 403 is DENIED for a known user; 401 is a Bearer challenge for a caller without credentials
# (the catalog too: `list imagestreams` is refused to system:unauthenticated, so a client without
# credentials is told where to get a token). The catalog lists the projects where the caller may
# `list imagestreams` (§3) or pull: a public project (system:image-puller bound to
# system:unauthenticated) shows in the anonymous catalog, so pulling must count as well. It hides
# the other projects; a caller who may see no project at all fails the check like any other:
# 403 DENIED (401 without credentials).
# (*) bound cluster-wide, so `other` is the same as `own`.
MATRIX = """
                     | pull push new del-m del-b catalog | pull push new del-m del-b catalog
                     | own                               | other
registry-viewer      | 200  403  403 403   403   listed  | 403  403  403 403   403   hidden
registry-editor      | 200  201  201 403   403   listed  | 403  403  403 403   403   hidden
registry-admin       | 200  201  201 403   403   listed  | 403  403  403 403   403   hidden
system:image-puller  | 200  403  403 403   403   listed  | 403  403  403 403   403   hidden
system:image-pusher  | 200  201  403 403   403   listed  | 403  403  403 403   403   hidden
system:image-builder | 200  201  201 403   403   listed  | 403  403  403 403   403   hidden
system:registry      | 200  403  403 403   403   listed  | 403  403  403 403   403   hidden
system:image-pruner* | 403  403  403 202   202   listed  | 403  403  403 202   202   listed
cluster-admin*       | 200  201  201 202   202   listed  | 200  201  201 202   202   listed
(no role)            | 403  403  403 403   403   403     | 403  403  403 403   403   403
(anonymous)          | 401  401  401 401   401   401     | 401  401  401 401   401   401
"""

ACTIONS = ("pull", "push", "new", "del-m", "del-b", "catalog")
PROJECTS = ("own", "other")
NO_ROLE = "(no role)"
ANONYMOUS = "(anonymous)"
CLUSTER_WIDE = frozenset({"system:image-pruner", "cluster-admin"})


def _parse(table: str) -> dict[tuple[str, str, str], str]:
    expected: dict[tuple[str, str, str], str] = {}
    for line in table.strip("\n").splitlines()[2:]:
        subject, own, other = (part.strip() for part in line.split("|"))
        subject = subject.rstrip("*")
        for project, cells in (("own", own), ("other", other)):
            values = cells.split()
            assert len(values) == len(ACTIONS), line
            for action, value in zip(ACTIONS, values, strict=True):
                expected[(subject, project, action)] = value
    return expected


EXPECTED = _parse(MATRIX)
SUBJECTS = tuple(dict.fromkeys(subject for subject, _, _ in EXPECTED))
ROLES = tuple(subject for subject in SUBJECTS if subject not in (NO_ROLE, ANONYMOUS))


def user_name(subject: str) -> str:
    """A user name for the subject's role (``system:image-puller`` → ``image-puller-user``)."""
    return "no-role-user" if subject == NO_ROLE else f"{subject.split(':')[-1]}-user"


@dataclass
class World:
    registry: RegistryProcess
    admin: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)
    """API token per subject (not for the anonymous one)."""
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, subject: str) -> httpx.Client:
        if subject not in self.clients:
            auth = None if subject == ANONYMOUS else basic(self.tokens[subject])
            self.clients[subject] = httpx.Client(base_url=self.registry.url, auth=auth, timeout=30)
        return self.clients[subject]

    def creds(self, subject: str) -> list[str]:
        return [] if subject == ANONYMOUS else [f"anything:{self.tokens[subject]}"]


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("access-matrix")
    with module_registry(request.config, root, new_database(root)) as registry:
        admin_cli = DockyardCLI(root / "cli" / "admin.json", root / "home")
        admin_cli.login(registry.url, "admin", admin_password_of(registry))
        for project in PROJECTS:
            admin_cli.run("new-project", project)
        passwords = {subject: uuid.uuid4().hex for subject in (*ROLES, NO_ROLE)}

        def create(subject: str) -> Callable[[], object]:
            name, password = user_name(subject), passwords[subject]

            def run() -> None:
                admin_cli.run("create", "user", name, "--password", password)
                if subject in CLUSTER_WIDE:
                    admin_cli.run("adm", "policy", "add-cluster-role-to-user", subject, name)
                elif subject != NO_ROLE:
                    admin_cli.run("policy", "add-role-to-user", subject, name, "-n", "own")

            return run

        parallel(create(subject) for subject in passwords)
        world = World(registry, registry.client())
        tokens: dict[str, str] = {}

        def log_in(subject: str) -> Callable[[], object]:
            def run() -> None:
                tokens[subject] = api_token(registry.url, user_name(subject), passwords[subject])

            return run

        parallel(log_in(subject) for subject in passwords)
        world.tokens = tokens
        for project in PROJECTS:
            response = push(world.admin, f"{project}/existing", "v1")
            assert response.status_code == 201, describe(response)
        try:
            yield world
        finally:
            for client in [world.admin, *world.clients.values()]:
                client.close()


def _exists(world: World, path: str) -> bool:
    response = world.admin.head(path, headers={"Accept": ACCEPT_MANIFESTS})
    assert response.status_code in (200, 404), describe(response)
    return response.status_code == 200


def _outcome(response: httpx.Response) -> str:
    return str(response.status_code)


def act(world: World, subject: str, project: str, action: str) -> tuple[str, httpx.Response]:
    """Do ``action`` as ``subject`` in ``project``; check that a refusal changed nothing.

    Returns the outcome as the table writes it, and the response it comes from.
    """
    client = world.client(subject)
    if action == "pull":
        response = pull(client, f"{project}/existing", "v1")
        return _outcome(response), response
    if action in ("push", "new"):
        repo = f"{project}/existing" if action == "push" else f"{project}/{unique('new')}"
        tag = unique("t")
        response = push(client, repo, tag)
        pushed = _exists(world, manifest_url(repo, tag))
        assert pushed == (response.status_code == 201), describe(response)
        return _outcome(response), response
    if action == "del-m":
        repo, image = f"{project}/deletable", new_image()
        setup = push(world.admin, repo, unique("t"), image)
        assert setup.status_code == 201, describe(setup)
        response = client.delete(manifest_url(repo, image.digest))
        still_there = _exists(world, manifest_url(repo, image.digest))
        assert still_there == (response.status_code != 202), describe(response)
        return _outcome(response), response
    if action == "del-b":
        repo, blob = f"{project}/deletable", new_image().layers[0]
        setup = upload(world.admin, repo, blob.data, blob.digest)
        assert setup.status_code == 201, describe(setup)
        response = client.delete(blob_url(repo, blob.digest))
        still_there = _exists(world, blob_url(repo, blob.digest))
        assert still_there == (response.status_code != 202), describe(response)
        return _outcome(response), response
    assert action == "catalog"
    response = catalog(client)
    if response.status_code != 200:
        return _outcome(response), response
    shown = project in projects_in(catalog_repositories(response))
    return ("listed" if shown else "hidden"), response


NEEDED_ACTION = {
    "pull": "pull",
    "push": "push",
    "new": "push",
    "del-m": "delete",
    "del-b": "delete",
}


def needed_scope(action: str, response: httpx.Response) -> str:
    """The scope a challenge must name for ``action`` (the repository from the request path)."""
    if action == "catalog":
        return "registry:catalog:*"
    repo = "/".join(response.request.url.path.split("/")[2:4])
    return f"repository:{repo}:{NEEDED_ACTION[action]}"


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("project", PROJECTS)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_http(world: World, subject: str, project: str, action: str) -> None:
    expected = EXPECTED[(subject, project, action)]
    outcome, response = act(world, subject, project, action)
    assert outcome == expected, f"{subject} {action} in {project}: {describe(response)}"
    if outcome == "403":
        assert_denied(response)
    elif outcome == "401":
        assert_bearer_challenge(response, world.registry.url, needed_scope(action, response))


@pytest.fixture
def skopeo_runner(tmp_path: Path, binary_path: Callable[[str], str]) -> SkopeoRunner:
    return SkopeoRunner(binary_path("skopeo"), tmp_path / "skopeo")


def _creds_option(option: str, world: World, subject: str) -> list[str]:
    return [f"{option}={cred}" for cred in world.creds(subject)]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_skopeo_pull(
    world: World, skopeo_runner: SkopeoRunner, tmp_path: Path, subject: str
) -> None:
    allowed = EXPECTED[(subject, "own", "pull")] == "200"
    result = skopeo_runner.copy(
        f"docker://{world.registry.host}/own/existing:v1",
        f"oci:{tmp_path / 'pulled'}:v1",
        *_creds_option("--src-creds", world, subject),
    )
    if allowed:
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "pulled" / "index.json").exists()
    else:
        assert result.returncode != 0, result.stdout
        assert AUTH_FAILURE.search(result.stderr), result.stderr


@pytest.mark.parametrize("subject", SUBJECTS)
def test_skopeo_push(
    world: World, skopeo_runner: SkopeoRunner, tmp_path: Path, subject: str
) -> None:
    allowed = EXPECTED[(subject, "own", "push")] == "201"
    layout = make_layout(tmp_path / "layout", "v1")
    tag = unique("skopeo")
    result = skopeo_runner.copy(
        layout.ref,
        f"docker://{world.registry.host}/own/existing:{tag}",
        *_creds_option("--dest-creds", world, subject),
    )
    if allowed:
        assert result.returncode == 0, result.stderr
        response = world.admin.get(
            manifest_url("own/existing", tag), headers={"Accept": ACCEPT_MANIFESTS}
        )
        assert response.status_code == 200, describe(response)
        assert response.headers["docker-content-digest"] == layout.digest
    else:
        assert result.returncode != 0, result.stdout
        assert AUTH_FAILURE.search(result.stderr), result.stderr
        assert not _exists(world, manifest_url("own/existing", tag))
