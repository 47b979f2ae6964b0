"""Which resource a word on the command line names, learnt from the server's discovery documents.

``dockyard get is``, ``get imagestream``, ``get imagestreams.image.openshift.io`` and
``patch configs.imageregistry.operator.openshift.io/cluster`` all resolve the same way ``oc``
resolves them: against ``/api/v1`` and the ``/apis/<group>/<version>`` lists the server
publishes, matching a resource's plural name, singular name, kind or short names. Nothing here
knows a kind in advance, so a kind the server adds later works without a new client.

A ``Discovery`` fetches each document at most once and only when needed (core first, then the
groups in the order ``/apis`` lists them), so one command run costs a few small requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from dockyard.cli.client import JSON, Client, CommandError, segment, server_error

CORE_VERSION = "v1"


@dataclass(frozen=True)
class Resource:
    """One resource of one group version, as an ``APIResourceList`` describes it."""

    group: str
    version: str
    name: str
    """The plural name, as in the URL: ``imagestreams``."""
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``imagestreams.image.openshift.io``: how Status messages name the resource."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def prefix(self) -> str:
        """``imagestream.image.openshift.io``: how ``oc`` names an object in its messages."""
        singular = self.singular or self.kind.lower()
        return f"{singular}.{self.group}" if self.group else singular

    def names(self) -> set[str]:
        """Every word that names this resource (lower case)."""
        words = {self.name, self.kind.lower(), *self.short_names}
        if self.singular:
            words.add(self.singular)
        return {word.lower() for word in words}

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection (or with ``name``, the object); ``namespace`` None: every namespace
        (or a cluster-scoped resource)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        scope = f"/namespaces/{segment(namespace)}" if self.namespaced and namespace else ""
        item = f"/{segment(name)}" if name is not None else ""
        return f"{root}{scope}/{self.name}{item}"


@dataclass
class Discovery:
    """The discovery documents of one server, fetched lazily and kept for one command run."""

    client: Client
    _lists: dict[str, list[Resource]] = field(default_factory=dict)
    _groups: list[JSON] | None = None

    def resolve(self, word: str) -> Resource:
        """The resource ``word`` names: ``is``, ``ImageStream``,
        ``imagestreams.image.openshift.io`` or ``imagestreams.v1.image.openshift.io``."""
        wanted = word.strip().lower()
        if not wanted:
            raise CommandError("error: a resource type is required")
        name, _, qualifier = wanted.partition(".")
        if qualifier:
            for group, version in self._qualified(qualifier):
                found = _match(self.resources(group, version), name)
                if found is not None:
                    return found
        else:
            for group, version in self._search_order():
                found = _match(self.resources(group, version), name)
                if found is not None:
                    return found
        raise CommandError(f'error: the server doesn\'t have a resource type "{word}"')

    def for_kind(self, api_version: str, kind: str) -> Resource:
        """The resource of objects with this ``apiVersion`` and ``kind`` (for ``apply``)."""
        group, _, version = api_version.rpartition("/")
        if not version:
            raise CommandError(f'error: the object of kind "{kind}" has no apiVersion')
        for resource in self.resources(group, version):
            if resource.kind == kind:
                return resource
        raise CommandError(
            f'error: resource mapping not found for kind "{kind}" in version "{api_version}":'
            " the server doesn't serve it"
        )

    def resources(self, group: str, version: str) -> list[Resource]:
        """The resources of one group version (empty when the server doesn't serve it)."""
        key = f"{group}/{version}" if group else version
        if key not in self._lists:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            response = self.client.send("GET", path)
            if response.status_code == 404:
                self._lists[key] = []
            else:
                self._lists[key] = parse_resource_list(_json(response, path), group)
        return self._lists[key]

    def groups(self) -> list[JSON]:
        if self._groups is None:
            document = self.client.get("/apis")
            groups = document.get("groups") if isinstance(document, dict) else None
            self._groups = [g for g in groups or [] if isinstance(g, dict) and g.get("name")]
        return self._groups

    def _search_order(self) -> Iterator[tuple[str, str]]:
        """Core ``v1`` first, then each group's preferred version in ``/apis`` order; lazily,
        so a core kind never costs the groups list."""
        yield "", CORE_VERSION
        for group in self.groups():
            yield str(group["name"]), _preferred_version(group)

    def _qualified(self, qualifier: str) -> list[tuple[str, str]]:
        """``image.openshift.io`` or ``v1.image.openshift.io`` as (group, version) pairs."""
        if qualifier == CORE_VERSION:
            return [("", CORE_VERSION)]
        for group in self.groups():
            name = str(group["name"])
            if qualifier == name:
                return [(name, _preferred_version(group))]
            version, _, rest = qualifier.partition(".")
            if rest == name and version in _versions(group):
                return [(name, version)]
        return []


def _match(resources: list[Resource], word: str) -> Resource | None:
    return next((resource for resource in resources if word in resource.names()), None)


def _preferred_version(group: JSON) -> str:
    preferred = group.get("preferredVersion") or {}
    version = preferred.get("version") if isinstance(preferred, dict) else None
    if isinstance(version, str) and version:
        return version
    versions = _versions(group)
    return versions[0] if versions else CORE_VERSION


def _versions(group: JSON) -> list[str]:
    return [
        str(v["version"])
        for v in group.get("versions") or []
        if isinstance(v, dict) and v.get("version")
    ]


def _json(response: httpx.Response, path: str) -> Any:
    if response.is_error:
        raise server_error(response)
    try:
        return response.json()
    except ValueError:
        raise CommandError(
            f"error: the server answered GET {path} with something other than JSON"
        ) from None


def parse_resource_list(document: Any, group: str) -> list[Resource]:
    """The top-level resources of an ``APIResourceList`` (subresources like
    ``imagestreams/layers`` are left out: they aren't kinds one gets or deletes)."""
    entries = document.get("resources") if isinstance(document, dict) else None
    version = ""
    if isinstance(document, dict):
        version = str(document.get("groupVersion") or "").rpartition("/")[2]
    found = []
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name") or "")
        kind = str(entry.get("kind") or "")
        if not name or not kind or "/" in name:
            continue
        found.append(
            Resource(
                group=str(entry.get("group") or group),
                version=str(entry.get("version") or version or CORE_VERSION),
                name=name,
                kind=kind,
                namespaced=bool(entry.get("namespaced")),
                singular=str(entry.get("singularName") or ""),
                short_names=tuple(str(s) for s in entry.get("shortNames") or ()),
                verbs=tuple(str(v) for v in entry.get("verbs") or ()),
            )
        )
    return found


def split_references(words: list[str]) -> list[tuple[str, str | None]]:
    """``KIND NAME...`` or ``KIND/NAME...`` as (kind, name) pairs; name None: every object.

    ``is app web`` → ``[(is, app), (is, web)]``; ``is/app istag/app:1`` → two kinds;
    ``is`` → ``[(is, None)]``. Mixing the forms is refused, as ``oc`` refuses it.
    """
    if not words:
        raise CommandError("error: a resource type is required, e.g. is, istag, images")
    if "/" in words[0]:
        pairs: list[tuple[str, str | None]] = []
        for word in words:
            kind, slash, name = word.partition("/")
            if not slash or not kind or not name:
                raise CommandError(
                    f"error: there is no need to specify a resource type as a separate argument"
                    f' when passing arguments in resource/name form (e.g. "dockyard get'
                    f' is/app"), got "{word}"'
                )
            pairs.append((kind, name))
        return pairs
    kind, names = words[0], words[1:]
    for name in names:
        if "/" in name:
            raise CommandError(
                f"error: arguments in resource/name form must have a single resource and name,"
                f' got "{name}" after the resource type "{kind}"'
            )
    return [(kind, name) for name in names] if names else [(kind, None)]
