"""A logging filter that stops a flood of one warning or error from filling a disk.

Records of one kind (logger, level, call site and message template) pass at most `burst`
times per `interval_s`; the rest are dropped and counted. Once the kind's interval is
over, the next record logged (of any kind) brings a WARNING saying how many were
suppressed. Only WARNING and above are limited: INFO lines such as the access log are
one per request by design.

Example: when a process runs out of file descriptors, asyncio logs an ERROR for every
failed accept (88,830 lines in 25 s in one test); with the defaults that became 20 lines
and one summary per minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["SUPPRESSED_FIELD", "RepeatLimitFilter"]

# The attribute marking a summary record (also its count of suppressed records, logged as a field).
SUPPRESSED_FIELD: Final = "suppressed_repeats"
_MAX_TEMPLATE: Final = 200

_Key = tuple[str, int, str, int, str]


@dataclass(slots=True)
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0


class RepeatLimitFilter(logging.Filter):
    """Lets `burst` records of a kind through per `interval_s` (WARNING and above), then summarises."""

    def __init__(
        self,
        burst: int = 20,
        interval_s: float = 60.0,
        *,
        level: int = logging.WARNING,
        max_kinds: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if burst < 1 or interval_s <= 0:
            raise ValueError("burst must be at least 1 and interval_s positive")
        self.burst = burst
        self.interval_s = interval_s
        self.level = level
        self._max_kinds = max_kinds
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: OrderedDict[_Key, _Window] = OrderedDict()
        self._next_sweep = float("inf")
        # Where summaries go; configure() points it at the handler this filter guards.
        self.sink: Callable[[logging.LogRecord], object] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """True to let `record` through."""
        if hasattr(record, SUPPRESSED_FIELD):
            return True  # our own summary
        now = self._clock()
        summaries = self._sweep(now)
        allowed = True
        if record.levelno >= self.level:
            allowed = self._admit(record, now)
        for summary in summaries:
            self._emit(summary)
        return allowed

    def _admit(self, record: logging.LogRecord, now: float) -> bool:
        key = (record.name, record.levelno, record.pathname, record.lineno, str(record.msg)[:_MAX_TEMPLATE])
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(now)
                self._next_sweep = min(self._next_sweep, now + self.interval_s)
                while len(self._windows) > self._max_kinds:
                    self._windows.popitem(last=False)
            if window.passed < self.burst:
                window.passed += 1
                return True
            window.suppressed += 1
            return False

    def _sweep(self, now: float) -> list[logging.LogRecord]:
        """Close the windows that are over: the summaries of those that suppressed something."""
        if now < self._next_sweep:
            return []
        summaries: list[logging.LogRecord] = []
        with self._lock:
            next_sweep = float("inf")
            for key, window in list(self._windows.items()):
                ends = window.start + self.interval_s
                if ends > now:
                    next_sweep = min(next_sweep, ends)
                    continue
                del self._windows[key]
                if window.suppressed:
                    summaries.append(self._summary(key, window, now))
            self._next_sweep = next_sweep
        return summaries

    def _summary(self, key: _Key, window: _Window, now: float) -> logging.LogRecord:
        name, levelno, pathname, lineno, template = key
        record = logging.LogRecord(
            name,
            logging.WARNING,
            pathname,
            lineno,
            "%d more %s records like %r were suppressed in %.0f s (at most %d are logged per %.0f s)",
            (
                window.suppressed,
                logging.getLevelName(levelno),
                template,
                now - window.start,
                self.burst,
                self.interval_s,
            ),
            None,
        )
        setattr(record, SUPPRESSED_FIELD, window.suppressed)
        return record

    def _emit(self, record: logging.LogRecord) -> None:
        if self.sink is not None:
            self.sink(record)
        else:
            logging.getLogger(record.name).handle(record)

    def flush(self) -> None:
        """Log the summaries of every window now, whether over or not (at exit, in tests)."""
        now = self._clock()
        with self._lock:
            summaries = [self._summary(k, w, now) for k, w in self._windows.items() if w.suppressed]
            self._windows.clear()
            self._next_sweep = float("inf")
        for summary in summaries:
            self._emit(summary)
