"""Files under a root directory: the default driver, and the one behind ``pvc`` storage.

Every system call runs in a worker thread (``asyncio.to_thread``) so a slow disk never stalls the
event loop; data moves in 1 MiB pieces so the thread hand-off costs little per byte. ``stat`` has
threads of its own: it is what a push asks while it holds the database's writer turn, and it
must not queue behind other requests' writes and syncs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import io
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress

from dockyard.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    InvalidPathError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
)

CHUNK_SIZE = 1 << 20
STAT_THREADS = 2
# put_content writes a hidden sibling first; ``list`` skips these so a reader never sees one.
TEMP_PREFIX = ".dockyard-tmp-"
STAGING = TEMP_PREFIX + "staging"
"""Where put_content writes before it renames into place: the root's, on the same file system."""
STALE_SECONDS = 3600
"""Age past which a file in the staging directory is a crashed write's, removed at start."""
DIRECTORY_ATTEMPTS = 5
"""Tries of a write whose directory a concurrent delete keeps removing, and of that delete."""
_COMPONENT_RE = re.compile(r"[A-Za-z0-9._-]+")
# A missing file, or a file where a directory should be: both mean "no such path" to a caller.
_MISSING = (FileNotFoundError, NotADirectoryError)


class FilesystemDriver(StorageDriver):
    name = "filesystem"

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._lookups = concurrent.futures.ThreadPoolExecutor(STAT_THREADS, "filesystem-stat")
        _remove_stale(os.path.join(self.root, STAGING), time.time() - STALE_SECONDS)

    def local_path(self, path: str) -> str:
        """Map a driver path under the root, refusing anything that could climb out of it.

        The wrapper already checks paths; this check stands alone because a slip here would
        expose the whole machine.
        """
        if path == "/":
            return self.root
        head, *parts = path.split("/")
        if head or not all(_COMPONENT_RE.fullmatch(p) and p not in (".", "..") for p in parts):
            raise InvalidPathError(path)
        return os.path.join(self.root, *parts)

    async def get_content(self, path: str) -> bytes:
        return await asyncio.to_thread(_read_all, path, self.local_path(path))

    async def put_content(self, path: str, content: bytes) -> None:
        staging = os.path.join(self.root, STAGING)
        await asyncio.to_thread(_replace, self.local_path(path), content, staging)

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        file = await asyncio.to_thread(_open_reader, path, self.local_path(path), offset)
        return _chunks(file)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        local = self.local_path(path)
        fd, size = await asyncio.to_thread(_open_writer, path, local, append)
        return _Writer(path, local, fd, size)

    async def stat(self, path: str) -> FileInfo:
        local = self.local_path(path)
        return await asyncio.get_running_loop().run_in_executor(self._lookups, _stat, path, local)

    async def list(self, path: str) -> list[str]:
        return await asyncio.to_thread(_list, path, self.local_path(path))

    async def move(self, source: str, dest: str) -> None:
        await asyncio.to_thread(_move, source, self.local_path(source), self.local_path(dest))

    async def delete(self, path: str) -> None:
        await asyncio.to_thread(_delete, path, self.local_path(path))


class _Writer(FileWriter):
    """Appends to the file in place, gathering small writes into 1 MiB thread hand-offs."""

    def __init__(self, path: str, local: str, fd: int, size: int) -> None:
        self._path = path
        self._local = local
        self._fd = fd
        self._size = size
        self._buffer = bytearray()
        self._done: str | None = None

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes | memoryview) -> int:
        self._check_open()
        count = data.nbytes if isinstance(data, memoryview) else len(data)
        if not self._buffer and count >= CHUNK_SIZE:
            await asyncio.to_thread(_write_all, self._fd, data)
        else:
            self._buffer += data
            if len(self._buffer) >= CHUNK_SIZE:
                await asyncio.to_thread(_write_all, self._fd, self._take_buffer())
        self._size += count
        return count

    async def close(self) -> None:
        if self._done is None:
            self._done = "closed"
            await asyncio.to_thread(_finish, self._fd, self._take_buffer(), False)

    async def commit(self) -> None:
        self._check_open()
        self._done = "committed"
        await asyncio.to_thread(_finish, self._fd, self._take_buffer(), True)

    async def cancel(self) -> None:
        self._check_open()
        self._done = "cancelled"
        self._buffer = bytearray()
        await asyncio.to_thread(_discard, self._fd, self._local)

    def _check_open(self) -> None:
        if self._done is not None:
            raise StorageError(self._path, f"writer already {self._done}")

    def _take_buffer(self) -> bytearray:
        buffer, self._buffer = self._buffer, bytearray()
        return buffer


async def _chunks(file: io.FileIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK_SIZE):
            yield chunk
    finally:
        # Closing a read-only descriptor flushes nothing, so it cannot block.
        file.close()


def _read_all(path: str, local: str) -> bytes:
    try:
        with open(local, "rb") as file:
            return file.read()
    except (*_MISSING, IsADirectoryError) as exc:
        raise PathNotFoundError(path) from exc


