"""Leases: one process of the cluster at a time does each background job (webhook delivery to an
endpoint, garbage collection, scheduled imports and pruning), the holder of the job's lease row.

A holder renews its lease well before it lapses and acts only while ``remaining()`` says it
still holds it, with a margin for clock skew between replicas; one that stops releases it, so
another takes over at once instead of when it lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from dockyard.metadata import events as event_rows
from dockyard.metadata.engine import Database

LEASE_TTL = 10.0
LEASE_RENEW_EVERY = 3.0
LEASE_ACQUIRE_EVERY = 1.0
LEASE_MARGIN = 2.0
"""A holder stops acting this long before its lease could lapse: room for clock skew between
replicas and for a pause between a check and an action."""

logger = logging.getLogger(__name__)


def process_holder() -> str:
    """This process as a lease holder: distinct across machines, processes and restarts."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


class Lease:
    """A named lease in the database, kept by a background loop while this process runs."""

    def __init__(
        self,
        db: Database,
        name: str,
        holder: str,
        *,
        ttl: float = LEASE_TTL,
        renew_every: float = LEASE_RENEW_EVERY,
        acquire_every: float = LEASE_ACQUIRE_EVERY,
    ) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.renew_every = renew_every
        self.acquire_every = acquire_every
        self._valid_until = 0.0

    def remaining(self) -> float:
        """Seconds this process may still act as the holder (0 when it is not)."""
        return max(0.0, self._valid_until - time.monotonic())

    @property
    def held(self) -> bool:
        return self.remaining() > 0

    async def renew(self) -> bool:
        """Take or extend the lease; a database error leaves what remains of it to run out."""
        started = time.monotonic()
        try:
            async with self.db.read() as conn:
                other = await event_rows.lease_holder(conn, self.name, time.time())
            if other is not None and other != self.holder:
                got = False
            else:
                async with self.db.write(cached=False) as conn:
                    got = await event_rows.take_lease(conn, self.name, self.holder, self.ttl)
        except Exception:
            logger.warning("cannot renew lease", extra={"lease": self.name}, exc_info=True)
            return self.held
        was_held = self.held
        self._valid_until = started + self.ttl - LEASE_MARGIN if got else 0.0
        if got and not was_held:
            logger.info("lease taken", extra={"lease": self.name, "holder": self.holder})
        return got

    async def keep(self) -> None:
        while True:
            held = await self.renew()
            await asyncio.sleep(self.renew_every if held else self.acquire_every)

    async def release(self) -> None:
        was_held, self._valid_until = self.held, 0.0
        if not was_held:
            return
        try:
            async with self.db.write(cached=False) as conn:
                await event_rows.release_lease(conn, self.name, self.holder)
        except Exception:
            logger.warning("cannot release lease", extra={"lease": self.name}, exc_info=True)


class LeasedLoop:
    """A background task of this process that hands its lease over when it stops."""

    def __init__(self, lease: Lease, name: str) -> None:
        self.lease = lease
        self._name = name
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.lease.release()

    async def _run(self) -> None:
        raise NotImplementedError
