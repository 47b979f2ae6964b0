"""Images from another registry: ImageStreamImport, ``dockyard import-image`` and pull-through.

The upstream is Debian's ``docker-registry`` (Distribution 2.8) on plain HTTP, filled with
skopeo from hand-made layouts; every digest is followed from the layout through the import
and back out of Dockyard's ``/v2``.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from distribution_helpers import get_manifest
from images import Layout, make_layout
from proxy_helpers import trust_cluster_wide

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess, Upstream
    from integration.conftest import Skopeo

pytestmark = [pytest.mark.integration, pytest.mark.database]

API = "/apis/image.openshift.io/v1"


def new_project(client: httpx.Client) -> str:
    name = f"imp-{uuid.uuid4().hex[:10]}"
    response = client.post(
        "/apis/project.openshift.io/v1/projectrequests",
        json={
            "kind": "ProjectRequest",
            "apiVersion": "project.openshift.io/v1",
            "metadata": {"name": name},
        },
    )
    assert response.status_code in (200, 201), response.text
    return name


def image_import(
    client: httpx.Client, project: str, stream: str, spec: dict[str, Any]
) -> httpx.Response:
    return client.post(
        f"{API}/namespaces/{project}/imagestreamimports",
        json={
            "kind": "ImageStreamImport",
            "apiVersion": "image.openshift.io/v1",
            "metadata": {"name": stream},
            "spec": spec,
        },
    )


def one_image(source: str, tag: str = "", **policy: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"from": {"kind": "DockerImage", "name": source}}
    if tag:
        entry["to"] = {"name": tag}
    if policy:
        entry["importPolicy"] = policy
    return entry


def assert_pulls(client: httpx.Client, repository: str, tag: str, layout: Layout) -> None:
    """Dockyard serves the tag's manifest and every blob of ``layout`` byte for byte."""
    response = get_manifest(client, repository, tag)
    assert response.status_code == 200, response.text
    assert response.headers["docker-content-digest"] == layout.digest
    for blob in layout.blobs.values():
        got = client.get(f"/v2/{repository}/blobs/{blob.digest}")
        assert got.status_code == 200, got.text
        assert got.content == blob.data


@pytest.fixture
def api(shared_registry: RegistryProcess) -> Any:
    with shared_registry.client(timeout=60) as client:
        yield client


