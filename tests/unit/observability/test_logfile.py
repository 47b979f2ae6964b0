"""The kept log: its tail across a rotation, and what following it yields."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.observability.logfile import follow, previous, tail


def test_tail_reads_the_rotated_file_when_the_current_one_is_short(tmp_path: Path) -> None:
    path = tmp_path / "registry.log"
    previous(path).write_bytes(b"one\ntwo\n")
    path.write_bytes(b"three\n")
    assert tail(path, 2) == (b"two\nthree\n", 6)
    assert tail(path, 1) == (b"three\n", 6)
    assert tail(path, 0) == (b"", 6)
    assert tail(path, None) == (b"one\ntwo\nthree\n", 6)
    assert tail(tmp_path / "none.log", 5) == (b"", 0)


@pytest.mark.anyio
async def test_follow_yields_what_is_appended_and_the_new_file_after_a_rotation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.log"
    path.write_bytes(b"old\n")
    lines = follow(path, 4)
    with path.open("ab") as file:
        file.write(b"new\n")
    assert await asyncio.wait_for(anext(lines), 5) == b"new\n"
    path.rename(previous(path))
    path.write_bytes(b"rotated\n")
    assert await asyncio.wait_for(anext(lines), 5) == b"rotated\n"
