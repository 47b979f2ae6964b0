"""The filesystem driver answers ``stat`` on threads of its own, so a push holding the database's
writer turn never waits behind other requests' writes and syncs in the shared thread pool."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from dockyard.storage.filesystem import FilesystemDriver


def test_stat_answers_while_every_shared_thread_is_busy(tmp_path: Path) -> None:
    driver = FilesystemDriver(str(tmp_path))
    release = threading.Event()

    async def scenario() -> int:
        await driver.put_content("/blob/data", b"12345")
        loop = asyncio.get_running_loop()
        busy = [loop.run_in_executor(None, release.wait) for _ in range(64)]
        try:
            info = await asyncio.wait_for(driver.stat("/blob/data"), timeout=10)
        finally:
            release.set()
            await asyncio.gather(*busy)
        return info.size

    assert asyncio.run(scenario()) == 5
