"""The audit trail on Redis: one sorted set per server, scored by time, shared by every replica.

A member is `<id> <record JSON>`: members of equal score sort by their bytes, so the set's order is
the trail's (time, id) order and a cursor resumes exactly. `<prefix>audit:servers` lists the
servers with a trail, for the retention sweep (ZREMRANGEBYSCORE per server).

Filters (tool, outcome) are applied while reading the window newest first, in chunks; the window is
bounded by the retention period.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .records import AuditPage, AuditQuery, AuditRecord, page_of
from .store import AuditStore, AuditUnavailable

__all__ = ["RedisAuditStore"]

_CONNECT_TIMEOUT_S: Final = 2.0
_SOCKET_TIMEOUT_S: Final = 5.0
# Members read per round trip while filtering a page.
_CHUNK: Final = 500


def _member(record: AuditRecord) -> str:
    return f"{record.id} {record.to_json()}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(member: object) -> AuditRecord:
    return AuditRecord.from_json(_text(member).split(" ", 1)[1])


class RedisAuditStore(AuditStore):
    """AuditStore on Redis (see the module docstring for the layout)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._prefix = f"{prefix}audit:"
        self._redis: aioredis.Redis = aioredis.from_url(
            url, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=_SOCKET_TIMEOUT_S
        )

    def _key(self, server_id: str) -> str:
        return f"{self._prefix}server:{server_id}"

    @property
    def _servers(self) -> str:
        return f"{self._prefix}servers"

    async def close(self) -> None:
        await self._redis.aclose()

    async def append(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for record in records:
                    pipe.zadd(self._key(record.server_id), {_member(record): record.time_ms})
                pipe.sadd(self._servers, *{r.server_id for r in records})
                await pipe.execute()
        except RedisError as exc:
            raise AuditUnavailable(f"audit store: {exc.__class__.__name__}") from exc

    async def query(self, query: AuditQuery) -> AuditPage:
        high: int | str = "+inf"
        if query.after is not None:
            high = query.after[0]
        if query.until_ms is not None:
            until = f"({query.until_ms}"
            high = until if high == "+inf" or query.until_ms <= int(high) else high
        low: int | str = "-inf" if query.since_ms is None else query.since_ms
        found: list[AuditRecord] = []
        offset = 0
        try:
            while len(found) <= query.limit:
                chunk = await self._redis.zrevrangebyscore(
                    self._key(query.server_id), high, low, start=offset, num=_CHUNK
                )
                for member in chunk:
                    record = _parse(member)
                    if query.matches(record):
                        found.append(record)
                        if len(found) > query.limit:
                            break
                if len(chunk) < _CHUNK:
                    break
                offset += _CHUNK
        except RedisError as exc:
            raise AuditUnavailable(f"audit store: {exc.__class__.__name__}") from exc
        return page_of(found, query.limit)

    async def sweep(self, before_ms: int) -> int:
        removed = 0
        try:
            for raw in await self._redis.smembers(self._servers):
                server_id = _text(raw)
                key = self._key(server_id)
                removed += int(await self._redis.zremrangebyscore(key, "-inf", f"({before_ms}"))
                if await self._redis.zcard(key) == 0:
                    await self._redis.srem(self._servers, server_id)
        except RedisError as exc:
            raise AuditUnavailable(f"audit store: {exc.__class__.__name__}") from exc
        return removed

    async def summary(self, server_id: str, since_ms: int) -> tuple[int | None, int]:
        key = self._key(server_id)
        try:
            latest = await self._redis.zrevrange(key, 0, 0, withscores=True)
            count = await self._redis.zcount(key, since_ms, "+inf")
        except RedisError as exc:
            raise AuditUnavailable(f"audit store: {exc.__class__.__name__}") from exc
        return (int(latest[0][1]) if latest else None), int(count)

    async def latest(self, server_id: str, outcomes: frozenset[str]) -> AuditRecord | None:
        # Newest first in chunks: the record wanted is almost always in the first one.
        offset = 0
        try:
            while True:
                chunk = await self._redis.zrevrange(self._key(server_id), offset, offset + _CHUNK - 1)
                for member in chunk:
                    record = _parse(member)
                    if record.outcome in outcomes:
                        return record
                if len(chunk) < _CHUNK:
                    return None
                offset += _CHUNK
        except RedisError as exc:
            raise AuditUnavailable(f"audit store: {exc.__class__.__name__}") from exc
