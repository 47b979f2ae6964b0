"""For tests of outbound connections (imports, pull-through, webhooks): a real little HTTP
forward proxy for the cluster Config's ``spec.proxy``, which forwards plain-HTTP requests with
absolute URIs and remembers the paths it carried; and the cluster image config's trusted CAs."""

from __future__ import annotations

import http.server
from typing import Any

import httpx


class ForwardProxy(http.server.ThreadingHTTPServer):
    """A plain-HTTP forward proxy (absolute request URIs), remembering the paths it carried."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ForwardHandler)
        self.carried: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ForwardHandler(http.server.BaseHTTPRequestHandler):
    server: ForwardProxy

    def do_GET(self) -> None:
        self.server.carried.append(httpx.URL(self.path).path)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        with httpx.Client(timeout=30, trust_env=False) as client:
            response = client.get(self.path, headers=headers)
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def trust_cluster_wide(api: httpx.Client, name: str, host: str, pem: str) -> None:
    """Trust ``pem`` for ``host`` through the cluster image config's ``additionalTrustedCA``,
    a config map ``name`` in ``openshift-config``."""
    bundle = api.post(
        "/api/v1/namespaces/openshift-config/configmaps",
        json={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {host.replace(":", ".."): pem},
        },
    )
    assert bundle.status_code == 201, bundle.text
    configured = api.post(
        "/apis/config.openshift.io/v1/images",
        json={
            "apiVersion": "config.openshift.io/v1",
            "kind": "Image",
            "metadata": {"name": "cluster"},
            "spec": {"additionalTrustedCA": {"name": name}},
        },
    )
    assert configured.status_code == 201, configured.text
