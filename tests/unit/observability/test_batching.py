from __future__ import annotations

import asyncio
import io
import logging
import select
from collections.abc import Iterator

import pytest

from dockyard.observability.batching import BatchingStreamHandler
from dockyard.observability.logging import ACCESS_LOGGER

OTHER = "dockyard.test.batching"
access = logging.getLogger(ACCESS_LOGGER)
other = logging.getLogger(OTHER)


class CountingStream(io.StringIO):
    """Remembers each write, so a test sees how lines were grouped."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.fixture
def stream() -> Iterator[CountingStream]:
    """The access logger and another one, both through one batching handler."""
    stream = CountingStream()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    saved = []
    for logger in (logging.getLogger(ACCESS_LOGGER), logging.getLogger(OTHER)):
        saved.append((logger, logger.handlers[:], logger.propagate, logger.level))
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
    yield stream
    for logger, handlers, propagate, level in saved:
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)


def test_lines_of_one_loop_turn_are_written_together_at_its_end(stream: CountingStream) -> None:

    async def serve() -> list[str]:
        for n in range(3):
            access.info("request %d", n)
        before = list(stream.writes)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before

    assert asyncio.run(serve()) == []
    assert stream.writes == ["INFO request 0\nINFO request 1\nINFO request 2\n"]


def test_a_warning_is_written_at_once_after_the_lines_before_it(stream: CountingStream) -> None:

    async def serve() -> str:
        access.info("first")
        access.warning("storage slow")
        return stream.getvalue()

    assert asyncio.run(serve()) == "INFO first\nWARNING storage slow\n"


def test_outside_an_event_loop_each_line_is_written_at_once(stream: CountingStream) -> None:
    access.info("starting")
    assert stream.getvalue() == "INFO starting\n"


def test_shutdown_writes_what_is_gathered(stream: CountingStream) -> None:

    async def serve() -> None:
        access.info("last words")
        access.handlers[0].flush()

    asyncio.run(serve())
    assert stream.getvalue() == "INFO last words\n"


def test_groups_stay_within_one_atomic_pipe_write_and_never_split_a_line(
    stream: CountingStream,
) -> None:
    lines = [f"request {n} " + "x" * 300 + " ünïcode" for n in range(40)]

    async def serve() -> None:
        for line in lines:
            access.info(line)
        await asyncio.sleep(0)

    asyncio.run(serve())
    assert len(stream.writes) > 1
    assert all(len(write.encode()) <= select.PIPE_BUF for write in stream.writes)
    assert all(write.endswith("\n") for write in stream.writes)
    assert "".join(stream.writes) == "".join(f"INFO {line}\n" for line in lines)


def test_a_loop_closed_before_its_turn_ended_leaves_no_line_behind(stream: CountingStream) -> None:
    first = asyncio.new_event_loop()

    def stop_then_log() -> None:
        first.stop()  # this turn is the last: the write scheduled for its end never runs
        access.info("from a loop that closes")

    first.call_soon(stop_then_log)
    first.run_forever()
    first.close()

    async def log() -> None:
        access.info("from the next loop")

    asyncio.run(log())
    assert stream.getvalue() == "INFO from a loop that closes\nINFO from the next loop\n"


def test_a_line_of_another_logger_is_written_at_once_after_the_access_lines_before_it(
    stream: CountingStream,
) -> None:
    """A worker stopped by SIGTERM dies inside its last turn: its last words, written at once,
    carry out the access lines gathered before them."""

    async def serve() -> str:
        access.info("GET /v2/")
        other.info("Finished server process")
        return stream.getvalue()

    assert asyncio.run(serve()) == "INFO GET /v2/\nINFO Finished server process\n"
