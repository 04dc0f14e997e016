"""Serve the emulator until a signal or ``stop``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from gumloop_mcp.emulator.app import start_emulator
from gumloop_mcp.emulator.settings import EmulatorSettings


async def serve(
    settings: EmulatorSettings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT or ``stop`` is set."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    running = await start_emulator(settings)
    try:
        if on_ready is not None:
            on_ready(running.port)
        await stop.wait()
    finally:
        await running.close()
