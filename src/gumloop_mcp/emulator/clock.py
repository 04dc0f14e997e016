"""The emulator's clock: an injectable time source plus a manual offset (``/__emulator/clock/advance``)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Seconds since the epoch from ``source``, shifted by whatever tests advanced it by."""

    def __init__(self, source: Callable[[], float] | None = None) -> None:
        self._source = source or time.time
        self.offset = 0.0

    def now(self) -> float:
        """The current emulated time."""
        return self._source() + self.offset

    def advance(self, seconds: float) -> None:
        """Move emulated time forward (never backwards)."""
        self.offset += max(0.0, seconds)
