"""Idempotency keys for InvokeOperation: a repeated call replays the first answer.

The cache is in memory, per process (an LRU bounded by entries, with a TTL): a retry that lands
on another replica, or after a restart, goes upstream again. Keys are scoped to the account.
A key reused with another operation or other arguments is refused (FAILED_PRECONDITION) rather
than silently answered with an unrelated response. Concurrent calls with the same key wait for
the first one instead of going upstream twice; a failed first call frees the key for a retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import IdempotencyKeyReused

__all__ = ["IdempotencyCache", "fingerprint"]


def fingerprint(operation: str, arguments: Mapping[str, Any]) -> str:
    """A digest of the operation and its arguments, independent of key order."""
    canonical = json.dumps([operation, arguments], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class _Entry:
    fingerprint: str
    stored_at: float
    result: asyncio.Future[bytes]


class IdempotencyCache:
    """Serialized responses by (account id, key), bounded by `max_entries` and `ttl_s`."""

    def __init__(
        self, ttl_s: float, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def run(
        self, account_id: str, key: str, digest: str, call: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        """The stored answer for (account, key) or the result of `call()`; True when replayed."""
        now = self._clock()
        slot = (account_id, key)
        entry = self._entries.get(slot)
        if entry is not None and now - entry.stored_at > self._ttl_s:
            del self._entries[slot]
            entry = None
        if entry is not None:
            if entry.fingerprint != digest:
                raise IdempotencyKeyReused(
                    f"idempotency key {key!r} was already used with a different operation or arguments; "
                    "use a new key for a different request"
                )
            self._entries.move_to_end(slot)
            # shield: a cancelled waiter must not cancel the first caller's work.
            return await asyncio.shield(entry.result), True
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._entries[slot] = _Entry(digest, now, future)
        self._evict()
        try:
            result = await call()
        except BaseException as exc:
            if self._entries.get(slot) is not None and self._entries[slot].result is future:
                del self._entries[slot]
            future.set_exception(exc)
            # Nobody may be waiting; retrieve the exception so asyncio does not warn about it.
            future.exception()
            raise
        future.set_result(result)
        return result, False

    def _evict(self) -> None:
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
