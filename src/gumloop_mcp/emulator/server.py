"""Serve the emulator until a signal or ``stop``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gumloop_mcp.emulator.app import start_emulator
from gumloop_mcp.emulator.settings import EmulatorSettings
from gumloop_mcp.runtime import stop_on_signals


async def serve(
    settings: EmulatorSettings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT or ``stop`` is set."""
    stop = stop or asyncio.Event()
    with stop_on_signals(stop):
        running = await start_emulator(settings)
        try:
            if on_ready is not None:
                on_ready(running.port)
            await stop.wait()
        finally:
            await running.close()
