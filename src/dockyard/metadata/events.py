"""Queries behind webhook delivery: the change log read as an outbox, cursors, pulls and leases.

The change log is the outbox: an event exists exactly when its change committed. A reader must
not step over an id that is still being written. SQLite writers are serialised, so ids commit in
order; PostgreSQL hands out ids from a sequence before the transaction commits, so a committed
id can be seen while a smaller one is still in flight (or was rolled back and never will be).
``settle`` tells the two apart exactly, without guessing from time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_ignore
from dockyard.metadata.schema import changes, image_references, leases, notification_cursors

SETTLE_LOCK_TIMEOUT = "2s"
"""How long ``settle`` waits for writers on PostgreSQL (new writers queue behind it meanwhile)."""


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    kind: str
    namespace: str
    name: str
    action: str
    payload: dict[str, Any]
    created_at: float


async def append_many(
    conn: AsyncConnection, kind: str, entries: Sequence[Mapping[str, Any]]
) -> None:
    """Append entries of ``kind`` (``namespace``, ``name``, ``action``, ``payload``) in one
    statement: cheap enough to record every pull."""
    if not entries:
        return
    now = time.time()
    await conn.execute(
        changes.insert(),
        [
            {
                "kind": kind,
                "namespace": entry["namespace"],
                "name": entry["name"],
                "action": entry["action"],
                "payload": entry["payload"],
                "created_at": now,
            }
            for entry in entries
        ],
    )


async def latest_change_id(conn: AsyncConnection) -> int:
    found = await conn.scalar(select(func.max(changes.c.id)))
    return int(found or 0)


async def changes_after(conn: AsyncConnection, after: int, limit: int) -> list[Change]:
    """Entries of every kind after ``after``, oldest first: all ids, so that gaps show."""
    query = select(changes).where(changes.c.id > after).order_by(changes.c.id).limit(limit)
    return [
        Change(
            id=row.id,
            kind=row.kind,
            namespace=row.namespace,
            name=row.name,
            action=row.action,
            payload=row.payload,
            created_at=row.created_at,
        )
        for row in await conn.execute(query)
    ]


async def count_changes_after(conn: AsyncConnection, after: int, kinds: Iterable[str]) -> int:
    query = select(func.count()).where(changes.c.id > after, changes.c.kind.in_(list(kinds)))
    return int(await conn.scalar(query) or 0)


async def settle(conn: AsyncConnection) -> int:
    """An id at or below which every change has committed or never will; on a write connection.

    On PostgreSQL a ``SHARE`` lock on ``changes`` waits for every transaction that inserted into
    it (each holds ``ROW EXCLUSIVE`` from before it drew its id until it ends); the largest id
    seen under the lock bounds them all. On SQLite the write transaction itself excludes writers.
    Raises the database's error when writers do not finish within ``SETTLE_LOCK_TIMEOUT``.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"SET LOCAL lock_timeout = '{SETTLE_LOCK_TIMEOUT}'"))
        await conn.execute(text("LOCK TABLE changes IN SHARE MODE"))
    return await latest_change_id(conn)


async def references_of(
    conn: AsyncConnection, digests: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Descriptors each image references (config, layers or child manifests), in order."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    query = (
        select(image_references)
        .where(image_references.c.image_digest.in_(wanted))
        .order_by(image_references.c.image_digest, image_references.c.position)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in await conn.execute(query):
        descriptor: dict[str, Any] = {
            "mediaType": row.media_type,
            "digest": row.digest,
            "size": row.size,
        }
        if row.platform:
            descriptor["platform"] = row.platform
        found.setdefault(row.image_digest, []).append(descriptor)
    return found


async def cursor(conn: AsyncConnection, endpoint: str) -> int | None:
    query = select(notification_cursors.c.last_change_id).where(
        notification_cursors.c.endpoint == endpoint
    )
    found = await conn.scalar(query)
    return None if found is None else int(found)


async def start_cursor(conn: AsyncConnection, endpoint: str) -> int:
    """The endpoint's cursor; a new endpoint starts at the end of the log (no history replay).

    Two processes starting it at once agree: the first insert wins, the other reads it.
    """
    await conn.execute(
        insert_ignore(conn, notification_cursors).values(
            endpoint=endpoint,
            last_change_id=await latest_change_id(conn),
            updated_at=time.time(),
        )
    )
    found = await cursor(conn, endpoint)
    assert found is not None, "inserted or already there"
    return found


async def advance_cursor(conn: AsyncConnection, endpoint: str, expected: int, to: int) -> bool:
    """Move the cursor from ``expected`` to ``to``; False if someone else moved or removed it."""
    result = await conn.execute(
        update(notification_cursors)
        .where(
            notification_cursors.c.endpoint == endpoint,
            notification_cursors.c.last_change_id == expected,
        )
        .values(last_change_id=to, updated_at=time.time())
    )
    return bool(result.rowcount == 1)


async def forget_cursor(conn: AsyncConnection, endpoint: str) -> None:
    await conn.execute(
        delete(notification_cursors).where(notification_cursors.c.endpoint == endpoint)
    )


async def lease_holder(conn: AsyncConnection, name: str, now: float) -> str | None:
    """Who holds the lease now, if anyone: a cheap read before contending with a write."""
    query = select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at >= now)
    found = await conn.scalar(query)
    return None if found is None else str(found)


async def take_lease(conn: AsyncConnection, name: str, holder: str, ttl: float) -> bool:
    """Take or renew the lease: True if ``holder`` has it for ``ttl`` seconds from now.

    Expiry is wall-clock time, compared across processes and replicas: their clocks must agree
    to well under the lease's time to live (NTP does).
    """
    now = time.time()
    renewed = await conn.execute(
        update(leases)
        .where(leases.c.name == name, (leases.c.holder == holder) | (leases.c.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if renewed.rowcount == 1:
        return True
    created = await conn.execute(
        insert_ignore(conn, leases).values(name=name, holder=holder, expires_at=now + ttl)
    )
    return bool(created.rowcount == 1)


async def release_lease(conn: AsyncConnection, name: str, holder: str) -> None:
    """Give the lease up early, so another process takes over at once, not at expiry."""
    await conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == holder)
        .values(expires_at=0.0)
    )
