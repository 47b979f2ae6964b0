"""Helpers for the access-control tests (``test_access_*.py``).

- ``DockyardCLI``: the real ``dockyard`` command (``python -m dockyard``) with a config file of
  its own (``DOCKYARD_CONFIG``) and a sandbox ``HOME``, so no test touches the user's files.
- Logins and tokens over HTTP (``/oauth/token``, ``/oauth/revoke``, ``/openshift/token``), JWTs
  taken apart and forged (base64 + hmac, no JWT library), ``WWW-Authenticate`` parsed.
- One registry action at a time, the way a client does it (pull, push, delete, catalog), each
  returning the response the user would see: the first refusal, or the final success.
- ``skopeo`` with exactly the credentials a test gives (none added), and a server per test module.

Nothing here is mocked: every call goes to a real ``dockyard serve`` process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from images import ACCEPT_MANIFESTS, Image, make_image

if TYPE_CHECKING:
    from conftest import RegistryProcess

COMMAND_TIMEOUT = 120.0
REVOCATION_DEADLINE = 5.0
"""How long a revoked token (or a JWT made from it) may still work, on any worker."""

SERVICE = "dockyard"
API_TOKEN = re.compile(r"^dyt~[A-Za-z0-9_-]+$")
ADMIN_LOGIN = re.compile(r"dockyard login -u admin -p (\S+)")
AUTH_FAILURE = re.compile(
    r"unauthori[sz]ed|authentication required|denied|forbidden|invalid username/password",
    re.IGNORECASE,
)
"""What skopeo and podman print when the registry refuses credentials or access."""


# --- processes ---------------------------------------------------------------------------------


class CommandError(AssertionError):
    """A command failed; the message holds its command line, exit status and output."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(
            f"{' '.join(str(arg) for arg in result.args)}\nexited with {result.returncode}\n"
            f"--- stderr ---\n{result.stderr[-6000:]}\n--- stdout ---\n{result.stdout[-3000:]}"
        )


def run_command(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check and result.returncode != 0:
        raise CommandError(result)
    return result


def conftest_object(config: pytest.Config, name: str) -> Any:
    """``name`` from whichever loaded conftest module defines it.

    Both conftests are modules called ``conftest``, so ``import conftest`` finds only one of them;
    the plugin manager holds both.
    """
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, ModuleType) and hasattr(plugin, name):
            return getattr(plugin, name)
    raise LookupError(f"no conftest defines {name}")


@contextlib.contextmanager
def module_registry(
    config: pytest.Config, root: Path, database_url: str, **options: Any
) -> Iterator[RegistryProcess]:
    """A ``dockyard serve`` (2 workers) for a whole test module, logged in as admin."""
    registry_in = conftest_object(config, "_registry_in")
    process: RegistryProcess = registry_in(root, database_url, **options)
    try:
        process.start()
        yield process
    finally:
        process.close()


def admin_password_of(registry: RegistryProcess) -> str:
    """The password the first start printed (``RegistryProcess`` read it too)."""
    found = ADMIN_LOGIN.search(registry.log_text())
    assert found is not None, f"no admin login line in the log:\n{registry.log_tail()}"
    return found.group(1)


def admin_cli(registry: RegistryProcess, home: Path, *, project: bool = False) -> DockyardCLI:
    """The server's admin logged in, with a config of its own; in a new project of its own
    (``cli.project``) when asked."""
    assert registry.admin_password, "the server printed no admin password"
    cli = DockyardCLI(home / "dockyard.json", home)
    cli.login(registry.url, "admin", registry.admin_password)
    if project:
        cli.project = unique("cli")
        cli.run("new-project", cli.project)
    return cli


