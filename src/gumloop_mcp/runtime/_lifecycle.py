"""How every process runs: until SIGTERM/SIGINT or a stop event, then a graceful, timed shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol, TypeVar

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


S = TypeVar("S", bound=Servable)


async def serve_until_stopped(
    create: Callable[[], Awaitable[S]],
    *,
    ports: Callable[[S], dict[str, int]],
    grace_s: float,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], None] | None = None,
    description: str = "service",
) -> None:
    """Create and start a service, report its `ports` to `on_ready`, serve until a signal or `stop`, then
    stop it giving in-flight work `grace_s` seconds.

    Signals are trapped before the service is created, so a SIGTERM that arrives while starting, or right
    after the ready line, still ends in a graceful stop and exit code 0.
    """
    stop = stop or asyncio.Event()
    with stop_on_signals(stop):
        service = await create()
        try:
            await service.start()
            bound = ports(service)
            logger.info("%s serving on %s", description, bound)
            if on_ready is not None:
                on_ready(bound)
            await stop.wait()
        finally:
            started = time.monotonic()
            logger.info("shutting down, grace %.1fs", grace_s)
            await service.stop(grace_s)
            logger.info("stopped after %.2fs", time.monotonic() - started)
