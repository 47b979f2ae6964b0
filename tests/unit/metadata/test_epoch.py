"""The metadata epoch: what tells every process that a cached answer may be stale."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.metadata.engine import Database
from dockyard.metadata.epoch import EpochCache, FileEpoch, LocalEpoch


class Unknown:
    """An epoch that cannot be trusted now, as PostgreSQL's while it is not listening."""

    def current(self) -> bytes | None:
        return None

    def bump(self) -> None:
        return None


def test_a_change_in_another_process_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "db-epoch"
    epoch = FileEpoch(path)
    before = epoch.current()
    code = f"from dockyard.metadata.epoch import FileEpoch; FileEpoch({str(path)!r}).bump()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert epoch.current() != before


def test_every_change_gives_a_new_value(tmp_path: Path) -> None:
    first, second = FileEpoch(tmp_path / "e"), FileEpoch(tmp_path / "e")
    seen = {first.current()}
    for epoch in (first, second, first, second):
        epoch.bump()
        assert first.current() == second.current()
        assert first.current() not in seen
        seen.add(first.current())


def test_opening_changes_it(tmp_path: Path) -> None:
    epoch = FileEpoch(tmp_path / "e")
    before = epoch.current()
    FileEpoch(tmp_path / "e")
    assert epoch.current() != before


def test_the_local_epoch() -> None:
    local = LocalEpoch()
    before = local.current()
    local.bump()
    assert local.current() not in (before, None)


def test_a_write_changes_the_epoch_after_it_commits(tmp_path: Path) -> None:
    asyncio.run(_write_and_watch(tmp_path))


async def _write_and_watch(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'dockyard.db'}")
    try:
        assert isinstance(db.epoch, FileEpoch)
        assert (tmp_path / "dockyard.db-epoch").is_file()
        before = db.epoch.current()
        async with db.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            assert db.epoch.current() == before, "not before the commit"
        assert db.epoch.current() != before
    finally:
        await db.close()


def test_the_cache_keeps_answers_until_the_epoch_changes() -> None:
    epoch = LocalEpoch()
    cache: EpochCache[str, int] = EpochCache(epoch, size=2)
    cache.put(cache.snapshot(), "a", 1)
    assert cache.get("a") == 1
    epoch.bump()
    cache.snapshot()
    assert cache.get("a") is None


def test_an_answer_read_while_the_epoch_moved_is_not_kept() -> None:
    epoch = LocalEpoch()
    cache: EpochCache[str, int] = EpochCache(epoch, size=2)
    before = cache.snapshot()
    epoch.bump()  # a commit lands during the read
    cache.snapshot()  # another request sees the new epoch first
    cache.put(before, "a", 1)
    assert cache.get("a") is None


def test_the_cache_is_bounded_and_disabled_without_an_epoch() -> None:
    cache: EpochCache[str, int] = EpochCache(LocalEpoch(), size=2)
    snapshot = cache.snapshot()
    for index, key in enumerate("abc"):
        cache.put(snapshot, key, index)
    assert [cache.get(key) for key in "abc"] == [None, None, 2]
    disabled: EpochCache[str, int] = EpochCache(Unknown(), size=2)
    disabled.put(disabled.snapshot(), "a", 1)
    assert disabled.get("a") is None


def test_without_an_epoch_answers_hold_for_their_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    cache: EpochCache[str, list[int]] = EpochCache(Unknown(), size=4, ttl=1.0)
    cache.put(cache.snapshot(), "a", [])
    assert cache.get("a") == []  # an empty answer is an answer
    clock[0] += 0.9
    assert cache.get("a") == []
    clock[0] += 0.2
    assert cache.get("a") is None
    cache.put(cache.snapshot(), "b", [1])
    cache.clear()
    assert cache.get("b") is None
