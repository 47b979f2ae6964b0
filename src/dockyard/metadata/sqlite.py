"""aiosqlite connections that cost one thread hand-off per statement, or none inside a write.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes, and aiosqlite sends
each of those to the connection's thread and back. A hand-off is a queue put, a thread wake-up,
a GIL hand-over and a loop wake-up: on a busy machine it costs far more than the indexed query
it carries. Here a statement executes and fetches all its rows in one hand-off and brings back
what the cursor reports; ``BEGIN`` travels with the transaction's first statement; ``COMMIT``
and ``ROLLBACK`` outside a transaction (the pool's reset of a connection that has committed)
cost nothing.

Writer connections (``connect_writer``) go further and run a whole write transaction on the
loop. Its statements only read cached pages and change the connection's memory, and its commit
only appends to the WAL, unsynced (``synchronous=NORMAL``; the automatic checkpoint, which
syncs, is off on writers and ``metadata.engine`` checkpoints on a thread instead), so they take
microseconds, while each hand-off would give the loop to other requests and keep every other
writer of the machine waiting for the lock. ``BEGIN IMMEDIATE`` runs in place when the write
lock is free, as it is under the writer's turn; when it is not (another program writing), it
goes to the thread, where it may wait. A transaction of many statements (a prune) or slow ones
(pages read from disk) hands a statement to the thread, giving the loop a turn, each time those
run in place have taken ``INLINE_BUDGET``; and only a database in WAL mode runs any in place,
since without WAL a statement may have to wait for readers.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")

INLINE_BUDGET = 0.002
"""Seconds of statements run in place before the loop gets a turn."""
BUSY_TIMEOUT_MS = 30000
"""How long a statement waits for a lock another connection holds (on a thread, never here)."""


def connect(database: str, **kwargs: Any) -> LeanConnection:
    """``aiosqlite.connect`` with lean cursors; SQLAlchemy takes it as ``async_creator_fn``."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    lean = LeanConnection(connector, iter_chunk_size=64)
    lean._thread.daemon = True  # as SQLAlchemy makes its own aiosqlite threads
    return lean


def connect_writer(database: str, **kwargs: Any) -> LeanConnection:
    """``connect`` for write transactions: their statements after ``BEGIN`` run on the loop."""
    lean = connect(database, **{**kwargs, "check_same_thread": False})
    lean.inline = True
    return lean


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a statement left behind, read on the connection's thread."""

    rows: list[Any]
    description: Sequence[Any] | None
    rowcount: int
    lastrowid: int | None
    in_transaction: bool


def _run(
    conn: sqlite3.Connection, begin: str | None, sql: str, parameters: Any, many: bool
) -> _Outcome:
    if begin is not None:
        conn.execute(begin)
    cursor = conn.executemany(sql, parameters) if many else conn.execute(sql, parameters)
    rows = cursor.fetchall() if cursor.description else []
    outcome = _Outcome(
        rows, cursor.description, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    )
    cursor.close()
    return outcome


def _begin_at_once(conn: sqlite3.Connection, begin: str) -> bool:
    """``begin`` if it need not wait; False when another connection holds the lock."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute(begin)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
            return False
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return True


def _end(conn: sqlite3.Connection, commit: bool) -> bool:
    try:
        if commit:
            conn.commit()
        else:
            conn.rollback()
    finally:
        in_transaction = conn.in_transaction
    return in_transaction


class LeanConnection(aiosqlite.Connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin: str | None = None
        self._in_transaction = False
        self._spent = 0.0
        self.inline = False

    def cursor(self) -> LeanCursor:  # type: ignore[override]
        return LeanCursor(self)

    async def run(self, sql: str, parameters: Any, many: bool = False) -> _Outcome | None:
        """Execute on the connection's thread (or, inside a writer's transaction, right here);
        a bare ``BEGIN`` waits for the next statement."""
        if not many and not parameters and sql.lstrip()[:5].upper() == "BEGIN":
            self._begin = sql
            return None
        begin, self._begin = self._begin, None
        if begin is not None and self.inline and _begin_at_once(self._conn, begin):
            begin, self._spent, self._in_transaction = None, 0.0, True
        here = (
            self.inline and self._in_transaction and begin is None and self._spent < INLINE_BUDGET
        )
        try:
            if here:
                started = time.perf_counter()
                try:
                    outcome = _run(self._conn, None, sql, parameters, many)
                finally:
                    self._spent += time.perf_counter() - started
            else:
                self._spent = 0.0
                outcome = await self._call(_run, self._conn, begin, sql, parameters, many)
        except BaseException:
            if here:
                self._in_transaction = self._conn.in_transaction
            else:
                self._in_transaction = await self._call(_in_transaction, self._conn)
            raise
        self._in_transaction = outcome.in_transaction
        return outcome

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the connection's thread."""
        result: T = await self._execute(function, *args)  # type: ignore[no-untyped-call]
        return result

    async def commit(self) -> None:
        await self._finish(commit=True)

    async def rollback(self) -> None:
        await self._finish(commit=False)

    async def _finish(self, commit: bool) -> None:
        self._begin = None  # a transaction that ran no statement has nothing to end
        if self._in_transaction and self.inline:
            try:
                self._in_transaction = _end(self._conn, commit)
            except BaseException:
                self._in_transaction = self._conn.in_transaction
                raise
        elif self._in_transaction:
            try:
                self._in_transaction = await self._call(_end, self._conn, commit)
            except BaseException:
                self._in_transaction = await self._call(_in_transaction, self._conn)
                raise


def _in_transaction(conn: sqlite3.Connection) -> bool:
    return conn.in_transaction


class LeanCursor:
    """The cursor SQLAlchemy's adapter drives: rows come with the statement."""

    arraysize = 1

    def __init__(self, conn: LeanConnection) -> None:
        self._conn = conn
        self._outcome: _Outcome | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> LeanCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> LeanCursor:
        return self._take(await self._conn.run(sql, () if parameters is None else parameters))

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> LeanCursor:
        return self._take(await self._conn.run(sql, parameters, many=True))

    def _take(self, outcome: _Outcome | None) -> LeanCursor:
        self._outcome = outcome
        self._rows = [] if outcome is None else outcome.rows
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []

    @property
    def description(self) -> Sequence[Any] | None:
        return None if self._outcome is None else self._outcome.description

    @property
    def rowcount(self) -> int:
        return -1 if self._outcome is None else self._outcome.rowcount

    @property
    def lastrowid(self) -> int | None:
        return None if self._outcome is None else self._outcome.lastrowid
