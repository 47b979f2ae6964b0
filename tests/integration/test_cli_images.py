"""The image commands of the CLI against a real server: ``get``, ``describe``, ``tag``,
``patch``, ``apply`` and ``get -w``, run as ``python -m dockyard`` processes.

Images are pushed with httpx through ``/v2``; what the CLI changes is then checked where a
client would see it: ``/v2`` manifests and tag lists serve a moved tag at once. Each test works
in a project of its own on the session's shared server.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from access_helpers import DockyardCLI, admin_cli
from distribution_helpers import get_manifest, push_image, tags_of

if TYPE_CHECKING:
    from conftest import RegistryProcess

pytestmark = [pytest.mark.integration, pytest.mark.database]


@pytest.fixture
def cli(shared_registry: RegistryProcess, tmp_path: Path) -> DockyardCLI:
    return admin_cli(shared_registry, tmp_path, project=True)


@pytest.fixture
def http(shared_registry: RegistryProcess) -> Iterator[httpx.Client]:
    with shared_registry.client() as client:
        yield client


def served_digest(http: httpx.Client, repo: str, tag: str) -> str:
    response = get_manifest(http, repo, tag)
    assert response.status_code == 200, response.text
    return response.headers["Docker-Content-Digest"]


def two_images(http: httpx.Client, repo: str) -> tuple[str, str]:
    """``1.0`` and ``latest`` at a first image, then ``1.1`` and ``latest`` at a second."""
    first = push_image(http, repo, "1.0").digest
    push_image_as(http, repo, first, "latest")
    time.sleep(1.1)  # history is ordered by time: one second apart, as a person would push
    second = push_image(http, repo, "1.1").digest
    push_image_as(http, repo, second, "latest")
    return first, second


def push_image_as(http: httpx.Client, repo: str, digest: str, tag: str) -> None:
    manifest = get_manifest(http, repo, digest)
    response = http.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest.content,
        headers={"Content-Type": manifest.headers["Content-Type"]},
    )
    assert response.status_code == 201, response.text


def section(description: str, tag: str) -> list[str]:
    """The lines of one tag's part of ``describe is``."""
    lines = description.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" (")[0] == tag)
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and lines[i][0] != " "), None)
    return lines[start:end]


def test_get_and_describe_show_tags_and_history(
    cli: DockyardCLI, http: httpx.Client, shared_registry: RegistryProcess
) -> None:
    repo = f"{cli.project}/app"
    first, second = two_images(http, repo)
    host = shared_registry.host

    table = cli.out("get", "is", "-n", cli.project).splitlines()
    assert table[0].split() == ["NAME", "IMAGE", "REPOSITORY", "TAGS", "UPDATED"]
    row = table[1].split()
    assert row[:2] == ["app", f"{host}/{repo}"]
    assert row[2].split(",")[-1] == "1.0", "the tag updated longest ago comes last"
    assert set(row[2].split(",")) == {"latest", "1.1", "1.0"}
    assert table[1].endswith(" ago")

    # The same stream by any of its names; the hand-written `get projects` still answers.
    for word in ("is/app", "imagestream/app", "imagestreams.image.openshift.io/app"):
        assert cli.out("get", word, "-o", "name") == "imagestream.image.openshift.io/app\n"
    assert cli.project in cli.out("get", "projects")

    description = cli.out("describe", "is", "app", "-n", cli.project)
    assert f"Image Repository:  {host}/{repo}" in description
    latest = section(description, "latest")
    assert latest[:4] == ["latest", "  no spec tag", "", f"  * {host}/{repo}@{second}"]
    assert latest[5] == f"    {host}/{repo}@{first}", "history newest first"
    assert latest[4].endswith(" ago") and latest[6].endswith(" ago")

    tags = cli.out("get", "istag", "-n", cli.project).splitlines()
    assert tags[0].split() == ["NAME", "IMAGE", "REFERENCE", "UPDATED"]
    assert ["app:1.1", f"{host}/{repo}@{second}"] in [line.split()[:2] for line in tags]

    document = json.loads(cli.out("get", "is", "app", "-o", "json"))
    assert document["kind"] == "ImageStream"
    assert {t["tag"] for t in document["status"]["tags"]} == {"latest", "1.0", "1.1"}


def test_tag_moves_rolls_back_and_copies_across_projects(
    cli: DockyardCLI, http: httpx.Client, shared_registry: RegistryProcess
) -> None:
    repo = f"{cli.project}/app"
    first, second = two_images(http, repo)

    result = cli.out("tag", f"{repo}@{first}", f"{repo}:prod")
    assert result == f"Tag app:prod set to app@{first}.\n"
    assert served_digest(http, repo, "prod") == first

    cli.out("tag", f"{repo}@{second}", f"{repo}:prod")  # promote
    assert served_digest(http, repo, "prod") == second
    assert cli.out("tag", f"{repo}@{first}", f"{repo}:prod") == (
        f"Tag app:prod set to app@{first}.\n"
    )  # roll back to an image of the history
    assert served_digest(http, repo, "prod") == first
    history = section(cli.out("describe", "is", "app"), "prod")
    references = [line.split()[-1] for line in history if "@sha256:" in line]
    assert [ref.rpartition("@")[2] for ref in references] == [first, second, first]
    assert history[3].startswith("  * ")

    # A source tag is resolved to its image now: the copy stays when the source moves.
    assert cli.out("tag", f"{repo}:1.1", f"{repo}:stable") == (
        f"Tag app:stable set to app@{second}.\n"
    )
    push_image(http, repo, "1.1")
    assert served_digest(http, repo, "stable") == second

    # Another project's stream as the destination (and a source from elsewhere).
    other = f"cli-{uuid.uuid4().hex[:10]}"
    cli.run("new-project", other)
    result = cli.out("tag", f"{repo}@{first}", f"{other}/copy:1")
    assert result == f"Tag copy:1 set to {repo}@{first}.\n"  # new-project switched to it
    assert served_digest(http, f"{other}/copy", "1") == first
    cli.run("delete", "project", other)


