"""Deletes records at their due time: an asyncio scheduler over a heap of due times.

Stores `schedule()` every expiry they write (record expiry, end of a rotation grace, API token
expiry). The scheduler sleeps until the earliest due time by the injected clock, then calls the
store's `sweep()`, which deletes whatever is due and emits revocation events. Stale entries (a
record deleted or re-dated since) only cause a sweep that finds nothing.

With Redis, other replicas write expiries this replica never sees, so the scheduler also sweeps every
`poll_interval_s`; the sweep itself is atomic per record, so exactly one replica reports each expiry.
A controllable clock does not move by itself: tests advance it and call `wake()` (or `sweep()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from .errors import Unavailable

#: Returns the current time in seconds since the epoch (store.Clock re-exports it).
Clock = Callable[[], float]

__all__ = ["Clock", "ExpiryScheduler"]

logger = logging.getLogger(__name__)

# After a failed sweep (store down) try again soon, but do not spin.
_RETRY_AFTER_S: Final = 1.0


class ExpiryScheduler:
    """Calls `sweep()` at each scheduled due time (and every `poll_interval_s` when set)."""

    def __init__(
        self,
        clock: Clock,
        sweep: Callable[[], Awaitable[int]],
        *,
        poll_interval_s: float | None = None,
    ) -> None:
        self._clock = clock
        self._sweep = sweep
        self._poll_interval_s = poll_interval_s
        self._heap: list[float] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Number of due times waiting in the heap."""
        return len(self._heap)

    def schedule(self, due: float) -> None:
        """Sweep at `due` (seconds since the epoch, by the scheduler's clock)."""
        heapq.heappush(self._heap, due)
        if self._heap[0] == due:
            self._wake.set()

    def wake(self) -> None:
        """Re-read the clock now (tests that moved a controllable clock call this)."""
        self._wake.set()

    def start(self) -> None:
        """Start the background task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tokens-expiry")

    async def stop(self) -> None:
        """Cancel the background task and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            now = self._clock()
            if self._heap and self._heap[0] <= now:
                while self._heap and self._heap[0] <= now:
                    heapq.heappop(self._heap)
                await self._sweep_safely(now)
                continue
            timeout = self._heap[0] - now if self._heap else None
            if self._poll_interval_s is not None:
                timeout = self._poll_interval_s if timeout is None else min(timeout, self._poll_interval_s)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                if self._poll_interval_s is not None and not (self._heap and self._heap[0] <= self._clock()):
                    await self._sweep_safely(self._clock())

    async def _sweep_safely(self, due: float) -> None:
        try:
            await self._sweep()
        except Unavailable as exc:
            logger.warning("expiry sweep failed (%s); retrying in %.1fs", exc, _RETRY_AFTER_S)
            heapq.heappush(self._heap, due)
            await asyncio.sleep(_RETRY_AFTER_S)
        except Exception:
            logger.exception("expiry sweep failed; retrying in %.1fs", _RETRY_AFTER_S)
            # Keep the due time so the retry happens even without polling.
            heapq.heappush(self._heap, due)
            await asyncio.sleep(_RETRY_AFTER_S)
