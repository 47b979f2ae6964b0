"""The append-only change log; its ids are the global resourceVersion."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
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
