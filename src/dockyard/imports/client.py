"""A client for other registries: manifests, tags and blobs over the distribution API.

It speaks what real registries ask for: the Docker token protocol (a ``Bearer`` challenge
answered from the realm, with Basic credentials when there are any) and plain Basic auth,
redirects to blob storage, and ``Retry-After`` on 429. ``insecure`` allows an untrusted
certificate and falls back to plain HTTP, as ``importPolicy.insecure`` means in OpenShift.
Every manifest is checked against its digest; blobs are checked by whoever stores them.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from dockyard.registry.digest import Digest, digest_of, parse_digest
from dockyard.registry.images import MAX_MANIFEST_SIZE
from dockyard.registry.mediatypes import MANIFESTS

ACCEPT = ", ".join(sorted(MANIFESTS))
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_BODY = MAX_MANIFEST_SIZE
"""The most read of any answer but a blob: manifests, tag lists, errors."""
MAX_RETRY_AFTER = 5.0
"""A 429 asking to wait longer than this (seconds) fails at once; shorter waits are waited."""
MAX_TAGS_PAGES = 50
CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


class UpstreamError(Exception):
    """The upstream refused or could not be reached; ``status`` is its HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None, retry_after: str = "") -> None:
        self.message = message
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    content: bytes
    media_type: str
    digest: Digest


@dataclass
class _Session:
    scheme: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)


