"""PostgreSQL's epoch: a commit in one process reaches the caches of every other through
LISTEN/NOTIFY, and a process that is not listening caches nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from dockyard.metadata.engine import Database

SETTLE_SECONDS = 0.3
"""Far longer than a notification takes on loopback."""


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _listening(db: Database) -> bytes:
    await _until(lambda: db.epoch.current() is not None)
    value = db.epoch.current()
    assert value is not None
    return value


@pytest.fixture
def url(postgres_cluster: Any) -> str:
    """A database of the session's PostgreSQL, whichever pass runs (SQLite has its file epoch)."""
    created: str = postgres_cluster.create_database()
    return created


def test_a_commit_in_another_process_changes_the_epoch(url: str) -> None:
    async def run() -> None:
        reader, writer = Database(url), Database(url)
        try:
            assert reader.epoch.current() is None, "nothing is trusted before it listens"
            before = await _listening(reader)
            async with writer.write() as conn:
                await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                await asyncio.sleep(SETTLE_SECONDS)
                assert reader.epoch.current() == before, "not before the commit"
            await _until(lambda: reader.epoch.current() != before)
        finally:
            await reader.close()
            await writer.close()

    asyncio.run(run())


def test_rolled_back_and_uncached_writes_leave_it(url: str) -> None:
    async def run() -> None:
        reader, writer = Database(url), Database(url)
        try:
            before = await _listening(reader)
            with pytest.raises(RuntimeError):
                async with writer.write() as conn:
                    await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                    raise RuntimeError("rolled back")
            async with writer.write(cached=False) as conn:
                await conn.exec_driver_sql("CREATE TABLE leases (x INTEGER)")
            await asyncio.sleep(SETTLE_SECONDS)
            assert reader.epoch.current() == before
        finally:
            await reader.close()
            await writer.close()

    asyncio.run(run())


def test_a_lost_listener_caches_nothing_until_it_listens_again(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            before = await _listening(db)
            async with db.read() as conn:
                await conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                )
            await _until(lambda: db.epoch.current() is None)
            after = await _listening(db)
            assert after != before, "what changed while nobody listened is not trusted"
        finally:
            await db.close()

    asyncio.run(run())
