"""The storage driver interface, modelled on Distribution's ``storagedriver.StorageDriver``.

Paths are absolute, ``/``-separated, made of ``[A-Za-z0-9._-]`` components (``PATH_RE``). Every
driver runs inside ``storage.base.DriverWrapper``, which checks paths and normalises errors, so a
driver may assume valid paths and raise only the errors below.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

# ``\Z``, not ``$``: ``$`` also matches before a trailing newline, letting "/a\n" through.
PATH_RE = re.compile(r"^(/[A-Za-z0-9._-]+)+\Z")


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mod_time: float
    is_dir: bool


class StorageError(Exception):
    def __init__(self, path: str, message: str = "") -> None:
        self.path = path
        super().__init__(f"{message or type(self).__name__}: {path}")


class PathNotFoundError(StorageError):
    pass


class InvalidPathError(StorageError):
    pass


class InvalidOffsetError(StorageError):
    pass


class UnsupportedMethodError(StorageError):
    pass


class FileWriter(ABC):
    """A resumable writer. Content is only guaranteed at the path after ``commit``.

    Some drivers show it earlier (the filesystem writes the path in place), which is why uploads
    write inside their own directory and ``move`` the result into place.

    ``close`` keeps what was written so that ``writer(path, append=True)`` can continue it, from
    this process or another; ``cancel`` throws it away.
    """

    @property
    @abstractmethod
    def size(self) -> int:
        """Bytes written so far, including those of earlier writers of the same path."""

    @abstractmethod
    async def write(self, data: bytes | memoryview) -> int: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def cancel(self) -> None: ...

    @abstractmethod
    async def commit(self) -> None:
        """Make the content durable; the writer is closed afterwards."""


class StorageDriver(ABC):
    name: str = "abstract"

    @abstractmethod
    async def get_content(self, path: str) -> bytes: ...

    @abstractmethod
    async def put_content(self, path: str, content: bytes) -> None:
        """Write the whole content atomically: readers see the old content or the new."""

    @abstractmethod
    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        """Open the path and return its bytes from ``offset``.

        Opening happens before the iterator is returned, so a missing path raises
        ``PathNotFoundError`` here rather than half-way through a response.
        """

    @abstractmethod
    async def writer(self, path: str, append: bool = False) -> FileWriter: ...

    @abstractmethod
    async def stat(self, path: str) -> FileInfo: ...

    async def exists(self, path: str) -> bool:
        try:
            await self.stat(path)
        except PathNotFoundError:
            return False
        return True

    @abstractmethod
    async def list(self, path: str) -> list[str]:
        """Full paths of the direct children of a directory, sorted."""

    @abstractmethod
    async def move(self, source: str, dest: str) -> None:
        """Move a file, replacing ``dest`` atomically."""

    @abstractmethod
    async def delete(self, path: str) -> None:
        """Delete a file or a whole tree."""

    async def redirect_url(self, path: str, method: str) -> str | None:
        """A URL the client may fetch the content from directly, or ``None``."""
        return None

    def local_path(self, path: str) -> str | None:
        """The OS path of a file, when the driver has one, for zero-copy ``sendfile``."""
        return None

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:
        """Every file and directory below ``path``, depth first, parents before children."""
        for child in await self.list(path):
            info = await self.stat(child)
            yield info
            if info.is_dir:
                async for sub in self.walk(child):
                    yield sub
