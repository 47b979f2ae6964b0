"""SQLite through the lean aiosqlite connections: results, transactions and errors behave as
through aiosqlite, with one thread hand-off per statement of a read, and none for a write."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update

from dockyard.metadata import sqlite as lean_sqlite
from dockyard.metadata.engine import CHECKPOINT_EVERY, AlreadyExistsError, Database, insert_new
from dockyard.metadata.sqlite import LeanConnection

schema = MetaData()
items = Table(
    "items",
    schema,
    Column("id", Integer, primary_key=True),
    Column("name", String, unique=True, nullable=False),
)


@pytest.fixture
def hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions sent to connection threads, in order."""
    sent: list[str] = []
    original = LeanConnection._execute

    async def counted(self: LeanConnection, function: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(function, "__name__", "?"))
        return await original(self, function, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(LeanConnection, "_execute", counted)
    return sent


class LoopTurns:
    """A task that counts the turns the loop gives it (every ``pause`` seconds at most): how
    much else ran while something was awaited or ran in place."""

    def __init__(self, pause: float) -> None:
        self.turns = 0
        self._pause = pause
        self._task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(self._pause)

    def stop(self) -> None:
        self._task.cancel()


async def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'lean.db'}")
    async with db.write() as conn:
        await conn.run_sync(schema.create_all)
    return db


def test_rows_counts_and_returning(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path)
        try:
            async with db.write() as conn:
                created = await conn.execute(
                    insert(items).values(name="a").returning(items.c.id, items.c.name)
                )
                assert created.one() == (1, "a")
                await conn.execute(insert(items), [{"name": "b"}, {"name": "c"}])
                changed = await conn.execute(
                    update(items).where(items.c.id > 1).values(name=items.c.name + "!")
                )
                assert changed.rowcount == 2
            async with db.read() as conn:
                names = (await conn.execute(select(items.c.name).order_by(items.c.id))).scalars()
                assert list(names) == ["a", "b!", "c!"]
                assert (await conn.execute(select(items).where(items.c.id == 9))).first() is None
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_failed_transaction_leaves_nothing_and_the_connection_works(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path)
        try:
            async with db.write() as conn:
                await conn.execute(insert(items).values(name="kept"))
            with pytest.raises(AlreadyExistsError):
                async with db.write() as conn:
                    await conn.execute(insert(items).values(name="dropped"))
                    await insert_new(conn, insert(items).values(name="kept"))
                    raise AssertionError("the duplicate name must fail")
            for _ in range(3):  # every pooled writer connection is usable again
                async with db.write() as conn:
                    await conn.execute(update(items).values(name=items.c.name))
            async with db.read() as conn:
                assert list((await conn.execute(select(items.c.name))).scalars()) == ["kept"]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_savepoint_failure_keeps_the_rest_of_the_transaction(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path)
        try:
            async with db.write() as conn:
                await conn.execute(insert(items).values(name="a"))
                with pytest.raises(AlreadyExistsError):
                    await insert_new(conn, insert(items).values(name="a"))
                await conn.execute(insert(items).values(name="b"))
            async with db.read() as conn:
                names = (await conn.execute(select(items.c.name).order_by(items.c.id))).scalars()
                assert list(names) == ["a", "b"]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_hand_offs(tmp_path: Path, hand_offs: list[str]) -> None:
    """A read costs one per statement and one to end; a write none; the pool's reset after a
    commit is free."""

    async def scenario() -> None:
        db = await _database(tmp_path)
        try:
            async with db.write() as conn:  # the connections are open from here on
                await conn.execute(insert(items).values(name="warm"))
            async with db.read() as conn:
                await conn.execute(select(items.c.id))
            hand_offs.clear()
            async with db.write() as conn:
                await conn.execute(insert(items).values(name="a"))
                await conn.execute(select(items.c.id))
                await conn.execute(update(items).values(name=items.c.name + "!"))
            assert hand_offs == []
            hand_offs.clear()
            async with db.read() as conn:
                await conn.execute(select(items.c.id))
                await conn.execute(select(items.c.name))
            assert hand_offs == ["_run", "_run", "_end"]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_long_write_gives_the_loop_turns(tmp_path: Path) -> None:
    """Statements run in place only until they have taken INLINE_BUDGET; then one goes to the
    thread and other tasks run: a prune of thousands of rows never stalls the worker."""

    async def scenario() -> int:
        db = await _database(tmp_path)
        try:
            async with db.write() as conn:  # warm: the connection is open from here on
                await conn.execute(insert(items).values(name="warm"))
            ticker = LoopTurns(0)
            await asyncio.sleep(0)
            async with db.write() as conn:
                before = ticker.turns
                for index in range(5000):
                    await conn.execute(insert(items).values(name=f"item-{index}"))
                during = ticker.turns - before
            ticker.stop()
            return during
        finally:
            await db.close()

    assert asyncio.run(scenario()) > 2


def test_without_a_budget_every_statement_goes_to_the_thread(
    tmp_path: Path, hand_offs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path)
        try:
            async with db.write() as conn:
                await conn.execute(insert(items).values(name="warm"))
            hand_offs.clear()
            async with db.write() as conn:
                await conn.execute(insert(items).values(name="a"))
                await conn.execute(insert(items).values(name="b"))
                await conn.execute(insert(items).values(name="c"))
            assert hand_offs == ["_run", "_run", "_run"]
        finally:
            await db.close()

    monkeypatch.setattr(lean_sqlite, "INLINE_BUDGET", 0.0)
    asyncio.run(scenario())


def test_a_write_lock_held_elsewhere_is_waited_for_on_the_thread(
    tmp_path: Path, hand_offs: list[str]
) -> None:
    """Another program writing holds the lock: BEGIN waits for it on the thread, and the loop
    serves other tasks meanwhile."""

    async def scenario() -> int:
        db = await _database(tmp_path)
        other = sqlite3.connect(tmp_path / "lean.db", isolation_level=None)
        try:
            async with db.write() as conn:
                await conn.execute(insert(items).values(name="warm"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO items (name) VALUES ('other')")
            ticker = LoopTurns(0.01)
            hand_offs.clear()
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, other.execute, "COMMIT")
            async with db.write() as conn:
                await conn.execute(insert(items).values(name="mine"))
            ticker.stop()
            assert hand_offs == ["_run"]
            async with db.read() as conn:
                names = (await conn.execute(select(items.c.name).order_by(items.c.id))).scalars()
                assert list(names) == ["warm", "other", "mine"]
            return ticker.turns
        finally:
            other.close()
            await db.close()

    assert asyncio.run(scenario()) >= 10


def test_the_wal_is_checkpointed_on_a_thread(tmp_path: Path) -> None:
    """Writers never checkpoint; every CHECKPOINT_EVERY commits one runs on a thread, so the
    WAL starts over instead of growing with every write."""

    async def scenario() -> int:
        db = await _database(tmp_path)
        try:
            for index in range(CHECKPOINT_EVERY * 10):
                async with db.write() as conn:
                    await conn.execute(insert(items).values(name=f"item-{index}"))
                if index % 50 == 0:
                    await asyncio.sleep(0.01)  # the checkpoint's thread gets its turn
            return (tmp_path / "lean.db-wal").stat().st_size
        finally:
            await db.close()

    page = 4096
    assert asyncio.run(scenario()) < CHECKPOINT_EVERY * 4 * page
