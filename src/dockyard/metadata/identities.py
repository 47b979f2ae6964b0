"""Users, groups, service accounts and API tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.metadata.engine import insert_ignore, insert_new
from dockyard.metadata.schema import group_members, groups, login_failures, tokens, users


async def get_user(conn: AsyncConnection, name: str) -> Any:
    return (await conn.execute(select(users).where(users.c.name == name))).first()


async def list_users(conn: AsyncConnection, namespace: str | None = None) -> list[Any]:
    query = select(users).order_by(users.c.name)
    query = query.where(
        users.c.namespace.is_(None) if namespace is None else users.c.namespace == namespace
    )
    return list(await conn.execute(query))


async def insert_user(
    conn: AsyncConnection,
    name: str,
    *,
    full_name: str = "",
    password_hash: str | None = None,
    namespace: str | None = None,
) -> None:
    await insert_new(
        conn,
        users.insert().values(
            name=name,
            uid=str(uuid.uuid4()),
            full_name=full_name,
            password_hash=password_hash,
            namespace=namespace,
            created_at=time.time(),
        ),
    )


async def set_password_hash(conn: AsyncConnection, name: str, password_hash: str) -> bool:
    result = await conn.execute(
        update(users).where(users.c.name == name).values(password_hash=password_hash)
    )
    return bool(result.rowcount)


async def delete_user(conn: AsyncConnection, name: str) -> bool:
    await conn.execute(delete(group_members).where(group_members.c.user_name == name))
    result = await conn.execute(delete(users).where(users.c.name == name))
    return bool(result.rowcount)


async def groups_of(conn: AsyncConnection, user: str) -> list[str]:
    query = (
        select(group_members.c.group_name)
        .where(group_members.c.user_name == user)
        .order_by(group_members.c.group_name)
    )
    return list((await conn.execute(query)).scalars())


async def get_group(conn: AsyncConnection, name: str) -> Any:
    return (await conn.execute(select(groups).where(groups.c.name == name))).first()


async def list_groups(conn: AsyncConnection) -> list[Any]:
    return list(await conn.execute(select(groups).order_by(groups.c.name)))


async def members(conn: AsyncConnection, group: str) -> list[str]:
    query = (
        select(group_members.c.user_name)
        .where(group_members.c.group_name == group)
        .order_by(group_members.c.user_name)
    )
    return list((await conn.execute(query)).scalars())


async def insert_group(conn: AsyncConnection, name: str) -> None:
    await insert_new(
        conn, groups.insert().values(name=name, uid=str(uuid.uuid4()), created_at=time.time())
    )


async def set_members(conn: AsyncConnection, group: str, names: list[str]) -> None:
    await conn.execute(delete(group_members).where(group_members.c.group_name == group))
    if names:
        await conn.execute(
            insert_ignore(conn, group_members),
            [{"group_name": group, "user_name": name} for name in sorted(set(names))],
        )


async def delete_group(conn: AsyncConnection, name: str) -> bool:
    await conn.execute(delete(group_members).where(group_members.c.group_name == name))
    result = await conn.execute(delete(groups).where(groups.c.name == name))
    return bool(result.rowcount)


async def insert_token(
    conn: AsyncConnection, digest: str, user: str, expires_at: float | None
) -> str:
    token_id = str(uuid.uuid4())
    await conn.execute(
        tokens.insert().values(
            id=token_id,
            digest=digest,
            user_name=user,
            created_at=time.time(),
            expires_at=expires_at,
        )
    )
    return token_id


async def find_token(conn: AsyncConnection, digest: str) -> Any:
    return (await conn.execute(select(tokens).where(tokens.c.digest == digest))).first()


async def revoke_token(conn: AsyncConnection, digest: str) -> bool:
    result = await conn.execute(
        update(tokens)
        .where(tokens.c.digest == digest, tokens.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )
    return bool(result.rowcount)


async def revoke_tokens_of(conn: AsyncConnection, user: str) -> None:
    await conn.execute(
        update(tokens)
        .where(tokens.c.user_name == user, tokens.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )


async def revoked_since(conn: AsyncConnection, since: float) -> list[str]:
    """Ids of tokens revoked at or after ``since``: what bearer JWTs must stop honouring."""
    query = select(tokens.c.id).where(tokens.c.revoked_at >= since)
    return list((await conn.execute(query)).scalars())


async def record_login_failure(conn: AsyncConnection, user: str, window: float) -> int:
    """Count a failed login in the current window; return the failures in it."""
    now = time.time()
    row = (
        await conn.execute(select(login_failures).where(login_failures.c.user_name == user))
    ).first()
    if row is None or now - row.window_start > window:
        await conn.execute(delete(login_failures).where(login_failures.c.user_name == user))
        await conn.execute(
            login_failures.insert().values(user_name=user, failures=1, window_start=now)
        )
        return 1
    await conn.execute(
        update(login_failures)
        .where(login_failures.c.user_name == user)
        .values(failures=row.failures + 1)
    )
    return int(row.failures) + 1


async def login_failures_in_window(
    conn: AsyncConnection, user: str, window: float
) -> tuple[int, float]:
    """Failures in the current window and when it ends."""
    row = (
        await conn.execute(select(login_failures).where(login_failures.c.user_name == user))
    ).first()
    if row is None or time.time() - row.window_start > window:
        return 0, 0.0
    return int(row.failures), float(row.window_start) + window


async def clear_login_failures(conn: AsyncConnection, user: str) -> None:
    await conn.execute(delete(login_failures).where(login_failures.c.user_name == user))
