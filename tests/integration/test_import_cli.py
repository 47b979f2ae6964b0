"""``dockyard import-image``, ``dockyard tag --source=docker`` and pull secrets, run as
``python -m dockyard`` processes against a real server and Debian's ``docker-registry``
upstream (also one with htpasswd authentication)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import bcrypt
import pytest
from access_helpers import DockyardCLI, admin_cli, unique
from distribution_helpers import get_manifest
from images import make_layout

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess, Upstream
    from integration.conftest import Skopeo

pytestmark = pytest.mark.integration

CLIFactory = Callable[["RegistryProcess"], DockyardCLI]


@pytest.fixture
def cli_for(tmp_path: Path) -> CLIFactory:
    def make(server: RegistryProcess) -> DockyardCLI:
        return admin_cli(server, tmp_path / unique("cli"), project=True)

    return make


def test_import_image_dry_run_then_confirm(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    cli_for: CLIFactory,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    cli = cli_for(shared_registry)
    source = f"--from={upstream.host}/team/app:1.0"

    dry = cli.run("import-image", "app", source, "--insecure", "-n", cli.project)
    assert dry.stdout.startswith("imagestream.image.openshift.io/app imported (dry run)\n")
    assert layout.digest in dry.stdout
    with shared_registry.client() as client:
        assert get_manifest(client, f"{cli.project}/app", "1.0").status_code == 404

        done = cli.run("import-image", "app", source, "--insecure", "--confirm", "-n", cli.project)
        assert done.stdout.startswith("imagestream.image.openshift.io/app imported\n")
        served = get_manifest(client, f"{cli.project}/app", "1.0")
        assert served.headers["docker-content-digest"] == layout.digest

    again = cli.run("import-image", "app:1.0", "--confirm", "-n", cli.project)  # from the spec
    assert layout.digest in again.stdout
    described = cli.run("describe", "is", "app", "-n", cli.project).stdout
    assert f"{upstream.host}/team/app:1.0" in described

    refused = cli.run(
        "import-image",
        "app",
        "--from=nowhere.invalid/x/y:1",
        "--confirm",
        "-n",
        cli.project,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: tag 1 failed: "), refused.stderr


def test_import_all_takes_up_to_the_limit_and_reports_the_rest(
    registry_factory: RegistryFactory,
    upstream: Upstream,
    skopeo: Skopeo,
    cli_for: CLIFactory,
    tmp_path: Path,
) -> None:
    server = registry_factory(env={"REGISTRY_IMPORTS_MAXTAGS": "2"}, workers=1)
    for tag in ("a", "b", "c"):
        layout = make_layout(tmp_path / "src", tag)
        skopeo.copy(layout.ref, f"docker://{upstream.host}/team/many:{tag}")
    cli = cli_for(server)

    result = cli.run(
        "import-image",
        "many",
        f"--from={upstream.host}/team/many",
        "--all",
        "--insecure",
        "--confirm",
        "-n",
        cli.project,
    )
    assert "1 more tag(s) were not imported (over the server's limit): c" in result.stdout
    with server.client() as client:
        tags = client.get(f"/v2/{cli.project}/many/tags/list").json()["tags"]
    assert tags == ["a", "b"]


def test_tag_source_docker_imports_the_external_image(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    cli_for: CLIFactory,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/ext:1.0")
    cli = cli_for(shared_registry)

    out = cli.run(
        "tag",
        "--source=docker",
        "--insecure",
        f"{upstream.host}/team/ext:1.0",
        f"{cli.project}/app:ext",
    ).stdout
    assert out == f"Tag app:ext set to {upstream.host}/team/ext:1.0.\n"
    refused = cli.run("tag", "--insecure", f"{cli.project}/app:ext", "app:copy", check=False)
    assert refused.stderr == "error: --insecure and --scheduled apply to external images only\n"
    with shared_registry.client() as client:
        served = get_manifest(client, f"{cli.project}/app", "ext")
        assert served.headers["docker-content-digest"] == layout.digest
        for blob in layout.blobs.values():
            assert client.get(f"/v2/{cli.project}/app/blobs/{blob.digest}").content == blob.data


@pytest.fixture
def locked_upstream(upstream: Upstream) -> Upstream:
    """The ``upstream``, restarted with htpasswd (Basic) authentication for one user."""
    upstream.stop()
    hashed = bcrypt.hashpw(b"upstream-pass", bcrypt.gensalt(rounds=5)).decode()
    htpasswd = upstream.root / "htpasswd"
    htpasswd.write_text(f"puller:{hashed.replace('$2b$', '$2y$', 1)}\n")
    with upstream.config_path.open("a") as config:
        config.write(f"auth:\n  htpasswd:\n    realm: upstream\n    path: {htpasswd}\n")
    upstream._spawn(
        [upstream.binary, "serve", str(upstream.config_path)], cwd=upstream.root, env=None
    )
    upstream._wait_ready(20, lambda status: status == 401)
    return upstream


def test_a_pull_secret_lets_imports_and_pulls_reach_an_upstream_with_htpasswd(
    shared_registry: RegistryProcess,
    locked_upstream: Upstream,
    skopeo: Skopeo,
    cli_for: CLIFactory,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.run(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds=puller:upstream-pass",
        layout.ref,
        f"docker://{locked_upstream.host}/team/app:1.0",
    )
    cli = cli_for(shared_registry)
    source = f"--from={locked_upstream.host}/team/app:1.0"

    refused = cli.run(
        "import-image", "app", source, "--insecure", "--confirm", "-n", cli.project, check=False
    )
    assert refused.returncode == 1
    assert "unauthorized" in refused.stderr or "credentials" in refused.stderr, refused.stderr
    assert "pull secret" in refused.stderr

    created = cli.run(
        "create",
        "secret",
        "docker-registry",
        "upstream",
        f"--docker-server={locked_upstream.host}",
        "--docker-username=puller",
        "--docker-password=upstream-pass",
        "-n",
        cli.project,
    )
    assert created.stdout == "secret/upstream created\n"
    cli.run("import-image", "app", source, "--insecure", "--confirm", "-n", cli.project)
    with shared_registry.client() as client:
        for blob in layout.blobs.values():
            assert client.get(f"/v2/{cli.project}/app/blobs/{blob.digest}").content == blob.data
