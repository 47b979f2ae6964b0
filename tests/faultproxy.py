"""An HTTP reverse proxy that misbehaves on request, to put in front of a storage emulator.

``FaultProxy(upstream).start()`` listens on a free loopback port in a thread of its own and
forwards every request. ``inject(fault, times)`` makes the next ``times`` matching requests fail:

- ``"503"``: answered ``503 SlowDown`` (S3's throttling error) without reaching the upstream;
- ``"drop"``: forwarded, but the connection closes half-way through the response body;
- ``"reset"``: the connection closes before any answer.

``method`` restricts a fault to requests of that method. ``served`` counts faults applied.
With ``tls`` (a server context holding a certificate) it ends TLS in front of a plain upstream.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


@dataclass
class _Fault:
    kind: str
    method: str | None


class FaultProxy:
    def __init__(self, upstream: str, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self.served: dict[str, int] = {"503": 0, "drop": 0, "reset": 0}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, fault: str, times: int = 1, method: str | None = None) -> None:
        if fault not in self.served:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._faults.extend(_Fault(fault, method) for _ in range(times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take(self, method: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (None, method):
                    self._faults.remove(fault)
                    self.served[fault.kind] += 1
                    return fault.kind
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _body(self) -> bytes:
                """The request body, de-chunked: boto3 streams uploads in chunks over HTTPS."""
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    length = int(self.headers.get("Content-Length") or 0)
                    return self.rfile.read(length) if length else b""
                body = bytearray()
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)

            def _relay(self) -> None:
                body = self._body()
                fault = proxy._take(self.command)
                if fault == "reset":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if fault == "503":
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(SLOW_DOWN)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS
                    }
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    content = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                head = self.command == "HEAD"  # keeps the upstream's Content-Length
                for name, value in response.getheaders():
                    lower = name.lower()
                    if lower not in HOP_HEADERS and (head or lower != "content-length"):
                        self.send_header(name, value)
                if not head:
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if fault == "drop" and len(content) > 1:
                    self.wfile.write(content[: len(content) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
