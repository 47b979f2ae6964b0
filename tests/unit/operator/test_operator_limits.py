"""The request limiter: slots, the queue, the wait, and hand-over in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.operator.limits import Limit, RequestLimiter

pytestmark = pytest.mark.anyio


async def test_no_limit_admits_everything() -> None:
    limiter = RequestLimiter(Limit())
    assert all([await limiter.acquire() for _ in range(100)])


async def test_full_with_no_queue_refuses_at_once() -> None:
    limiter = RequestLimiter(Limit(max_running=2))
    assert await limiter.acquire() and await limiter.acquire()
    assert not await limiter.acquire()
    limiter.release()
    assert await limiter.acquire()


async def test_a_waiter_gets_the_slot_a_request_frees() -> None:
    limiter = RequestLimiter(Limit(max_running=1, max_in_queue=2))
    assert await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not await limiter.acquire()  # the queue is full too
    limiter.release()
    assert await first and not second.done()
    limiter.release()
    assert await second
    assert limiter.running == 1


async def test_the_wait_is_bounded() -> None:
    limiter = RequestLimiter(Limit(max_running=1, max_in_queue=1, max_wait=0.05))
    assert await limiter.acquire()
    assert not await limiter.acquire()
    limiter.release()
    assert limiter.running == 0
    assert await limiter.acquire()


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    limiter = RequestLimiter(Limit(max_running=1, max_in_queue=1))
    assert await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    assert limiter.running == 0
