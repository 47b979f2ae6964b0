"""The generic object store: config-like kinds kept whole, as JSON, one row per object.

Config, ImagePruner, Secret, ConfigMap and the like have no query that needs a column of their
own, so each is a row of ``resources`` keyed by (group, kind, namespace, name) with the object
fields Kubernetes manages (uid, resourceVersion, generation, creationTimestamp) beside the body.
Every write appends to the change log in the same transaction, and the entry's id becomes the
object's resourceVersion, so watches, cache invalidation and optimistic concurrency work for
these kinds exactly as for image streams. Change-log entries carry no payload: a Secret's data
never leaves its row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard import errors
from dockyard.errors import StatusError
from dockyard.metadata import changes
from dockyard.metadata.engine import AlreadyExistsError, Database, insert_new
from dockyard.metadata.schema import resources

JSON = dict[str, Any]
OBJECT_METADATA = ("labels", "annotations")
"""The metadata a client owns, kept in the body; the rest is the row's."""


@dataclass(frozen=True)
class ResourceType:
    """Where a kind lives: its group, kind, plural resource name and scope."""

    group: str
    kind: str
    resource: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self) -> str:
        """The change-log kind and the name in messages: ``Config.imageregistry...``."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def scope(self, namespace: str | None) -> str:
        return (namespace or "") if self.namespaced else ""

    def not_found(self, name: str) -> StatusError:
        return errors.not_found(self.resource, name, self.group)

    def conflict(self, name: str) -> StatusError:
        return errors.conflict(self.resource, name, self.group)

    def exists(self, name: str) -> StatusError:
        return errors.already_exists(self.resource, name, self.group)


SECRET = ResourceType("", "Secret", "secrets", namespaced=True)
CONFIG_MAP = ResourceType("", "ConfigMap", "configmaps", namespaced=True)
POD = ResourceType("", "Pod", "pods", namespaced=True)
"""A worker process of ``dockyard serve``, as its supervisor reports it."""

Build = Callable[[JSON], JSON]
"""Given the current object, the new body; may raise to refuse."""


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(kind: ResourceType, row: Any) -> JSON:
    """A row as the Kubernetes object clients see."""
    body = dict(row.body)
    kept = body.pop("metadata", None) or {}
    metadata: JSON = {"name": row.name}
    if kind.namespaced:
        metadata["namespace"] = row.namespace
    metadata.update(
        uid=row.uid,
        resourceVersion=str(row.resource_version),
        generation=row.generation,
        creationTimestamp=_timestamp(row.created_at),
    )
    metadata.update({key: kept[key] for key in OBJECT_METADATA if kept.get(key)})
    return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": metadata, **body}


def body_of(obj: JSON) -> JSON:
    """What ``render`` made an object from: its fields, with only the client's metadata."""
    body = {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}
    metadata = body.pop("metadata", None) or {}
    kept = {key: metadata[key] for key in OBJECT_METADATA if metadata.get(key)}
    return {**body, "metadata": kept} if kept else body


def _spec_of(body: JSON) -> JSON:
    """What ``generation`` counts changes of: everything but metadata and status."""
    return {key: value for key, value in body.items() if key not in ("metadata", "status")}


def _key(kind: ResourceType, namespace: str, name: str) -> Any:
    return (
        (resources.c.api_group == kind.group)
        & (resources.c.kind == kind.kind)
        & (resources.c.namespace == namespace)
        & (resources.c.name == name)
    )


async def _row(
    conn: AsyncConnection, kind: ResourceType, namespace: str, name: str, *, lock: bool = False
) -> Any:
    query = select(resources).where(_key(kind, namespace, name))
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


