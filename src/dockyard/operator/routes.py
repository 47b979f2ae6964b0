"""The Config's ``routes``: an HTTPS listener that serves each route's hostname with the
certificate of its TLS secret (chosen by SNI), in front of the workers.

It runs in the supervisor, on ``http.tlsaddr``: TLS ends here and the bytes go on to the plain
listener, so every worker serves every route and a roll drops no TLS connection that a worker
did not. A route's secret is a ``kubernetes.io/tls`` secret of ``openshift-image-registry``
(``tls.crt``, ``tls.key``, PEM, base64 in ``data``), as OpenShift's routes take them. A client
that names no known hostname gets the first route's certificate.
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

from dockyard.metadata.resources import SECRET, ResourceStore
from dockyard.operator.config import SYSTEM_NAMESPACE, ConfigSpec

RELAY_CHUNK = 1 << 16

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


async def load(store: ResourceStore, spec: ConfigSpec) -> tuple[list[RouteCertificate], list[str]]:
    """Each route's certificate, and what keeps the others from being served."""
    found: list[RouteCertificate] = []
    problems: list[str] = []
    for route in spec.routes:
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
