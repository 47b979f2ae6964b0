"""The Config's ``routes``: an HTTPS listener that serves each route's hostname with the
certificate of its TLS secret (chosen by SNI), in front of the workers.

It runs in the supervisor, on ``http.tlsaddr``: TLS ends here and the bytes go on to the plain
listener, so every worker serves every route and a roll drops no TLS connection that a worker
did not. A route's secret is a ``kubernetes.io/tls`` secret of ``openshift-image-registry``
(``tls.crt``, ``tls.key``, PEM, base64 in ``data``), as OpenShift's routes take them. A client
that names no known hostname gets the first route's certificate.

``defaultRoute: true`` adds the route OpenShift's operator makes,
``default-route-openshift-image-registry.<http.ingressdomain>``, served with the secret
``image-registry-default-route-tls``: made with a certificate of the operator's own CA (its
``ca.crt``) when there is none, replaced by the administrator's at will. Image streams show the
default route (else the first route) as ``status.publicDockerImageRepository``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.config.model import Settings
from dockyard.errors import StatusError
from dockyard.metadata.resources import SECRET, ResourceStore
from dockyard.operator.certificates import serving_certificate
from dockyard.operator.config import SYSTEM_NAMESPACE, ConfigSpec, Route

RELAY_CHUNK = 1 << 16
DEFAULT_ROUTE = "default-route"
DEFAULT_ROUTE_SECRET = "image-registry-default-route-tls"
HTTPS_PORT = 443

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouteCertificate:
    hostname: str
    context: ssl.SSLContext


def _context(certificate: bytes, key: bytes) -> ssl.SSLContext:
    """A server context from PEM bytes (``load_cert_chain`` reads only files: a private temporary
    directory holds them for the moment of loading)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="dockyard-tls-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert_path.write_bytes(certificate)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key)
        context.load_cert_chain(cert_path, key_path)
    return context


def default_route_host(settings: Settings) -> str:
    """The default route's hostname, derived as OpenShift's operator derives it."""
    return f"default-route-{SYSTEM_NAMESPACE}.{settings.http.ingressdomain}"


def served(spec: ConfigSpec, settings: Settings) -> list[Route]:
    """``spec.routes``, after the default route when ``defaultRoute`` is set."""
    default = Route(
        name=DEFAULT_ROUTE, hostname=default_route_host(settings), secret_name=DEFAULT_ROUTE_SECRET
    )
    return [default, *spec.routes] if spec.default_route else list(spec.routes)


def public_host(spec: ConfigSpec, settings: Settings) -> str:
    """Where clients outside pull from: the default route's host (else the first route's),
    with the HTTPS port unless it is 443; empty when no route is served."""
    listen = settings.http.tls_bind_address()
    hosts = [route.hostname for route in served(spec, settings) if route.hostname]
    if listen is None or not hosts:
        return ""
    return hosts[0] if listen[1] == HTTPS_PORT else f"{hosts[0]}:{listen[1]}"


async def ensure_default_certificate(store: ResourceStore, hostname: str) -> None:
    """The default route's secret, made with a new certificate unless there is one."""
    if await store.find(SECRET, SYSTEM_NAMESPACE, DEFAULT_ROUTE_SECRET) is not None:
        return
    made = serving_certificate(hostname)
    data = {"tls.crt": made.certificate, "tls.key": made.key, "ca.crt": made.ca}
    body = {
        "type": "kubernetes.io/tls",
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    try:
        await store.create(SECRET, SYSTEM_NAMESPACE, DEFAULT_ROUTE_SECRET, body)
    except StatusError as exc:
        if exc.code != 409:  # 409: another supervisor made it first
            raise
        return
    logger.info("made a certificate for the default route", extra={"hostname": hostname})


async def load(
    store: ResourceStore, spec: ConfigSpec, settings: Settings
) -> tuple[list[RouteCertificate], list[str]]:
    """Each route's certificate, and what keeps the others from being served."""
    found: list[RouteCertificate] = []
    problems: list[str] = []
    if spec.default_route:
        await ensure_default_certificate(store, default_route_host(settings))
    for route in served(spec, settings):
        where = f'route "{route.name}"'
        if not route.hostname or not route.secret_name:
            problems.append(f"{where} needs hostname and secretName")
            continue
        secret = await store.find(SECRET, SYSTEM_NAMESPACE, route.secret_name)
        if secret is None:
            problems.append(
                f'{where}: no secret "{route.secret_name}" in namespace "{SYSTEM_NAMESPACE}"'
            )
            continue
        data = secret.get("data") or {}
        try:
            pem = (
                base64.b64decode(data.get("tls.crt", "")),
                base64.b64decode(data.get("tls.key", "")),
            )
            found.append(RouteCertificate(route.hostname.lower(), _context(*pem)))
        except (binascii.Error, ssl.SSLError, OSError, ValueError):
            problems.append(
                f'{where}: secret "{route.secret_name}" needs tls.crt and tls.key, a PEM'
                " certificate and its key"
            )
    return found, problems


class RouteListener:
    """HTTPS on one address for every route; relays to the workers' plain listener."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int]) -> None:
        self.listen = listen
        self.upstream = upstream
        self.certificates: list[RouteCertificate] = []
        self._server: asyncio.Server | None = None
        self._base = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._base.sni_callback = self._choose

    def _choose(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> int | None:
        by_name = {certificate.hostname: certificate for certificate in self.certificates}
        chosen = by_name.get((name or "").lower()) or next(iter(self.certificates), None)
        if chosen is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = chosen.context
        return None

    async def start(self) -> None:
        host, port = self.listen
        self._server = await asyncio.start_server(self._relay, host, port, ssl=self._base)
        logger.info("serving routes over HTTPS", extra={"addr": f"{host}:{port}"})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pump(reader, upstream_writer), _pump(upstream_reader, writer), return_exceptions=True
        )
        for each in (writer, upstream_writer):
            each.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(RELAY_CHUNK):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