class DockyardCLI:
    """``python -m dockyard ...`` as one person on one machine: a config file of their own.

    ``home`` is a sandbox ``HOME`` shared by every CLI of a test: a CLI that ignored
    ``DOCKYARD_CONFIG`` would mix up the people of the test instead of touching the real home.
    """

    def __init__(self, config_path: Path, home: Path) -> None:
        self.config_path = config_path
        config_path.parent.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("REGISTRY_", "DOCKYARD_", "XDG_"))
        }
        env.update(DOCKYARD_CONFIG=str(config_path), HOME=str(home), PYTHONUNBUFFERED="1")
        self.env = env
        self.cwd = home
        self.project = ""
        """The project ``admin_cli`` made for this CLI, if any."""

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_command(
            [sys.executable, "-m", "dockyard", *args],
            env=self.env,
            cwd=self.cwd,
            input=input,
            check=check,
        )

    def out(self, *args: str) -> str:
        return self.run(*args).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def login(self, url: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
        # --password=: a generated password may start with "-".
        return self.run("login", "-u", user, f"--password={password}", url)

    def whoami(self) -> str:
        return self.run("whoami").stdout.strip()

    def token(self) -> str:
        """``dockyard whoami -t``: the API token of this login."""
        token = self.run("whoami", "-t").stdout.strip()
        assert API_TOKEN.match(token), f"whoami -t printed {token!r}"
        return token


def parallel(calls: Iterable[Callable[[], object]], workers: int = 4) -> None:
    """Run independent calls (CLI processes, logins) a few at a time; re-raise the first error."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


# --- logins and tokens ---------------------------------------------------------------------------


def oauth_token(url: str, user: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "password", "username": user, "password": password},
        timeout=30,
    )


def api_token(url: str, user: str, password: str) -> str:
    """Log in with a password; the ``dyt~`` API token."""
    response = oauth_token(url, user, password)
    assert response.status_code == 200, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["token_type"] == "Bearer", body
    token = str(body["access_token"])
    assert API_TOKEN.match(token), body
    return token


def revoke(url: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{url}/oauth/revoke", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def basic(token: str, user: str = "anything") -> tuple[str, str]:
    """HTTP Basic with any user name and an API token as password (``podman login -u any``)."""
    return (user, token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def registry_token(
    url: str, scopes: Sequence[str], auth: tuple[str, str] | None = None
) -> httpx.Response:
    """``GET /openshift/token?service=dockyard&scope=...`` (the Docker token protocol)."""
    params = [("service", SERVICE), *(("scope", scope) for scope in scopes)]
    return httpx.get(f"{url}/openshift/token", params=params, auth=auth, timeout=30)


def registry_jwt(url: str, scopes: Sequence[str], auth: tuple[str, str] | None = None) -> str:
    response = registry_token(url, scopes, auth)
    assert response.status_code == 200, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["token"] == body["access_token"], body
    assert body["expires_in"] == 300, body
    assert body.get("issued_at"), body
    return str(body["token"])


# --- JWTs ----------------------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return header


def jwt_payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return payload


def granted(token: str) -> set[str]:
    """What a registry JWT grants, as ``type:name:action`` strings (from its ``access`` claim)."""
    return {
        f"{entry['type']}:{entry['name']}:{action}"
        for entry in jwt_payload(token).get("access") or []
        for action in entry.get("actions") or []
    }


_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def forge_jwt(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A JWT signed with HMAC per ``header["alg"]``; ``alg: none`` (or no key) gets no signature."""
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, payload)
    )
    algorithm = header.get("alg", "none")
    if key is None or algorithm not in _HASHES:
        return f"{signing_input}."
    signature = hmac.new(key, signing_input.encode("ascii"), _HASHES[algorithm]).digest()
    return f"{signing_input}.{b64url_encode(signature)}"


def with_payload(token: str, payload: dict[str, Any]) -> str:
    """``token`` with its payload replaced and its original signature kept (a tampered token)."""
    header, _, signature = token.split(".")
    body = b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    return f"{header}.{body}.{signature}"


CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')


def parse_challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """``WWW-Authenticate: Bearer realm="...",service="...",scope="..."`` → (scheme, params)."""
    value = response.headers.get("www-authenticate", "")
    scheme, _, rest = value.partition(" ")
    return scheme.lower(), dict(CHALLENGE_PARAM.findall(rest))


def assert_bearer_challenge(
    response: httpx.Response, url: str, scope: str | None = None
) -> dict[str, str]:
    """A 401 whose challenge sends the client to our token endpoint (naming ``scope``)."""
    assert response.status_code == 401, describe(response)
    scheme, params = parse_challenge(response)
    assert scheme == "bearer", describe(response)
    assert params.get("realm") == f"{url}/openshift/token", describe(response)
    assert params.get("service") == SERVICE, describe(response)
    if scope is not None:
        assert scope_covers(params.get("scope", ""), scope), describe(response)
    return params


def scope_covers(challenge_scope: str, needed: str) -> bool:
    """Whether the challenge's scope string asks for ``type:name:action``."""
    kind, _, rest = needed.partition(":")
    name, _, action = rest.rpartition(":")
    for item in challenge_scope.split():
        item_kind, _, item_rest = item.partition(":")
        item_name, _, actions = item_rest.rpartition(":")
        if (item_kind, item_name) == (kind, name) and action in actions.split(","):
            return True
    return False


def error_codes(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    return [str(entry.get("code")) for entry in body.get("errors") or [] if isinstance(entry, dict)]


def describe(response: httpx.Response) -> str:
    request = response.request
    body = b"" if request.method == "HEAD" else response.content[:500]
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() in ("www-authenticate", "content-type", "location", "retry-after")
    }
    return f"{request.method} {request.url} -> {response.status_code} {headers} {body!r}"


def assert_denied(response: httpx.Response) -> None:
    """A known user whose roles don't allow it: 403 with the OCI ``DENIED`` error."""
    assert response.status_code == 403, describe(response)
    if response.request.method != "HEAD":
        assert "DENIED" in error_codes(response), describe(response)


