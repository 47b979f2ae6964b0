"""A public project: ``system:image-puller`` bound to the group ``system:unauthenticated`` in
``pub`` lets anyone pull from ``pub/*`` without credentials, and nothing else."""

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
    assert_bearer_challenge,
    blob_url,
    catalog,
    catalog_repositories,
    describe,
    granted,
    manifest_url,
    module_registry,
    new_image,
    pull,
    push,
    registry_jwt,
    unique,
)
from images import ACCEPT_MANIFESTS, Image, make_layout

if TYPE_CHECKING:
    from conftest import NewDatabase, RegistryProcess

pytestmark = pytest.mark.integration


@dataclass
class Public:
    registry: RegistryProcess
    admin: httpx.Client
    anonymous: httpx.Client
    images: dict[str, Image]
    """By repository: ``pub/app``, ``pub/tools``, ``priv/app`` (tag ``v1``)."""


@pytest.fixture(scope="module")
def public(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[Public]:
    root = tmp_path_factory.mktemp("access-public")
    with module_registry(request.config, root, new_database(root)) as registry:
        admin_cli = DockyardCLI(root / "cli" / "admin.json", root / "home")
        admin_cli.login(registry.url, "admin", admin_password_of(registry))
        for project in ("pub", "priv"):
            admin_cli.run("new-project", project)
        with registry.client() as admin, httpx.Client(base_url=registry.url, timeout=30) as anon:
            images = {repo: new_image() for repo in ("pub/app", "pub/tools", "priv/app")}
            for repo, image in images.items():
                response = push(admin, repo, "v1", image)
                assert response.status_code == 201, describe(response)
            # Before: nothing is public.
            assert_bearer_challenge(
                anon.get(manifest_url("pub/app", "v1")),
                registry.url,
                "repository:pub/app:pull",
            )
            admin_cli.run(
                "policy",
                "add-role-to-group",
                "system:image-puller",
                "system:unauthenticated",
                "-n",
                "pub",
            )
            _until_every_worker_serves(registry.url, manifest_url("pub/app", "v1"))
            yield Public(registry, admin, anon, images)


def _until_every_worker_serves(url: str, path: str) -> None:
    """Role changes hold on every worker at once on SQLite, and within a second where the
    workers share PostgreSQL: wait for that second, asking on new connections (each may
    reach another worker)."""
    deadline = time.monotonic() + 3
    while True:
        answers = [
            httpx.get(f"{url}{path}", headers={"Connection": "close", "Accept": ACCEPT_MANIFESTS})
            for _ in range(8)
        ]
        if all(answer.status_code == 200 for answer in answers):
            return
        assert time.monotonic() < deadline, describe(answers[-1])
        time.sleep(0.2)


@pytest.mark.parametrize("repo", ["pub/app", "pub/tools"])
def test_anyone_pulls_from_the_public_project(public: Public, repo: str) -> None:
    """Like curl: no Authorization header at all, no token dance."""
    response = pull(public.anonymous, repo, "v1")
    assert response.status_code == 200, describe(response)
    assert response.content == public.images[repo].manifest.data
    layer = public.images[repo].layers[0]
    blob = public.anonymous.get(blob_url(repo, layer.digest))
    assert blob.status_code == 200, describe(blob)
    assert blob.content == layer.data
    tags = public.anonymous.get(f"/v2/{repo}/tags/list")
    assert tags.status_code == 200, describe(tags)
    assert tags.json()["tags"] == ["v1"]


def test_an_anonymous_token_grants_pull_on_the_public_project_only(public: Public) -> None:
    url = public.registry.url
    token = registry_jwt(url, ["repository:pub/app:pull,push,delete"])
    assert granted(token) == {"repository:pub/app:pull"}
    assert granted(registry_jwt(url, ["repository:priv/app:pull"])) == set()
    response = httpx.get(
        f"{url}{manifest_url('pub/app', 'v1')}",
        headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT_MANIFESTS},
    )
    assert response.status_code == 200, describe(response)


@pytest.fixture
def skopeo_runner(tmp_path: Path, binary_path: Callable[[str], str]) -> SkopeoRunner:
    return SkopeoRunner(binary_path("skopeo"), tmp_path / "skopeo")


