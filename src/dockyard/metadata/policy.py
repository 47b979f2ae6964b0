"""Role bindings and the keys that sign registry tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_new
from dockyard.metadata.schema import role_bindings, signing_keys

CLUSTER = ""


async def list_bindings(conn: AsyncConnection, namespace: str | None) -> list[Any]:
    """Bindings of one namespace, of the cluster (``""``), or of all (``None``)."""
    query = select(role_bindings).order_by(role_bindings.c.namespace, role_bindings.c.name)
    if namespace is not None:
        query = query.where(role_bindings.c.namespace == namespace)
    return list(await conn.execute(query))


async def get_binding(conn: AsyncConnection, namespace: str, name: str) -> Any:
    query = select(role_bindings).where(
        role_bindings.c.namespace == namespace, role_bindings.c.name == name
    )
    return (await conn.execute(query)).first()


async def insert_binding(
    conn: AsyncConnection,
    namespace: str,
    name: str,
    role_kind: str,
    role_name: str,
    subjects: list[dict[str, Any]],
) -> None:
    await insert_new(
        conn,
        role_bindings.insert().values(
            namespace=namespace,
            name=name,
            uid=str(uuid.uuid4()),
            role_kind=role_kind,
            role_name=role_name,
            subjects=subjects,
            created_at=time.time(),
        ),
    )


async def update_subjects(
    conn: AsyncConnection, namespace: str, name: str, subjects: list[dict[str, Any]]
) -> bool:
    result = await conn.execute(
        update(role_bindings)
        .where(role_bindings.c.namespace == namespace, role_bindings.c.name == name)
        .values(subjects=subjects)
    )
    return bool(result.rowcount)


async def delete_binding(conn: AsyncConnection, namespace: str, name: str) -> bool:
    result = await conn.execute(
        delete(role_bindings).where(
            role_bindings.c.namespace == namespace, role_bindings.c.name == name
        )
    )
    return bool(result.rowcount)


async def delete_namespace_bindings(conn: AsyncConnection, namespace: str) -> None:
    await conn.execute(delete(role_bindings).where(role_bindings.c.namespace == namespace))


async def signing_key_rows(conn: AsyncConnection) -> list[Any]:
    query = select(signing_keys).order_by(signing_keys.c.created_at.desc())
    return list(await conn.execute(query))


async def insert_signing_key(conn: AsyncConnection, kid: str, secret: str) -> None:
    await conn.execute(signing_keys.insert().values(kid=kid, secret=secret, created_at=time.time()))
