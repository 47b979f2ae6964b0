"""Pull events: buffered in memory, written to the change log in one insert a second.

Pulls change nothing, so unlike pushes they are not written in a transaction of their own: a
registry serves far more pulls than pushes, and a database write on each would cost every pull
a round trip. Handlers call ``record`` (no I/O); a background task appends what gathered, at
most once a second per worker, as ``kind="Pull"`` entries that webhook delivery then sends like
any other. The price is durability: a worker that crashes loses the pull events of its last
second (one that stops gracefully writes them first), and while the database is unreachable at
most ``limit`` pulls wait, newer ones being dropped with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from dockyard.config.model import NotificationsSettings
from dockyard.events.model import BLOB_MEDIA_TYPE, PULL_KIND
from dockyard.metadata import events as event_rows
from dockyard.metadata.engine import Database

FLUSH_INTERVAL = 1.0
BUFFER_LIMIT = 10_000

logger = logging.getLogger(__name__)


class PullRecorder:
    def __init__(
        self,
        db: Database,
        *,
        interval: float = FLUSH_INTERVAL,
        limit: int = BUFFER_LIMIT,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.interval = interval
        self.limit = limit
        self.on_flush = on_flush
        """Called after pulls reach the log: wakes this worker's webhook delivery."""
        self._buffer: list[dict[str, Any]] = []
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, db: Database, settings: NotificationsSettings, on_flush: Callable[[], None] | None
    ) -> PullRecorder | None:
        """A recorder only when some enabled endpoint wants pull events: otherwise pulls would
        fill the change log for no reader."""
        return cls(db, on_flush=on_flush) if settings.wants("pull") else None

    def record(
        self,
        *,
        target: Literal["manifest", "blob"],
        repository: str,
        digest: str,
        size: int,
        media_type: str | None = None,
        tag: str | None = None,
        origin: Mapping[str, Any] | None = None,
    ) -> None:
        """Remember one served pull of a ``target``; ``origin`` is ``Call.origin()``."""
        if len(self._buffer) >= self.limit:
            self._dropped += 1
            return
        payload: dict[str, Any] = {
            "type": target,
            "repository": repository,
            "digest": digest,
            "tag": tag,
            "mediaType": media_type or BLOB_MEDIA_TYPE,
            "size": size,
            "timestamp": time.time(),
            **(origin or {}),
        }
        self._buffer.append(
            {"namespace": repository, "name": digest, "action": "pull", "payload": payload}
        )

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Append what gathered in one insert; returns how many. On a database error the
        pulls stay buffered for the next try."""
        if self._dropped:
            logger.warning("pull events dropped", extra={"dropped": self._dropped})
            self._dropped = 0
        if not self._buffer:
            return 0
        batch, self._buffer = self._buffer, []
        try:
            async with self.db.write() as conn:
                await event_rows.append_many(conn, PULL_KIND, batch)
        except BaseException:
            # Put them back in front, in order; the buffer limit still holds.
            self._buffer = (batch + self._buffer)[: self.limit]
            raise
        if self.on_flush is not None:
            self.on_flush()
        return len(batch)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pull-recorder")

    async def stop(self) -> None:
        """Stop the flusher and write what is left (graceful shutdown loses nothing)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            logger.warning("pull events lost at shutdown", exc_info=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:
                logger.warning(
                    "cannot record pull events", extra={"buffered": self.buffered}, exc_info=True
                )