class UpstreamClient:
    """One upstream registry host; reuse it for every request to that host."""

    def __init__(
        self,
        endpoint: str,
        *,
        insecure: bool = False,
        credentials: Credentials | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.insecure = insecure
        self.credentials = credentials
        verify: ssl.SSLContext | bool = True
        if insecure:
            verify = False
        elif ca_bundle:
            verify = ssl.create_default_context()
            try:
                verify.load_verify_locations(cadata=ca_bundle)
            except (ssl.SSLError, ValueError):
                raise UpstreamError(
                    f"the trusted CA bundle for {endpoint} is not a PEM certificate"
                ) from None
        self._http = httpx.AsyncClient(
            timeout=TIMEOUT,
            verify=verify,
            follow_redirects=True,
            headers={"User-Agent": "dockyard-importer"},
        )
        self._session = _Session()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()

    # --- the calls ------------------------------------------------------------------------

    async def manifest(self, repository: str, reference: str) -> RemoteManifest:
        """The manifest by tag or digest, with its digest checked when asked by digest."""
        path = f"/v2/{repository}/manifests/{reference}"
        response = await self._send("GET", path, repository, headers={"Accept": ACCEPT})
        media_type = response.headers.get("content-type", "").partition(";")[0].strip()
        if ":" in reference:
            expected = parse_digest(reference)
            actual = digest_of(response.content, expected.algorithm)
            if actual != expected:
                raise UpstreamError(
                    f"{self._where(path)}: the manifest has digest {actual}, not {expected}"
                )
        else:
            actual = digest_of(response.content)
        return RemoteManifest(response.content, media_type, actual)

    async def tags(self, repository: str) -> list[str]:
        """Every tag of the repository, following ``Link`` pages."""
        found: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list"
        for _ in range(MAX_TAGS_PAGES):
            if path is None:
                break
            response = await self._send("GET", path, repository)
            found.extend(response.json().get("tags") or [])
            following = response.links.get("next", {}).get("url")
            path = httpx.URL(following).raw_path.decode() if following else None
        return found

    async def blob(self, repository: str, digest: str) -> AsyncIterator[bytes]:
        """The blob's bytes as they arrive; the response is open until they are read."""
        path = f"/v2/{repository}/blobs/{digest}"
        request = await self._request("GET", path, repository)
        response = await self._open(request)
        if response.status_code == 401:
            await response.aclose()
            await self._authenticate(response, repository)
            retry = await self._request("GET", path, repository)
            response = await self._open(retry)
        if response.status_code != 200:
            await response.aread()
            await response.aclose()
            raise self._failure(response, path)
        return self._chunks(response)

    @staticmethod
    async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise UpstreamError(f"the upstream stopped sending: {exc}") from None
        finally:
            await response.aclose()

    # --- transport and auth ---------------------------------------------------------------

    async def _send(
        self, method: str, path: str, repository: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        attempt = 0
        while True:
            request = await self._request(method, path, repository, headers)
            response = await self._exchange(request)
            attempt += 1
            if response.status_code == 401 and attempt == 1:
                await self._authenticate(response, repository)
                continue
            wait = _retry_after(response)
            if response.status_code == 429 and wait is not None and attempt < 3:
                await asyncio.sleep(wait)
                continue
            if response.status_code >= 400:
                raise self._failure(response, path)
            return response

    async def _open(self, request: httpx.Request) -> httpx.Response:
        """The response, its body still to be read (or closed) by the caller."""
        try:
            return await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"cannot reach {self.endpoint}: {_reason(exc)}") from None

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """The response with its body, which must not be over ``MAX_BODY`` bytes: only blobs
        are large, and they stream."""
        response = await self._open(request)
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    raise UpstreamError(
                        f"{self.endpoint}{request.url.path}: the response is over"
                        f" {MAX_BODY >> 20} MiB"
                    )
        except httpx.HTTPError as exc:
            raise UpstreamError(f"the upstream stopped sending: {_reason(exc)}") from None
        finally:
            await response.aclose()
        return httpx.Response(
            response.status_code, headers=response.headers, content=bytes(body), request=request
        )

    async def _request(
        self, method: str, path: str, repository: str, headers: dict[str, str] | None = None
    ) -> httpx.Request:
        scheme = await self._scheme()
        request = self._http.build_request(
            method, f"{scheme}://{self.endpoint}{path}", headers=headers
        )
        token = self._session.tokens.get(repository)
        if token is not None:
            request.headers["Authorization"] = token
        return request

    async def _scheme(self) -> str:
        """https; with ``insecure``, plain http when the host does not speak TLS."""
        if self._session.scheme is not None:
            return self._session.scheme
        scheme = "https"
        try:
            await self._http.get(f"https://{self.endpoint}/v2/")
        except httpx.TransportError as exc:
            if not self.insecure:
                raise UpstreamError(
                    f"cannot reach {self.endpoint} over https: {_reason(exc)}"
                    + (
                        " (use --insecure for a registry on plain HTTP or with an untrusted"
                        " certificate)"
                        if isinstance(exc, httpx.ConnectError)
                        else ""
                    )
                ) from None
            try:
                await self._http.get(f"http://{self.endpoint}/v2/")
            except httpx.TransportError as plain:
                raise UpstreamError(f"cannot reach {self.endpoint}: {_reason(plain)}") from None
            scheme = "http"
        self._session.scheme = scheme
        return scheme

    async def _authenticate(self, response: httpx.Response, repository: str) -> None:
        """Answer a challenge: a token from the realm (Bearer) or the credentials (Basic)."""
        challenge = response.headers.get("www-authenticate", "")
        kind = challenge.partition(" ")[0].lower()
        if kind == "basic":
            if self.credentials is None:
                raise UpstreamError(
                    f"{self.endpoint} asks for credentials and none are configured"
                    " (add a pull secret for it)",
                    401,
                )
            self._session.tokens[repository] = _basic(self.credentials)
            return
        if kind != "bearer":
            raise UpstreamError(f"{self.endpoint} answered 401 without a usable challenge", 401)
        params = dict(CHALLENGE_RE.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise UpstreamError(f"{self.endpoint} sent a Bearer challenge without a realm", 401)
        query = {"scope": f"repository:{repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        headers = {"Authorization": _basic(self.credentials)} if self.credentials else {}
        try:
            answer = await self._http.get(realm, params=query, headers=headers)
        except httpx.TransportError as exc:
            raise UpstreamError(f"cannot reach the token service {realm}: {_reason(exc)}") from None
        if answer.status_code != 200:
            raise UpstreamError(
                f"the token service of {self.endpoint} answered {answer.status_code}"
                + ("" if self.credentials else " (add a pull secret for it)"),
                401 if answer.status_code in (401, 403) else answer.status_code,
            )
        body = answer.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise UpstreamError(f"the token service of {self.endpoint} returned no token", 401)
        self._session.tokens[repository] = f"Bearer {token}"

    def _failure(self, response: httpx.Response, path: str) -> UpstreamError:
        status = response.status_code
        detail = _error_message(response)
        if status == 401:
            message = f"{self._where(path)}: unauthorized{detail}"
            if self.credentials is None:
                message += " (add a pull secret for it)"
        elif status == 404:
            message = f"{self._where(path)}: not found{detail}"
        elif status == 429:
            message = f"{self._where(path)}: the upstream is rate limiting{detail}"
        else:
            message = f"{self._where(path)}: answered {status}{detail}"
        return UpstreamError(message, status, response.headers.get("retry-after", ""))

    def _where(self, path: str) -> str:
        return f"{self.endpoint}{path}"


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return f"Basic {base64.b64encode(pair).decode()}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None


def _error_message(response: httpx.Response) -> str:
    """The first message of an OCI error body, if there is one."""
    try:
        errors = response.json().get("errors") or []
        return f" ({errors[0].get('code')}: {errors[0].get('message')})" if errors else ""
    except (ValueError, AttributeError, IndexError):
        return ""


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
