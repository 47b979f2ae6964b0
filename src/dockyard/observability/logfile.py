"""The registry's log kept in a file as well as on stderr, for ``dockyard logs``.

``dockyard serve`` points its stderr, which every worker inherits, at a pipe; one thread of the
supervisor copies what comes through to the real stderr and to ``<data_dir>/logs/registry.log``,
which it rotates to ``registry.log.1`` past ``MAX_BYTES``. With one writer no two processes race
on a rotation, and what a crashing worker prints is kept too. Readers find the file by
``DOCKYARD_LOG_FILE``, which the supervisor sets for its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

LOG_FILE_ENV = "DOCKYARD_LOG_FILE"
MAX_BYTES = 16 << 20
CHUNK = 1 << 16
FOLLOW_POLL_SECONDS = 0.25


def previous(path: Path) -> Path:
    return path.with_name(path.name + ".1")


class StderrTee:
    """Copies this process's stderr, and its children's, to a rotated file."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._saved = -1
        self._read = -1
        self._file: BinaryIO | None = None
        self._thread = threading.Thread(target=self._copy, name="log-tee", daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._file = self._open()
        self._read, write = os.pipe()
        sys.stderr.flush()
        self._saved = os.dup(2)
        os.dup2(write, 2)
        os.close(write)
        self._thread.start()

    def stop(self) -> None:
        """Give stderr back; the copy ends when the last worker's end of the pipe closes."""
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        self._thread.join(5)
        if not self._thread.is_alive():
            os.close(self._saved)

    def _open(self) -> BinaryIO:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab")

    def _copy(self) -> None:
        while chunk := os.read(self._read, CHUNK):
            with contextlib.suppress(OSError):
                _write_all(self._saved, chunk)
            with contextlib.suppress(OSError):  # a full disk: stderr still has it
                self._keep(chunk)
        os.close(self._read)
        if self._file is not None:
            self._file.close()

    def _keep(self, chunk: bytes) -> None:
        if self._file is None:
            self._file = self._open()
        if self._file.tell() + len(chunk) > self.max_bytes:
            self._file.close()
            self._file = None
            os.replace(self.path, previous(self.path))
            self._file = self._open()
        self._file.write(chunk)
        self._file.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def tail(path: Path, lines: int | None) -> tuple[bytes, int]:
    """The last ``lines`` lines (all when None) and the offset in the current file to follow
    from; the rotated file is read too when the current one has fewer."""
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        current = b""
    text = current
    if lines is None or current.count(b"\n") < lines:
        with contextlib.suppress(FileNotFoundError):
            text = previous(path).read_bytes() + current
    if lines is not None:
        kept = text.splitlines(keepends=True)
        text = b"".join(kept[-lines:]) if lines > 0 else b""
    return text, len(current)


async def follow(path: Path, offset: int) -> AsyncIterator[bytes]:
    """What is appended to the file from ``offset`` on, across rotations, until cancelled."""
    inode = _inode(path)
    while True:
        now = _inode(path)
        if now != inode:  # rotated: the new file is read from its start
            inode, offset = now, 0
        with contextlib.suppress(FileNotFoundError), path.open("rb") as file:
            file.seek(offset)
            chunk = file.read(CHUNK)
            if chunk:
                offset += len(chunk)
                yield chunk
                continue
        await asyncio.sleep(FOLLOW_POLL_SECONDS)


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return 0
