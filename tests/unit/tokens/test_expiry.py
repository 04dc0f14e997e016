"""Unit tests of the expiry scheduler with a controllable clock."""

from __future__ import annotations

import asyncio

from services.tokens.expiry import ExpiryScheduler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_sweep_runs_once_the_clock_reaches_a_due_time() -> None:
    """Nothing happens before the due time; moving the clock past it triggers exactly one sweep."""
    clock = Clock()
    swept = asyncio.Event()
    calls: list[float] = []

    async def sweep() -> int:
        calls.append(clock.now)
        swept.set()
        return 1

    scheduler = ExpiryScheduler(clock, sweep)
    scheduler.start()
    scheduler.schedule(1060.0)
    scheduler.schedule(1060.0)
    scheduler.wake()
    await asyncio.sleep(0.05)
    assert calls == []
    clock.now = 1060.0
    scheduler.wake()
    await asyncio.wait_for(swept.wait(), 1)
    await asyncio.sleep(0.05)
    assert calls == [1060.0]
    assert scheduler.pending == 0
    await scheduler.stop()


async def test_real_time_due_time_fires_without_a_wake() -> None:
    """With a due time 50 ms ahead the scheduler sleeps until then by itself."""
    loop = asyncio.get_running_loop()
    swept = asyncio.Event()

    async def sweep() -> int:
        swept.set()
        return 0

    scheduler = ExpiryScheduler(loop.time, sweep)
    scheduler.start()
    scheduler.schedule(loop.time() + 0.05)
    await asyncio.wait_for(swept.wait(), 1)
    await scheduler.stop()


async def test_a_failing_sweep_is_retried() -> None:
    """A sweep that raises (store down) is tried again rather than killing the scheduler."""
    clock = Clock()
    attempts: list[int] = []
    done = asyncio.Event()

    async def sweep() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("store down")
        done.set()
        return 1

    scheduler = ExpiryScheduler(clock, sweep)
    scheduler.start()
    scheduler.schedule(clock.now)
    await asyncio.wait_for(done.wait(), 3)
    assert len(attempts) == 2
    await scheduler.stop()
