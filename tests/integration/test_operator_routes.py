"""The Config's routes: HTTPS with each hostname's certificate chosen by SNI, checked by real
TLS clients (Python's ssl, httpx, podman with ``--cert-dir``) against a CA made here; the
default route with the certificate the operator makes, and image streams' public repository."""

from __future__ import annotations

import base64
import datetime
import os
import socket
import ssl
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_import_pullthrough import new_project
from test_operator_config import condition, eventually, patch_config

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import RegistryFactory

pytestmark = pytest.mark.integration

SECRETS = "/api/v1/namespaces/openshift-image-registry/secrets"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


class CA:
    """A certificate authority of one test, and certificates it signs for hostnames."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("dockyard test CA"))
            .issuer_name(_name("dockyard test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, hostname: str) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hostname))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def tls_secret(name: str, pair: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(pair[0]).decode(),
            "tls.key": base64.b64encode(pair[1]).decode(),
        },
    }


def served_name(port: int, sni: str, ca: CA) -> str:
    """The common name of the certificate served for ``sni`` (verified against the CA)."""
    context = ssl.create_default_context(cadata=ca.pem.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        subject = dict(item[0] for item in tls.getpeercert()["subject"])
        return str(subject["commonName"])


def test_routes_serve_each_hostname_with_its_certificate(
    registry_factory: RegistryFactory,
    tmp_path: Path,
    binary_path: Callable[[str], str],
) -> None:
    tls_port = free_port()
    server = registry_factory(env={"REGISTRY_HTTP_TLSADDR": f"127.0.0.1:{tls_port}"})
    ca = CA()
    with server.client(timeout=60) as client:
        routes = [
            {"name": "local", "hostname": "localhost", "secretName": "local-tls"},
            {"name": "other", "hostname": "registry.example.test", "secretName": "other-tls"},
        ]
        assert patch_config(client, {"routes": routes}).status_code == 200
        degraded = eventually(lambda: condition(client, "Degraded").get("reason") == "RouteError")
        assert degraded
        assert 'no secret "local-tls"' in condition(client, "Degraded")["message"]

        for name, host in (("local-tls", "localhost"), ("other-tls", "registry.example.test")):
            assert client.post(SECRETS, json=tls_secret(name, ca.issue(host))).status_code == 201
        eventually(lambda: condition(client, "Degraded").get("status") == "False", 15)

    assert served_name(tls_port, "registry.example.test", ca) == "registry.example.test"
    assert served_name(tls_port, "localhost", ca) == "localhost"
    ca_file = tmp_path / "certs" / f"localhost:{tls_port}" / "ca.crt"
    ca_file.parent.mkdir(parents=True)
    ca_file.write_bytes(ca.pem)
    with httpx.Client(verify=ssl.create_default_context(cafile=ca_file), timeout=30) as https:
        response = https.get(f"https://localhost:{tls_port}/v2/", auth=server.auth)
        assert response.status_code == 200, response.text
        other = https.get(
            f"https://127.0.0.1:{tls_port}/v2/",
            auth=server.auth,
            extensions={"sni_hostname": "registry.example.test"},
        )
        assert other.status_code == 200, other.text

    podman = binary_path("podman")
    assert server.auth is not None
    env = ContainersEnvironment(tmp_path / "containers")
    login = env.run(
        podman,
        "login",
        "--cert-dir",
        str(ca_file.parent),
        "--tls-verify=true",
        "-u",
        "any",
        "-p",
        server.auth[1],
        f"localhost:{tls_port}",
    )
    assert login.returncode == 0, login.stderr
    refused = env.run(
        podman,
        "login",
        "--tls-verify=true",
        "-u",
        "any",
        "-p",
        server.auth[1],
        f"localhost:{tls_port}",
    )
    assert refused.returncode != 0  # without the CA the certificate is not trusted


def test_default_route_is_served_and_named_on_image_streams(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    tls_port = free_port()
    env = {
        "REGISTRY_HTTP_TLSADDR": f"127.0.0.1:{tls_port}",
        "REGISTRY_HTTP_INGRESSDOMAIN": "apps.cluster.example.test",
    }
    server = registry_factory(env=env, workers=1)
    host = "default-route-openshift-image-registry.apps.cluster.example.test"
    with server.client(timeout=60) as client:
        project = new_project(client)
        streams = f"/apis/image.openshift.io/v1/namespaces/{project}/imagestreams"
        created = client.post(streams, json={"metadata": {"name": "app"}})
        assert created.status_code == 201, created.text
        assert "publicDockerImageRepository" not in created.json()["status"]

        assert patch_config(client, {"defaultRoute": True}).status_code == 200
        secret = eventually(
            lambda: client.get(f"{SECRETS}/image-registry-default-route-tls").json().get("data"),
            15,
        )
        public = eventually(
            lambda: client.get(f"{streams}/app").json()["status"].get("publicDockerImageRepository")
        )
        assert public == f"{host}:{tls_port}/{project}/app"
        assert condition(client, "Degraded").get("status") == "False"

    ca = base64.b64decode(secret["ca.crt"]).decode()
    context = ssl.create_default_context(cadata=ca)
    with (
        socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        subject = dict(item[0] for item in tls.getpeercert()["subject"])
        assert subject["commonName"] == host
    with httpx.Client(verify=context, timeout=30) as https:
        response = https.get(
            f"https://127.0.0.1:{tls_port}/v2/",
            auth=server.auth,
            extensions={"sni_hostname": host},
        )
        assert response.status_code == 200, response.text
    ca_file = tmp_path / "default-route-ca.crt"
    ca_file.write_text(ca)
    assert server.auth is not None
    curl = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(ca_file),
            "--resolve",
            f"{host}:{tls_port}:127.0.0.1",
            "-u",
            f"any:{server.auth[1]}",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            f"https://{host}:{tls_port}/v2/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (curl.returncode, curl.stdout) == (0, "200"), curl.stderr

    with server.client(timeout=60) as client:
        assert patch_config(client, {"defaultRoute": False}).status_code == 200
        eventually(
            lambda: (
                "publicDockerImageRepository" not in client.get(f"{streams}/app").json()["status"]
            )
        )


class ContainersEnvironment:
    """podman with an auth file and configuration of its own."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True)
        (root / "auth.json").write_text('{"auths": {}}')
        (root / "registries.conf").write_text("unqualified-search-registries = []\n")
        self.env = dict(
            os.environ,
            REGISTRY_AUTH_FILE=str(root / "auth.json"),
            CONTAINERS_REGISTRIES_CONF=str(root / "registries.conf"),
        )

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(command), env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
