"""Shared helpers for the distribution API contract tests (``test_distribution_*.py``) and the
other integration tests that talk HTTP to Dockyard.

Everything here talks HTTP to a running registry: httpx for ordinary requests (a client from
``RegistryProcess.client()``, which sends the credentials) and a raw socket for what httpx
refuses to send (dot segments kept verbatim, bodies shorter than their ``Content-Length``),
with the same credentials. Nothing is mocked. Media types and ``digest_of`` are ``images``'.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from images import (
    ACCEPT_MANIFESTS,
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    digest_of,
)

OCTET_STREAM = "application/octet-stream"
UNKNOWN_SHA256 = "sha256:" + "0" * 64
"""A well-formed digest that no test pushes content for."""

LINK_NEXT = re.compile(r'^\s*<([^>]+)>\s*;\s*rel="?next"?\s*$')
ERROR_CODE = re.compile(r"^[A-Z_]+$")


class RunningRegistry(Protocol):
    """What the ``registry`` fixture yields, as far as these tests need it."""

    @property
    def url(self) -> str: ...

    @property
    def auth(self) -> tuple[str, str] | None: ...


# ---------------------------------------------------------------------------------------------
# names, bytes and digests


def unique_repo(label: str = "repo") -> str:
    """A fresh ``<project>/<name>`` so tests sharing one server never see each other's data."""
    return f"dist-{uuid.uuid4().hex[:12]}/{label}"


def random_bytes(size: int = 1024) -> bytes:
    return os.urandom(size)


def descriptor(media_type: str, data: bytes, algorithm: str = "sha256") -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data, algorithm), "size": len(data)}


def random_config() -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Labels": {"nonce": uuid.uuid4().hex}},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def describe(response: httpx.Response) -> str:
    """A one-glance account of a response for assertion messages."""
    request = response.request
    body = b"" if request.method == "HEAD" else response.content[:600]
    headers = {k: v for k, v in response.headers.items() if k.lower() != "date"}
    return f"{request.method} {request.url} -> {response.status_code} {headers} {body!r}"


