"""Attacks on authentication and authorization, and the user-visible outcome of each.

Forged and altered JWTs, tokens of deleted users and after logout (on every worker), scope
escalation at the token endpoint, pushes without the right, path tricks across projects,
cross-repository mounts from a project the caller cannot read, password guessing, secrets in the
log and in the database, and the oras-py SDK's two ways of authenticating.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import oras.client
import pytest
from access_helpers import (
    ADMIN_LOGIN,
    AUTH_FAILURE,
    REVOCATION_DEADLINE,
    DockyardCLI,
    SkopeoRunner,
    admin_password_of,
    api_token,
    assert_bearer_challenge,
    assert_denied,
    basic,
    bearer,
    becomes_steady,
    blob_url,
    describe,
    error_codes,
    forge_jwt,
    fresh_get,
    granted,
    jwt_header,
    jwt_payload,
    manifest_url,
    module_registry,
    new_image,
    oauth_token,
    parallel,
    parse_challenge,
    push,
    query_database,
    registry_jwt,
    registry_token,
    revoke,
    scope_covers,
    signing_keys,
    sqlite_path,
    unique,
    with_payload,
)
from distribution_helpers import raw_request
from images import ACCEPT_MANIFESTS, Image, make_layout

if TYPE_CHECKING:
    from conftest import NewDatabase, RegistryFactory, RegistryProcess

pytestmark = pytest.mark.integration


@dataclass
class Site:
    """The module's server: ``own`` (viewer and editor bound there) and ``other``."""

    registry: RegistryProcess
    database_url: str
    root: Path
    admin_cli: DockyardCLI
    admin: httpx.Client
    passwords: dict[str, str]
    tokens: dict[str, str]
    images: dict[str, Image]
    """The image tagged ``v1`` in ``<project>/existing``."""

    @property
    def url(self) -> str:
        return self.registry.url

    def cli(self, name: str) -> DockyardCLI:
        return DockyardCLI(
            self.root / "cli" / f"{name}-{uuid.uuid4().hex[:6]}.json", self.root / "home"
        )

    def client(self, token: str | None) -> httpx.Client:
        auth = None if token is None else basic(token)
        return httpx.Client(base_url=self.url, auth=auth, timeout=30)

    spares: list[tuple[str, str]] = field(default_factory=list)

    def new_user(self) -> tuple[str, str]:
        """A registry-viewer of ``own`` (through the group ``spares``) for one test of its own
        (to log out, lock out, delete...).

        Made in advance, a few at a time: each CLI call is a process start.
        """
        return self.spares.pop()


SPARE_USERS = 10


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: NewDatabase,
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("access-security")
    database_url = new_database(root)
    with module_registry(request.config, root, database_url) as registry:
        admin_cli = DockyardCLI(root / "cli" / "admin.json", root / "home")
        admin_cli.login(registry.url, "admin", admin_password_of(registry))
        for project in ("own", "other"):
            admin_cli.run("new-project", project)
        passwords = {"viewer": uuid.uuid4().hex, "editor": uuid.uuid4().hex}
        roles = {"viewer": "registry-viewer", "editor": "registry-editor"}
        spares = [(f"spare-{n}", uuid.uuid4().hex) for n in range(SPARE_USERS)]
        passwords.update(spares)

        def create(name: str) -> Callable[[], object]:
            def run() -> None:
                admin_cli.run("create", "user", name, "--password", passwords[name])
                if name in roles:
                    admin_cli.run("policy", "add-role-to-user", roles[name], name, "-n", "own")

            return run

        parallel(create(name) for name in passwords)
        # The spare users are registry-viewers of own through a group: two calls, not ten.
        admin_cli.run("adm", "groups", "new", "spares", *(name for name, _ in spares))
        admin_cli.run("policy", "add-role-to-group", "registry-viewer", "spares", "-n", "own")
        named = {name: passwords[name] for name in ("viewer", "editor")}
        tokens = {name: api_token(registry.url, name, password) for name, password in named.items()}
        with registry.client() as admin:
            images = {}
            for project in ("own", "other"):
                images[project] = new_image()
                response = push(admin, f"{project}/existing", "v1", images[project])
                assert response.status_code == 201, describe(response)
            yield Site(
                registry, database_url, root, admin_cli, admin, named, tokens, images, spares
            )


