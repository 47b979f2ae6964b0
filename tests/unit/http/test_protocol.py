"""A stopping worker answers a request that reaches an idle connection after it began to stop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn import Config, Server

from dockyard.http.protocol import DRAIN_SECONDS, DrainingProtocol


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
def server() -> Iterator[tuple[Server, int]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    config = Config(hello, http=DrainingProtocol, lifespan="off", log_level="warning")
    served = Server(config)
    thread = threading.Thread(target=served.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not served.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served.started
    yield served, port
    served.should_exit = True
    thread.join(10)
    listener.close()


def _stopped_listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _request(connection: socket.socket) -> bytes:
    connection.sendall(b"GET / HTTP/1.1\r\nHost: registry\r\n\r\n")
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_request_on_idle_connection_is_answered_during_shutdown(
    server: tuple[Server, int],
) -> None:
    served, port = server
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    time.sleep(0.1)  # accepted by the server, no request yet
    served.should_exit = True
    deadline = time.monotonic() + 5
    while not _stopped_listening(port):
        assert time.monotonic() < deadline, "the server never stopped listening"
        time.sleep(0.01)
    answer = _request(idle)  # ends when the server closes the connection after answering
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in answer.lower()
    assert answer.endswith(b"hello")


def test_idle_connection_is_closed_after_the_drain(server: tuple[Server, int]) -> None:
    served, port = server
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    time.sleep(0.1)
    started = time.monotonic()
    served.should_exit = True
    assert idle.recv(1) == b""  # closed without a word: no request ever came
    assert time.monotonic() - started >= DRAIN_SECONDS