def test_skopeo_pulls_without_credentials(
    public: Public, skopeo_runner: SkopeoRunner, tmp_path: Path
) -> None:
    result = skopeo_runner.copy(
        f"docker://{public.registry.host}/pub/app:v1", f"oci:{tmp_path / 'out'}:v1"
    )
    assert result.returncode == 0, result.stderr
    stored = tmp_path / "out" / "blobs" / "sha256"
    digest = public.images["pub/app"].manifest.digest.split(":")[1]
    assert (stored / digest).read_bytes() == public.images["pub/app"].manifest.data


def test_skopeo_cannot_push_or_pull_elsewhere_without_credentials(
    public: Public, skopeo_runner: SkopeoRunner, tmp_path: Path
) -> None:
    host = public.registry.host
    layout = make_layout(tmp_path / "layout", "v1")
    pushed = skopeo_runner.copy(layout.ref, f"docker://{host}/pub/app:anonymous")
    assert pushed.returncode != 0, pushed.stdout
    assert AUTH_FAILURE.search(pushed.stderr), pushed.stderr
    assert public.admin.head(manifest_url("pub/app", "anonymous")).status_code == 404
    pulled = skopeo_runner.copy(f"docker://{host}/priv/app:v1", f"oci:{tmp_path / 'out'}:v1")
    assert pulled.returncode != 0, pulled.stdout
    assert AUTH_FAILURE.search(pulled.stderr), pulled.stderr


def test_nothing_else_is_public(public: Public) -> None:
    anon, url = public.anonymous, public.registry.url
    new_repo = f"pub/{unique('new')}"
    image = public.images["pub/app"]
    cases = [
        ("POST", "/v2/pub/app/blobs/uploads/", "repository:pub/app:push"),
        ("POST", f"/v2/{new_repo}/blobs/uploads/", f"repository:{new_repo}:push"),
        ("PUT", manifest_url("pub/app", "hijack"), "repository:pub/app:push"),
        ("DELETE", manifest_url("pub/app", image.manifest.digest), "repository:pub/app:delete"),
        ("DELETE", blob_url("pub/app", image.layers[0].digest), "repository:pub/app:delete"),
        ("GET", manifest_url("priv/app", "v1"), "repository:priv/app:pull"),
        ("GET", blob_url("priv/app", public.images["priv/app"].layers[0].digest), None),
        ("GET", "/v2/priv/app/tags/list", "repository:priv/app:pull"),
    ]
    for method, path, scope in cases:
        body = image.manifest.data if method == "PUT" else None
        headers = {"Content-Type": image.manifest.media_type} if body else {}
        response = anon.request(method, path, content=body, headers=headers)
        assert_bearer_challenge(response, url, scope)
    assert public.admin.head(manifest_url("pub/app", image.manifest.digest)).status_code == 200
    assert public.admin.head(manifest_url("pub/app", "hijack")).status_code == 404


def test_the_anonymous_catalog_shows_only_the_public_project(public: Public) -> None:
    """As a client without credentials lists it: answer a challenge with an anonymous token."""
    url = public.registry.url
    response = catalog(public.anonymous)
    if response.status_code == 401:
        params = assert_bearer_challenge(response, url, "registry:catalog:*")
        token = registry_jwt(url, [params["scope"]])
        response = public.anonymous.get(
            "/v2/_catalog", params={"n": "10000"}, headers={"Authorization": f"Bearer {token}"}
        )
    repositories = catalog_repositories(response)
    assert set(repositories) == {"pub/app", "pub/tools"}, repositories
    everything = catalog_repositories(catalog(public.admin))
    assert {"pub/app", "pub/tools", "priv/app"} <= set(everything)


def test_credentials_that_fail_are_not_treated_as_anonymous(public: Public) -> None:
    """A wrong token is an error to fix, not a silent downgrade to the public view."""
    bad = httpx.get(
        f"{public.registry.url}{manifest_url('pub/app', 'v1')}",
        auth=("anything", "dyt~" + uuid.uuid4().hex + uuid.uuid4().hex[:11]),
        timeout=30,
    )
    assert bad.status_code == 401, describe(bad)
