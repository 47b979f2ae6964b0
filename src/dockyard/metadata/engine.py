"""Engines, transactions and migrations.

SQLite serves several worker processes at once: WAL journal, a busy timeout, and write
transactions that take the write lock up front (``BEGIN IMMEDIATE``) so two writers never
deadlock upgrading a read lock; writers take turns (an asyncio lock within a process, an flock
across the processes of the machine) instead of waiting in SQLite's busy handler, which sleeps
up to 100 ms between tries and so turns a few concurrent pushes into seconds of waiting.
PostgreSQL needs none of that. Every write changes the database's epoch (``metadata.epoch``)
once it has committed; on PostgreSQL it also notifies every other process
(``metadata.notified``).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dockyard.metadata import sqlite as lean_sqlite
from dockyard.metadata.epoch import Epoch, FileEpoch, LocalEpoch
from dockyard.metadata.notified import NOTIFY, NotifiedEpoch

MIGRATIONS = Path(__file__).parent / "migrations"
CHECKPOINT_EVERY = 200
"""Commits of a process between two WAL checkpoints (a few pages each: the WAL stays a few MiB)."""

logger = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str, begin: str, pool_size: int, writer: bool = False) -> AsyncEngine:
    # Each aiosqlite connection is a thread: keep enough open for the worker's concurrency
    # rather than opening and closing overflow connections under load.
    engine = create_async_engine(
        url,
        connect_args={
            "timeout": 30,
            "async_creator_fn": lean_sqlite.connect_writer if writer else lean_sqlite.connect,
        },
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides the lock mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        if writer and cursor.fetchone()[0].lower() != "wal":
            dbapi_connection.driver_connection.inline = False  # see metadata.sqlite
        elif writer:  # its commits stay on the loop: WalCheckpoints checkpoints on a thread
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={lean_sqlite.BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    return engine


class WriterTurns:
    """Whose turn it is to write to an SQLite database: one coroutine of a process at a time,
    and, with a lock file, one process of the machine at a time."""

    def __init__(self, lock_file: Path | None) -> None:
        self._local = asyncio.Lock()
        self._fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600) if lock_file else None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self._local.acquire()
        fd = self._fd
        if fd is not None and not _try_lock(fd):  # another process's: wait for it on a thread
            taken = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
            try:
                await asyncio.shield(taken)
            except asyncio.CancelledError:
                # The thread still takes the lock: the turn ends once it has, so the next
                # writer of this process (on the same open file, where flock always succeeds)
                # cannot begin before this stale turn is given back.
                taken.add_done_callback(lambda done: self._give_back(done, fd))
                raise
            except BaseException:
                self._local.release()
                raise
        try:
            yield
        finally:
            if fd is not None:
                _unlock(fd)
            self._local.release()

    def _give_back(self, taken: asyncio.Future[None], fd: int) -> None:
        if not taken.cancelled() and taken.exception() is None:
            _unlock(fd)
        self._local.release()


def _try_lock(fd: int) -> bool:
    """Take the lock if it is free, without waiting (and without a thread)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)


class WalCheckpoints:
    """Copies the WAL back into an SQLite database on a thread, every ``CHECKPOINT_EVERY``
    commits of this process.

    The writers' own checkpoint is off: it runs inside a commit, syncs the disk, and would stall
    the loop that writers commit on (``metadata.sqlite``). This one takes the writer's turn, so
    that it copies the whole WAL (which then starts over) rather than chasing writers that keep
    adding to it; reads go on meanwhile, and writers wait the few milliseconds it takes, as they
    waited for the commit that checkpointed before.
    """

    def __init__(self, path: str, turns: WriterTurns) -> None:
        self._path = path
        self._turns = turns
        self._commits = 0
        self._running: asyncio.Future[None] | None = None
        self._conn: sqlite3.Connection | None = None

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and (self._running is None or self._running.done()):
            self._commits = 0
            self._running = asyncio.ensure_future(self._checkpoint_in_turn())
            self._running.add_done_callback(_log_failure)

    async def _checkpoint_in_turn(self) -> None:
        async with self._turns.turn():
            await asyncio.to_thread(self._checkpoint)

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout={lean_sqlite.BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def close(self) -> None:
        if self._running is not None:
            await asyncio.wait([self._running])
        if self._conn is not None:
            self._conn.close()


def _log_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("cannot checkpoint the SQLite WAL", exc_info=done.exception())


class Database:
    """The process's connections: ``read()`` for queries, ``write()`` for one atomic change."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.epoch: Epoch
        self._turns: WriterTurns | None = None
        self._checkpoints: WalCheckpoints | None = None
        self._notified: NotifiedEpoch | None = None
        if is_sqlite(url):
            self._reader = _sqlite_engine(url, "BEGIN", pool_size=16)
            self._writer = _sqlite_engine(url, "BEGIN IMMEDIATE", pool_size=2, writer=True)
            database = make_url(url).database
            if database and database != ":memory:":
                self.epoch = FileEpoch(Path(f"{database}-epoch"))
                self._turns = WriterTurns(Path(f"{database}-writer.lock"))
                self._checkpoints = WalCheckpoints(database, self._turns)
            else:
                self.epoch = LocalEpoch()
                self._turns = WriterTurns(None)
        else:
            self._reader = self._writer = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
            self.epoch = self._notified = NotifiedEpoch(url)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self, *, cached: bool = True) -> AsyncIterator[AsyncConnection]:
        """One transaction; ``cached=False`` for rows no cache holds (leases), so that
        writing them leaves every worker's caches alone."""
        try:
            if self._turns is None:
                async with self._writer.begin() as conn:
                    yield conn
                    if cached and self._notified is not None:
                        await conn.exec_driver_sql(NOTIFY)
            else:
                async with self._turns.turn(), self._writer.begin() as conn:
                    yield conn
                if self._checkpoints is not None:
                    self._checkpoints.committed()
        finally:
            if cached:
                self.epoch.bump()

    async def close(self) -> None:
        if self._notified is not None:
            await self._notified.close()
        if self._checkpoints is not None:
            await self._checkpoints.close()
        await self._reader.dispose()
        if self._writer is not self._reader:
            await self._writer.dispose()


class AlreadyExistsError(Exception):
    """A row with that key exists; the service layer says what of."""


async def insert_new(conn: AsyncConnection, statement: Any) -> None:
    """Run an INSERT in a savepoint; a key that exists raises ``AlreadyExistsError``."""
    try:
        async with conn.begin_nested():
            await conn.execute(statement)
    except IntegrityError as exc:
        raise AlreadyExistsError(str(exc.orig)) from exc


def insert_ignore(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT that skips rows whose key exists, in the connection's dialect."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing()


def insert_or_refresh(conn: AsyncConnection, table: Table, keys: list[str], refresh: str) -> Any:
    """An INSERT that, where the key exists, sets ``refresh`` from the new row instead.

    The update locks the row, so a concurrent delete guarded on that column (garbage
    collection, pruning) waits and then sees the new value (PostgreSQL re-reads it).
    """
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={refresh: statement.excluded[refresh]}
    )


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(url: str) -> None:
    """``migrate`` for callers already inside an event loop."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def migrate(url: str) -> None:
    """Bring the schema to the newest migration; run once before workers start."""
    # Alembic narrates every plugin it loads at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if is_sqlite(url):
        path = make_url(url).database
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(upgrade(url))


def ordered(conn: AsyncConnection, column: Any) -> Any:
    """A text column compared byte-wise on every database, so pagination order is the same."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column
