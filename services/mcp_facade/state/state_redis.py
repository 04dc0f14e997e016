"""The Redis façade state (redis-py asyncio), shared by every façade replica.

Key layout (prefix `redis_key_prefix`, default "gmcp:facade:"):
- `budget:{server_id}`          hash tokens/ts: the server's token bucket, PEXPIRE'd once full again
- `session:{nonce}`             hash ended/level, PEXPIREAT the session's expiry
- `task:{server_id}:{task_id}`  JSON task record, PX its ttl
- `tasks:{server_id}`           sorted set of the server's task ids by creation time
- `replica:{replica_id}`        heartbeat of a live replica (PX `_HEARTBEAT_TTL_MS`)
- `sse:{conn_id}`               JSON {server, replica}: who holds a legacy SSE stream
Channels: `to:{replica_id}` (messages for one replica) and `broadcast` (all replicas).

No URL token, API token or session signature is ever written: keys carry server ids,
session nonces, task and connection ids only. Every call has a socket timeout, so a
hung Redis costs a request at most `_SOCKET_TIMEOUT_S`; see state.py for what fails
open and what reports an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any, Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from gumloop_mcp.runtime.redis_listen import listen_forever

from .state import FacadeState, StateUnavailable

if TYPE_CHECKING:
    from ..metrics import FacadeMetrics

__all__ = ["RedisState"]

logger = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S: Final = 1.0
_SOCKET_TIMEOUT_S: Final = 2.0
_HEARTBEAT_EVERY_S: Final = 5.0
_HEARTBEAT_TTL_MS: Final = 15_000
_RECONNECT_DELAY_S: Final = 0.5
# How long start() waits for the listener's subscription before serving anyway.
_START_WAIT_S: Final = 2.0
_MAX_LISTED_TASKS: Final = 1000

# Deletes a stream claim only while it names this replica (ARGV[1]): check and delete in one step, so
# a claim another replica took between the two (the client reconnected there) is never deleted.
_RELEASE: Final = """
local value = redis.call('GET', KEYS[1])
if value and cjson.decode(value)['replica'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# A session's watches: a hash URI -> replica. KEYS[1] the hash; ARGV uri, replica, limit, ttl ms.
# A URI already there is allowed (and becomes this replica's); a new one only below the limit.
_RESERVE_WATCH: Final = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
"""
# Forgets one watch; only while ARGV[2] (the replica) holds it, unless ARGV[2] is empty.
_RELEASE_WATCH: Final = """
if ARGV[2] == '' or redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
# Refill and take in one step on Redis time, so replicas' clocks do not matter.
# KEYS[1] bucket; ARGV[1] capacity; returns the wait in seconds as a string (Lua numbers
# returned bare would be truncated to integers).
_TAKE: Final = """
local capacity = tonumber(ARGV[1])
local rate = capacity / 60.0
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisState(FacadeState):
    """FacadeState on Redis; a listener relays this replica's channels to its handlers."""

    def __init__(self, url: str, prefix: str, metrics: FacadeMetrics | None = None) -> None:
        super().__init__(metrics)
        self._prefix = prefix
        self._redis: aioredis.Redis = aioredis.from_url(
            url,
            socket_connect_timeout=_CONNECT_TIMEOUT_S,
            socket_timeout=_SOCKET_TIMEOUT_S,
            health_check_interval=30,
            # One immediate retry heals a pooled connection Redis closed (restart); none on a
            # timeout, so that a hung Redis costs a request one socket timeout, not several.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._take = self._redis.register_script(_TAKE)
        self._release = self._redis.register_script(_RELEASE)
        self._reserve_watch = self._redis.register_script(_RESERVE_WATCH)
        self._release_watch = self._redis.register_script(_RELEASE_WATCH)
        self._background: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._closed = False

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    @property
    def _inbox(self) -> str:
        return self._key("to", self.replica_id)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Beat once, start the heartbeat and the listener; wait briefly for the subscription."""
        await self._beat()  # before serving: a task this replica starts must find its owner alive
        self._background = [
            asyncio.create_task(self._heartbeat(), name="facade-state-heartbeat"),
            asyncio.create_task(self._listen(), name="facade-state-listener"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), _START_WAIT_S)
        if not self._subscribed.is_set():
            logger.warning("redis not reachable yet; shared façade state is degraded until it is")

    async def close(self) -> None:
        """Stop background work, drop the heartbeat, close the pool."""
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._closed:
            return
        self._closed = True
        self._background = []
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._key("replica", self.replica_id))
        await self._redis.aclose()

    async def _beat(self) -> None:
        try:
            await self._redis.set(self._key("replica", self.replica_id), b"1", px=_HEARTBEAT_TTL_MS)
        except (RedisError, OSError) as exc:
            self.degraded("heartbeat", exc)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(_HEARTBEAT_EVERY_S)
            await self._beat()

    async def _listen(self) -> None:
        await listen_forever(
            self._redis,
            [self._inbox, self._key("broadcast")],
            self._relay,
            on_live=self._subscribed.set,
            on_lost=lambda exc: self.degraded("listener", exc),
            reconnect_delay_s=_RECONNECT_DELAY_S,
        )

    def _relay(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            logger.warning("ignoring a malformed façade state message")
            return
        if isinstance(message, dict):
            self._dispatch(message)

    # -- call budget ---------------------------------------------------------------------

    async def take_call(self, key: str, per_minute: int) -> float:
        """See FacadeState (fails open)."""
        if per_minute <= 0 or self.tripped("budget"):
            return 0.0  # a budget of 0 disables the limit; a tripped breaker fails open at once
        try:
            wait = await self._take(keys=[self._key("budget", key)], args=[per_minute])
            return float(_text(wait) or 0)
        except (RedisError, OSError, ValueError) as exc:
            self.degraded("budget", exc)
            return 0.0

    # -- sessions -------------------------------------------------------------------------

    async def session_state(self, nonce: str) -> tuple[bool, str | None]:
        """See FacadeState (fails open)."""
        if self.tripped("session"):
            return False, None
        try:
            ended, level = await self._redis.hmget(self._key("session", nonce), ["ended", "level"])
        except (RedisError, OSError) as exc:
            self.degraded("session", exc)
            return False, None
        return ended is not None, _text(level)

    async def end_session(self, nonce: str, expires_at: float) -> None:
        """See FacadeState."""
        await self._write_session(nonce, {"ended": "1"}, expires_at, drop_level=True)

    async def set_session_level(self, nonce: str, level: str, expires_at: float) -> None:
        """See FacadeState."""
        await self._write_session(nonce, {"level": level}, expires_at)

    async def _write_session(
        self, nonce: str, fields: dict[str, str], expires_at: float, *, drop_level: bool = False
    ) -> None:
        key = self._key("session", nonce)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                if drop_level:
                    pipe.hdel(key, "level")
                pipe.pexpireat(key, int(expires_at * 1000) + 1)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable("session", exc) from None

    # -- tasks ------------------------------------------------------------------------------

    async def create_task(self, record: dict[str, Any]) -> None:
        """See FacadeState."""
        server, task_id, ttl = str(record["server"]), str(record["id"]), int(record["ttl"])
        index = self._key("tasks", server)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("task", server, task_id), json.dumps(record), px=ttl)
                pipe.zadd(index, {task_id: float(record["created"])})
                # The index lives as long as its longest-lived task (GT: never shortened).
                pipe.pexpire(index, ttl, gt=True)
                pipe.pexpire(index, ttl, nx=True)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable("tasks", exc) from None

    async def update_task(self, record: dict[str, Any]) -> None:
        """See FacadeState."""
        key = self._key("task", str(record["server"]), str(record["id"]))
        try:
            await self._redis.set(key, json.dumps(record), xx=True, keepttl=True)
        except (RedisError, OSError) as exc:
            raise self._unavailable("tasks", exc) from None

    async def load_task(self, server_id: str, task_id: str) -> dict[str, Any] | None:
        """See FacadeState."""
        try:
            raw = await self._redis.get(self._key("task", server_id, task_id))
        except (RedisError, OSError) as exc:
            raise self._unavailable("tasks", exc) from None
        return self._record(raw)

    async def list_tasks(self, server_id: str) -> list[dict[str, Any]]:
        """See FacadeState; ids whose record expired are pruned from the index."""
        index = self._key("tasks", server_id)
        try:
            ids = [_text(i) or "" for i in await self._redis.zrange(index, 0, _MAX_LISTED_TASKS - 1)]
            if not ids:
                return []
            raws = await self._redis.mget([self._key("task", server_id, i) for i in ids])
            gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
            if gone:
                await self._redis.zrem(index, *gone)
        except (RedisError, OSError) as exc:
            raise self._unavailable("tasks", exc) from None
        records = [self._record(raw) for raw in raws]
        return [r for r in records if r is not None]

    @staticmethod
    def _record(raw: bytes | str | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    async def replica_alive(self, replica_id: str) -> bool:
        """See FacadeState."""
        if replica_id == self.replica_id:
            return True
        try:
            return bool(await self._redis.exists(self._key("replica", replica_id)))
        except (RedisError, OSError) as exc:
            raise self._unavailable("tasks", exc) from None

    # -- legacy SSE presence ------------------------------------------------------------

    async def claim_stream(self, conn_id: str, server_id: str, ttl_s: float) -> None:
        """See FacadeState."""
        value = json.dumps({"server": server_id, "replica": self.replica_id})
        try:
            await self._redis.set(self._key("sse", conn_id), value, px=int(ttl_s * 1000))
        except (RedisError, OSError) as exc:
            raise self._unavailable("sse", exc) from None

    async def release_stream(self, conn_id: str) -> None:
        """See FacadeState."""
        try:
            await self._release(keys=[self._key("sse", conn_id)], args=[self.replica_id])
        except (RedisError, OSError) as exc:
            raise self._unavailable("sse", exc) from None

    async def stream_owner(self, conn_id: str) -> tuple[str, str] | None:
        """See FacadeState."""
        try:
            raw = await self._redis.get(self._key("sse", conn_id))
        except (RedisError, OSError) as exc:
            raise self._unavailable("sse", exc) from None
        record = self._record(raw)
        if record is None:
            return None
        return str(record.get("replica")), str(record.get("server"))

    # -- a session's resource watches -----------------------------------------------------------

    async def reserve_watch(self, conn_key: str, uri: str, limit: int, ttl_s: float) -> bool:
        """See FacadeState."""
        args: list[str | int] = [uri, self.replica_id, limit, max(1, int(ttl_s * 1000))]
        try:
            return bool(await self._reserve_watch(keys=[self._key("watches", conn_key)], args=args))
        except (RedisError, OSError) as exc:
            raise self._unavailable("subscriptions", exc) from None

    async def release_watch(self, conn_key: str, uri: str | None, *, any_replica: bool = False) -> None:
        """See FacadeState."""
        key = self._key("watches", conn_key)
        try:
            if uri is None:
                await self._redis.delete(key)
            else:
                await self._release_watch(keys=[key], args=[uri, "" if any_replica else self.replica_id])
        except (RedisError, OSError) as exc:
            raise self._unavailable("subscriptions", exc) from None

    # -- messages ---------------------------------------------------------------------------

    async def send(self, replica_id: str, message: dict[str, Any]) -> bool:
        """See FacadeState: PUBLISH to the replica's channel; False when no one listens."""
        try:
            receivers = await self._redis.publish(self._key("to", replica_id), json.dumps(message))
        except (RedisError, OSError) as exc:
            raise self._unavailable("messages", exc) from None
        return int(receivers) > 0

    async def broadcast(self, message: dict[str, Any]) -> None:
        """See FacadeState."""
        try:
            await self._redis.publish(self._key("broadcast"), json.dumps(message))
        except (RedisError, OSError) as exc:
            raise self._unavailable("messages", exc) from None

    def _unavailable(self, feature: str, exc: BaseException) -> StateUnavailable:
        self.degraded(feature, exc, failing_open=False)
        return StateUnavailable(f"the shared state store (Redis) is unavailable: {type(exc).__name__}")
