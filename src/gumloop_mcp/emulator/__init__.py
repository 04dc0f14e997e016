"""The bundled Gumloop API emulator (aiohttp): both hosts on one port, seeded demo data, state progression
on an injectable clock, 429 concurrency limits, signed artifact links, SSE, fault injection."""

from gumloop_mcp.emulator.app import RunningEmulator, create_app, start_emulator
from gumloop_mcp.emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "RunningEmulator", "create_app", "start_emulator"]
