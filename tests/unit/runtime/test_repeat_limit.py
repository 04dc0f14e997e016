"""The repeat limit keeps a flood of one warning or error from filling a disk, and says what it dropped."""

import io
import json
import logging

import pytest

from gumloop_mcp.runtime import RepeatLimitFilter, configure


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limited(
    burst: int = 3, interval_s: float = 10.0
) -> tuple[RepeatLimitFilter, list[logging.LogRecord], _Clock]:
    clock = _Clock()
    limiter = RepeatLimitFilter(burst, interval_s, clock=clock)
    summaries: list[logging.LogRecord] = []
    limiter.sink = summaries.append
    return limiter, summaries, clock


def _record(
    msg: str, args: tuple[object, ...] = (), level: int = logging.ERROR, line: int = 7
) -> logging.LogRecord:
    return logging.LogRecord("test.flood", level, "/src/flood.py", line, msg, args, None)


def test_a_burst_passes_then_repeats_are_dropped_and_counted_once_the_window_ends() -> None:
    limiter, summaries, clock = _limited(burst=3, interval_s=10.0)
    passed = [limiter.filter(_record("accept failed: %s", (n,))) for n in range(1000)]
    assert passed.count(True) == 3 and passed[:3] == [True, True, True]
    assert summaries == []  # nothing said while the window is open
    clock.now += 10.0
    assert limiter.filter(_record("unrelated", level=logging.INFO)) is True
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary.levelno == logging.WARNING and summary.name == "test.flood"
    text = summary.getMessage()
    assert text.startswith("997 more ERROR records like 'accept failed: %s' were suppressed in 10 s")
    assert summary.suppressed_repeats == 997  # type: ignore[attr-defined]
    assert limiter.filter(summary) is True  # its own summary always passes
    # A new window: the kind passes again.
    assert limiter.filter(_record("accept failed: %s", ("again",))) is True


def test_kinds_are_counted_apart_and_info_is_never_limited() -> None:
    limiter, summaries, clock = _limited(burst=1, interval_s=5.0)
    assert limiter.filter(_record("disk full")) is True
    assert limiter.filter(_record("disk full")) is False
    assert limiter.filter(_record("disk full", line=99)) is True  # another call site
    assert limiter.filter(_record("other message")) is True
    assert limiter.filter(_record("disk full", level=logging.WARNING)) is True  # another level
    assert all(limiter.filter(_record("GET /x %d", (n,), level=logging.INFO)) for n in range(100))
    clock.now += 5.0
    limiter.filter(_record("tick", level=logging.INFO))
    assert [s.suppressed_repeats for s in summaries] == [1]  # type: ignore[attr-defined]


def test_a_window_without_drops_ends_silently_and_flush_reports_open_windows() -> None:
    limiter, summaries, clock = _limited(burst=2, interval_s=5.0)
    limiter.filter(_record("once"))
    clock.now += 6.0
    limiter.filter(_record("tick", level=logging.INFO))
    assert summaries == []
    for _ in range(5):
        limiter.filter(_record("again"))
    limiter.flush()
    assert [s.suppressed_repeats for s in summaries] == [3]  # type: ignore[attr-defined]


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        RepeatLimitFilter(0, 1.0)
    with pytest.raises(ValueError, match="interval_s"):
        RepeatLimitFilter(1, 0.0)


def test_configure_installs_it_before_redaction_so_summaries_are_written_and_redacted() -> None:
    stream = io.StringIO()
    configure("INFO", json_format=True, stream=stream, batch_s=0, repeat_burst=2, repeat_interval_s=60.0)
    log = logging.getLogger("test.flood.configured")
    try:
        for n in range(50):
            log.error("socket.accept() out of system resource (token gmcp_%s)", "A" * 30 + str(n))
        log.info("still logging")
        limiter = next(f for f in logging.getLogger().handlers[0].filters if isinstance(f, RepeatLimitFilter))
        limiter.flush()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger().handlers.clear()
    assert [line["level"] for line in lines] == ["ERROR", "ERROR", "INFO", "WARNING"]
    assert lines[3]["suppressed_repeats"] == 48
    assert "48 more ERROR records like" in lines[3]["message"]
    assert "gmcp_A" not in stream.getvalue()
