"""Idempotency keys for InvokeOperation: a repeated call replays the first answer.

Two stores implement one contract (`IdempotencyStore`); server.py's `open_idempotency_store` picks
one by settings.store:

- `MemoryIdempotencyStore` (store=sqlite, the single-process default): an LRU in this process,
  bounded by entries, with a TTL. A restart forgets every key.
- `RedisIdempotencyStore` (store=redis, idempotency_redis.py): shared by every replica and kept
  across restarts, so a retry that lands on another replica still replays the first answer.

The contract: keys are scoped to the account. Only successful upstream answers (the serialized
InvokeOperationResponse) are stored; a failed first call frees the key so a retry goes upstream.
A key reused with another operation or other arguments is refused (IdempotencyKeyReused,
FAILED_PRECONDITION) rather than answered with an unrelated response. Concurrent calls with the
same key wait for the first one (up to their deadline, then UpstreamTimeout) instead of going
upstream twice; when the first one fails, a waiting call goes upstream itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .errors import IdempotencyKeyReused, UpstreamTimeout

if TYPE_CHECKING:
    pass

__all__ = [
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "fingerprint",
    "key_reused",
    "wait_timed_out",
]

Call = Callable[[], Awaitable[bytes]]


def fingerprint(operation: str, arguments: Mapping[str, Any]) -> str:
    """A digest (64 hex characters) of the operation and its arguments, independent of key order."""
    canonical = json.dumps([operation, arguments], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_reused(key: str) -> IdempotencyKeyReused:
    """The refusal for a key already used with another fingerprint."""
    return IdempotencyKeyReused(
        f"idempotency key {key!r} was already used with a different operation or arguments; "
        "use a new key for a different request"
    )


def wait_timed_out() -> UpstreamTimeout:
    """The error for a caller whose deadline ran out while the first call with its key still ran."""
    return UpstreamTimeout(
        "the caller's deadline ran out while the first call with this idempotency key was still "
        "running; retry with the same key to receive its answer"
    )


class IdempotencyStore(Protocol):
    """Runs a call at most once per (account, key) and replays its stored answer."""

    async def run(
        self, account_id: str, key: str, digest: str, call: Call, *, deadline: float | None = None
    ) -> tuple[bytes, bool]:
        """The stored answer for (account, key) or the result of `call()`; True when replayed.

        `digest` is the request's fingerprint; a stored one that differs raises IdempotencyKeyReused.
        `deadline` (a time.monotonic() instant) bounds the wait for a concurrent first call.
        """
        ...

    async def close(self) -> None:
        """Release connections, if any."""
        ...


@dataclass
class _Entry:
    fingerprint: str
    stored_at: float
    # The answer, or None when the first call failed (the key is free again).
    result: asyncio.Future[bytes | None]


class MemoryIdempotencyStore:
    """Serialized responses by (account id, key) in this process, bounded by `max_entries` and `ttl_s`."""

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
        self, account_id: str, key: str, digest: str, call: Call, *, deadline: float | None = None
    ) -> tuple[bytes, bool]:
        """The stored answer for (account, key) or the result of `call()`; True when replayed."""
        slot = (account_id, key)
        while True:
            now = self._clock()
            entry = self._entries.get(slot)
            if entry is not None and now - entry.stored_at > self._ttl_s:
                del self._entries[slot]
                entry = None
            if entry is None:
                break
            if entry.fingerprint != digest:
                raise key_reused(key)
            self._entries.move_to_end(slot)
            stored = await self._wait(entry.result, deadline)
            if stored is not None:
                return stored, True
            # The first call failed and freed the key: this call may go upstream itself.
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._entries[slot] = _Entry(digest, now, future)
        self._evict()
        try:
            result = await call()
        except BaseException:
            if self._entries.get(slot) is not None and self._entries[slot].result is future:
                del self._entries[slot]
            future.set_result(None)
            raise
        future.set_result(result)
        return result, False

    @staticmethod
    async def _wait(result: asyncio.Future[bytes | None], deadline: float | None) -> bytes | None:
        # shield: a cancelled or timed-out waiter must not cancel the first caller's work.
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return await asyncio.wait_for(asyncio.shield(result), timeout)
        except TimeoutError:
            raise wait_timed_out() from None

    def _evict(self) -> None:
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def close(self) -> None:
        """Nothing to release."""
