"""Pull-through: layers of imported images come from the upstream on first pull, are mirrored
by digest, and are never kept when the upstream sends them short or wrong.

The upstream is Debian's ``docker-registry``. Two tests need an upstream that misbehaves: one
gets its stored blob overwritten on disk (Distribution serves what it has without checking),
the other reaches it through ``CuttingProxy``, a real HTTP server started here that forwards
every request but ends one blob's body half-way.
"""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from distribution_helpers import get_manifest
from images import make_layout
from proxy_helpers import ForwardProxy

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess, Upstream
    from integration.conftest import ContainersEnv, Skopeo

pytestmark = [pytest.mark.integration, pytest.mark.database]

API = "/apis/image.openshift.io/v1"
LAYER_SIZE = 3 << 20


def new_project(client: httpx.Client) -> str:
    name = f"pt-{uuid.uuid4().hex[:10]}"
    response = client.post(
        "/apis/project.openshift.io/v1/projectrequests",
        json={"apiVersion": "project.openshift.io/v1", "metadata": {"name": name}},
    )
    assert response.status_code in (200, 201), response.text
    return name


def import_tag(client: httpx.Client, project: str, stream: str, source: str) -> None:
    response = client.post(
        f"{API}/namespaces/{project}/imagestreamimports",
        json={
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStreamImport",
            "metadata": {"name": stream},
            "spec": {
                "import": True,
                "images": [
                    {
                        "from": {"kind": "DockerImage", "name": source},
                        "importPolicy": {"insecure": True},
                        "referencePolicy": {"type": "Local"},
                    }
                ],
            },
        },
    )
    assert response.status_code == 201, response.text
    status = response.json()["status"]["images"][0]["status"]
    assert status["status"] == "Success", status


def stored_blob(data_dir: Path, digest: str) -> list[Path]:
    """Every file of Dockyard's storage that holds (or is on the way to hold) the blob."""
    hex_digest = digest.partition(":")[2]
    found = list(data_dir.rglob(f"blobs/sha256/{hex_digest[:2]}/{hex_digest}/data"))
    return found + list(data_dir.rglob("_uploads/pullthrough-*/data"))


def upstream_gets(upstream: Upstream, digest: str) -> int:
    """How many times the upstream served GET for the blob (its request log)."""
    pattern = re.compile(rf'http\.request\.method=GET .*blobs/{re.escape(digest)}"')
    return sum(1 for line in upstream.log_text().splitlines() if pattern.search(line))


