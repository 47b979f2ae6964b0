"""The resource API as the generic commands use it: one object, lists page by page, watches,
patches with their content types, and label selectors.

``Client`` sends JSON bodies; a patch needs its own content type and a watch a response read
line by line without a read timeout, so those go through ``ResourceAPI.send``/``watch`` here,
which report failures exactly as ``Client`` does (one line, ``oc``'s words).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from dockyard.cli.client import (
    JSON,
    TIMEOUT_SECONDS,
    Client,
    CommandError,
    connect_error,
    decoded,
    server_error,
)
from dockyard.cli.discovery import Discovery, Resource

PAGE_SIZE = 500
"""Objects per list request (``limit``), followed by ``continue`` as kubectl's ``--chunk-size``."""

PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


class ResourceAPI:
    """One server's resources for one command run: the client and its discovery cache."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.discovery = Discovery(client)

    def resolve(self, word: str) -> Resource:
        return self.discovery.resolve(word)

    # --- reading -----------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str | None, name: str) -> JSON:
        found: JSON = self.client.get(resource.path(namespace, name))
        return typed(found, resource)

    def find(self, resource: Resource, namespace: str | None, name: str) -> JSON | None:
        """The object, or None when the server says it doesn't exist."""
        response = self.send("GET", resource.path(namespace, name))
        if response.status_code == 404:
            return None
        return typed(decoded(response), resource)

    def list(
        self, resource: Resource, namespace: str | None, selector: str | None = None
    ) -> tuple[list[JSON], str]:
        """Every object (page by page) and the list's ``resourceVersion`` to watch from.

        The selector goes to the server and is applied here too, so a server that ignores
        ``labelSelector`` for some kind still gives the right answer.
        """
        wanted = Selector.parse(selector) if selector else None
        params: dict[str, str] = {"limit": str(PAGE_SIZE)}
        if selector:
            params["labelSelector"] = selector
        items: list[JSON] = []
        while True:
            page = decoded(self.send("GET", resource.path(namespace), params=params))
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise CommandError("error: the server answered with no list of items")
            items += [typed(item, resource) for item in page["items"]]
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                break
            params["continue"] = str(token)
        if wanted is not None:
            items = [item for item in items if wanted.matches(labels_of(item))]
        return items, str(metadata.get("resourceVersion") or "")

    def watch(
        self,
        resource: Resource,
        namespace: str | None,
        selector: str | None = None,
        resource_version: str = "",
    ) -> Iterator[JSON]:
        """The ``{type, object}`` events of a watch, as they arrive, until the server ends it."""
        wanted = Selector.parse(selector) if selector else None
        params = {"watch": "true"}
        if selector:
            params["labelSelector"] = selector
        if resource_version:
            params["resourceVersion"] = resource_version
        timeout = httpx.Timeout(TIMEOUT_SECONDS, read=None)
        path = resource.path(namespace)
        try:
            with self.client.http.stream(
                "GET", path, params=params, headers=self._headers(), timeout=timeout
            ) as response:
                if response.is_error:
                    response.read()
                    raise server_error(response)
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        raise CommandError(
                            f"error: the server sent a watch event that is not JSON: {line[:200]}"
                        ) from None
                    obj = event.get("object") if isinstance(event, dict) else None
                    if not isinstance(obj, dict):
                        continue
                    if event.get("type") == "ERROR":
                        raise CommandError(f"error: the watch failed: {obj.get('message', obj)}")
                    if wanted is not None and not wanted.matches(labels_of(obj)):
                        continue
                    yield {"type": event.get("type"), "object": typed(obj, resource)}
        except httpx.TransportError as exc:
            raise _transport_error(self.client.server, exc) from None

    # --- writing -----------------------------------------------------------------------------

    def create(self, resource: Resource, namespace: str | None, body: JSON) -> JSON:
        return typed(self.client.post(resource.path(namespace), body), resource)

    def replace(self, resource: Resource, namespace: str | None, name: str, body: JSON) -> JSON:
        return typed(self.client.put(resource.path(namespace, name), body), resource)

    def patch(
        self, resource: Resource, namespace: str | None, name: str, kind: str, patch: Any
    ) -> JSON:
        response = self.send(
            "PATCH",
            resource.path(namespace, name),
            content=json.dumps(patch).encode(),
            content_type=PATCH_TYPES[kind],
        )
        return typed(decoded(response), resource)

    def delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        self.client.delete(resource.path(namespace, name))

    # --- HTTP --------------------------------------------------------------------------------

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.client.token:
            headers["Authorization"] = f"Bearer {self.client.token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        """The raw response; transport failures end the command as ``Client.send`` ends it."""
        try:
            return self.client.http.request(
                method,
                path,
                params=dict(params) if params else None,
                content=content,
                headers=self._headers(content_type),
            )
        except httpx.TransportError as exc:
            raise _transport_error(self.client.server, exc) from None


def _transport_error(server: str, exc: httpx.TransportError) -> CommandError:
    if isinstance(exc, httpx.TimeoutException):
        return CommandError(
            f"error: the server at {server} did not answer within {TIMEOUT_SECONDS:.0f} seconds"
        )
    if isinstance(exc, httpx.ConnectError):
        return CommandError(connect_error(server, exc))
    return CommandError(f"error: talking to {server} failed: {exc}")


def typed(item: Any, resource: Resource) -> JSON:
    """The object with its ``kind`` and ``apiVersion`` (list items come without them)."""
    if not isinstance(item, dict):
        raise CommandError(f"error: the server answered with no {resource.kind} object")
    return {"kind": resource.kind, "apiVersion": resource.api_version, **item}


def labels_of(item: JSON) -> dict[str, str]:
    labels = (item.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


# --- label selectors ---------------------------------------------------------------------------

REQUIREMENT = re.compile(
    r"""^\s*(?:
        (?P<absent>!)\s*(?P<akey>[^\s=!,()]+)
      | (?P<skey>[^\s=!,()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)
      | (?P<key>[^\s=!,()]+)\s*(?:(?P<cmp>==|=|!=)\s*(?P<value>[^\s=!,()]*))?
    )\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str
    """``exists``, ``!``, ``=``, ``!=``, ``in`` or ``notin``."""
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # != and notin


@dataclass(frozen=True)
class Selector:
    """A Kubernetes label selector: ``app=web,tier!=db,env in (a,b),!legacy``."""

    requirements: tuple[Requirement, ...]

    @classmethod
    def parse(cls, text: str) -> Selector:
        requirements = []
        for part in _split_requirements(text):
            found = REQUIREMENT.match(part)
            if found is None or not part.strip():
                raise CommandError(f'error: unable to parse requirement: "{part.strip()}"')
            if found.group("absent"):
                requirements.append(Requirement(found.group("akey"), "!"))
            elif found.group("op"):
                values = frozenset(v.strip() for v in found.group("values").split(",") if v.strip())
                requirements.append(Requirement(found.group("skey"), found.group("op"), values))
            elif found.group("cmp"):
                op = "!=" if found.group("cmp") == "!=" else "="
                requirements.append(
                    Requirement(found.group("key"), op, frozenset([found.group("value")]))
                )
            else:
                requirements.append(Requirement(found.group("key"), "exists"))
        return cls(tuple(requirements))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)


def _split_requirements(text: str) -> list[str]:
    """Split on the commas that separate requirements, not those inside ``in (a,b)``."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts
