"""The epoch of a PostgreSQL database, which replicas on other machines write to as well.

Each process listens on one channel (LISTEN) on a connection of its own, and every cached
write notifies it inside its transaction, which PostgreSQL delivers when, and only if, the
transaction commits. A notification changes the epoch of every listening process: a change
made anywhere reaches the caches of every replica within the time a notification takes
(milliseconds), where SQLite's file epoch is seen at once.

While a process is not listening (at start, or after its connection dropped) there is no epoch,
so nothing is cached; when it listens again the epoch changes, for the notifications it missed.
A connection that dies without a word is found by a query every ``CHECK_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from dockyard.metadata.epoch import SIZE

CHANNEL = "dockyard_epoch"
NOTIFY = f"NOTIFY {CHANNEL}"
RETRY_SECONDS = 1.0
CHECK_SECONDS = 5.0

logger = logging.getLogger(__name__)


class NotifiedEpoch:
    def __init__(self, url: str) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._value = os.urandom(SIZE)
        self._listening = False
        self._task: asyncio.Task[None] | None = None

    def current(self) -> bytes | None:
        if self._listening:
            return self._value
        self._start()
        return None

    def bump(self) -> None:
        self._value = os.urandom(SIZE)

    async def close(self) -> None:
        task, self._task = self._task, None
        self._listening = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start(self) -> None:
        """Listening starts with the first look at the epoch, from within the event loop."""
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._listen(), name="epoch-listener")

    async def _listen(self) -> None:
        while True:
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError):
                logger.warning("cannot listen for metadata changes; retrying", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                await self._listen_on(connection)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                logger.warning("stopped listening for metadata changes; retrying", exc_info=True)
            finally:
                self._listening = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen_on(self, connection: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(CHANNEL, self._notified)
        self.bump()  # for whatever changed while nobody listened
        self._listening = True
        while True:
            try:
                await asyncio.wait_for(lost.wait(), CHECK_SECONDS)
                return  # the connection ended
            except TimeoutError:
                await asyncio.wait_for(connection.fetchval("SELECT 1"), CHECK_SECONDS)

    def _notified(self, *_: Any) -> None:
        self.bump()
