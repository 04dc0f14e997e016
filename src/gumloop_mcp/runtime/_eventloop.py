"""The event loop every service runs on: uvloop (libuv), a drop-in for asyncio's own loop.

Measured with `python -m bench.profile_call --baseline` (alternated A/B on the same machine): it takes a
noticeable share off each loopback hop, since every call crosses three event loops (façade, proxy,
tokens on a cache miss). aiohttp and grpc.aio both run on it unchanged.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import uvloop

from ._memory import release_free_memory

__all__ = ["announce_serving", "freeze_startup_heap", "run_service"]

T = TypeVar("T")


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new uvloop event loop (as `asyncio.run` does with its own)."""
    return uvloop.run(main)


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive now out of the collector's reach (`gc.freeze`).

    Each service's entry point calls it once it serves. What startup built (modules, the catalog, compiled
    schemas, protobuf descriptors) lives as long as the process, yet every full collection walked it all
    again: 75-130 ms in the façade, a pause that landed on every call in flight (at concurrency 64, most of
    a run's p99). Frozen, it is never walked again, and a full collection takes what came later (7-19 ms
    measured). Nothing frozen is freed, which is its lifetime anyway. Not for test processes: serve() does
    not call it, the entry points do.
    """
    gc.collect()
    gc.freeze()


def announce_serving(service: str, ports: Mapping[str, int], *, release_heap: bool = True) -> None:
    """A service entry point's `on_ready`: freeze the startup heap, give its freed C heap back
    (`release_heap`; the proxy's start-up frees too little to gain from it), then print the one JSON
    line `gumloop-mcp up` waits for: {"event": "serving", "service": ..., "ports": {...}}."""
    freeze_startup_heap()
    if release_heap:
        release_free_memory()
    print(json.dumps({"event": "serving", "service": service, "ports": dict(ports)}), flush=True)
