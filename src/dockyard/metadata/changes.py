"""The append-only change log; its ids are the global resourceVersion."""

from __future__ import annotations

import time
from typing import Any

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
) -> None:
    await conn.execute(
        changes.insert().values(
            kind=kind,
            namespace=namespace,
            name=name,
            action=action,
            payload=payload,
            created_at=time.time(),
        )
    )