def test_skopeo_pulls_through_and_the_mirror_outlives_the_upstream(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0", layers=2, docker=True)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    with shared_registry.client(timeout=60) as api:
        project = new_project(api)
        import_tag(api, project, "app", f"{upstream.host}/team/app:1.0")
    ours = f"docker://{shared_registry.host}/{project}/app:1.0"

    skopeo.copy(ours, f"dir:{tmp_path / 'first'}")
    for blob in layout.blobs.values():
        assert (tmp_path / "first" / blob.digest.partition(":")[2]).read_bytes() == blob.data
    upstream.stop()
    skopeo.copy(ours, f"dir:{tmp_path / 'second'}")
    assert skopeo.inspect_raw(ours) == layout.top.data


def test_concurrent_pulls_fetch_each_blob_from_the_upstream_once(
    registry_factory: RegistryFactory, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    registry = registry_factory(workers=1)
    layout = make_layout(tmp_path / "src", "1.0", layers=1, layer_size=LAYER_SIZE)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/big:1.0")
    layer = layout.images[0].layers[0]
    with registry.client(timeout=120) as api:
        project = new_project(api)
        import_tag(api, project, "big", f"{upstream.host}/team/big:1.0")

        def pull(_: int) -> bytes:
            return api.get(f"/v2/{project}/big/blobs/{layer.digest}").content

        with ThreadPoolExecutor(8) as pool:
            bodies = list(pool.map(pull, range(8)))
        scraped = api.get("/extensions/v2/metrics")
    assert all(body == layer.data for body in bodies)
    assert upstream_gets(upstream, layer.digest) == 1
    assert scraped.status_code == 200, scraped.text
    assert 'imageregistry_pullthrough_blobstore_cache_requests_total{type="Miss"} 1.0' in (
        scraped.text
    )
    assert "imageregistry_pullthrough_repository_duration_seconds_count{" in scraped.text


def test_a_blob_whose_bytes_do_not_match_its_digest_is_refused_and_not_kept(
    shared_registry: RegistryProcess, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    layout = make_layout(tmp_path / "src", "1.0", layers=1, layer_size=LAYER_SIZE)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/bad:1.0")
    layer = layout.images[0].layers[0]
    hex_digest = layer.digest.partition(":")[2]
    upstream_file = next((upstream.root / "storage").rglob(f"{hex_digest}/data"))
    with shared_registry.client(timeout=60) as api:
        project = new_project(api)
        import_tag(api, project, "bad", f"{upstream.host}/team/bad:1.0")
        upstream_file.write_bytes(bytes(len(layer.data)))  # same size, other bytes

        with pytest.raises(httpx.RemoteProtocolError):
            api.get(f"/v2/{project}/bad/blobs/{layer.digest}")
        assert stored_blob(shared_registry.data_dir, layer.digest) == []

        upstream_file.write_bytes(layer.data)  # repaired: the next pull mirrors it
        assert api.get(f"/v2/{project}/bad/blobs/{layer.digest}").content == layer.data
        assert len(stored_blob(shared_registry.data_dir, layer.digest)) == 1


class CuttingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to ``target``; while ``cut`` names a digest, a GET of that blob
    sends the full ``Content-Length`` but only half the body, then closes the connection; while
    ``limited`` names one, that blob is answered 429 with ``Retry-After: 30``; with
    ``redirect`` every blob GET is a 307 to the upstream itself, as registries send clients to
    blob storage."""

    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _CuttingHandler)
        self.target = target
        self.cut = ""
        self.limited = ""
        self.redirect = False

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _CuttingHandler(http.server.BaseHTTPRequestHandler):
    server: CuttingProxy

    def do_GET(self) -> None:
        self._forward(head=False)

    def do_HEAD(self) -> None:
        self._forward(head=True)

    def _forward(self, head: bool) -> None:
        if self.server.limited and self.path.endswith(self.server.limited):
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            self.send_response(429)
            self.send_header("Retry-After", "30")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(b"" if head else body)
            return
        if self.server.redirect and "/blobs/" in self.path and not head:
            self.send_response(307)
            self.send_header("Location", f"{self.server.target}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        with httpx.Client(timeout=30) as client:
            response = client.request(
                self.command, f"{self.server.target}{self.path}", headers=headers
            )
        body = response.content
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        if self.server.cut and self.path.endswith(self.server.cut):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def cutting_proxy(upstream: Upstream) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream.url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_an_upstream_that_stops_mid_blob_fails_the_pull_and_leaves_nothing(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    cutting_proxy: CuttingProxy,
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0", layers=1, layer_size=LAYER_SIZE)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/cut:1.0")
    layer = layout.images[0].layers[0]
    with shared_registry.client(timeout=60) as api:
        project = new_project(api)
        import_tag(api, project, "cut", f"{cutting_proxy.host}/team/cut:1.0")
        assert get_manifest(api, f"{project}/cut", "1.0").status_code == 200
        cutting_proxy.cut = layer.digest

        with pytest.raises(httpx.RemoteProtocolError):
            api.get(f"/v2/{project}/cut/blobs/{layer.digest}")
        assert stored_blob(shared_registry.data_dir, layer.digest) == []

        cutting_proxy.cut = ""
        assert api.get(f"/v2/{project}/cut/blobs/{layer.digest}").content == layer.data


def test_podman_pulls_an_imported_image_through(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    skopeo: Skopeo,
    podman_env: ContainersEnv,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0", layers=2, docker=True)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
    with shared_registry.client(timeout=60) as api:
        project = new_project(api)
        import_tag(api, project, "app", f"{upstream.host}/team/app:1.0")

    podman_env.podman("pull", "--tls-verify=false", f"{shared_registry.host}/{project}/app:1.0")
    listed = podman_env.podman("images", "--digests", "--format", "{{.Digest}}").stdout
    assert layout.digest in listed


def test_a_rate_limiting_upstream_is_passed_on_and_the_mirror_serves_meanwhile(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    cutting_proxy: CuttingProxy,
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0", layers=2)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/busy:1.0")
    first, second = layout.images[0].layers
    with shared_registry.client(timeout=60) as api:
        project = new_project(api)
        import_tag(api, project, "busy", f"{cutting_proxy.host}/team/busy:1.0")
        assert api.get(f"/v2/{project}/busy/blobs/{first.digest}").content == first.data

        for digest in (first.digest, second.digest):
            cutting_proxy.limited = digest
            response = api.get(f"/v2/{project}/busy/blobs/{digest}")
            if digest == first.digest:
                assert response.status_code == 200, "mirrored: the upstream is not asked"
                continue
            assert response.status_code == 429, response.text
            assert response.headers["retry-after"] == "30"
            assert response.json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_a_manifest_missing_from_storage_is_fetched_again_from_the_upstream(
    shared_registry: RegistryProcess, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    layout = make_layout(tmp_path / "src", "1.0")
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/lost:1.0")
    with shared_registry.client(timeout=60) as api:
        project = new_project(api)
        import_tag(api, project, "lost", f"{upstream.host}/team/lost:1.0")
        [stored] = [
            p
            for p in stored_blob(shared_registry.data_dir, layout.digest)
            if "_uploads" not in str(p)
        ]
        stored.unlink()  # storage lost it (or a bucket was adopted without it)

        served = get_manifest(api, f"{project}/lost", "1.0")
        assert served.status_code == 200, served.text
        assert served.content == layout.top.data
        assert stored.read_bytes() == layout.top.data


def test_imports_and_pull_through_use_the_proxy_of_the_environment(
    registry_factory: RegistryFactory, upstream: Upstream, skopeo: Skopeo, tmp_path: Path
) -> None:
    proxy = ForwardProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        server = registry_factory(env={"HTTP_PROXY": proxy.url}, workers=1)
        layout = make_layout(tmp_path / "src", "1.0")
        skopeo.copy(layout.ref, f"docker://{upstream.host}/team/app:1.0")
        layer = layout.images[0].layers[0]
        with server.client(timeout=60) as api:
            project = new_project(api)
            import_tag(api, project, "app", f"{upstream.host}/team/app:1.0")
            assert api.get(f"/v2/{project}/app/blobs/{layer.digest}").content == layer.data
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert "/v2/team/app/manifests/1.0" in proxy.carried
    assert f"/v2/team/app/blobs/{layer.digest}" in proxy.carried


def test_blobs_redirected_to_other_storage_are_followed(
    shared_registry: RegistryProcess,
    upstream: Upstream,
    cutting_proxy: CuttingProxy,
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "src", "1.0", layers=2)
    skopeo.copy(layout.ref, f"docker://{upstream.host}/team/moved:1.0")
    cutting_proxy.redirect = True
    with shared_registry.client(timeout=60) as api:
        project = new_project(api)
        import_tag(api, project, "moved", f"{cutting_proxy.host}/team/moved:1.0")
        for blob in layout.blobs.values():
            assert api.get(f"/v2/{project}/moved/blobs/{blob.digest}").content == blob.data
