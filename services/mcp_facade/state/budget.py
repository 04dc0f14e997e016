"""Per-server call budget: a token bucket of `calls_per_minute` keyed by server id.

`CallBudget` is the in-process bucket behind the memory state (one replica). With
store=redis every replica takes from one shared bucket instead (an atomic Lua script
on Redis time, state_redis.py), failing open when Redis is unreachable (state.py).
The budget's purpose is stopping a runaway model from draining the Gumloop quota, and one
client from making the façade build answers without end: tools/call, tools/list and every
request of a JSON-RPC batch take from it (protocol.py; the answer over budget: over_budget.py).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Final

__all__ = ["CallBudget"]

_MAX_KEYS: Final = 100_000


class CallBudget:
    """Token buckets refilled continuously at `per_minute / 60` per second, capacity `per_minute`."""

    def __init__(self, per_minute: int, *, clock: Any = time.monotonic) -> None:
        self._capacity = float(max(per_minute, 0))
        self._rate = self._capacity / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Consume one call; returns 0 when allowed, else the seconds until one is available."""
        if self._capacity <= 0:
            return 0.0  # a budget of 0 disables the limit
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > _MAX_KEYS:
                self._buckets.popitem(last=False)
            return 0.0
        self._buckets[key] = (tokens, now)
        wait: float = (1.0 - tokens) / self._rate
        return wait
