"""The event loop every service runs on: uvloop (libuv), a drop-in for asyncio's own loop.

Measured with `python -m bench.profile_call --baseline` (alternated A/B on the same machine): it takes a
noticeable share off each loopback hop, since every call crosses three event loops (façade, proxy,
tokens on a cache miss). aiohttp and grpc.aio both run on it unchanged.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

__all__ = ["run_service"]

T = TypeVar("T")


def run_service(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new uvloop event loop (as `asyncio.run` does with its own)."""
    return uvloop.run(main)
