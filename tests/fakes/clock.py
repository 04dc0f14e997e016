"""A settable Clock (gumloop_mcp.runtime.Clock) for tests: time moves only when the test moves it."""

from __future__ import annotations

import time


class FakeClock:
    """Starts at the real time; `advance(s)` moves both the wall and the monotonic clock on."""

    def __init__(self) -> None:
        self._wall = time.time()
        self._monotonic = time.monotonic()

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._wall += seconds
        self._monotonic += seconds
