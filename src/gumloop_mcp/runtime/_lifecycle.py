"""How every process runs: until SIGTERM/SIGINT or a stop event, then a graceful, timed shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator
from typing import Protocol

__all__ = ["Servable", "serve_until_stopped", "stop_on_signals"]

logger = logging.getLogger(__name__)


class Servable(Protocol):
    """A service that can be started and stopped with a grace period."""

    async def start(self) -> None: ...

    async def stop(self, grace_s: float) -> None: ...


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set `stop` on SIGTERM/SIGINT while inside the block (a no-op off the main thread)."""
    loop = asyncio.get_running_loop()
    trapped: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            trapped.append(sig)
    try:
        yield
    finally:
        for sig in trapped:
            loop.remove_signal_handler(sig)


async def serve_until_stopped(
    service: Servable,
    *,
    ports: Callable[[], dict[str, int]],
    grace_s: float,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], None] | None = None,
    description: str = "service",
) -> None:
    """Start `service`, report its `ports()` to `on_ready`, serve until a signal or `stop`, then stop it
    giving in-flight work `grace_s` seconds."""
    stop = stop or asyncio.Event()
    with stop_on_signals(stop):
        try:
            await service.start()
            bound = ports()
            logger.info("%s serving on %s", description, bound)
            if on_ready is not None:
                on_ready(bound)
            await stop.wait()
        finally:
            started = time.monotonic()
            logger.info("shutting down, grace %.1fs", grace_s)
            await service.stop(grace_s)
            logger.info("stopped after %.2fs", time.monotonic() - started)
