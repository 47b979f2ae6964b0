from __future__ import annotations

import asyncio
import io
import logging
import select

from dockyard.observability.batching import BatchingStreamHandler


class CountingStream(io.StringIO):
    """Remembers each write, so a test sees how lines were grouped."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def logger_with(stream: CountingStream, name: str) -> logging.Logger:
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_lines_of_one_loop_turn_are_written_together_at_its_end() -> None:
    stream = CountingStream()
    logger = logger_with(stream, "dockyard.test.batch.turn")

    async def serve() -> list[str]:
        for n in range(3):
            logger.info("request %d", n)
        before = list(stream.writes)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before

    assert asyncio.run(serve()) == []
    assert stream.writes == ["INFO request 0\nINFO request 1\nINFO request 2\n"]


def test_a_warning_is_written_at_once_after_the_lines_before_it() -> None:
    stream = CountingStream()
    logger = logger_with(stream, "dockyard.test.batch.warning")

    async def serve() -> str:
        logger.info("first")
        logger.warning("storage slow")
        return stream.getvalue()

    assert asyncio.run(serve()) == "INFO first\nWARNING storage slow\n"


def test_outside_an_event_loop_each_line_is_written_at_once() -> None:
    stream = CountingStream()
    logger = logger_with(stream, "dockyard.test.batch.sync")
    logger.info("starting")
    assert stream.getvalue() == "INFO starting\n"


def test_shutdown_writes_what_is_gathered() -> None:
    stream = CountingStream()
    logger = logger_with(stream, "dockyard.test.batch.shutdown")

    async def serve() -> None:
        logger.info("last words")
        logger.handlers[0].flush()

    asyncio.run(serve())
    assert stream.getvalue() == "INFO last words\n"


def test_groups_stay_within_one_atomic_pipe_write_and_never_split_a_line() -> None:
    stream = CountingStream()
    logger = logger_with(stream, "dockyard.test.batch.groups")
    lines = [f"request {n} " + "x" * 300 + " ünïcode" for n in range(40)]

    async def serve() -> None:
        for line in lines:
            logger.info(line)
        await asyncio.sleep(0)

    asyncio.run(serve())
    assert len(stream.writes) > 1
    assert all(len(write.encode()) <= select.PIPE_BUF for write in stream.writes)
    assert all(write.endswith("\n") for write in stream.writes)
    assert "".join(stream.writes) == "".join(f"INFO {line}\n" for line in lines)


def test_a_loop_closed_before_its_turn_ended_leaves_no_line_behind() -> None:
    stream = CountingStream()
    logger = logger_with(stream, "dockyard.test.batch.closed")
    first = asyncio.new_event_loop()

    def stop_then_log() -> None:
        first.stop()  # this turn is the last: the write scheduled for its end never runs
        logger.info("from a loop that closes")

    first.call_soon(stop_then_log)
    first.run_forever()
    first.close()

    async def log() -> None:
        logger.info("from the next loop")

    asyncio.run(log())
    assert stream.getvalue() == "INFO from a loop that closes\nINFO from the next loop\n"