def media_type_of(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


def location_path(location: str) -> str:
    """The path of a ``Location`` that may be absolute or relative."""
    return urlsplit(location).path


def location_query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def with_query(location: str, **params: str) -> str:
    """``location`` with ``params`` set in its query, keeping the others (like ``_state``).

    httpx's ``params=`` replaces a URL's query instead of adding to it.
    """
    parts = urlsplit(location)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_digest(location: str, digest: str) -> str:
    return with_query(location, digest=digest)


# ---------------------------------------------------------------------------------------------
# error assertions


def error_codes(response: httpx.Response) -> list[str]:
    """The ``code`` of every entry of an error body, checking the body's shape on the way."""
    assert media_type_of(response) == "application/json", describe(response)
    body = response.json()
    assert isinstance(body, dict), describe(response)
    errors = body.get("errors")
    assert isinstance(errors, list), describe(response)
    assert errors, describe(response)
    codes: list[str] = []
    for entry in errors:
        assert isinstance(entry, dict), describe(response)
        code = entry.get("code")
        assert isinstance(code, str), describe(response)
        assert ERROR_CODE.match(code), describe(response)
        assert isinstance(entry.get("message"), str), describe(response)
        codes.append(code)
    return codes


def assert_error(response: httpx.Response, status: int | Iterable[int], *codes: str) -> None:
    """``response`` is an error with that status (one of them) and one of ``codes``."""
    statuses = {status} if isinstance(status, int) else set(status)
    assert response.status_code in statuses, describe(response)
    if response.request.method == "HEAD":
        return
    found = error_codes(response)
    assert set(found) & set(codes), f"expected one of {codes}: {describe(response)}"


def assert_status(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, describe(response)


# ---------------------------------------------------------------------------------------------
# pushing


def start_upload(client: httpx.Client, repo: str) -> httpx.Response:
    response = client.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    assert_status(response, 202)
    assert response.headers.get("location"), describe(response)
    return response


def push_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Upload ``data`` with POST then PUT; return its digest."""
    digest = digest_of(data, algorithm)
    location = start_upload(client, repo).headers["location"]
    response = client.put(
        with_digest(location, digest),
        content=data,
        headers={"Content-Type": OCTET_STREAM},
    )
    assert_status(response, 201)
    return digest


def put_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str = OCI_MANIFEST,
) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
    )


def push_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str = OCI_MANIFEST,
) -> str:
    """Push a manifest that must be accepted; return its digest."""
    response = put_manifest(client, repo, reference, body, media_type)
    assert_status(response, 201)
    return digest_of(body)


def manifest_json(manifest: dict[str, Any]) -> bytes:
    """Deliberately non-canonical bytes (indent, key order, trailing newline)."""
    return (json.dumps(manifest, indent=3) + "\n").encode()


@dataclass
class Image:
    """An image manifest whose blobs (unless asked otherwise) are in the repository."""

    repo: str
    manifest: bytes
    media_type: str
    config: bytes
    layers: list[bytes] = field(default_factory=list)
    layer_algorithm: str = "sha256"

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)

    @property
    def layer_digests(self) -> list[str]:
        return [digest_of(layer, self.layer_algorithm) for layer in self.layers]

    @property
    def size(self) -> int:
        return len(self.manifest)

    def as_descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def build_image(
    repo: str,
    *,
    layer_count: int = 1,
    layer_size: int = 512,
    docker: bool = False,
    config_media_type: str | None = None,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    layer_algorithm: str = "sha256",
) -> Image:
    """An image manifest with a random config and random layers, not pushed."""
    config = random_config()
    layers = [random_bytes(layer_size) for _ in range(layer_count)]
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    config_type = config_media_type or (DOCKER_CONFIG if docker else OCI_CONFIG)
    layer_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type is not None:
        manifest["artifactType"] = artifact_type
    manifest["config"] = descriptor(config_type, config)
    manifest["layers"] = [descriptor(layer_type, layer, layer_algorithm) for layer in layers]
    if subject is not None:
        manifest["subject"] = subject
    if annotations is not None:
        manifest["annotations"] = annotations
    return Image(repo, manifest_json(manifest), media_type, config, layers, layer_algorithm)


def push_image_blobs(client: httpx.Client, image: Image) -> None:
    push_blob(client, image.repo, image.config)
    for layer in image.layers:
        push_blob(client, image.repo, layer, image.layer_algorithm)


def prepare_image(client: httpx.Client, repo: str, **options: Any) -> Image:
    """Build an image (``build_image`` options) and push its blobs, not its manifest."""
    image = build_image(repo, **options)
    push_image_blobs(client, image)
    return image


def push_image(
    client: httpx.Client, repo: str, reference: str | None = None, **options: Any
) -> Image:
    """Build an image, push its blobs, then its manifest by ``reference`` (default: digest)."""
    image = prepare_image(client, repo, **options)
    push_manifest(client, repo, reference or image.digest, image.manifest, image.media_type)
    return image


def build_index(
    children: list[dict[str, Any]],
    *,
    docker: bool = False,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> bytes:
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST if docker else OCI_INDEX,
    }
    if artifact_type is not None:
        index["artifactType"] = artifact_type
    index["manifests"] = [
        {**child, "platform": {"architecture": f"arch{i}", "os": "linux"}}
        for i, child in enumerate(children)
    ]
    if subject is not None:
        index["subject"] = subject
    if annotations is not None:
        index["annotations"] = annotations
    return manifest_json(index)


# ---------------------------------------------------------------------------------------------
# observing


def get_manifest(client: httpx.Client, repo: str, reference: str) -> httpx.Response:
    """``GET`` a manifest, accepting every manifest type (the registry serves what it stores)."""
    return client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT_MANIFESTS})


def tags_of(client: httpx.Client, repo: str) -> list[str] | None:
    """The repository's tags, or None when the registry does not know the repository."""
    response = client.get(f"/v2/{repo}/tags/list")
    if response.status_code == 404:
        return None
    assert_status(response, 200)
    tags = response.json()["tags"]
    assert isinstance(tags, list), describe(response)
    return tags


def blob_status(client: httpx.Client, repo: str, digest: str) -> int:
    return client.head(f"/v2/{repo}/blobs/{digest}").status_code


def manifest_status(client: httpx.Client, repo: str, reference: str) -> int:
    return client.head(
        f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT_MANIFESTS}
    ).status_code


@dataclass(frozen=True)
class RepoState:
    tags: list[str] | None
    blobs: dict[str, int]
    manifests: dict[str, int]


def repo_state(
    client: httpx.Client,
    repo: str,
    *,
    blobs: Iterable[str] = (),
    manifests: Iterable[str] = (),
) -> RepoState:
    """What a client can see of a repository: for 'nothing changed' assertions."""
    return RepoState(
        tags=tags_of(client, repo),
        blobs={digest: blob_status(client, repo, digest) for digest in blobs},
        manifests={ref: manifest_status(client, repo, ref) for ref in manifests},
    )


def upload_range(client: httpx.Client, location: str) -> str | None:
    response = client.get(location)
    assert_status(response, 204)
    value: str | None = response.headers.get("range")
    return value


def next_link(response: httpx.Response) -> str | None:
    """The target of a ``Link: <...>; rel="next"`` header, if any."""
    link = response.headers.get("link")
    if link is None:
        return None
    match = LINK_NEXT.match(link)
    assert match, f"malformed Link header: {describe(response)}"
    return match.group(1)


def paginate(client: httpx.Client, first: str, key: str) -> Iterator[list[str]]:
    """Follow ``Link`` headers from ``first``, yielding each page's list under ``key``."""
    url: str | None = first
    pages = 0
    while url is not None:
        response = client.get(url)
        assert_status(response, 200)
        yield response.json()[key]
        url = next_link(response)
        pages += 1
        assert pages < 1000, "pagination does not end"


def eventually_never(check: Callable[[], bool], seconds: float = 1.5) -> None:
    """``check`` stays False for ``seconds`` (for 'nothing becomes visible' after a failure)."""
    deadline = time.monotonic() + seconds
    while True:
        assert not check()
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# raw HTTP/1.1 over a socket


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def _address(registry: RunningRegistry) -> tuple[str, int]:
    parts = urlsplit(registry.url)
    assert parts.hostname is not None
    return parts.hostname, parts.port or 80


def _head(registry: RunningRegistry, method: str, target: str, headers: dict[str, str]) -> bytes:
    """Request line and headers: ``Host``, ``Authorization: Basic`` with the registry's ``auth``
    (if any), then ``headers``, any of which replaces a default of the same name."""
    host, port = _address(registry)
    all_headers = {"host": ("Host", f"{host}:{port}")}
    if registry.auth is not None:
        credentials = base64.b64encode(":".join(registry.auth).encode()).decode()
        all_headers["authorization"] = ("Authorization", f"Basic {credentials}")
    all_headers.update({name.lower(): (name, value) for name, value in headers.items()})
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in all_headers.values())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def raw_request(
    registry: RunningRegistry,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 15.0,
) -> RawResponse:
    """Send ``target`` exactly as given (no normalisation of dot segments or escapes)."""
    all_headers = {"Connection": "close"}
    if body or method in {"PUT", "POST"}:
        all_headers["Content-Length"] = str(len(body))
    all_headers.update(headers or {})
    with socket.create_connection(_address(registry), timeout=timeout) as sock:
        sock.sendall(_head(registry, method, target, all_headers) + body)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    parsed: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    return RawResponse(status, parsed, rest)


def send_truncated(
    registry: RunningRegistry,
    method: str,
    target: str,
    *,
    declared_length: int,
    sent: bytes,
    content_type: str = OCTET_STREAM,
) -> None:
    """Declare ``declared_length`` body bytes, send only ``sent``, then hang up."""
    assert declared_length > len(sent)
    headers = {"Content-Type": content_type, "Content-Length": str(declared_length)}
    with socket.create_connection(_address(registry), timeout=10) as sock:
        sock.sendall(_head(registry, method, target, headers) + sent)
        time.sleep(0.3)
    # closing the socket here is the point: the rest of the body never comes
