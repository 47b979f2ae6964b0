"""What the object-store drivers (S3, Azure, GCS, Swift) share; each keeps its store's calls.

Their SDKs are synchronous: ``PooledDriver`` runs every call in a thread pool of the driver's
own, so a slow store never stalls the event loop and many requests in flight do not queue
behind the default executor, and it prepares the bucket or container once, on first use.

``PartedWriter`` is the buffering every object-store writer does: bytes gather until a whole
part of ``chunksize`` can be sent, so memory holds at most one part. What is left when it closes
is parked in a sibling object ``<key>@writer`` (``Parked``), from which a later writer, in any
process, continues. ``@`` is never part of a driver path, so no such object clashes with a file.
"""

from __future__ import annotations

import asyncio
import functools
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from dockyard.storage.driver import FileWriter, PathNotFoundError, StorageDriver, StorageError

T = TypeVar("T")

MAX_THREADS = 64
REDIRECT_SECONDS = 20 * 60
WRITER_SUFFIX = "@writer"


class PooledDriver(StorageDriver):
    """A driver whose keys are its paths below ``root`` and whose SDK calls block."""

    def __init__(self, root: str | None) -> None:
        self._prefix = f"{root}/" if root else ""
        self._pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix=f"dockyard-{self.name}")
        self._ready = False
        self._ready_lock = asyncio.Lock()

    def _key(self, path: str) -> str:
        return self._prefix + path[1:]

    def _children_prefix(self, path: str) -> str:
        """The key prefix shared by everything below the directory ``path``."""
        return self._prefix if path == "/" else self._key(path) + "/"

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(call, *args, **kwargs))

    async def _ensure_ready(self) -> None:
        if not self._ready:
            async with self._ready_lock:
                if not self._ready:
                    await self._prepare()
                    self._ready = True

    @abstractmethod
    async def _prepare(self) -> None:
        """Create the bucket or container when it is absent."""


def children(path: str, names: Iterable[str]) -> list[str]:
    """The sorted full paths of the names listed below the directory ``path``.

    A parked writer stands for its file; other ``@`` objects (parts, segments) are no files.
    """
    found = {
        name.removesuffix(WRITER_SUFFIX)
        for name in names
        if name and ("@" not in name or name.endswith(WRITER_SUFFIX))
    }
    if not found and path != "/":
        raise PathNotFoundError(path)
    base = "" if path == "/" else path
    return [f"{base}/{name}" for name in sorted(found)]


@dataclass(frozen=True)
class Parked:
    """A closed writer's state: the parts it sent (to ``upload``, when the store names one),
    the whole size, and the ``tail`` not sent yet, which is the parked object's content."""

    parts: int = 0
    size: int = 0
    tail: bytes = b""
    upload: str = ""

    def metadata(self) -> dict[str, str]:
        return {"upload": self.upload, "parts": str(self.parts), "size": str(self.size)}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], tail: bytes = b"") -> Parked:
        return cls(
            parts=int(metadata.get("parts", "0")),
            size=int(metadata.get("size", "0")),
            tail=tail,
            upload=metadata.get("upload", ""),
        )


class PartedWriter(FileWriter):
    """Sends each whole part as it fills; a subclass says how a store takes parts.

    ``commit`` writes a writer that sent no part as one object, or sends the rest as a last
    part and assembles the parts; ``close`` parks what is left; ``cancel`` throws it all away.
    """

    def __init__(self, path: str, part_size: int, parked: Parked) -> None:
        self.path = path
        self.part_size = part_size
        self.upload = parked.upload
        self.parts = parked.parts
        self.parts_size = parked.size - len(parked.tail)
        self.buffer = bytearray(parked.tail)
        self._done: str | None = None

    @property
    def size(self) -> int:
        return self.parts_size + len(self.buffer)

    def parked(self) -> Parked:
        return Parked(self.parts, self.size, bytes(self.buffer), self.upload)

    async def write(self, data: bytes | memoryview) -> int:
        self._check_open()
        self.buffer += data
        while len(self.buffer) >= self.part_size:
            await self._send_part(self._take(self.part_size))
        return len(data)

    def _take(self, size: int) -> bytes:
        """The first ``size`` bytes of the buffer, removed from it, copied once (a slice of
        the bytearray would be a second copy of a whole part)."""
        with memoryview(self.buffer) as view:
            part = bytes(view[:size])
        del self.buffer[:size]
        return part

    async def close(self) -> None:
        if self._done is None:
            await self._park()
            self._done = "closed"

    async def commit(self) -> None:
        self._check_open()
        if self._unparted():
            await self._put_whole(bytes(self.buffer))
        else:
            await self.flush()
            await self._assemble()
        self._done = "committed"
        await self._forget()

    async def cancel(self) -> None:
        self._check_open()
        self._done = "cancelled"
        await self._discard()

    async def flush(self) -> None:
        """Send what the buffer holds as a part, short as it may be."""
        if self.buffer:
            await self._send_part(bytes(self.buffer))
            self.buffer.clear()

    async def _send_part(self, data: bytes) -> None:
        await self._send(self.parts + 1, data)
        self.parts += 1
        self.parts_size += len(data)

    def _unparted(self) -> bool:
        return self.parts == 0

    def _check_open(self) -> None:
        if self._done is not None:
            raise StorageError(self.path, f"writer already {self._done}")

    @abstractmethod
    async def _send(self, number: int, data: bytes) -> None:
        """Store part ``number`` (from 1)."""

    @abstractmethod
    async def _park(self) -> None:
        """Keep what is unsent for a later writer (``parked()``)."""

    @abstractmethod
    async def _put_whole(self, content: bytes) -> None:
        """Write the file as one object: no part was sent."""

    @abstractmethod
    async def _assemble(self) -> None:
        """Make the file of the parts sent, all of them."""

    @abstractmethod
    async def _forget(self) -> None:
        """Remove the parked state once the file is committed."""

    @abstractmethod
    async def _discard(self) -> None:
        """Remove the parts and the parked state of a cancelled writer."""


async def empty() -> AsyncIterator[bytes]:
    """A reader of no bytes, for an offset at the very end of a file."""
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:
        yield chunk
