"""The authorization server's records on Redis: several façade replicas share them (see store.py).

Its own module so that redis-py (~20 MiB resident) is imported only when the façade's store is Redis.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from .store import GrantStore, StoreUnavailable

__all__ = ["RedisGrantStore"]


class RedisGrantStore(GrantStore):
    """Several replicas on one Redis (the façade's GMCP_FACADE_REDIS_URL, its own key prefix)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._prefix = prefix
        self._redis: aioredis.Redis = aioredis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def put(self, key: str, record: dict[str, Any], ttl_s: float) -> None:
        try:
            await self._redis.set(self._key(key), json.dumps(record), px=max(1, int(ttl_s * 1000)))
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    async def claim(self, key: str, record: dict[str, Any], ttl_s: float) -> bool:
        try:
            stored = await self._redis.set(
                self._key(key), json.dumps(record), px=max(1, int(ttl_s * 1000)), nx=True
            )
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return bool(stored)

    async def replace(self, key: str, record: dict[str, Any], ttl_s: float) -> bool:
        try:
            stored = await self._redis.set(
                self._key(key), json.dumps(record), px=max(1, int(ttl_s * 1000)), xx=True
            )
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return bool(stored)

    @staticmethod
    def _decode(raw: bytes | str | None) -> dict[str, Any] | None:
        return None if raw is None else dict(json.loads(raw))

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            return self._decode(await self._redis.get(self._key(key)))
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    async def take(self, key: str) -> dict[str, Any] | None:
        try:
            return self._decode(await self._redis.getdel(self._key(key)))
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    async def delete(self, key: str) -> bool:
        try:
            return bool(await self._redis.delete(self._key(key)))
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    async def add_member(self, index: str, member: str) -> None:
        try:
            await self._redis.sadd(self._key(index), member)
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    async def remove_member(self, index: str, member: str) -> None:
        try:
            await self._redis.srem(self._key(index), member)
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    async def members(self, index: str) -> list[str]:
        try:
            raw = await self._redis.smembers(self._key(index))
        except aioredis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in raw)

    async def close(self) -> None:
        await self._redis.aclose()
