"""Idempotency keys in Redis, shared by every proxy replica and kept across restarts.

One Redis string per (account, key) at `<prefix>idem:<account id>:<sha256 hex of the client's key>`
(the client's key itself never reaches Redis). Its value is one state byte, the request's
fingerprint (64 hex characters), then:

- `P` + fingerprint + claim id: a lease. Taken with SET NX PX (lease_s) by the one caller that goes
  upstream; it renews the lease every lease_s / 3 while the call runs, so a lease outlives a slow
  call but a crashed holder's lease expires within lease_s and a waiting caller takes the key over.
- `D` + fingerprint + the serialized InvokeOperationResponse: the stored answer, kept for ttl_s.

Completing, renewing and releasing are Lua scripts that act only while the lease still carries
the caller's claim id, so a holder that lost its lease never overwrites or frees another's.
Callers that find a lease with their fingerprint poll (backoff 20 ms up to 500 ms) until the answer
appears, the key is freed (the first call failed: they claim it) or their deadline passes.

Redis unreachable: a call with an idempotency key is refused with StoreUnavailable (UNAVAILABLE)
before anything is sent upstream, so an outage can never cause a silent double execution. Every
command has a connect and socket timeout and is also bounded by asyncio.timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .errors import StoreUnavailable
from .idempotency import Call, key_reused, wait_timed_out

__all__ = ["RedisIdempotencyStore"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_PENDING = b"P"
_DONE = b"D"
_FINGERPRINT_LEN = 64
_POLL_FIRST_S = 0.02
_POLL_MAX_S = 0.5

# The lease check shared by the scripts: the value is `P` + fingerprint (64) + ARGV[1] (claim id).
_IS_OURS = """
local v = redis.call('GET', KEYS[1])
local ours = v and string.sub(v, 1, 1) == 'P' and string.sub(v, 66) == ARGV[1]
"""
# KEYS: slot. ARGV: claim id, answer value, ttl ms. 1 when stored, 0 when the lease is not ours.
_COMPLETE = (
    _IS_OURS
    + """
if ours then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0
"""
)
# KEYS: slot. ARGV: claim id, lease ms. 1 when extended, 0 when the lease is not ours.
_RENEW = (
    _IS_OURS
    + """
if ours then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
)
# KEYS: slot. ARGV: claim id. 1 when freed, 0 when the lease is not ours.
_RELEASE = (
    _IS_OURS
    + """
if ours then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""
)


class RedisIdempotencyStore:
    """IdempotencyStore on Redis: at most one replica goes upstream per (account, key)."""

    def __init__(
        self, url: str, prefix: str, *, ttl_s: float, lease_s: float, timeout_s: float = 2.0
    ) -> None:
        if ttl_s <= 0 or lease_s <= 0 or timeout_s <= 0:
            raise ValueError("idempotency ttl, lease and Redis timeout must be positive")
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._lease_s = lease_s
        self._lease_ms = max(1, int(lease_s * 1000))
        self._timeout_s = timeout_s
        # No client-side retries: a down Redis must answer within one timeout, not several.
        self._redis: aioredis.Redis = aioredis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 0),
        )
        self._complete = self._redis.register_script(_COMPLETE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    def slot(self, account_id: str, key: str) -> str:
        """The Redis key for (account, client key): the client's key only as a SHA-256 digest."""
        return f"{self._prefix}idem:{account_id}:{hashlib.sha256(key.encode()).hexdigest()}"

    async def _command(self, work: Awaitable[_T]) -> _T:
        """One Redis round trip, bounded; a failure becomes StoreUnavailable (UNAVAILABLE)."""
        try:
            async with asyncio.timeout(self._timeout_s + 0.5):
                return await work
        except (RedisError, OSError, TimeoutError) as exc:
            # The URL may carry a password: report only the failure kind.
            logger.warning("idempotency store (Redis) unavailable: %s", type(exc).__name__)
            raise StoreUnavailable(
                "the idempotency store (Redis) is unavailable "
                f"({type(exc).__name__}); the call was not sent to Gumloop, so it cannot have run twice. "
                "Retry later with the same idempotency key"
            ) from exc

    async def run(
        self, account_id: str, key: str, digest: str, call: Call, *, deadline: float | None = None
    ) -> tuple[bytes, bool]:
        """The stored answer for (account, key) or the result of `call()`; True when replayed."""
        if len(digest) != _FINGERPRINT_LEN:
            raise ValueError("digest must be a 64-character fingerprint")
        slot = self.slot(account_id, key)
        claim = secrets.token_hex(16)
        lease = _PENDING + digest.encode() + claim.encode()
        pause = _POLL_FIRST_S
        while True:
            if await self._command(self._redis.set(slot, lease, nx=True, px=self._lease_ms)):
                return await self._run_claimed(slot, claim, digest, call), False
            found = await self._command(self._redis.get(slot))
            if found is None:
                continue  # freed or expired between SET and GET: claim again
            value = found if isinstance(found, bytes) else found.encode()
            if value[1 : 1 + _FINGERPRINT_LEN] != digest.encode():
                raise key_reused(key)
            if value[:1] == _DONE:
                return value[1 + _FINGERPRINT_LEN :], True
            # Another call holds the lease with our fingerprint: wait for its answer.
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise wait_timed_out()
                pause = min(pause, remaining)
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, _POLL_MAX_S)

    async def _run_claimed(self, slot: str, claim: str, digest: str, call: Call) -> bytes:
        renewing = asyncio.create_task(self._keep_lease(slot, claim))
        try:
            result = await call()
        except BaseException:
            renewing.cancel()
            # Free the key so a retry (or a waiting replica) may go upstream; best effort: if
            # Redis is down now, the lease expires on its own.
            with contextlib.suppress(StoreUnavailable):
                await self._command(self._release(keys=[slot], args=[claim]))
            raise
        renewing.cancel()
        try:
            stored = await self._command(
                self._complete(keys=[slot], args=[claim, _DONE + digest.encode() + result, self._ttl_ms])
            )
        except StoreUnavailable:
            # The work is done upstream: answer it. A retry after the lease expires repeats it.
            logger.warning("idempotency answer not stored (Redis unavailable); the lease will expire")
            return result
        if not stored:
            logger.warning("idempotency lease was lost before the answer was stored (a slow call?)")
        return result

    async def _keep_lease(self, slot: str, claim: str) -> None:
        """Renew the lease every lease_s / 3 until cancelled, so a slow call keeps its key."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                ours = await self._command(self._renew(keys=[slot], args=[claim, self._lease_ms]))
            except StoreUnavailable:
                continue
            if not ours:
                logger.warning("idempotency lease was lost while the call ran (a slow call?)")
                return

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
