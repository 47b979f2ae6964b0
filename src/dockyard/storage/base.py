"""The wrapper every driver runs in, after Distribution's ``storagedriver/base``.

It checks paths once for all drivers, times each call for whoever attaches a hook (metrics live
in ``observability``, which storage does not import), and turns a driver's stray exceptions into
``StorageError`` so services catch one family of errors whatever the backend.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from dockyard.storage.driver import (
    PATH_RE,
    FileInfo,
    FileWriter,
    InvalidPathError,
    StorageDriver,
    StorageError,
)

T = TypeVar("T")
TimingHook = Callable[[str, str, float], None]
"""Called with the driver name, the method and the seconds the call took."""


class DriverWrapper(StorageDriver):
    def __init__(self, driver: StorageDriver, on_timing: TimingHook | None = None) -> None:
        self._driver = driver
        self.name = driver.name
        self.on_timing = on_timing

    async def get_content(self, path: str) -> bytes:
        _check_path(path)
        return await self._call("get_content", path, self._driver.get_content(path))

    async def put_content(self, path: str, content: bytes) -> None:
        _check_path(path)
        await self._call("put_content", path, self._driver.put_content(path, content))

    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        _check_path(path)
        chunks = await self._call("reader", path, self._driver.reader(path, offset))
        return self._guard_chunks(path, chunks)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        _check_path(path)
        writer = await self._call("writer", path, self._driver.writer(path, append))
        return _GuardedWriter(path, f"{self.name} writer", writer)

    async def stat(self, path: str) -> FileInfo:
        _check_path(path)
        return await self._call("stat", path, self._driver.stat(path))

    async def list(self, path: str) -> list[str]:
        _check_path(path, root_ok=True)
        return await self._call("list", path, self._driver.list(path))

    async def move(self, source: str, dest: str) -> None:
        _check_path(source)
        _check_path(dest)
        await self._call("move", source, self._driver.move(source, dest))

    async def delete(self, path: str) -> None:
        _check_path(path)
        await self._call("delete", path, self._driver.delete(path))

    async def redirect_url(self, path: str, method: str) -> str | None:
        _check_path(path)
        return await self._call("redirect_url", path, self._driver.redirect_url(path, method))

    def local_path(self, path: str) -> str | None:
        _check_path(path)
        with _Normalised(path, f"{self.name} local_path"):
            return self._driver.local_path(path)

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        # Delegated rather than inherited, so a backend with a native recursive listing uses it.
        _check_path(path, root_ok=True)
        start = time.perf_counter()
        try:
            with _Normalised(path, f"{self.name} walk"):
                async for info in self._driver.walk(path):
                    yield info
        finally:
            self._record("walk", start)

    async def _call(self, method: str, path: str, operation: Awaitable[T]) -> T:
        start = time.perf_counter()
        try:
            with _Normalised(path, f"{self.name} {method}"):
                return await operation
        finally:
            self._record(method, start)

    def _record(self, method: str, start: float) -> None:
        if self.on_timing is not None:
            self.on_timing(self.name, method, time.perf_counter() - start)

    async def _guard_chunks(self, path: str, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Normalise errors raised mid-stream too, and close the driver's stream with ours."""
        try:
            with _Normalised(path, f"{self.name} read"):
                async for chunk in chunks:
                    yield chunk
        finally:
            if inspect.isasyncgen(chunks):
                await chunks.aclose()


class _GuardedWriter(FileWriter):
    def __init__(self, path: str, what: str, writer: FileWriter) -> None:
        self._path = path
        self._what = what
        self._writer = writer

    @property
    def size(self) -> int:
        return self._writer.size

    async def write(self, data: bytes | memoryview) -> int:
        with _Normalised(self._path, self._what):
            return await self._writer.write(data)

    async def close(self) -> None:
        with _Normalised(self._path, self._what):
            await self._writer.close()

    async def cancel(self) -> None:
        with _Normalised(self._path, self._what):
            await self._writer.cancel()

    async def commit(self) -> None:
        with _Normalised(self._path, self._what):
            await self._writer.commit()


class _Normalised:
    """Re-raise anything but a ``StorageError`` as one, keeping the original as its cause."""

    def __init__(self, path: str, what: str) -> None:
        self._path = path
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # BaseExceptions (cancellation, GeneratorExit) must pass untouched.
        if isinstance(exc, Exception) and not isinstance(exc, StorageError):
            raise StorageError(self._path, f"{self._what} failed") from exc


def _check_path(path: str, *, root_ok: bool = False) -> None:
    if root_ok and path == "/":
        return
    if not PATH_RE.fullmatch(path) or any(part in (".", "..") for part in path.split("/")):
        raise InvalidPathError(path)
