"""``python -m gumloop_mcp.emulator``: serve until SIGTERM/SIGINT."""

import asyncio
import json

from gumloop_mcp import runtime
from gumloop_mcp.emulator.server import serve
from gumloop_mcp.emulator.settings import EmulatorSettings

settings = EmulatorSettings()
runtime.configure(settings.log_level)
asyncio.run(
    serve(
        settings,
        on_ready=lambda port: print(
            json.dumps({"event": "serving", "service": "emulator", "ports": {"http": port}}), flush=True
        ),
    )
)
