"""Kinds kept whole in the generic store (``metadata.resources``): a kind is a few lines.

A ``StoredKind`` names where the kind lives (``ResourceType``), its strict body model and a
``prepare`` function that validates the body and fills defaults (given the current object on
updates); ``kind_of`` turns it into a row of the generic handler's table, with every verb,
watch, labels and annotations. Adding a kind::

    class ThingBody(ObjectBody):
        spec: ThingSpec = ThingSpec()

    THINGS = kind_of(StoredKind(ResourceType("example.io", "Thing", "things", False), ThingBody))

and listing it in ``routes.KINDS``. With ``status=True`` the status is the server's (a status
subresource, as Kubernetes has it): what clients send there is ignored, the current one kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar, cast

from dockyard import errors
from dockyard.errors import Cause
from dockyard.http.resources import objects
from dockyard.http.resources.handlers import Call, Kind
from dockyard.http.resources.objects import JSON, ObjectBody
from dockyard.metadata.engine import Database
from dockyard.metadata.resources import ResourceStore, ResourceType

B = TypeVar("B", bound=ObjectBody)


def as_given(body: ObjectBody, current: JSON | None) -> JSON:
    """The body's fields as the client set them, without apiVersion, kind and metadata."""
    data = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for key in ("apiVersion", "kind", "metadata"):
        data.pop(key, None)
    return data


@dataclass(frozen=True)
class StoredKind(Generic[B]):
    """A kind of the generic store: where it lives, its body, and its validation/defaults."""

    resource: ResourceType
    body: type[B]
    prepare: Callable[[B, JSON | None], JSON] = as_given
    """The stored fields of a body (``current`` is None on create); ``refuse`` refuses it."""
    status: bool = False
    writable: bool = True
    """False: the server writes these objects; clients only read and watch them."""
    name_rule: Callable[[str], str | None] | None = objects.dns_subdomain_name
    deletable: bool = True
    all_namespaces: bool = False
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


def store_of(call: Call) -> ResourceStore:
    return cast(ResourceStore, call.request.app.state.services.resources)


def _database(call: Call) -> Database:
    return store_of(call).db


def _identity(obj: JSON) -> JSON:
    return obj


def _stored(stored: StoredKind[B], body: B, current: JSON | None) -> JSON:
    data = stored.prepare(body, current)
    if stored.status:
        data.pop("status", None)
        if current is not None and "status" in current:
            data["status"] = current["status"]
    kept = {
        key: value
        for key in ("labels", "annotations")
        if (value := getattr(body.metadata, key)) is not None
    }
    if kept:
        data["metadata"] = kept
    return data


def kind_of(stored: StoredKind[B]) -> Kind[JSON, B]:
    """The generic handler's row for a stored kind."""
    kind = stored.resource

    async def create(call: Call, body: B) -> JSON:
        return await store_of(call).create(
            kind, call.namespace, body.metadata.name, _stored(stored, body, None)
        )

    async def update(call: Call, body: B) -> JSON:
        return await store_of(call).replace(
            kind,
            call.namespace,
            call.name,
            lambda current: _stored(stored, body, current),
            body.metadata.resource_version,
        )

    async def delete(call: Call) -> None:
        await store_of(call).delete(kind, call.namespace, call.name)

    return Kind(
        kind.kind,
        kind.group,
        kind.resource,
        namespaced=kind.namespaced,
        render=_identity,
        body=stored.body,
        get_one=lambda call: store_of(call).get(kind, call.namespace, call.name),
        get_all=lambda call: store_of(call).list(kind, call.namespace),
        create=create if stored.writable else None,
        update=update if stored.writable else None,
        delete=delete if stored.deletable and stored.writable else None,
        name_rule=stored.name_rule,
        database=_database,
        changes=kind.qualified,
        labels=True,
        all_namespaces=stored.all_namespaces,
        short_names=stored.short_names,
        categories=stored.categories,
    )


def refuse(kind: ResourceType, name: str, causes: Sequence[Cause]) -> NoReturn:
    """Raise the 422 a ``prepare`` function refuses a body with."""
    raise errors.invalid(kind.qualified, name, causes)