def test_import_records_the_image_and_pull_through_mirrors_its_layers(
    api: httpx.Client,
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0", layers=2)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    project = new_project(api)
    source = f"{upstream.host}/team/app:1.0"

    dry = image_import(
        api,
        project,
        "app",
        {
            "import": False,
            "images": [{**one_image(source, insecure=True), "includeManifest": True}],
        },
    )
    assert dry.status_code == 201, dry.text
    result = dry.json()["status"]["images"][0]
    assert result["status"]["status"] == "Success", result
    assert result["image"]["metadata"]["name"] == layout.digest
    assert result["image"]["dockerImageManifest"].encode() == layout.top.data
    assert result["tag"] == "1.0"
    assert "import" not in dry.json()["status"]
    assert get_manifest(api, f"{project}/app", "1.0").status_code == 404, (
        "a dry run changes nothing"
    )

    done = image_import(
        api, project, "app", {"import": True, "images": [one_image(source, insecure=True)]}
    )
    assert done.status_code == 201, done.text
    stream = done.json()["status"]["import"]
    assert stream["spec"]["tags"][0]["from"] == {"kind": "DockerImage", "name": source}
    event = stream["status"]["tags"][0]["items"][0]
    assert event["image"] == layout.digest
    assert event["dockerImageReference"] == f"{upstream.host}/team/app@{layout.digest}"
    image = api.get(f"{API}/images/{layout.digest}").json()
    assert "openshift.io/image.managed" not in image["metadata"]["annotations"]

    local = image_import(
        api,
        project,
        "app",
        {
            "import": True,
            "images": [{**one_image(source, insecure=True), "referencePolicy": {"type": "Local"}}],
        },
    )
    event = local.json()["status"]["import"]["status"]["tags"][0]["items"][0]
    assert event["dockerImageReference"] == f"{shared_registry.host}/{project}/app@{layout.digest}"

    assert_pulls(api, f"{project}/app", "1.0", layout)
    upstream.stop()
    assert_pulls(api, f"{project}/app", "1.0", layout)  # mirrored: the upstream is gone


def test_import_of_an_index_preserved_or_one_platform(
    api: httpx.Client, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    platforms = [("linux", "amd64"), ("linux", "arm64", "v8")]
    layout = make_layout(tmp_path / "src", "multi", platforms=platforms)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/multi:1", "--all")
    project = new_project(api)
    source = f"{upstream.host}/team/multi:1"

    whole = image_import(
        api,
        project,
        "multi",
        {
            "import": True,
            "images": [one_image(source, "whole", insecure=True, importMode="PreserveOriginal")],
        },
    )
    assert whole.status_code == 201, whole.text
    item = whole.json()["status"]["images"][0]
    assert item["image"]["metadata"]["name"] == layout.digest
    assert {m["metadata"]["name"] for m in item["manifests"]} == {
        image.manifest.digest for image in layout.images
    }
    assert_pulls(api, f"{project}/multi", "whole", layout)

    legacy = image_import(
        api, project, "multi", {"import": True, "images": [one_image(source, "one", insecure=True)]}
    )
    assert legacy.status_code == 201, legacy.text
    chosen = legacy.json()["status"]["images"][0]["image"]["metadata"]["name"]
    assert chosen in {image.manifest.digest for image in layout.images}
    assert get_manifest(api, f"{project}/multi", "one").headers["docker-content-digest"] == chosen


def test_import_failures_are_reported_per_image(api: httpx.Client, upstream: Upstream) -> None:
    project = new_project(api)
    missing = image_import(
        api,
        project,
        "app",
        {"import": True, "images": [one_image(f"{upstream.host}/team/nothing:1", insecure=True)]},
    )
    assert missing.status_code == 201, missing.text
    status = missing.json()["status"]["images"][0]["status"]
    assert status["status"] == "Failure"
    assert status["reason"] == "NotFound"
    assert "team/nothing" in status["message"]

    secure = image_import(
        api,
        project,
        "app",
        {"import": True, "images": [one_image(f"{upstream.host}/team/nothing:1")]},
    )
    assert "--insecure" in secure.json()["status"]["images"][0]["status"]["message"]

    for spec, field in [
        (
            {"images": [{"from": {"kind": "ImageStreamTag", "name": "a:b"}}]},
            "spec.images[0].from.kind",
        ),
        ({"images": [one_image("UPPER/case:1")]}, "spec.images[0].from.name"),
        ({"images": [], "bogus": 1}, "spec.bogus"),
        ({}, "spec"),
        ({"images": [one_image("h.io/a:1", "x"), one_image("h.io/b:1", "x")]}, "spec.images[1].to"),
        ({"images": [one_image("h.io/a:1", "-bad")]}, "spec.images[0].to"),
        ({"images": [one_image(f"h.io/a:{n}") for n in range(51)]}, "spec.images"),
        (
            {"repository": {"from": {"kind": "DockerImage", "name": "h.io/a:1"}}},
            "spec.repository.from.name",
        ),
    ]:
        refused = image_import(api, project, "app", spec)
        assert refused.status_code == 422, refused.text
        assert refused.json()["details"]["causes"][0]["field"] == field, refused.text
    assert api.get(f"{API}/namespaces/{project}/imagestreams/app").status_code == 404


def test_scheduled_import_picks_up_a_re_pushed_tag_and_reports_failures(
    registry_factory: RegistryFactory, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    server = registry_factory(env={"REGISTRY_IMPORTS_SCHEDULEDINTERVAL": "1s"})
    first = make_layout(tmp_path / "one", "1.0")
    skopeo.copy(first.ref, f"docker://{upstream.host}/team/app:1.0")
    source = f"{upstream.host}/team/app:1.0"
    with server.client(timeout=60) as api:
        project = new_project(api)
        spec = {"import": True, "images": [one_image(source, insecure=True, scheduled=True)]}
        assert image_import(api, project, "app", spec).status_code == 201

        second = make_layout(tmp_path / "two", "1.0")
        skopeo.copy(second.ref, f"docker://{upstream.host}/team/app:1.0")
        items = wait_for(api, project, lambda tag: len(tag["items"]) == 2)["items"]
        assert [item["image"] for item in items] == [second.digest, first.digest]

        upstream.stop()
        failed = wait_for(api, project, lambda tag: bool(tag.get("conditions")))
        condition = failed["conditions"][0]
        assert condition["type"] == "ImportSuccess"
        assert condition["status"] == "False"
        assert f"cannot reach {upstream.host}" in condition["message"]
        assert failed["items"][0]["image"] == second.digest, "the last good image stays"
        istag = api.get(f"{API}/namespaces/{project}/imagestreamtags/app:1.0").json()
        assert istag["conditions"][0]["reason"] == condition["reason"]
        assert istag["image"]["metadata"]["name"] == second.digest


def wait_for(
    api: httpx.Client, project: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The stream's status tag ``1.0`` once ``done`` holds for it (within 30 seconds)."""
    deadline = time.monotonic() + 30
    while True:
        stream = api.get(f"{API}/namespaces/{project}/imagestreams/app").json()
        tag = next((t for t in stream["status"]["tags"] if t["tag"] == "1.0"), None)
        if tag is not None and done(tag):
            return tag
        assert time.monotonic() < deadline, f"the scheduled import never happened: {tag}"
        time.sleep(0.3)


def test_the_cluster_image_config_blocks_allows_and_marks_insecure_registries(
    registry_factory: RegistryFactory, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    server = registry_factory(workers=1)
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    source = f"{upstream.host}/team/app:1.0"
    layer = layout.images[0].layers[0]

    def configure(client: httpx.Client, sources: dict[str, Any]) -> httpx.Response:
        body = {
            "apiVersion": "config.openshift.io/v1",
            "kind": "Image",
            "metadata": {"name": "cluster"},
            "spec": {"registrySources": sources},
        }
        path = "/apis/config.openshift.io/v1/images"
        if client.get(f"{path}/cluster").status_code == 404:
            return client.post(path, json=body)
        return client.put(f"{path}/cluster", json=body)

    def outcome(client: httpx.Client, project: str, **policy: Any) -> dict[str, Any]:
        spec = {"import": True, "images": [one_image(source, **policy)]}
        response = image_import(client, project, "app", spec)
        assert response.status_code == 201, response.text
        status: dict[str, Any] = response.json()["status"]["images"][0]["status"]
        return status

    with server.client(timeout=60) as api:
        project = new_project(api)
        assert configure(api, {"insecureRegistries": [upstream.host]}).status_code == 201
        assert outcome(api, project)["status"] == "Success", "insecure by the config alone"

        assert configure(api, {"blockedRegistries": [upstream.host]}).status_code == 200
        blocked = outcome(api, project, insecure=True)
        assert blocked["reason"] == "Forbidden"
        assert "blockedRegistries" in blocked["message"]
        refused = api.get(f"/v2/{project}/app/blobs/{layer.digest}")
        assert refused.status_code == 404, "pull-through obeys the config too"
        assert "blockedRegistries" in refused.json()["errors"][0]["message"]

        allowed = {"allowedRegistries": ["*.example.com", f"{upstream.host}/team/app"]}
        assert configure(api, allowed).status_code == 200
        assert outcome(api, project, insecure=True)["status"] == "Success"
        assert api.get(f"/v2/{project}/app/blobs/{layer.digest}").content == layer.data
        assert configure(api, {"allowedRegistries": ["*.example.com"]}).status_code == 200
        assert "allowedRegistries" in outcome(api, project, insecure=True)["message"]

        both = configure(api, {"allowedRegistries": ["a.io"], "blockedRegistries": ["b.io"]})
        assert both.status_code == 422, both.text
        assert both.json()["details"]["causes"][0]["field"] == "spec.registrySources"
        other = api.post(
            "/apis/config.openshift.io/v1/images",
            json={
                "apiVersion": "config.openshift.io/v1",
                "kind": "Image",
                "metadata": {"name": "other"},
            },
        )
        assert other.status_code == 422, other.text


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA of its own and a certificate it signed for 127.0.0.1: (ca, cert, key)."""
    directory.mkdir()
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl = ["openssl"]
    for command in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "1",
            "-subj",
            "/CN=dockyard test CA",
        ],
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "1",
            "-extfile",
            directory / "san.cnf",
        ],
    ):
        subprocess.run([*openssl, *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


def test_a_tls_upstream_is_trusted_through_additional_trusted_ca(
    registry_factory: RegistryFactory,
    upstream: Upstream,
    skopeo: Skopeo,
    binary_path: Callable[[str], str],
    tmp_path: Path,
) -> None:
    binary_path("openssl")
    ca, cert, key = make_certificates(tmp_path / "tls")
    upstream.stop()
    config = upstream.config_path.read_text()
    tls = f"http:\n  tls: {{certificate: {json.dumps(str(cert))}, key: {json.dumps(str(key))}}}\n"
    upstream.config_path.write_text(config.replace("http:\n", tls, 1))
    upstream._spawn(
        [upstream.binary, "serve", str(upstream.config_path)], cwd=upstream.root, env=None
    )
    upstream._wait_ready(20, lambda status: status == 400)  # plain HTTP to a TLS port
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    source = f"{upstream.host}/team/app:1.0"
    server = registry_factory(workers=1)
    with server.client(timeout=60) as api:
        project = new_project(api)
        untrusted = image_import(
            api, project, "app", {"import": True, "images": [one_image(source)]}
        )
        assert (
            "CERTIFICATE_VERIFY_FAILED"
            in untrusted.json()["status"]["images"][0]["status"]["message"]
        )

        trust_cluster_wide(api, "registry-cas", upstream.host, ca.read_text())

        trusted = image_import(api, project, "app", {"import": True, "images": [one_image(source)]})
        assert trusted.json()["status"]["images"][0]["status"]["status"] == "Success", trusted.text
        assert_pulls(api, f"{project}/app", "1.0", layout)


def test_concurrent_imports_of_one_tag_all_succeed(
    api: httpx.Client, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    project = new_project(api)
    spec = {"import": True, "images": [one_image(f"{upstream.host}/team/app:1.0", insecure=True)]}

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: image_import(api, project, "app", spec), range(4)))

    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    stream = api.get(f"{API}/namespaces/{project}/imagestreams/app").json()
    [tag] = stream["status"]["tags"]
    assert [item["image"] for item in tag["items"]] == [layout.digest]


def test_an_upstream_speaking_the_docker_token_protocol(
    registry_factory: RegistryFactory, skopeo: Skopeo, tmp_path: Path
) -> None:
    """Another Dockyard is the upstream: its ``/v2/`` answers with a Bearer challenge, and the
    pull secret's credentials fetch a token from its realm."""
    remote = registry_factory(workers=1)
    local = registry_factory(workers=1)
    layout = make_layout(tmp_path / "src", "1.0")
    with remote.client() as client:
        upstream_project = new_project(client)
    skopeo.copy(layout.ref, f"docker://{remote.host}/{upstream_project}/app:1.0")
    assert remote.token is not None
    source = f"{remote.host}/{upstream_project}/app:1.0"
    with local.client(timeout=60) as api:
        project = new_project(api)
        spec = {"import": True, "images": [one_image(source, insecure=True)]}
        refused = image_import(api, project, "app", spec).json()["status"]["images"][0]
        assert refused["status"]["reason"] == "Unauthorized", refused

        config = json.dumps({"auths": {remote.host: {"username": "any", "password": remote.token}}})
        secret = api.post(
            f"/api/v1/namespaces/{project}/secrets",
            json={
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "remote"},
                "type": "kubernetes.io/dockerconfigjson",
                "stringData": {".dockerconfigjson": config},
            },
        )
        assert secret.status_code == 201, secret.text
        done = image_import(api, project, "app", spec).json()["status"]["images"][0]
        assert done["status"]["status"] == "Success", done
        assert_pulls(api, f"{project}/app", "1.0", layout)


def test_a_stream_created_with_scheduled_spec_tags_imports_them_in_the_background(
    registry_factory: RegistryFactory, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    server = registry_factory(env={"REGISTRY_IMPORTS_SCHEDULEDINTERVAL": "1s"}, workers=1)
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    source = {"kind": "DockerImage", "name": f"{upstream.host}/team/app:1.0"}
    with server.client(timeout=60) as api:
        project = new_project(api)
        created = api.post(
            f"{API}/namespaces/{project}/imagestreams",
            json={
                "apiVersion": "image.openshift.io/v1",
                "kind": "ImageStream",
                "metadata": {"name": "app"},
                "spec": {
                    "tags": [
                        {
                            "name": "1.0",
                            "from": source,
                            "importPolicy": {"insecure": True, "scheduled": True},
                            "annotations": {"note": "kept"},
                        },
                        {
                            "name": "pointer",
                            "from": source,
                            "reference": True,
                            "importPolicy": {"insecure": True, "scheduled": True},
                        },
                        {"name": "plain", "from": source, "importPolicy": {"insecure": True}},
                    ]
                },
            },
        )
        assert created.status_code == 201, created.text

        tag = wait_for(api, project, lambda tag: bool(tag["items"]))
        assert tag["items"][0]["image"] == layout.digest
        stream = api.get(f"{API}/namespaces/{project}/imagestreams/app").json()
        # references stay pointers; unscheduled tags set in a stream's spec are left alone
        assert [t["tag"] for t in stream["status"]["tags"]] == ["1.0"]
        spec_tag = next(t for t in stream["spec"]["tags"] if t["name"] == "1.0")
        assert spec_tag["annotations"] == {"note": "kept"}
        assert stream["metadata"]["generation"] == created.json()["metadata"]["generation"]
