"""Writers of an SQLite database take turns across processes, and a writer cancelled while it
waits gives its turn back."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import time
from pathlib import Path

from dockyard.metadata.engine import WriterTurns

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(lock_file: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that holds the turn for ``seconds``."""
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock_file), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdout.readline() == "held\n"
    return other


async def cancel_a_waiter(turns: WriterTurns) -> None:
    """A writer that waits for its turn (another process holds it) and is cancelled."""

    async def write() -> None:
        async with turns.turn():
            await asyncio.sleep(60)

    waiting = asyncio.create_task(write())
    await asyncio.sleep(0.1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)


def test_a_writer_waits_for_another_process(tmp_path: Path) -> None:
    lock_file = tmp_path / "db-writer.lock"
    other = hold(lock_file, 0.6)

    async def write() -> float:
        began = time.monotonic()
        async with WriterTurns(lock_file).turn():
            return time.monotonic() - began

    try:
        assert asyncio.run(write()) >= 0.4
    finally:
        other.wait(timeout=30)


def test_a_cancelled_waiter_gives_its_turn_back(tmp_path: Path) -> None:
    lock_file = tmp_path / "db-writer.lock"
    other = hold(lock_file, 0.5)

    async def scenario() -> None:
        turns = WriterTurns(lock_file)
        await cancel_a_waiter(turns)
        await asyncio.to_thread(other.wait, 30)
        await asyncio.sleep(0.2)  # the thread takes the lock once the other process is done
        async with asyncio.timeout(5):
            async with turns.turn():
                pass
        # ... and another process gets it too (a turn never given back would time out here).
        again = subprocess.run(
            [sys.executable, "-c", HOLD, str(lock_file), "0"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        assert again.stdout == "held\n"

    asyncio.run(scenario())


def test_turns_within_one_process_are_one_at_a_time() -> None:
    turns = WriterTurns(None)
    inside = 0
    most = 0

    async def write() -> None:
        nonlocal inside, most
        async with turns.turn():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    async def scenario() -> None:
        await asyncio.gather(*(write() for _ in range(10)))

    asyncio.run(scenario())
    assert most == 1


def test_a_free_turn_is_taken_without_a_thread(tmp_path: Path) -> None:
    class NoThreads(concurrent.futures.ThreadPoolExecutor):
        def submit(self, *args: object, **kwargs: object) -> concurrent.futures.Future[object]:
            raise AssertionError("a free turn needs no thread")

    async def write() -> None:
        asyncio.get_running_loop().set_default_executor(NoThreads())
        turns = WriterTurns(tmp_path / "db-writer.lock")
        for _ in range(3):
            async with turns.turn():
                pass

    asyncio.run(write())
    other = hold(tmp_path / "db-writer.lock", 0.0)  # and it was given back
    other.wait(timeout=30)


def test_a_cancelled_waiters_stale_turn_ends_before_the_next_one_begins(tmp_path: Path) -> None:
    """The thread of a cancelled waiter takes the lock later and gives it back at once; the next
    writer of the process must not begin before, or that give-back would end its turn too."""
    lock_file = tmp_path / "db-writer.lock"
    other = hold(lock_file, 0.5)
    held_at = time.monotonic()

    async def scenario() -> None:
        turns = WriterTurns(lock_file)
        await cancel_a_waiter(turns)
        async with asyncio.timeout(10), turns.turn():
            assert time.monotonic() - held_at >= 0.45, "began while another process held it"
            await asyncio.sleep(0.2)  # long after the stale turn was given back
            # Still ours: another process cannot take it now.
            probe = subprocess.run(
                [sys.executable, "-c", PROBE, str(lock_file)],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            assert probe.stdout == "busy\n"

    asyncio.run(scenario())
    other.wait(10)


PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""
