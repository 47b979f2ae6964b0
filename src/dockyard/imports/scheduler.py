"""Scheduled imports: spec tags from a ``DockerImage`` with ``importPolicy.scheduled`` are
imported in the background: at once when the tag is new or its spec changed (a stream created
or edited through the API), then again every interval. Tags marked ``reference`` are only
pointers and are never imported. (Other external spec tags are imported when they are set
through ``imagestreamtags`` or an ``ImageStreamImport``, never behind the user's back.)

One process of the cluster does it at a time: the holder of the ``imports/scheduled`` lease
(the lease mechanism of webhook delivery). The outcome lands in the tag's status (a new image
and tag event, or an ``ImportSuccess: False`` condition).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from dockyard.events.leases import Lease, process_holder
from dockyard.imagestreams import importstatus
from dockyard.imports.importer import Importer
from dockyard.metadata import streams as stream_rows
from dockyard.metadata.engine import Database

logger = logging.getLogger(__name__)
LEASE = "imports/scheduled"
MAX_TICK = 30.0


class ImportScheduler:
    def __init__(
        self, db: Database, importer: Importer, interval: float, holder: str | None = None
    ) -> None:
        self.db = db
        self.importer = importer
        self.interval = interval
        self.tick = min(interval / 4, MAX_TICK)
        self.lease = Lease(db, LEASE, holder or process_holder())
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.lease.keep(), name=f"lease {LEASE}"),
            asyncio.create_task(self._loop(), name="scheduled imports"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.lease.release()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            if not self.lease.held:
                continue
            try:
                await self.run_once()
            except Exception:
                logger.exception("scheduled imports failed")

    async def run_once(self) -> int:
        """Import every scheduled tag that is due; returns how many were tried."""
        tried = 0
        for namespace, stream, entry in await self.due():
            if not self.lease.held:
                break
            await self.importer.reimport(namespace, stream, entry)
            tried += 1
        return tried

    async def due(self) -> list[tuple[str, str, dict[str, Any]]]:
        now = time.time()
        found = []
        async with self.db.read() as conn:
            for row in await stream_rows.list_in(conn, None):
                namespace, _, stream = row.name.partition("/")
                external = [
                    entry
                    for entry in (row.spec or {}).get("tags") or []
                    if (entry.get("from") or {}).get("kind") == "DockerImage"
                    and (entry.get("importPolicy") or {}).get("scheduled")
                    and not entry.get("reference")
                ]
                if not external:
                    continue
                records = await importstatus.of_stream(conn, namespace, stream)
                for entry in external:
                    if self._is_due(entry, records.get(entry["name"]), now):
                        found.append((namespace, stream, entry))
        return found

    def _is_due(self, entry: dict[str, Any], record: dict[str, Any] | None, now: float) -> bool:
        if record is None:
            return True  # never tried
        if int(entry.get("generation") or 0) > int(record.get("generation") or 0):
            return True  # the spec changed since
        return now - float(record.get("lastAttempt") or 0) >= self.interval
