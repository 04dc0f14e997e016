"""The bundled Gumloop API emulator (aiohttp): both hosts on one port, seeded demo data, state progression
on an injectable clock, Gumloop's plans (``GMCP_EMULATOR_PLAN`` free | pro | enterprise: concurrency limits
for workflow runs and agent interactions, 429 on Free/Pro, FIFO queueing on Enterprise; unset = one pool of
``max_concurrent_runs``, default 3, refusing with 429), agent/skill versions, signed artifact links, SSE,
fault injection. Settings: settings.py; plans: plans.py."""

from gumloop_mcp.emulator.app import RunningEmulator, create_app, start_emulator
from gumloop_mcp.emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "RunningEmulator", "create_app", "start_emulator"]