def _replace(local: str, content: bytes, staging: str) -> None:
    """Write and sync a temporary file in ``staging``, then rename it over the target: readers
    see old or new, and a concurrent delete of the target's directory can only race the
    rename, never the slow part."""
    os.makedirs(staging, exist_ok=True)
    temp = os.path.join(staging, TEMP_PREFIX + secrets.token_hex(8))
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            _write_all(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        directory = os.path.dirname(local)
        _in_directory(directory, lambda: os.replace(temp, local))
    except BaseException:
        with suppress(FileNotFoundError):
            os.remove(temp)
        raise
    _fsync_dir(directory)


def _remove_stale(staging: str, before: float) -> None:
    """Remove what a process that crashed mid-write left in ``staging`` (a write in progress
    elsewhere is younger than ``before``)."""
    try:
        entries = list(os.scandir(staging))
    except FileNotFoundError:
        return
    for entry in entries:
        with suppress(FileNotFoundError):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < before:
                os.remove(entry.path)


def _in_directory(directory: str, action: Callable[[], None]) -> None:
    """Make ``directory``, then ``action`` in it; both again if a concurrent delete of the tree
    (garbage collection of the blob a push is putting back) removed the directory or the
    action's own file in between."""
    for _ in range(DIRECTORY_ATTEMPTS - 1):
        # makedirs raises FileExistsError when the directory it found is gone at its check
        with suppress(FileNotFoundError, FileExistsError):
            os.makedirs(directory, exist_ok=True)
            action()
            return
    os.makedirs(directory, exist_ok=True)
    action()


def _open_reader(path: str, local: str, offset: int) -> io.FileIO:
    try:
        file = io.FileIO(local, "rb")
    except (*_MISSING, IsADirectoryError) as exc:
        raise PathNotFoundError(path) from exc
    try:
        if not 0 <= offset <= os.fstat(file.fileno()).st_size:
            raise InvalidOffsetError(path, f"offset {offset} outside the file")
        file.seek(offset)
    except BaseException:
        file.close()
        raise
    return file


def _open_writer(path: str, local: str, append: bool) -> tuple[int, int]:
    flags = os.O_WRONLY | os.O_APPEND
    if append:
        try:
            fd = os.open(local, flags)
        except _MISSING as exc:
            raise PathNotFoundError(path) from exc
    else:
        os.makedirs(os.path.dirname(local), exist_ok=True)
        fd = os.open(local, flags | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        return fd, os.fstat(fd).st_size
    except BaseException:
        os.close(fd)
        raise


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` may write less than asked (a full disk, a signal); loop until it is all out."""
    with memoryview(data) as whole, whole.cast("B") as view:
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])


def _finish(fd: int, pending: bytearray, sync: bool) -> None:
    try:
        _write_all(fd, pending)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _discard(fd: int, local: str) -> None:
    os.close(fd)
    with suppress(FileNotFoundError):
        os.remove(local)


def _stat(path: str, local: str) -> FileInfo:
    try:
        result = os.stat(local)
    except _MISSING as exc:
        raise PathNotFoundError(path) from exc
    is_dir = stat.S_ISDIR(result.st_mode)
    size = 0 if is_dir else result.st_size
    return FileInfo(path=path, size=size, mod_time=result.st_mtime, is_dir=is_dir)


def _list(path: str, local: str) -> list[str]:
    try:
        names = os.listdir(local)
    except FileNotFoundError as exc:
        if path == "/":  # the root exists from the start, even before its directory does
            return []
        raise PathNotFoundError(path) from exc
    except NotADirectoryError as exc:
        raise PathNotFoundError(path) from exc
    prefix = "" if path == "/" else path
    return sorted(f"{prefix}/{name}" for name in names if not name.startswith(TEMP_PREFIX))


def _move(source: str, local_source: str, local_dest: str) -> None:
    try:
        os.stat(local_source)
    except _MISSING as exc:
        raise PathNotFoundError(source) from exc
    directory = os.path.dirname(local_dest)
    _in_directory(directory, lambda: os.replace(local_source, local_dest))
    _fsync_dir(directory)


def _delete(path: str, local: str) -> None:
    try:
        if stat.S_ISDIR(os.lstat(local).st_mode):
            _remove_tree(local)
        else:
            os.remove(local)
    except _MISSING as exc:
        raise PathNotFoundError(path) from exc


def _remove_tree(local: str) -> None:
    """``rmtree``, again while a concurrent writer adds entries (then the directory is not
    empty) or renames them (then an entry listed is gone); done once the tree is gone, whoever
    removed it."""
    for _ in range(DIRECTORY_ATTEMPTS - 1):
        try:
            shutil.rmtree(local)
        except FileNotFoundError:
            if not os.path.lexists(local):
                return
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
        else:
            return
    shutil.rmtree(local)


def _fsync_dir(directory: str) -> None:
    """Make a rename or a new entry durable: it lives in the directory, not in the file (unless
    a concurrent delete has removed the directory since: then there is nothing to keep)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