def test_alias_follows_later_pushes_and_delete_removes_the_tag(
    cli: DockyardCLI, http: httpx.Client
) -> None:
    repo = f"{cli.project}/app"
    first, _ = two_images(http, repo)
    result = cli.out("tag", "--alias", f"{repo}:latest", f"{repo}:current")
    assert result == "Tag app:current set up to track app:latest.\n"
    later = push_image(http, repo, "latest").digest
    assert served_digest(http, repo, "current") == later
    description = cli.out("describe", "is", "app")
    assert "  tagged from app:latest\n    alias: follows app:latest" in description

    refused = cli.run("tag", "--alias", f"{repo}:latest", f"{cli.project}/other:x", check=False)
    assert refused.returncode == 1
    assert "cannot set alias across different Image Streams" in refused.stderr

    assert "1.0" in (tags_of(http, repo) or [])
    assert cli.out("tag", "-d", f"{repo}:1.0") == f"Deleted tag {repo}:1.0.\n"
    assert "1.0" not in (tags_of(http, repo) or [])
    assert get_manifest(http, repo, first).status_code == 200, "the image stays until pruned"

    external = cli.run(  # imported at once (test_import_cli.py); this host never resolves
        "tag", "--source=docker", "registry.invalid/library/busybox:1", "app:ext", check=False
    )
    assert external.returncode == 1
    assert external.stderr.startswith("Error from server (Invalid): "), external.stderr
    assert "cannot import registry.invalid/library/busybox:1" in external.stderr


def test_patch_merges_labels(cli: DockyardCLI, http: httpx.Client) -> None:
    push_image(http, f"{cli.project}/app", "1")
    patch = '{"metadata":{"labels":{"team":"web"}}}'
    assert cli.out("patch", "is/app", "--type", "merge", "-p", patch) == (
        "imagestream.image.openshift.io/app patched\n"
    )
    cli.out("patch", "is", "app", "--type", "merge", "-p", '{"metadata":{"labels":{"tier":"1"}}}')
    labels = json.loads(cli.out("get", "is", "app", "-o", "json"))["metadata"]["labels"]
    assert labels == {"team": "web", "tier": "1"}
    assert cli.out("patch", "is/app", "--type", "merge", "-p", patch) == (
        "imagestream.image.openshift.io/app patched (no change)\n"
    )
    assert cli.out("get", "is", "-l", "team=web", "-o", "name") == (
        "imagestream.image.openshift.io/app\n"
    )
    assert cli.out("get", "is", "-l", "team!=web", "-o", "name") == ""


def test_apply_creates_configures_and_leaves_unchanged(cli: DockyardCLI, tmp_path: Path) -> None:
    manifest = tmp_path / "stream.yaml"
    text = (
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: app\n"
        "  labels: {owner: ops}\nspec:\n  lookupPolicy: {local: true}\n"
    )
    manifest.write_text(text)
    prefix = "imagestream.image.openshift.io/app"
    assert cli.out("apply", "-f", str(manifest)) == f"{prefix} created\n"
    assert cli.out("apply", "-f", str(manifest)) == f"{prefix} unchanged\n"
    manifest.write_text(text.replace("owner: ops", "owner: dev"))
    assert cli.out("apply", "-f", str(manifest)) == f"{prefix} configured\n"
    assert cli.out("apply", "-f", str(manifest)) == f"{prefix} unchanged\n"
    stream = json.loads(cli.out("get", "is", "app", "-o", "json"))
    assert stream["metadata"]["labels"] == {"owner": "dev"}
    assert stream["spec"]["lookupPolicy"] == {"local": True}


def test_watch_prints_a_row_soon_after_a_push(cli: DockyardCLI, http: httpx.Client) -> None:
    push_image(http, f"{cli.project}/before", "1")
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "get", "is", "-w", "-n", cli.project],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()

    def next_line(seconds: float) -> str:
        try:
            return lines.get(timeout=seconds)
        except queue.Empty:
            process.kill()
            stderr = process.communicate()[1]
            raise AssertionError(f"no line within {seconds}s; stderr: {stderr}") from None

    try:
        assert next_line(20).split()[0] == "NAME"
        assert next_line(5).split()[0] == "before"
        pushed_at = time.monotonic()
        push_image(http, f"{cli.project}/after", "v1")
        row = next_line(10)
        assert row.split()[:3] == ["after", row.split()[1], "v1"], row
        assert time.monotonic() - pushed_at < 5, "the row came within a few seconds"
    finally:
        process.terminate()
        process.wait(timeout=10)