# --- registry actions, as a client performs them --------------------------------------------------


def blob_url(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


def manifest_url(repo: str, reference: str) -> str:
    return f"/v2/{repo}/manifests/{reference}"


def new_image() -> Image:
    """A small real image (gzip'd tar layer, OCI config) with random content."""
    return make_image(("linux", "amd64"), layers=1, layer_size=256)


def upload(client: httpx.Client, repo: str, data: bytes, digest: str) -> httpx.Response:
    """POST then PUT: the first refusal, or the final 201."""
    started = client.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    if started.status_code != 202:
        return started
    location = httpx.URL(started.headers["location"]).copy_merge_params({"digest": digest})
    return client.put(location, content=data, headers={"Content-Type": "application/octet-stream"})


def push(client: httpx.Client, repo: str, tag: str, image: Image | None = None) -> httpx.Response:
    """Push an image the way clients do: blobs, then the manifest by tag.

    Returns the first response that is not a success, or the manifest PUT's 201.
    """
    image = image or new_image()
    for blob in image.blobs:
        response = upload(client, repo, blob.data, blob.digest)
        if response.status_code != 201:
            return response
    return client.put(
        manifest_url(repo, tag),
        content=image.manifest.data,
        headers={"Content-Type": image.manifest.media_type},
    )


def pull(client: httpx.Client, repo: str, reference: str) -> httpx.Response:
    """GET the manifest, then each blob it names: the first refusal, or the last 200."""
    response = client.get(manifest_url(repo, reference), headers={"Accept": ACCEPT_MANIFESTS})
    if response.status_code != 200:
        return response
    manifest = response.json()
    for descriptor in [manifest["config"], *manifest.get("layers", [])]:
        blob = client.get(blob_url(repo, descriptor["digest"]))
        if blob.status_code != 200:
            return blob
        assert hashlib.sha256(blob.content).hexdigest() == descriptor["digest"].split(":")[1]
    return response


def catalog(client: httpx.Client) -> httpx.Response:
    return client.get("/v2/_catalog", params={"n": "10000"})


def catalog_repositories(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, describe(response)
    repositories: list[str] = response.json()["repositories"]
    return repositories


def projects_in(repositories: Iterable[str]) -> set[str]:
    return {name.split("/", 1)[0] for name in repositories}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- waiting --------------------------------------------------------------------------------------


def fresh_get(url: str, path: str, **options: Any) -> httpx.Response:
    """One request on a new connection: the kernel may hand it to any worker."""
    with httpx.Client(base_url=url, timeout=30) as client:
        return client.get(path, **options)


def becomes_steady(
    check: Callable[[], bool], *, deadline: float, streak: int = 12, interval: float = 0.05
) -> bool:
    """``check`` holds ``streak`` times in a row before ``deadline`` (a ``time.monotonic``).

    For "every worker refuses a revoked token": each check opens a new connection, so a streak
    spreads over the workers; any failure restarts the streak.
    """
    run = 0
    while time.monotonic() < deadline:
        if check():
            run += 1
            if run >= streak:
                return True
        else:
            run = 0
            time.sleep(interval)
    return False


# --- the database, read the way an attacker with a copy of it would -----------------------------


def query_database(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one SQL query on the server's database (SQLite or PostgreSQL)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def fetch() -> list[tuple[Any, ...]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(sql))
                return [tuple(row) for row in result.all()]
        finally:
            await engine.dispose()

    return asyncio.run(fetch())


def sqlite_path(database_url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    return Path(database_url.removeprefix(prefix)) if database_url.startswith(prefix) else None


def signing_keys(database_url: str) -> dict[str, bytes]:
    """The registry's JWT signing keys by ``kid``, to forge tokens that differ in one claim."""
    rows = query_database(database_url, "SELECT kid, secret FROM signing_keys")
    return {str(kid): base64.b64decode(secret) for kid, secret in rows}


# --- skopeo with exactly the credentials given --------------------------------------------------


@dataclass
class SkopeoRunner:
    """skopeo with an empty auth file of its own and ``--insecure-policy``; no credentials are
    added: each call names its own (``--src-creds``/``--dest-creds``/``--creds``) or none."""

    binary: str
    workdir: Path

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        auth_file = self.workdir / "auth.json"
        auth_file.write_text(json.dumps({"auths": {}}))
        self.env = dict(os.environ, REGISTRY_AUTH_FILE=str(auth_file), TMPDIR=str(self.workdir))

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return run_command(
            [self.binary, "--insecure-policy", *args], env=self.env, cwd=self.workdir, check=check
        )

    def copy(
        self, source: str, destination: str, *options: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            *options,
            source,
            destination,
            check=check,
        )