class ResourceStore:
    """Get, list, create, replace and delete objects of any ``ResourceType``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(self, kind: ResourceType, namespace: str | None, name: str) -> JSON | None:
        async with self.db.read() as conn:
            row = await _row(conn, kind, kind.scope(namespace), name)
        return None if row is None else render(kind, row)

    async def get(self, kind: ResourceType, namespace: str | None, name: str) -> JSON:
        found = await self.find(kind, namespace, name)
        if found is None:
            raise kind.not_found(name)
        return found

    async def list(self, kind: ResourceType, namespace: str | None) -> list[JSON]:
        """Every object of the kind (in one namespace, if given), by namespace and name."""
        query = (
            select(resources)
            .where(resources.c.api_group == kind.group, resources.c.kind == kind.kind)
            .order_by(resources.c.namespace, resources.c.name)
        )
        if namespace is not None and kind.namespaced:
            query = query.where(resources.c.namespace == namespace)
        async with self.db.read() as conn:
            return [render(kind, row) for row in await conn.execute(query)]

    async def version(self, kind: ResourceType, namespace: str | None, name: str) -> int | None:
        """The object's resourceVersion (None: no such object): a cheap poll for changes."""
        query = select(resources.c.resource_version).where(_key(kind, kind.scope(namespace), name))
        async with self.db.read() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return None if found is None else int(found)

    async def create(
        self, kind: ResourceType, namespace: str | None, name: str, body: JSON
    ) -> JSON:
        """A new object; 409 AlreadyExists if there is one of that name."""
        scope = kind.scope(namespace)
        async with self.db.write() as conn:
            version = await changes.append(
                conn, kind=kind.qualified, namespace=scope, name=name, action="ADDED", payload={}
            )
            statement = resources.insert().values(
                api_group=kind.group,
                kind=kind.kind,
                namespace=scope,
                name=name,
                uid=str(uuid.uuid4()),
                resource_version=version,
                generation=1,
                body=body,
                created_at=time.time(),
            )
            try:
                await insert_new(conn, statement)
            except AlreadyExistsError:
                raise kind.exists(name) from None
            row = await _row(conn, kind, scope, name)
        return render(kind, row)

    async def replace(
        self,
        kind: ResourceType,
        namespace: str | None,
        name: str,
        build: Build,
        resource_version: str = "",
    ) -> JSON:
        """Replace the body with ``build(current)``, in one transaction with the read.

        A non-empty ``resource_version`` that isn't the object's is a 409: the caller saw an
        older object. Nothing is written (and no version spent) when the body is unchanged.
        """
        scope = kind.scope(namespace)
        async with self.db.write() as conn:
            row = await _row(conn, kind, scope, name, lock=True)
            if row is None:
                raise kind.not_found(name)
            if resource_version and resource_version != str(row.resource_version):
                raise kind.conflict(name)
            body = build(render(kind, row))
            if body == row.body:
                return render(kind, row)
            generation = row.generation + (_spec_of(body) != _spec_of(row.body))
            version = await changes.append(
                conn, kind=kind.qualified, namespace=scope, name=name, action="MODIFIED", payload={}
            )
            await conn.execute(
                update(resources)
                .where(_key(kind, scope, name))
                .values(body=body, generation=generation, resource_version=version)
            )
            row = await _row(conn, kind, scope, name)
        return render(kind, row)

    async def delete(self, kind: ResourceType, namespace: str | None, name: str) -> None:
        scope = kind.scope(namespace)
        async with self.db.write() as conn:
            result = await conn.execute(delete(resources).where(_key(kind, scope, name)))
            if not result.rowcount:
                raise kind.not_found(name)
            await changes.append(
                conn, kind=kind.qualified, namespace=scope, name=name, action="DELETED", payload={}
            )


async def delete_namespace(conn: AsyncConnection, namespace: str) -> None:
    """Remove every object of a namespace whose project is going, each logged as deleted, in
    the caller's transaction: a project made again under the name finds none of them."""
    assert namespace, "cluster-scoped objects belong to no project"
    query = select(resources.c.api_group, resources.c.kind, resources.c.name).where(
        resources.c.namespace == namespace
    )
    for row in list(await conn.execute(query)):
        kind = f"{row.kind}.{row.api_group}" if row.api_group else row.kind
        await changes.append(
            conn, kind=kind, namespace=namespace, name=row.name, action="DELETED", payload={}
        )
    await conn.execute(delete(resources).where(resources.c.namespace == namespace))
