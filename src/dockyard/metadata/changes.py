"""The append-only change log; its ids are the global resourceVersion."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.schema import changes


async def append(
    conn: AsyncConnection,
    *,
    kind: str,
    namespace: str,
    name: str,
    action: str,
    payload: dict[str, Any],
) -> int:
    """Append an entry; its id is the new global resourceVersion."""
    result = await conn.execute(
        changes.insert().values(
            kind=kind,
            namespace=namespace,
            name=name,
            action=action,
            payload=payload,
            created_at=time.time(),
        )
    )
    key = result.inserted_primary_key
    assert key is not None, "an insert returns its key"
    return int(key[0])


async def since(conn: AsyncConnection, after: int, *, kind: str) -> list[Any]:
    query = (
        select(changes.c.id, changes.c.action, changes.c.name, changes.c.namespace)
        .where(changes.c.id > after, changes.c.kind == kind)
        .order_by(changes.c.id)
    )
    return list(await conn.execute(query))


async def newest(conn: AsyncConnection) -> int:
    """The newest entry's id (0 for an empty log): the resourceVersion of a list right now."""
    found = (await conn.execute(select(func.max(changes.c.id)))).scalar_one_or_none()
    return int(found or 0)


async def oldest(conn: AsyncConnection) -> int | None:
    """The oldest entry kept; a watch from before it can't be served exactly."""
    found = (await conn.execute(select(func.min(changes.c.id)))).scalar_one_or_none()
    return None if found is None else int(found)


async def since_any(
    conn: AsyncConnection,
    after: int,
    kinds: Sequence[str],
    namespace: str | None = None,
    name: str | None = None,
) -> list[Any]:
    """Entries after ``after`` of any of ``kinds`` (in one namespace, of one name, if given),
    oldest first, with ``created_at``: what a watch streams."""
    query = (
        select(
            changes.c.id,
            changes.c.kind,
            changes.c.namespace,
            changes.c.name,
            changes.c.action,
            changes.c.created_at,
        )
        .where(changes.c.id > after, changes.c.kind.in_(list(kinds)))
        .order_by(changes.c.id)
    )
    if namespace is not None:
        query = query.where(changes.c.namespace == namespace)
    if name is not None:
        query = query.where(changes.c.name == name)
    return list(await conn.execute(query))


async def previous_action(
    conn: AsyncConnection, kind: str, namespace: str, name: str, before: int
) -> str | None:
    """The action of the object's entry just before ``before`` (None: it had none), so a
    watch can tell a first change (an object created by a push) from a later one."""
    query = (
        select(changes.c.action)
        .where(
            changes.c.id < before,
            changes.c.kind == kind,
            changes.c.namespace == namespace,
            changes.c.name == name,
        )
        .order_by(changes.c.id.desc())
        .limit(1)
    )
    found = (await conn.execute(query)).scalar_one_or_none()
    return None if found is None else str(found)
