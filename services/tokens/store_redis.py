"""The Redis backend, for several replicas: key TTLs do the hard delete, pub/sub carries revocations.

Layout (every key starts with the configured prefix P):

    P srv:<id>            hash    the MCP server record (+ current token hash); PEXPIREAT at expiry
    P srvtoks:<id>        set     every token hash of the record (current and in grace)
    P tok:<hash>          string  {"s": server id, "u": grace end or null, "h": hash}; PEXPIREAT at the end
    P acct:<account>      zset    record ids by create_time (newest-first listing)
    P api:<id>            hash    an API token record (+ its hash); PEXPIREAT at expiry
    P apitok:<hash>       string  API token id
    P apis / apiacct:<a>  zset    API token ids by create_time (all / per account)
    P exp                 zset    due items by due time, swept by every replica (ZREM decides who reports)
    P revocations         channel JSON revocation events, relayed by every replica to its own watchers

Redis deletes expired keys by itself even with no replica running; the sweep cleans the indices and
reports EXPIRED exactly once (the replica whose ZREM removed the entry). Reads also compare expiry with
the injected clock, so nothing expired is ever returned. Mutations of existing records run in
WATCH/MULTI transactions so that a record deleted concurrently is never resurrected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .errors import StoreUnavailable
from .expiry import ExpiryScheduler
from .redis_codec import (
    api_from_hash,
    api_to_hash,
    decode_time,
    encode_time,
    millis,
    server_from_hash,
    server_to_hash,
)
from .redis_feed import RevocationFeed
from .revocations import RevocationHub
from .store import (
    ApiTokenRecord,
    Clock,
    Cursor,
    Resolution,
    RevocationKind,
    ScopeChanged,
    ServerRecord,
    ServerUpdate,
)

__all__ = ["RedisTokenStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Other replicas schedule expiries this one never hears about; sweeping this often keeps EXPIRED
# events within the one-second budget.
_POLL_INTERVAL_S: Final = 0.5
_SWEEP_BATCH: Final = 500
# Sets a field only when the hash still exists, so touching last-used never resurrects a deleted record.
_TOUCH_LUA: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


def _json_list(value: Any) -> str:
    return json.dumps(list(value))


# How each updatable field is spelled in the record's hash (see redis_codec.server_to_hash).
_FIELD_ENCODERS: Final[dict[str, Callable[[Any], str]]] = {
    "name": str,
    "methods": _json_list,
    "tags": _json_list,
    "expire_time": encode_time,
    "require_api_token_auth": lambda value: "1" if value else "0",
    "tool_exposure": str,
    "context_budget_tokens": str,
    "audit_payloads": lambda value: "1" if value else "0",
    "require_oauth": lambda value: "1" if value else "0",
    "oauth_allowed_emails": _json_list,
    "oauth_allowed_domains": _json_list,
    "oauth_allowed_groups": _json_list,
    "update_time": repr,
}


class RedisTokenStore:
    """TokenStore on Redis (see store.TokenStore for the contract and the module docstring for keys)."""

    def __init__(self, url: str, prefix: str, hub: RevocationHub, clock: Clock) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=5.0
        )
        self._p = prefix
        self._clock = clock
        self._feed = RevocationFeed(self._redis, f"{prefix}revocations", hub, clock)
        self._touch = self._redis.register_script(_TOUCH_LUA)
        self.expiry = ExpiryScheduler(clock, self.sweep, poll_interval_s=_POLL_INTERVAL_S)

    # -- plumbing ---------------------------------------------------------------------------------

    async def _guard(self, operation: Awaitable[Any]) -> Any:
        """Await a redis-py call, turning connection failures into StoreUnavailable."""
        try:
            return await operation
        except RedisError as exc:
            logger.error("redis store failed: %s", exc)
            raise StoreUnavailable(f"token store (Redis) unavailable: {exc}") from exc

    def _k(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    async def _publish(self, kind: RevocationKind, *, server_id: str = "", api_token_id: str = "") -> None:
        await self._guard(self._feed.publish(kind, server_id=server_id, api_token_id=api_token_id))

    async def start(self) -> None:
        """Subscribe to the revocation channel and start the sweeper; waits briefly for Redis."""
        await self._feed.start()
        self.expiry.start()

    async def close(self) -> None:
        """Stop the sweeper and the listener, close the connection pool."""
        await self.expiry.stop()
        await self._feed.close()
        await self._redis.aclose()

    # -- expiry -----------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Remove due items; the replica whose ZREM succeeds cleans up and reports."""
        now = self._clock()
        exp = self._k("exp")
        due: list[str] = await self._guard(
            self._redis.zrangebyscore(exp, "-inf", now, start=0, num=_SWEEP_BATCH)
        )
        count = 0
        for member in due:
            kind, item_id, owner = json.loads(member)
            if kind == "srv":
                # Checked again under WATCH: an update may have moved the expiry since the read above.
                if await self._expire_server(member, item_id, owner, now):
                    await self._publish(RevocationKind.EXPIRED, server_id=item_id)
                    count += 1
                continue
            if not await self._guard(self._redis.zrem(exp, member)):
                continue  # another replica took it
            if kind == "tok":
                await self._guard(self._redis.delete(self._k("tok", item_id)))
                await self._guard(self._redis.srem(self._k("srvtoks", owner), item_id))
            elif kind == "api":
                await self._drop_api(item_id, owner)
                await self._publish(RevocationKind.API_TOKEN_REVOKED, api_token_id=item_id)
                count += 1
        if count:
            logger.info("expired %d records", count)
        return count

    def _exp_member(self, kind: str, item_id: str, owner: str) -> str:
        return json.dumps([kind, item_id, owner])

    async def _expire_server(self, member: str, server_id: str, account_id: str, now: float) -> bool:
        """Drop a record found due, if it still is; True when this replica's ZREM removed its entry
        (so exactly one replica reports it).

        Under WATCH of the record: one whose expiry was extended (or cleared) since the index was read
        stays, its index entry re-scored to the new expiry, and an update landing meanwhile makes the
        transaction retry with what it wrote.
        """
        srv, exp = self._k("srv", server_id), self._k("exp")

        async def body(pipe: Any) -> bool:
            data = await pipe.hgetall(srv)
            expire = decode_time(data.get("expire_time")) if data else None
            if data and (expire is None or expire > now):
                pipe.multi()
                if expire is None:
                    pipe.zrem(exp, member)
                else:
                    pipe.zadd(exp, {member: expire})
                await pipe.execute()
                return False
            hashes: set[str] = await pipe.smembers(self._k("srvtoks", server_id))
            pipe.multi()
            pipe.zrem(exp, member)
            self._queue_drop_server(pipe, server_id, account_id, hashes)
            results: list[Any] = await pipe.execute()
            return bool(results[0])

        return await self._watched(srv, body)

    def _queue_drop_server(self, pipe: Any, server_id: str, account_id: str, hashes: set[str]) -> None:
        """Queue deleting a record's keys (the record's own DEL first) and its index entries."""
        pipe.delete(self._k("srv", server_id))
        pipe.delete(self._k("srvtoks", server_id))
        for token_hash in hashes:
            pipe.delete(self._k("tok", token_hash))
            pipe.zrem(self._k("exp"), self._exp_member("tok", token_hash, server_id))
        pipe.zrem(self._k("acct", account_id), server_id)
        pipe.zrem(self._k("exp"), self._exp_member("srv", server_id, account_id))

    async def _drop_server(self, server_id: str, account_id: str) -> bool:
        """Delete a record's keys and index entries; True when the record key still existed.

        Runs under WATCH of the record so a rotation landing in between cannot leave its new token key behind.
        """
        srv = self._k("srv", server_id)

        async def body(pipe: Any) -> bool:
            hashes: set[str] = await pipe.smembers(self._k("srvtoks", server_id))
            pipe.multi()
            self._queue_drop_server(pipe, server_id, account_id, hashes)
            results: list[Any] = await pipe.execute()
            return bool(results[0])

        return await self._watched(srv, body)

    async def _drop_api(self, token_id: str, account_id: str) -> bool:
        """Delete an API token's keys and index entries; True when its record key still existed."""
        token_hash = await self._guard(self._redis.hget(self._k("api", token_id), "token_hash"))
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._k("api", token_id))
        if token_hash:
            pipe.delete(self._k("apitok", token_hash))
        pipe.zrem(self._k("apis"), token_id)
        pipe.zrem(self._k("apiacct", account_id), token_id)
        pipe.zrem(self._k("exp"), self._exp_member("api", token_id, account_id))
        results: list[Any] = await self._guard(pipe.execute())
        return bool(results[0])

    # -- MCP servers ------------------------------------------------------------------------------

    async def create_server(self, record: ServerRecord, token_hash: str) -> None:
        """Write the record, its token key and its indices in one MULTI."""
        srv, tok, toks = self._k("srv", record.id), self._k("tok", token_hash), self._k("srvtoks", record.id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(srv, mapping={**server_to_hash(record), "token_hash": token_hash})
        pipe.set(tok, json.dumps({"s": record.id, "u": None, "h": token_hash}))
        pipe.sadd(toks, token_hash)
        pipe.zadd(self._k("acct", record.account_id), {record.id: record.create_time})
        if record.expire_time is not None:
            for key in (srv, tok, toks):
                pipe.pexpireat(key, millis(record.expire_time))
            pipe.zadd(
                self._k("exp"), {self._exp_member("srv", record.id, record.account_id): record.expire_time}
            )
        await self._guard(pipe.execute())
        if record.expire_time is not None:
            self.expiry.schedule(record.expire_time)

    async def _load_server(self, server_id: str, now: float) -> ServerRecord | None:
        data: dict[str, str] = await self._guard(self._redis.hgetall(self._k("srv", server_id)))
        if not data:
            return None
        record = server_from_hash(data)
        return record if record.expire_time is None or record.expire_time > now else None

    async def get_server(self, server_id: str) -> ServerRecord | None:
        """The live record with this id."""
        return await self._load_server(server_id, self._clock())

    async def _page(
        self, index: str, limit: int, after: Cursor | None, load: Callable[[str], Awaitable[T | None]]
    ) -> tuple[list[T], Cursor | None]:
        # Ties in score come back in reverse lexicographic order, matching "create_time, id" descending.
        out: list[tuple[T, float, str]] = []
        offset = 0
        top: Any = after[0] if after is not None else "+inf"
        while len(out) <= limit:
            chunk: list[tuple[str, float]] = await self._guard(
                self._redis.zrevrangebyscore(index, top, "-inf", start=offset, num=limit + 1, withscores=True)
            )
            if not chunk:
                break
            offset += len(chunk)
            for member, score in chunk:
                if after is not None and score == after[0] and member >= after[1]:
                    continue
                item = await load(member)
                if item is not None:
                    out.append((item, score, member))
                if len(out) > limit:
                    break
        page = out[:limit]
        cursor = (page[-1][1], page[-1][2]) if len(out) > limit else None
        return [item for item, _, _ in page], cursor

    async def list_servers(
        self, account_id: str, limit: int, after: Cursor | None
    ) -> tuple[list[ServerRecord], Cursor | None]:
        """A newest-first page of an account's live records."""
        now = self._clock()
        return await self._page(
            self._k("acct", account_id), limit, after, lambda sid: self._load_server(sid, now)
        )

    async def _watched(self, key: str, body: Callable[[Any], Awaitable[bool]]) -> bool:
        """Run `body(pipe)` under WATCH `key`, retrying when another client changed it meanwhile."""

        async def attempt() -> bool:
            async with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        return await body(pipe)
                    except aioredis.WatchError:
                        continue

        done: bool = await self._guard(attempt())
        return done

    async def _token_untils(self, pipe: Any, server_id: str) -> dict[str, float | None]:
        hashes: set[str] = await pipe.smembers(self._k("srvtoks", server_id))
        untils: dict[str, float | None] = {}
        for token_hash in hashes:
            raw = await pipe.get(self._k("tok", token_hash))
            if raw:
                untils[token_hash] = json.loads(raw)["u"]
        return untils

    async def update_server(self, server_id: str, update: ServerUpdate) -> ServerRecord | None:
        """HSET only the updated fields under WATCH of the record; when the expiry changes, re-date
        every key and the expiry index to it."""
        now = self._clock()
        srv = self._k("srv", server_id)
        changes = update.changes()
        mapping = {name: _FIELD_ENCODERS[name](value) for name, value in changes.items()}
        written: list[ServerRecord] = []

        async def body(pipe: Any) -> bool:
            data = await pipe.hgetall(srv)
            if not data or (decode_time(data.get("expire_time")) or float("inf")) <= now:
                await pipe.unwatch()
                return False
            current = server_from_hash(data)
            if update.scope_moved(current.methods, current.tags):
                await pipe.unwatch()
                raise ScopeChanged(server_id)
            expire_changed = "expire_time" in changes
            untils = await self._token_untils(pipe, server_id) if expire_changed else {}
            pipe.multi()
            pipe.hset(srv, mapping=mapping)
            if expire_changed:
                expire: float | None = changes["expire_time"]
                member = self._exp_member("srv", server_id, current.account_id)
                self._date_keys(pipe, server_id, expire, untils)
                if expire is None:
                    pipe.zrem(self._k("exp"), member)
                else:
                    pipe.zadd(self._k("exp"), {member: expire})
            await pipe.execute()
            # WATCH guarantees the hash was `data` when MULTI ran; the record is `data` plus our fields.
            written[:] = [server_from_hash({**data, **mapping})]
            return True

        if not await self._watched(srv, body):
            return None
        record = written[0]
        if record.expire_time is not None:
            self.expiry.schedule(record.expire_time)
        await self._publish(RevocationKind.UPDATED, server_id=server_id)
        return record

    def _date_keys(
        self, pipe: Any, server_id: str, expire: float | None, untils: dict[str, float | None]
    ) -> None:
        """Queue TTLs for the record and its tokens: the record's expiry, or a grace end when earlier."""
        for key in (self._k("srv", server_id), self._k("srvtoks", server_id)):
            if expire is None:
                pipe.persist(key)
            else:
                pipe.pexpireat(key, millis(expire))
        for token_hash, until in untils.items():
            ends = [t for t in (until, expire) if t is not None]
            if ends:
                pipe.pexpireat(self._k("tok", token_hash), millis(min(ends)))
            else:
                pipe.persist(self._k("tok", token_hash))

    async def delete_server(self, server_id: str) -> bool:
        """Delete the record, its tokens and index entries; report DELETED."""
        record = await self.get_server(server_id)
        # Of two concurrent deletes only the one whose DEL removed the key reports it.
        if record is None or not await self._drop_server(server_id, record.account_id):
            return False
        await self._publish(RevocationKind.DELETED, server_id=server_id)
        return True

    async def rotate_server_token(
        self, server_id: str, new_hash: str, new_prefix: str, old_token_until: float
    ) -> ServerRecord | None:
        """Swap the current hash; keep the old one until `old_token_until` (or drop it now)."""
        now = self._clock()
        srv = self._k("srv", server_id)

        async def body(pipe: Any) -> bool:
            data = await pipe.hgetall(srv)
            expire = decode_time(data.get("expire_time")) if data else None
            if not data or (expire is not None and expire <= now):
                await pipe.unwatch()
                return False
            old_hash = data["token_hash"]
            untils = await self._token_untils(pipe, server_id)
            pipe.multi()
            pipe.hset(
                srv, mapping={"token_hash": new_hash, "token_prefix": new_prefix, "update_time": repr(now)}
            )
            if old_token_until <= now:
                pipe.delete(self._k("tok", old_hash))
                pipe.srem(self._k("srvtoks", server_id), old_hash)
                untils.pop(old_hash, None)
            else:
                pipe.set(
                    self._k("tok", old_hash),
                    json.dumps({"s": server_id, "u": old_token_until, "h": old_hash}),
                    keepttl=True,
                )
                untils[old_hash] = old_token_until
                pipe.zadd(self._k("exp"), {self._exp_member("tok", old_hash, server_id): old_token_until})
            pipe.set(self._k("tok", new_hash), json.dumps({"s": server_id, "u": None, "h": new_hash}))
            pipe.sadd(self._k("srvtoks", server_id), new_hash)
            untils[new_hash] = None
            self._date_keys(pipe, server_id, expire, untils)
            await pipe.execute()
            return True

        if not await self._watched(srv, body):
            return None
        if old_token_until > now:
            self.expiry.schedule(old_token_until)
        await self._publish(RevocationKind.ROTATED, server_id=server_id)
        return await self.get_server(server_id)

    async def resolve(self, token_hash: str, touch_after_s: float) -> Resolution | None:
        """GET the token key, then the record; both must be live by the clock."""
        now = self._clock()
        raw = await self._guard(self._redis.get(self._k("tok", token_hash)))
        if not raw:
            return None
        entry = json.loads(raw)
        until: float | None = entry["u"]
        if until is not None and until <= now:
            return None
        record = await self._load_server(entry["s"], now)
        if record is None:
            return None
        if record.last_used_time is None or now - record.last_used_time >= touch_after_s:
            await self._guard(
                self._touch(keys=[self._k("srv", record.id)], args=["last_used_time", repr(now)])
            )
            record = replace(record, last_used_time=now)
        ends = [t for t in (until, record.expire_time) if t is not None]
        return Resolution(record, min(ends) if ends else None, str(entry.get("h", "")))

    # -- API tokens -------------------------------------------------------------------------------

    async def create_api_token(self, record: ApiTokenRecord, token_hash: str) -> None:
        """Write the API token, its hash key and its indices in one MULTI."""
        api, apitok = self._k("api", record.id), self._k("apitok", token_hash)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(api, mapping={**api_to_hash(record), "token_hash": token_hash})
        pipe.set(apitok, record.id)
        pipe.zadd(self._k("apis"), {record.id: record.create_time})
        if record.account_id:
            pipe.zadd(self._k("apiacct", record.account_id), {record.id: record.create_time})
        if record.expire_time is not None:
            pipe.pexpireat(api, millis(record.expire_time))
            pipe.pexpireat(apitok, millis(record.expire_time))
            pipe.zadd(
                self._k("exp"), {self._exp_member("api", record.id, record.account_id): record.expire_time}
            )
        await self._guard(pipe.execute())
        if record.expire_time is not None:
            self.expiry.schedule(record.expire_time)

    async def _load_api(self, token_id: str, now: float) -> ApiTokenRecord | None:
        data: dict[str, str] = await self._guard(self._redis.hgetall(self._k("api", token_id)))
        if not data:
            return None
        record = api_from_hash(data)
        return record if record.expire_time is None or record.expire_time > now else None

    async def list_api_tokens(
        self, account_id: str, limit: int, after: Cursor | None
    ) -> tuple[list[ApiTokenRecord], Cursor | None]:
        """A newest-first page of live API tokens."""
        now = self._clock()
        index = self._k("apiacct", account_id) if account_id else self._k("apis")
        return await self._page(index, limit, after, lambda tid: self._load_api(tid, now))

    async def delete_api_token(self, token_id: str) -> bool:
        """Hard-delete an API token; report API_TOKEN_REVOKED."""
        record = await self._load_api(token_id, self._clock())
        if record is None or not await self._drop_api(token_id, record.account_id):
            return False
        await self._publish(RevocationKind.API_TOKEN_REVOKED, api_token_id=token_id)
        return True

    async def verify_api_token(
        self, token_hash: str, touch_after_s: float
    ) -> tuple[ApiTokenRecord, str] | None:
        """The live API token with this hash, and the hash as stored in its record."""
        now = self._clock()
        token_id = await self._guard(self._redis.get(self._k("apitok", token_hash)))
        if not token_id:
            return None
        data: dict[str, str] = await self._guard(self._redis.hgetall(self._k("api", token_id)))
        if not data:
            return None
        record = api_from_hash(data)
        if record.expire_time is not None and record.expire_time <= now:
            return None
        if record.last_used_time is None or now - record.last_used_time >= touch_after_s:
            await self._guard(
                self._touch(keys=[self._k("api", record.id)], args=["last_used_time", repr(now)])
            )
            record = replace(record, last_used_time=now)
        return record, data.get("token_hash", "")
