"""The event loop every service runs on: uvloop (libuv), a drop-in for asyncio's own loop.

Measured with `python -m bench.profile_call --baseline` (alternated A/B on the same machine): it takes a
noticeable share off each loopback hop, since every call crosses three event loops (façade, proxy,
tokens on a cache miss). aiohttp and grpc.aio both run on it unchanged.
"""

from __future__ import annotations

import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

__all__ = ["freeze_startup_heap", "run_service"]

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
