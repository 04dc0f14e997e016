"""``python -m gumloop_mcp.emulator`` announces its port, serves, and stops on SIGTERM."""

import asyncio
import json
import os
import signal
import sys

import httpx


async def test_entry_point_prints_serving_line_and_stops_on_sigterm() -> None:
    """One JSON line on stdout with the port; health answers; SIGTERM exits cleanly."""
    env = {**os.environ, "GMCP_EMULATOR_PORT": "0", "GMCP_EMULATOR_HOST": "127.0.0.1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gumloop_mcp.emulator", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=30))
        assert line["event"] == "serving" and line["service"] == "emulator"
        port = line["ports"]["http"]
        async with httpx.AsyncClient() as c:
            assert (await c.get(f"http://127.0.0.1:{port}/__emulator/health")).json() == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
