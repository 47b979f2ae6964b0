"""The cluster Config's ``spec.proxy`` on a real server: set through the API, it rolls the
workers, and imports from another registry then go through that proxy (a real forward proxy
started here); cleared, they go direct again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from distribution_helpers import push_image
from proxy_helpers import ForwardProxy
from test_import_pullthrough import import_tag, new_project
from test_operator_config import eventually, patch_config, worker_pids

if TYPE_CHECKING:
    from conftest import RegistryFactory, RegistryProcess, Upstream

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    server = ForwardProxy()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def set_proxy(server: RegistryProcess, client: httpx.Client, proxy: dict[str, str] | None) -> None:
    """Patch ``spec.proxy`` and wait until the one worker has been replaced."""
    before = worker_pids(server)
    assert patch_config(client, {"proxy": proxy}).status_code == 200
    eventually(lambda: (pids := worker_pids(server)) and not (pids & before), 40)
    eventually(lambda: client.get("/v2/").status_code == 200, 15)


def test_imports_go_through_the_proxy_of_the_config(
    registry_factory: RegistryFactory, upstream: Upstream, proxy: ForwardProxy
) -> None:
    server = registry_factory(workers=1)
    with httpx.Client(base_url=upstream.url, timeout=30, trust_env=False) as peer:
        for tag in ("direct", "proxied", "direct-again"):
            push_image(peer, "team/app", tag)
    with server.client(timeout=60) as client:
        project = new_project(client)
        eventually(lambda: len(worker_pids(server)) == 1, 10)
        import_tag(client, project, "direct", f"{upstream.host}/team/app:direct")
        assert proxy.carried == []

        set_proxy(server, client, {"http": proxy.url, "noProxy": "example.invalid"})
        import_tag(client, project, "proxied", f"{upstream.host}/team/app:proxied")
        assert "/v2/team/app/manifests/proxied" in proxy.carried
        assert "replacing the workers" in server.log_text()

        set_proxy(server, client, None)
        carried = len(proxy.carried)
        import_tag(client, project, "direct-again", f"{upstream.host}/team/app:direct-again")
        assert len(proxy.carried) == carried