# --- forged and altered JWTs -------------------------------------------------------------------


def _viewer_jwt(site: Site, repo: str = "own/existing") -> str:
    token = registry_jwt(site.url, [f"repository:{repo}:pull"], basic(site.tokens["viewer"]))
    assert granted(token) == {f"repository:{repo}:pull"}
    return token


def _get_with_jwt(site: Site, token: str, repo: str = "own/existing") -> httpx.Response:
    return httpx.get(
        f"{site.url}{manifest_url(repo, 'v1')}",
        headers={**bearer(token), "Accept": ACCEPT_MANIFESTS},
        timeout=30,
    )


def _real_key(site: Site, token: str) -> tuple[str, bytes]:
    kid = jwt_header(token)["kid"]
    return kid, signing_keys(site.database_url)[kid]


def test_a_jwt_forged_with_the_real_key_is_accepted(site: Site) -> None:
    """The control for the forgeries below: re-signing a real token's claims with the server's
    own key gives a token it accepts, so each forgery differs from a good one in one point."""
    real = _viewer_jwt(site)
    kid, key = _real_key(site, real)
    forged = forge_jwt({"alg": "HS256", "typ": "JWT", "kid": kid}, jwt_payload(real), key)
    response = _get_with_jwt(site, forged)
    assert response.status_code == 200, describe(response)


def _forgery(kind: str, real: str, kid: str, key: bytes) -> str:
    now = time.time()
    claims = jwt_payload(real)
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT", "kid": kid}
    if kind == "expired":
        claims.update(iat=now - 900, nbf=now - 900, exp=now - 600)
    elif kind == "not-yet-valid":
        claims.update(iat=now, nbf=now + 600, exp=now + 900)
    elif kind == "wrong-audience":
        claims["aud"] = "some-other-registry"
    elif kind == "wrong-issuer":
        claims["iss"] = "someone-else"
    elif kind == "no-expiry":
        del claims["exp"]
    elif kind == "alg-none":
        return forge_jwt({"alg": "none", "typ": "JWT", "kid": kid}, claims, None)
    elif kind == "alg-none-signed":
        unsigned = forge_jwt({"alg": "none", "typ": "JWT", "kid": kid}, claims, None)
        signature = forge_jwt(header, claims, key).rsplit(".", 1)[1]
        return unsigned + signature
    elif kind == "hs512":
        header["alg"] = "HS512"
    elif kind == "unknown-kid":
        header["kid"] = "no-such-key"
    elif kind == "no-kid":
        del header["kid"]
    elif kind == "other-key":
        key = uuid.uuid4().bytes * 2
    elif kind == "tampered":
        # A real token, its signature kept, its access changed to another project's repository.
        claims["access"] = [{"type": "repository", "name": "other/existing", "actions": ["pull"]}]
        return with_payload(real, claims)
    elif kind == "tampered-subject":
        claims["sub"] = "admin"
        return with_payload(real, claims)
    else:
        raise AssertionError(kind)
    return forge_jwt(header, claims, key)


