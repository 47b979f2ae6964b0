"""``requests.read`` / ``requests.write``: at most N requests at once, a bounded queue with a
bounded wait, then a refusal, as OpenShift's registry limits them (``maxconnections``).

A limiter belongs to one worker process, so the limits hold per worker, as they hold per pod in
OpenShift. A slot is handed straight from a finishing request to the oldest waiter, so nobody
who waited is overtaken by a newcomer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    max_running: int = 0
    """0: no limit, and nothing queues."""
    max_in_queue: int = 0
    max_wait: float = 0.0
    """Seconds a request may wait in the queue; 0: as long as it takes."""


class RequestLimiter:
    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> bool:
        """Take a slot, waiting in the queue if there is room; False: refuse the request."""
        limit = self.limit
        if limit.max_running == 0 or (self.running < limit.max_running and not self._waiters):
            self.running += 1
            return True
        if len(self._waiters) >= limit.max_in_queue:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), limit.max_wait or None)
        except TimeoutError:
            return self._leave(waiter)
        except asyncio.CancelledError:
            if self._leave(waiter):
                self.release()
            raise
        return True

    def _leave(self, waiter: asyncio.Future[None]) -> bool:
        """Stop waiting; True if a slot was handed over just as the wait ended."""
        if waiter.done() and not waiter.cancelled():
            return True
        waiter.cancel()
        self._waiters.remove(waiter)
        return False

    def release(self) -> None:
        """Give the slot to the oldest waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1
