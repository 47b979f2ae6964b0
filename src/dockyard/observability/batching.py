"""A stream handler that writes the access lines of one event-loop turn together.

Under load a worker answers dozens of requests in one turn of its event loop, and each logs an
access line. Written one by one, every line is a system call in the worker and another pass of
the log tee in the supervisor; gathered until the end of the turn, they take one write. Every
other line (and an access line logged outside the event loop's thread) is written at once,
after the lines gathered before it, so the order stays as logged and a worker that stops (its
last turn never ends: uvicorn re-raises SIGTERM from within it) loses nothing: its last words
("Finished server process") carry the gathered lines out with them.

Every worker writes to the same pipe (the supervisor's log tee). A write of at most
``PIPE_BUF`` bytes lands in one piece, so lines are written in groups up to that size, never a
line split across two writes: the lines of two workers never interleave mid-line.
"""

from __future__ import annotations

import asyncio
import logging
import select
from typing import TextIO

from dockyard.observability.logging import ACCESS_LOGGER

GROUP_BYTES = select.PIPE_BUF


class BatchingStreamHandler(logging.StreamHandler[TextIO]):
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        # The loop whose turn will write the pending lines; another loop (the first one closed
        # before its turn ended) schedules its own.
        self._scheduled_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        loop = _running_loop()
        if record.name != ACCESS_LOGGER or record.levelno >= logging.WARNING or loop is None:
            self.flush()
        elif self._scheduled_on is not loop:
            self._scheduled_on = loop
            loop.call_soon(self._flush_turn)

    def _flush_turn(self) -> None:
        self.acquire()
        try:
            self._scheduled_on = None
            self.flush()
        finally:
            self.release()

    def flush(self) -> None:
        """Write what is gathered; ``logging.shutdown`` calls it when the process ends."""
        self.acquire()
        try:
            lines, self._pending = self._pending, []
            group: list[str] = []
            size = 0
            for line in lines:
                length = len(line) if line.isascii() else len(line.encode())
                if group and size + length > GROUP_BYTES:
                    self._write("".join(group))
                    group, size = [], 0
                group.append(line)
                size += length
            if group:
                self._write("".join(group))
        except (OSError, ValueError):
            return  # stderr is gone: there is nowhere left to write, as for StreamHandler
        finally:
            self.release()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
