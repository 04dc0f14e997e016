"""Reading `gumloop-mcp up --json`'s start-up events, for the test suites that run the whole system."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

READY_TIMEOUT_S = 90.0


def read_ready(
    process: subprocess.Popen[bytes],
    ports: dict[str, dict[str, int]] | None = None,
    timeout_s: float = READY_TIMEOUT_S,
) -> dict[str, Any]:
    """The "ready" event of `up --json` on `process`'s stdout; each "serving" event before it fills
    `ports` (service name -> its ports). Raises RuntimeError on an "error" event, an exit or a timeout.
    Its stdout is drained for the rest of the process's life, so the pipe never fills."""
    found: dict[str, Any] = {}
    done = threading.Event()

    def scan() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "serving" and ports is not None:
                ports[str(event["service"])] = dict(event["ports"])
            if event.get("event") in ("ready", "error"):
                found.update(event)
                break
        done.set()
        for _ in process.stdout:  # keep draining so the pipe never fills
            pass

    threading.Thread(target=scan, daemon=True).start()
    if not done.wait(timeout_s):
        raise RuntimeError("`gumloop-mcp up` did not become ready in time")
    if found.get("event") != "ready":
        raise RuntimeError(f"`gumloop-mcp up` failed: {found or 'exited'}")
    return found
