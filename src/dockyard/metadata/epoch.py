"""A value that changes whenever any process commits a metadata write.

Caches of metadata (tag resolution, tag lists) stay valid while it is unchanged, so a read
path that hits the cache needs no database round trip, and a write in one worker process is
seen by the next request in every other one. The reader takes the epoch *before* reading the
database and the writer changes it *after* committing, so a cached answer is never newer than
its epoch says and never outlives a commit it missed.

Each change writes a fresh random value rather than a count, so two processes changing it at
once can't leave it at a value a reader has already seen.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

SIZE = 8

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LocalEpoch:
    """For a database no other process writes to (in-memory SQLite)."""

    def __init__(self) -> None:
        self._value = os.urandom(SIZE)

    def current(self) -> bytes | None:
        return self._value

    def bump(self) -> None:
        self._value = os.urandom(SIZE)


class FileEpoch:
    """Shared by the processes of one machine through a memory-mapped file beside the
    SQLite database. Opening it changes it: a process that died between a commit and its
    change is replaced by one that makes the change."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < SIZE:
                os.ftruncate(fd, SIZE)
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        self.bump()

    def current(self) -> bytes | None:
        return self._map[:SIZE]

    def bump(self) -> None:
        self._map[:SIZE] = os.urandom(SIZE)


class Epoch(Protocol):
    """``current()`` is ``None`` when there is no epoch to trust: nothing is cached then."""

    def current(self) -> bytes | None: ...

    def bump(self) -> None: ...


class EpochCache(Generic[K, V]):
    """Answers read from the database, kept until the epoch changes.

    ``snapshot()`` before the read, ``put(snapshot, ...)`` after it: an answer read while
    the epoch moved is not kept. Without an epoch (PostgreSQL while not listening) answers are
    kept for ``ttl`` seconds when one is given, else not at all. Bounded: when full, it starts over.
    """

    def __init__(self, epoch: Epoch, size: int, ttl: float | None = None) -> None:
        self._epoch = epoch
        self._size = size
        self._ttl = ttl
        self._seen: bytes | None = None
        self._values: dict[K, tuple[V, float]] = {}

    def snapshot(self) -> bytes | None:
        current = self._epoch.current()
        if current != self._seen:
            self._values.clear()
            self._seen = current
        return current

    def get(self, key: K) -> V | None:
        found = self._values.get(key)
        if found is None:
            return None
        value, kept_at = found
        if self._seen is None and (self._ttl is None or time.monotonic() - kept_at >= self._ttl):
            return None
        return value

    def put(self, snapshot: bytes | None, key: K, value: V) -> None:
        if snapshot != self._seen or (snapshot is None and self._ttl is None):
            return
        if len(self._values) >= self._size:
            self._values.clear()
        self._values[key] = (value, time.monotonic())

    def clear(self) -> None:
        """For a change this process made, where no epoch tells of it."""
        self._values.clear()
