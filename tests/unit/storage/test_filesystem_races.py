"""A tree deleted while a writer puts or moves a file into it, as garbage collection deletes a
blob's directory while a push puts the same blob back: neither side fails. What a crashed write
left behind goes at the next start."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from dockyard.storage.driver import PathNotFoundError
from dockyard.storage.filesystem import STAGING, STALE_SECONDS, TEMP_PREFIX, FilesystemDriver

ROUNDS = 300
DELETE_PAUSE = 0.002
"""Between one delete and the next: collections are passes apart, not a tight loop (one that
deletes without pause can keep a writer from ever finishing)."""
BLOB_DIR = "/docker/registry/v2/blobs/sha256/ab/abcd"


async def _race(driver: FilesystemDriver, write: str) -> list[BaseException]:
    errors: list[BaseException] = []

    async def writer() -> None:
        for round_ in range(ROUNDS):
            try:
                if write == "put":
                    await driver.put_content(f"{BLOB_DIR}/data", b"x" * 64)
                else:
                    source = f"/uploads/{round_}"
                    await driver.put_content(source, b"y" * 64)
                    await driver.move(source, f"{BLOB_DIR}/data")
            except Exception as exc:
                errors.append(exc)

    async def deleter() -> None:
        for _ in range(ROUNDS):
            try:
                await driver.delete(BLOB_DIR)
            except PathNotFoundError:
                pass
            except Exception as exc:
                errors.append(exc)
            await asyncio.sleep(DELETE_PAUSE)

    await asyncio.gather(writer(), deleter())
    return errors


def test_puts_and_deletes_of_one_directory_at_once_never_fail(tmp_path: Path) -> None:
    assert asyncio.run(_race(FilesystemDriver(str(tmp_path)), "put")) == []


def test_moves_and_deletes_of_one_directory_at_once_never_fail(tmp_path: Path) -> None:
    assert asyncio.run(_race(FilesystemDriver(str(tmp_path)), "move")) == []


def test_writes_a_crash_left_in_staging_are_removed_at_start(tmp_path: Path) -> None:
    staging = tmp_path / STAGING
    staging.mkdir()
    crashed, writing = staging / f"{TEMP_PREFIX}crashed", staging / f"{TEMP_PREFIX}writing"
    crashed.write_bytes(b"half a blob")
    writing.write_bytes(b"a blob being written")
    old = time.time() - STALE_SECONDS - 60
    os.utime(crashed, (old, old))
    driver = FilesystemDriver(str(tmp_path))
    assert not crashed.exists()
    assert writing.exists()
    assert asyncio.run(driver.list("/")) == [], "the staging directory is never listed"
