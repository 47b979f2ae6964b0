"""A directory tree in memory: ``emptyDir`` storage that ends with the process, and fast tests.

It mirrors the filesystem driver's semantics, directories included, so tests against it say
something about production. Nothing here awaits, so each call is atomic on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import suppress

from dockyard.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
)

CHUNK_SIZE = 1 << 20


class _File:
    __slots__ = ("data", "mod_time")

    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)
        self.mod_time = time.time()


class _Dir:
    __slots__ = ("children", "mod_time")

    def __init__(self) -> None:
        self.children: dict[str, _File | _Dir] = {}
        self.mod_time = time.time()


class InMemoryDriver(StorageDriver):
    name = "inmemory"

    def __init__(self) -> None:
        self._root = _Dir()

    async def get_content(self, path: str) -> bytes:
        return bytes(self._file(path).data)

    async def put_content(self, path: str, content: bytes) -> None:
        self._attach(path, _File(content))

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        data = self._file(path).data
        if not 0 <= offset <= len(data):
            raise InvalidOffsetError(path, f"offset {offset} outside the file")
        return _chunks(data, offset)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        if append:
            return _Writer(self, path, self._file(path))
        node = _File()
        self._attach(path, node)
        return _Writer(self, path, node)

    async def stat(self, path: str) -> FileInfo:
        node = self._find(path)
        if isinstance(node, _Dir):
            return FileInfo(path=path, size=0, mod_time=node.mod_time, is_dir=True)
        return FileInfo(path=path, size=len(node.data), mod_time=node.mod_time, is_dir=False)

    async def list(self, path: str) -> list[str]:
        node = self._find(path)
        if not isinstance(node, _Dir):
            raise PathNotFoundError(path)
        prefix = "" if path == "/" else path
        return [f"{prefix}/{name}" for name in sorted(node.children)]

    async def move(self, source: str, dest: str) -> None:
        node = self._file(source)
        self._attach(dest, node)
        if source != dest:
            self._detach(source, node)

    async def delete(self, path: str) -> None:
        parent, name = self._parent(path, create=False)
        if parent.children.pop(name, None) is None:
            raise PathNotFoundError(path)
        parent.mod_time = time.time()

    def _find(self, path: str) -> _File | _Dir:
        node: _File | _Dir = self._root
        for part in _parts(path):
            child = node.children.get(part) if isinstance(node, _Dir) else None
            if child is None:
                raise PathNotFoundError(path)
            node = child
        return node

    def _file(self, path: str) -> _File:
        node = self._find(path)
        if not isinstance(node, _File):
            raise PathNotFoundError(path)
        return node

    def _parent(self, path: str, *, create: bool) -> tuple[_Dir, str]:
        *dirs, name = _parts(path)
        node = self._root
        for part in dirs:
            child = node.children.get(part)
            if child is None and create:
                child = node.children[part] = _Dir()
                node.mod_time = child.mod_time
            if isinstance(child, _File) and create:
                raise StorageError(path, "a parent is a file")
            if not isinstance(child, _Dir):
                raise PathNotFoundError(path)
            node = child
        return node, name

    def _attach(self, path: str, node: _File) -> None:
        """Place ``node`` at ``path``, replacing a file (as ``os.replace`` does) but not a dir."""
        parent, name = self._parent(path, create=True)
        if isinstance(parent.children.get(name), _Dir):
            raise StorageError(path, "a directory is in the way")
        parent.children[name] = node
        parent.mod_time = time.time()

    def _detach(self, path: str, node: _File) -> None:
        """Remove ``path`` only while it still holds ``node``, not a file put there since."""
        parent, name = self._parent(path, create=False)
        if parent.children.get(name) is node:
            del parent.children[name]
            parent.mod_time = time.time()


class _Writer(FileWriter):
    def __init__(self, driver: InMemoryDriver, path: str, node: _File) -> None:
        self._driver = driver
        self._path = path
        self._node = node
        self._done: str | None = None

    @property
    def size(self) -> int:
        return len(self._node.data)

    async def write(self, data: bytes | memoryview) -> int:
        self._check_open()
        before = len(self._node.data)
        self._node.data += data
        self._node.mod_time = time.time()
        return len(self._node.data) - before

    async def close(self) -> None:
        self._done = self._done or "closed"

    async def commit(self) -> None:
        self._check_open()
        self._done = "committed"

    async def cancel(self) -> None:
        self._check_open()
        self._done = "cancelled"
        with suppress(PathNotFoundError):
            self._driver._detach(self._path, self._node)

    def _check_open(self) -> None:
        if self._done is not None:
            raise StorageError(self._path, f"writer already {self._done}")


async def _chunks(data: bytearray, offset: int) -> AsyncIterator[bytes]:
    # Reads the live buffer, as a file read would, so bytes appended meanwhile are seen too.
    while offset < len(data):
        chunk = bytes(data[offset : offset + CHUNK_SIZE])
        offset += len(chunk)
        yield chunk


def _parts(path: str) -> list[str]:
    return [] if path == "/" else path.split("/")[1:]
