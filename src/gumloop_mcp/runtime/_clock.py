"""The time code reads, injectable: `SYSTEM_CLOCK` in production, a settable fake in tests.

`time()` is wall-clock seconds since the epoch (expiry timestamps from other services compare with
it); `monotonic()` never goes back (cache lifetimes, intervals). Code that reads time takes a
`Clock`, so tests move time on instead of sleeping through it.
"""

from __future__ import annotations

import time as _time
from typing import Final, Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Wall and monotonic time, in seconds."""

    def time(self) -> float:
        """Seconds since the epoch (like time.time)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (like time.monotonic)."""
        ...


class SystemClock:
    """The process's own clocks."""

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        return _time.monotonic()


SYSTEM_CLOCK: Final[Clock] = SystemClock()
