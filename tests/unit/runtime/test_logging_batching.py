"""Log lines logged in an event loop are written in short batches, in order, and never lost at flush."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from gumloop_mcp.runtime import configure


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The root logger configured (JSON, redacting, batching) onto a string buffer."""
    buffer = io.StringIO()
    configure("INFO", json_format=True, stream=buffer, batch_s=0.05)
    yield buffer
    logging.getLogger().handlers.clear()


def _messages(buffer: io.StringIO) -> list[str]:
    return [json.loads(line)["message"] for line in buffer.getvalue().splitlines()]


async def _until_written(buffer: io.StringIO, count: int) -> None:
    while len(buffer.getvalue().splitlines()) < count:
        await asyncio.sleep(0.01)


async def test_info_lines_in_a_loop_arrive_together_shortly_after(stream: io.StringIO) -> None:
    """INFO lines wait for the batch (not written at once) and all arrive, in order, soon after."""
    log = logging.getLogger("test.batching")
    log.info("first")
    log.info("second")
    assert stream.getvalue() == ""
    await asyncio.wait_for(_until_written(stream, 2), 2)
    assert _messages(stream) == ["first", "second"]


async def test_a_warning_is_written_at_once_after_the_lines_before_it(stream: io.StringIO) -> None:
    """WARNING and above go out immediately, preceded by the pending lines (order kept)."""
    log = logging.getLogger("test.batching")
    log.info("before")
    log.warning("trouble with %s", "Bearer sk-live-abcdefgh12345678")
    assert _messages(stream) == ["before", "trouble with Bearer [REDACTED]"]


async def test_flush_writes_pending_lines(stream: io.StringIO) -> None:
    """logging.shutdown (at exit) flushes handlers: nothing pending is lost."""
    logging.getLogger("test.batching").info("pending")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert _messages(stream) == ["pending"]


async def test_many_pending_lines_are_written_without_waiting(stream: io.StringIO) -> None:
    """A burst does not pile up: at 256 pending lines they are written at once."""
    log = logging.getLogger("test.batching")
    for i in range(256):
        log.info("line %d", i)
    assert len(_messages(stream)) == 256


def test_lines_outside_an_event_loop_are_written_at_once(stream: io.StringIO) -> None:
    """Start-up and shutdown code (no running loop) logs synchronously, as before."""
    logging.getLogger("test.batching").info("sync")
    assert _messages(stream) == ["sync"]


async def test_batch_zero_writes_each_line_at_once() -> None:
    """batch_s=0 turns batching off."""
    buffer = io.StringIO()
    configure("INFO", json_format=True, stream=buffer, batch_s=0)
    try:
        logging.getLogger("test.batching").info("now")
        assert _messages(buffer) == ["now"]
    finally:
        logging.getLogger().handlers.clear()


def test_a_batch_pending_on_a_closed_loop_does_not_hold_back_later_lines(stream: io.StringIO) -> None:
    """A loop that ended with a batch due (tests, asyncio.run) does not strand the next loop's lines."""

    async def log(message: str) -> None:
        logging.getLogger("test.batching").info(message)

    asyncio.run(log("in the first loop"))

    async def second() -> None:
        await log("in the second loop")
        await asyncio.wait_for(_until_written(stream, 2), 2)

    asyncio.run(second())
    assert _messages(stream) == ["in the first loop", "in the second loop"]