FORGERIES = [
    "expired",
    "not-yet-valid",
    "wrong-audience",
    "wrong-issuer",
    "no-expiry",
    "alg-none",
    "alg-none-signed",
    "hs512",
    "unknown-kid",
    "no-kid",
    "other-key",
    "tampered",
    "tampered-subject",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_jwts_are_refused(site: Site, kind: str) -> None:
    real = _viewer_jwt(site)
    kid, key = _real_key(site, real)
    forged = _forgery(kind, real, kid, key)
    repo = "other/existing" if kind == "tampered" else "own/existing"
    response = _get_with_jwt(site, forged, repo)
    assert_bearer_challenge(response, site.url)
    assert "UNAUTHORIZED" in error_codes(response), describe(response)


# --- revocation --------------------------------------------------------------------------------


def _works(site: Site, credentials: dict[str, Any]) -> None:
    path = manifest_url("own/existing", "v1")
    options = dict(credentials)
    options["headers"] = {**options.get("headers", {}), "Accept": ACCEPT_MANIFESTS}
    for _ in range(4):  # new connections: both workers know it
        response = fresh_get(site.url, path, **options)
        assert response.status_code == 200, describe(response)


def _assert_revoked(site: Site, token: str, jwt: str, since: float) -> None:
    """Within ``REVOCATION_DEADLINE`` of ``since``, every worker refuses the token and the JWT.

    Passes as soon as a run of requests on new connections (spread over the workers) is refused
    for every credential; otherwise, once the deadline has passed, each request must be refused:
    how fast this test itself can send requests does not count against the server.
    """
    path = manifest_url("own/existing", "v1")
    ways = {
        "Basic any:TOKEN": {"auth": basic(token)},
        "Bearer TOKEN": {"headers": bearer(token)},
        "Bearer JWT": {"headers": bearer(jwt)},
    }

    def all_refused() -> bool:
        return all(fresh_get(site.url, path, **way).status_code == 401 for way in ways.values())

    if not becomes_steady(all_refused, deadline=since + REVOCATION_DEADLINE, streak=8):
        time.sleep(max(0.0, since + REVOCATION_DEADLINE - time.monotonic()))
        for label, way in ways.items():
            codes = [fresh_get(site.url, path, **way).status_code for _ in range(12)]
            assert codes == [401] * 12, (
                f"{label} still works {REVOCATION_DEADLINE}s after revocation: {codes}"
            )
    response = registry_token(site.url, ["repository:own/existing:pull"], basic(token))
    assert response.status_code == 401, describe(response)


def test_logout_ends_the_token_and_its_jwts_on_every_worker(site: Site) -> None:
    name, password = site.new_user()
    cli = site.cli(name)
    cli.login(site.url, name, password)
    assert cli.whoami() == name
    token = cli.token()
    jwt = registry_jwt(site.url, ["repository:own/existing:pull"], basic(token))
    for credentials in (
        {"auth": basic(token)},
        {"headers": bearer(token)},
        {"headers": bearer(jwt)},
    ):
        _works(site, credentials)
    cli.run("logout")
    since = time.monotonic()
    _assert_revoked(site, token, jwt, since)
    result = cli.run("whoami", check=False)
    assert result.returncode != 0, result.stdout


def test_oauth_revoke_ends_the_token_and_its_jwts(site: Site) -> None:
    name, password = site.new_user()
    token = api_token(site.url, name, password)
    other_token = api_token(site.url, name, password)
    jwt = registry_jwt(site.url, ["repository:own/existing:pull"], basic(token))
    _works(site, {"headers": bearer(jwt)})
    response = revoke(site.url, token)
    assert response.status_code == 200, describe(response)
    _assert_revoked(site, token, jwt, time.monotonic())
    # Only that token: the user's other login goes on working.
    _works(site, {"auth": basic(other_token)})


def test_deleting_a_user_ends_their_tokens(site: Site) -> None:
    name, password = site.new_user()
    token = api_token(site.url, name, password)
    jwt = registry_jwt(site.url, ["repository:own/existing:pull"], basic(token))
    _works(site, {"auth": basic(token)})
    _works(site, {"headers": bearer(jwt)})
    site.admin_cli.run("delete", "user", name)
    _assert_revoked(site, token, jwt, time.monotonic())
    response = oauth_token(site.url, name, password)
    assert response.status_code == 401, describe(response)
    assert response.json()["error"] == "invalid_grant"


# --- the token endpoint grants no more than asked and allowed -----------------------------------


def test_scope_escalation_at_the_token_endpoint(site: Site) -> None:
    viewer = basic(site.tokens["viewer"])
    other = registry_jwt(site.url, ["repository:other/x:push"], viewer)
    assert granted(other) == set()
    everything = registry_jwt(site.url, ["repository:own/x:pull,push,delete,*"], viewer)
    assert granted(everything) == {"repository:own/x:pull"}
    both = registry_jwt(
        site.url, ["repository:own/existing:pull", "repository:other/existing:pull"], viewer
    )
    assert granted(both) == {"repository:own/existing:pull"}
    # ... and the JWT is good for exactly what it grants.
    assert _get_with_jwt(site, both, "own/existing").status_code == 200
    _assert_refused_with_jwt(
        site, _get_with_jwt(site, both, "other/existing"), "repository:other/existing:pull"
    )
    # The same with the password instead of the token.
    with_password = registry_jwt(
        site.url, ["repository:own/x:pull,push"], ("viewer", site.passwords["viewer"])
    )
    assert granted(with_password) == {"repository:own/x:pull"}
    # Anonymous: a token, but for nothing in these projects.
    anonymous = registry_jwt(site.url, ["repository:own/existing:pull,push"])
    assert granted(anonymous) == set()
    for auth in [("viewer", "wrong-password"), basic("dyt~" + "A" * 43), ("", "")]:
        response = registry_token(site.url, ["repository:own/existing:pull"], auth)
        assert response.status_code == 401, describe(response)
        assert "token" not in response.text, describe(response)


def _assert_refused_with_jwt(site: Site, response: httpx.Response, scope: str) -> None:
    """A JWT without ``scope``, of a user whose roles don't allow it either: either a challenge
    to fetch a token for ``scope`` (401) or, the user being known, 403 DENIED."""
    if response.status_code == 403:
        assert_denied(response)
    else:
        assert_bearer_challenge(response, site.url, scope)


def test_a_viewer_cannot_push(
    site: Site, tmp_path: Path, binary_path: Callable[[str], str]
) -> None:
    viewer_token = site.tokens["viewer"]
    with site.client(viewer_token) as client:
        response = client.post("/v2/own/existing/blobs/uploads/")
        assert_denied(response)
    # The token protocol: the JWT holds pull only, so the push is refused: DENIED, or challenged
    # again (401), and then a fresh token for the scope of that challenge is no better.
    needed = "repository:own/existing:push"
    jwt = registry_jwt(site.url, ["repository:own/existing:pull,push"], basic(viewer_token))
    assert granted(jwt) == {"repository:own/existing:pull"}
    response = httpx.post(f"{site.url}/v2/own/existing/blobs/uploads/", headers=bearer(jwt))
    _assert_refused_with_jwt(site, response, needed)
    if response.status_code == 401:
        again = registry_jwt(site.url, [parse_challenge(response)[1]["scope"]], basic(viewer_token))
        assert needed not in granted(again)
        response = httpx.post(f"{site.url}/v2/own/existing/blobs/uploads/", headers=bearer(again))
        _assert_refused_with_jwt(site, response, needed)
    # What skopeo users see.
    skopeo = SkopeoRunner(binary_path("skopeo"), tmp_path / "skopeo")
    layout = make_layout(tmp_path / "layout", "v1")
    tag = unique("viewer")
    result = skopeo.copy(
        layout.ref,
        f"docker://{site.registry.host}/own/existing:{tag}",
        f"--dest-creds=viewer:{viewer_token}",
    )
    assert result.returncode != 0, result.stdout
    assert AUTH_FAILURE.search(result.stderr), result.stderr
    assert site.admin.head(manifest_url("own/existing", tag)).status_code == 404


def test_an_editor_cannot_push_to_another_project(
    site: Site, tmp_path: Path, binary_path: Callable[[str], str]
) -> None:
    editor_token = site.tokens["editor"]
    with site.client(editor_token) as client:
        assert push(client, "own/existing", unique("t")).status_code == 201  # the control
        for repo in ("other/existing", f"other/{unique('new')}"):
            assert_denied(push(client, repo, "v1"))
    assert (
        granted(
            registry_jwt(site.url, ["repository:other/existing:pull,push"], basic(editor_token))
        )
        == set()
    )
    skopeo = SkopeoRunner(binary_path("skopeo"), tmp_path / "skopeo")
    layout = make_layout(tmp_path / "layout", "v1")
    result = skopeo.copy(
        layout.ref,
        f"docker://{site.registry.host}/other/existing:from-editor",
        f"--dest-creds=editor:{editor_token}",
    )
    assert result.returncode != 0, result.stdout
    assert AUTH_FAILURE.search(result.stderr), result.stderr
    assert site.admin.head(manifest_url("other/existing", "from-editor")).status_code == 404


# --- what a caller cannot see, it cannot learn about ----------------------------------------------


def _normalised(response: httpx.Response, name: str) -> tuple[int, str, str | None]:
    scheme, params = parse_challenge(response)
    challenge = None if not scheme else f"{scheme} {sorted(params)}"
    return response.status_code, response.text.replace(name, "<repo>"), challenge


@pytest.mark.parametrize("who", ["viewer", "anonymous"])
def test_existence_of_another_projects_repository_is_not_revealed(site: Site, who: str) -> None:
    token = site.tokens["viewer"] if who == "viewer" else None
    missing = f"other/{unique('missing')}"
    no_project = f"{unique('noproject')}/existing"
    layer = site.images["other"].layers[0].digest
    with site.client(token) as client:
        for path in (
            lambda repo: manifest_url(repo, "v1"),
            lambda repo: blob_url(repo, layer),
            lambda repo: f"/v2/{repo}/tags/list",
            lambda repo: f"/v2/{repo}/blobs/uploads/",
        ):
            method = "POST" if path("x").endswith("/uploads/") else "GET"
            real = client.request(method, path("other/existing"))
            assert real.status_code in (401, 403), describe(real)
            for fake_name in (missing, no_project):
                fake = client.request(method, path(fake_name))
                assert _normalised(real, "other/existing") == _normalised(fake, fake_name), (
                    f"{describe(real)}\n{describe(fake)}"
                )


PATH_TRICKS = [
    "/v2/own/../other/existing/manifests/v1",
    "/v2/own/existing/../../other/existing/manifests/v1",
    "/v2/own/%2e%2e/other/existing/manifests/v1",
    "/v2/own/%2E%2E/other/existing/manifests/v1",
    "/v2/own/..%2fother/existing/manifests/v1",
    "/v2/own/%2e%2e%2fother/existing/manifests/v1",
    "/v2/own%2f..%2fother/existing/manifests/v1",
    "/v2/own%2fexisting/manifests/v1",
    "/v2/other%2fexisting/manifests/v1",
    "/v2/./other/existing/manifests/v1",
    "/v2/own/./../other/existing/manifests/v1",
    "/v2/own/../other/existing/blobs/{layer}",
    "/v2/own/%2e%2e/other/existing/blobs/{layer}",
    "/v2/own/%2e%2e/other/existing/tags/list",
]


@pytest.mark.parametrize("target", PATH_TRICKS)
def test_path_tricks_do_not_reach_another_project(site: Site, target: str) -> None:
    secret_image = site.images["other"]
    target = target.format(layer=secret_image.layers[0].digest)
    header = "Basic " + base64.b64encode(f"viewer:{site.tokens['viewer']}".encode()).decode()
    response = raw_request(
        site.registry, "GET", target, {"Authorization": header, "Accept": ACCEPT_MANIFESTS}
    )
    assert response.status in (400, 401, 403, 404), (response.status, response.body[:300])
    assert secret_image.manifest.data not in response.body
    assert secret_image.layers[0].data not in response.body
    assert secret_image.config.data not in response.body
    assert secret_image.manifest.digest not in response.headers.get("docker-content-digest", "")


def test_cross_repository_mount_from_an_unreadable_project_links_nothing(site: Site) -> None:
    """The editor of ``own`` may not pull from ``other``: a mount from there is an ordinary
    upload (202), and the blob stays unknown in the target repository."""
    secret = site.images["other"].layers[0].digest
    readable = site.images["own"].layers[0].digest
    with site.client(site.tokens["editor"]) as client:
        for source in ("other/existing", f"other/{unique('missing')}"):
            target = f"own/{unique('mount')}"
            response = client.post(
                f"/v2/{target}/blobs/uploads/", params={"mount": secret, "from": source}
            )
            assert response.status_code == 202, describe(response)
            assert response.headers.get("location"), describe(response)
            assert client.head(blob_url(target, secret)).status_code == 404
            assert site.admin.head(blob_url(target, secret)).status_code == 404
        # The control: from a repository the editor can pull, the mount links the blob.
        target = f"own/{unique('mount')}"
        response = client.post(
            f"/v2/{target}/blobs/uploads/", params={"mount": readable, "from": "own/existing"}
        )
        assert response.status_code == 201, describe(response)
        assert client.head(blob_url(target, readable)).status_code == 200


# --- password guessing ----------------------------------------------------------------------------


def test_login_rate_limit(site: Site) -> None:
    name, password = site.new_user()
    for attempt in range(1, 6):
        response = oauth_token(site.url, name, f"wrong-{attempt}")
        assert response.status_code == 401, f"attempt {attempt}: {describe(response)}"
        assert response.json()["error"] == "invalid_grant"
    response = oauth_token(site.url, name, "wrong-6")
    assert response.status_code == 429, describe(response)
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit() and 0 < int(retry_after) <= 300, describe(response)
    # The right password does not help until the window has passed.
    response = oauth_token(site.url, name, password)
    assert response.status_code == 429, describe(response)
    assert "access_token" not in response.text
    # Another user is not locked out.
    other, other_password = site.new_user()
    assert api_token(site.url, other, other_password)


def test_a_locked_user_gets_no_token_by_another_door(site: Site) -> None:
    """While logins are throttled, the password is not checked through Basic auth either:
    neither the token endpoint nor ``/v2`` serves as an unthrottled password oracle."""
    name, password = site.new_user()
    for attempt in range(6):
        oauth_token(site.url, name, f"wrong-{attempt}")
    assert oauth_token(site.url, name, password).status_code == 429
    response = registry_token(site.url, ["repository:own/existing:pull"], (name, password))
    assert response.status_code in (401, 429), describe(response)
    response = httpx.get(
        f"{site.url}{manifest_url('own/existing', 'v1')}", auth=(name, password), timeout=30
    )
    assert response.status_code in (401, 429), describe(response)


# --- secrets at rest -----------------------------------------------------------------------------


def test_credentials_are_stored_hashed(site: Site) -> None:
    name, password = site.new_user()
    token = api_token(site.url, name, password)
    hashes = query_database(site.database_url, "SELECT name, password_hash FROM users")
    by_name = dict(hashes)
    for user in ("admin", "viewer", "editor", name):
        assert str(by_name[user]).startswith("$2"), f"{user}: {by_name[user]!r}"
    every_cell = " ".join(
        str(cell)
        for row in query_database(site.database_url, "SELECT * FROM tokens")
        for cell in row
    )
    assert every_cell, "no tokens stored?"
    secrets = [token, *site.tokens.values(), password, *site.passwords.values()]
    for secret in secrets:
        assert secret not in every_cell
        assert secret.removeprefix("dyt~") not in every_cell
    path = sqlite_path(site.database_url)
    if path is not None:  # SQLite: the files themselves, write-ahead log included
        for file in path.parent.glob(path.name + "*"):
            data = file.read_bytes()
            for secret in [*secrets, admin_password_of(site.registry)]:
                assert secret.encode() not in data, f"{secret[:8]}… in {file.name}"


def test_the_cli_config_holds_no_password(site: Site) -> None:
    name, password = site.new_user()
    cli = site.cli(name)
    cli.login(site.url, name, password)
    text = cli.config_path.read_text()
    assert password not in text
    assert cli.token() in text


@pytest.mark.parametrize("level", ["info", "debug"])
def test_no_secret_in_the_server_log(
    registry_factory: RegistryFactory, database_url: str, tmp_path: Path, level: str
) -> None:
    """A server sees logins, wrong passwords, tokens, JWTs, pushes and pulls with every kind of
    credentials: none of them is in its log, nor the signing key or a password hash, at any log
    level; the admin password is there only in the block the first start printed."""
    registry = registry_factory(
        database_url=database_url, env={"REGISTRY_LOG_LEVEL": level}, start=False
    )
    registry.start()
    url = registry.url
    admin_password = admin_password_of(registry)
    secrets: list[str] = []
    admin = DockyardCLI(tmp_path / "cli" / "admin.json", tmp_path / "home")
    admin.login(url, "admin", admin_password)
    secrets.append(admin.token())
    admin.run("new-project", "team")
    password = "Pw-" + uuid.uuid4().hex
    admin.run("create", "user", "dev", "--password", password)
    admin.run("policy", "add-role-to-user", "registry-editor", "dev", "-n", "team")
    wrong = "Wrong-" + uuid.uuid4().hex
    assert oauth_token(url, "dev", wrong).status_code == 401
    secrets += [password, wrong]
    token = api_token(url, "dev", password)
    jwt = registry_jwt(url, ["repository:team/app:pull,push"], basic(token))
    secrets += [token, jwt, jwt.rsplit(".", 1)[1]]
    with httpx.Client(base_url=url, auth=basic(token), timeout=30) as client:
        assert push(client, "team/app", "v1").status_code == 201
    with httpx.Client(base_url=url, auth=("dev", password), timeout=30) as client:
        assert push(client, "team/app", "v2").status_code == 201
    for headers in (bearer(jwt), bearer(token)):
        response = httpx.get(
            f"{url}{manifest_url('team/app', 'v1')}",
            headers={**headers, "Accept": ACCEPT_MANIFESTS},
        )
        assert response.status_code == 200, describe(response)
    assert httpx.get(f"{url}/v2/team/app/tags/list", auth=("dev", wrong)).status_code == 401
    assert registry_token(url, ["repository:team/app:pull"], ("dev", wrong)).status_code == 401
    assert revoke(url, token).status_code == 200
    keys = signing_keys(database_url).values()
    secrets += [base64.b64encode(key).decode() for key in keys] + [key.hex() for key in keys]
    hashes = query_database(database_url, "SELECT password_hash FROM users")
    secrets += [str(value) for (value,) in hashes if value]
    registry.stop()
    log = registry.log_text()
    announcement = ADMIN_LOGIN.search(log)
    assert announcement is not None
    assert log.count(admin_password) == 1, "the admin password is logged beyond the first start"
    for secret in secrets:
        assert secret not in log, f"a secret ({secret[:6]}…) is in the server log"
    # No token-shaped string at all, whoever it belongs to.
    assert not re.search(r"dyt~[A-Za-z0-9_-]{20,}", log)
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", log)


# --- the oras-py SDK ------------------------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """oras-py wants file paths relative to the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _oras_round_trip(site: Site, client: oras.client.OrasClient, repo: str, workdir: Path) -> None:
    content = uuid.uuid4().bytes * 16
    (workdir / "artifact.bin").write_bytes(content)
    target = f"{site.registry.host}/{repo}:v1"
    response = client.push(target=target, files=["artifact.bin"])
    assert response.status_code == 201, response.text
    stored = site.admin.get(manifest_url(repo, "v1"), headers={"Accept": ACCEPT_MANIFESTS})
    assert stored.status_code == 200, describe(stored)
    outdir = workdir / "pulled"
    files = client.pull(target=target, outdir=str(outdir))
    assert [Path(f).read_bytes() for f in files] == [content]


def test_oras_pushes_with_basic_auth(site: Site, in_tmp: Path) -> None:
    client = oras.client.OrasClient(
        hostname=site.registry.host, insecure=True, auth_backend="basic"
    )
    client.auth.set_basic_auth("anything", site.tokens["editor"])
    _oras_round_trip(site, client, f"own/{unique('oras-basic')}", in_tmp)


def test_push_challenges_ask_for_pull_and_push_and_the_mount_source(site: Site) -> None:
    """As Distribution's do: clients (oras-py among them) fetch one token per challenge and
    reuse it for the blob checks and mounts of the same push."""
    layer = site.images["own"].layers[0].digest
    with site.client(None) as client:
        for method, path, wanted in [
            ("POST", "/v2/own/x/blobs/uploads/", ["own/x:pull", "own/x:push"]),
            ("PUT", "/v2/own/x/manifests/v1", ["own/x:pull", "own/x:push"]),
            (
                "POST",
                f"/v2/own/x/blobs/uploads/?mount={layer}&from=own/existing",
                ["own/x:pull", "own/x:push", "own/existing:pull"],
            ),
        ]:
            response = client.request(method, path)
            params = assert_bearer_challenge(response, site.url)
            for scope in wanted:
                assert scope_covers(params["scope"], f"repository:{scope}"), describe(response)


def test_oras_pushes_with_token_auth(site: Site, in_tmp: Path) -> None:
    """oras-py's token backend: it asks the token endpoint for the scope of each challenge, but
    re-sends its cached token after a 401 (test-toolchain.md §4). What a user needs is that the
    push works with ``set_basic_auth(user, token)``."""
    client = oras.client.OrasClient(
        hostname=site.registry.host, insecure=True, auth_backend="token"
    )
    client.auth.set_basic_auth("editor", site.tokens["editor"])
    _oras_round_trip(site, client, f"own/{unique('oras-token')}", in_tmp)


def test_oras_pushes_with_a_token_fetched_for_push(site: Site, in_tmp: Path) -> None:
    """The workaround test-toolchain.md §4 gives: ask the token endpoint for pull,push yourself
    and hand the JWT to oras-py."""
    repo = f"own/{unique('oras-jwt')}"
    jwt = registry_jwt(site.url, [f"repository:{repo}:pull,push"], basic(site.tokens["editor"]))
    assert granted(jwt) == {f"repository:{repo}:pull", f"repository:{repo}:push"}
    client = oras.client.OrasClient(
        hostname=site.registry.host, insecure=True, auth_backend="token"
    )
    client.auth.set_token_auth(jwt)
    _oras_round_trip(site, client, repo, in_tmp)


def test_oras_with_a_viewer_token_cannot_push(site: Site, in_tmp: Path) -> None:
    client = oras.client.OrasClient(
        hostname=site.registry.host, insecure=True, auth_backend="basic"
    )
    client.auth.set_basic_auth("anything", site.tokens["viewer"])
    (in_tmp / "artifact.bin").write_bytes(b"x" * 64)
    repo = f"own/{unique('oras-viewer')}"
    with pytest.raises(Exception) as caught:  # oras-py raises bare exceptions
        client.push(target=f"{site.registry.host}/{repo}:v1", files=["artifact.bin"])
    assert re.search(r"403|denied|unauthori", str(caught.value), re.IGNORECASE), caught.value
    assert site.admin.head(manifest_url(repo, "v1")).status_code == 404
