"""The Redis account store (redis-py asyncio), shared by every proxy replica.

Keys (under settings.redis_key_prefix): `account:<id>` holds the record as JSON with the secret
only as a Fernet token (and its own sort key); `accounts` is a sorted set (all scores 0, members
`<sort key>` = `<created micros>:<id>`) giving the stable listing order. Create and delete are Lua
scripts so a record and its index entry appear and vanish together; replace (new OAuth tokens or state)
is a Lua compare on the sort key, so it never revives a deleted account. `claim:<name>` (SET NX PX)
holds a claim such as one account's token refresh; `oauth_flow:<sha256 of state>` a pending OAuth flow
(encrypted, PX expiry, taken with GETDEL).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.exceptions import RedisError

from .accounts import (
    NewAccount,
    StoredAccount,
    decode_page_token,
    encode_page_token,
    generate_account_id,
    sort_key,
    stored_from_new,
)
from .crypto import CredentialCipher
from .errors import AlreadyExists, NotFound, StoreUnavailable

__all__ = ["RedisAccountStore"]

logger = logging.getLogger(__name__)

# KEYS: record, index. ARGV: record JSON, sort key. 1 when created, 0 when the id is taken.
_CREATE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
  return 1
end
return 0
"""
# KEYS: record, index. 1 when deleted, 0 when there was no such record.
_DELETE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, record = pcall(cjson.decode, raw)
if ok and type(record) == 'table' and record['sort_key'] then
  redis.call('ZREM', KEYS[2], record['sort_key'])
end
redis.call('DEL', KEYS[1])
return 1
"""


# KEYS: record. ARGV: record JSON, sort key. Writes only over the same incarnation (sort key). 1 / 0.
_REPLACE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, record = pcall(cjson.decode, raw)
if not ok or type(record) ~= 'table' or record['sort_key'] ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
# KEYS: claim. ARGV: claim id. Deletes only the holder's claim.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisAccountStore:
    """AccountStore on Redis."""

    def __init__(self, url: str, prefix: str, cipher: CredentialCipher) -> None:
        self._prefix = prefix
        self._cipher = cipher
        self._redis: aioredis.Redis = aioredis.from_url(
            url, socket_connect_timeout=3, socket_timeout=5, health_check_interval=30, retry_on_timeout=False
        )
        self._create = self._redis.register_script(_CREATE)
        self._delete = self._redis.register_script(_DELETE)
        self._replace = self._redis.register_script(_REPLACE)
        self._release = self._redis.register_script(_RELEASE)

    def _account_key(self, account_id: str) -> str:
        return f"{self._prefix}account:{account_id}"

    @property
    def _index_key(self) -> str:
        return f"{self._prefix}accounts"

    @staticmethod
    def _unavailable(exc: BaseException) -> StoreUnavailable:
        # The URL may carry a password: report only the failure kind.
        logger.warning("account store (Redis) unavailable: %s", type(exc).__name__)
        return StoreUnavailable(f"the account store (Redis) is unavailable: {type(exc).__name__}")

    def _load(self, raw: bytes | str) -> StoredAccount:
        data: dict[str, Any] = json.loads(raw)
        return StoredAccount.from_record(data, self._cipher.decrypt(str(data["id"]), str(data["secret_enc"])))

    async def create(self, spec: NewAccount) -> StoredAccount:
        """Store the account atomically; AlreadyExists when its id is taken."""
        account = stored_from_new(spec, spec.id or generate_account_id())
        member = sort_key(account)
        record = {
            **account.public_record(),
            "sort_key": member,
            "secret_enc": self._cipher.encrypt(account.id, account.stored_secret()),
        }
        try:
            created = await self._create(
                keys=[self._account_key(account.id), self._index_key], args=[json.dumps(record), member]
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if not created:
            raise AlreadyExists(f"account {account.id} exists already")
        return account

    async def get(self, account_id: str) -> StoredAccount:
        """The account; NotFound when there is none."""
        try:
            raw = await self._redis.get(self._account_key(account_id))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if raw is None:
            raise NotFound(f"no integrated account {account_id!r}")
        return self._load(raw)

    async def list(self, page_size: int, page_token: str) -> tuple[list[StoredAccount], str]:
        """A page ordered by creation time then id, and the next page's token."""
        after = decode_page_token(page_token) if page_token else ""
        size = max(1, page_size)
        try:
            members = await self._redis.zrangebylex(
                self._index_key, f"({after}" if after else "-", "+", start=0, num=size + 1
            )
            page = [m.decode() if isinstance(m, bytes) else str(m) for m in members[:size]]
            ids = [m.partition(":")[2] for m in page]
            raws = await self._redis.mget([self._account_key(i) for i in ids]) if ids else []
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        # A member whose record vanished (a delete racing this list) is skipped.
        accounts = [self._load(raw) for raw in raws if raw is not None]
        token = encode_page_token(page[-1]) if len(members) > size else ""
        return accounts, token

    async def delete(self, account_id: str) -> None:
        """Remove the account and its index entry; NotFound when there is none."""
        try:
            deleted = await self._delete(keys=[self._account_key(account_id), self._index_key], args=[])
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if not deleted:
            raise NotFound(f"no integrated account {account_id!r}")

    async def replace(self, account: StoredAccount) -> None:
        """Write over the record of this incarnation (a Lua compare on its sort key); NotFound when gone."""
        member = sort_key(account)
        record = {
            **account.public_record(),
            "sort_key": member,
            "secret_enc": self._cipher.encrypt(account.id, account.stored_secret()),
        }
        try:
            written = await self._replace(
                keys=[self._account_key(account.id)], args=[json.dumps(record), member]
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if not written:
            raise NotFound(f"no integrated account {account.id!r}")

    async def claim(self, name: str, claim_id: str, lease_s: float) -> bool:
        """SET NX PX: the claim is the holder's until it releases it or the lease runs out."""
        try:
            taken = await self._redis.set(
                f"{self._prefix}claim:{name}", claim_id, nx=True, px=max(1, int(lease_s * 1000))
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return bool(taken)

    async def release(self, name: str, claim_id: str) -> None:
        """Delete the claim if `claim_id` still holds it."""
        try:
            await self._release(keys=[f"{self._prefix}claim:{name}"], args=[claim_id])
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def put_flow(self, key: str, payload: SecretStr, ttl_s: float) -> None:
        """The flow encrypted (bound to its key), expiring with Redis's PX."""
        try:
            await self._redis.set(
                f"{self._prefix}oauth_flow:{key}",
                self._cipher.encrypt(key, payload),
                px=max(1, int(ttl_s * 1000)),
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def take_flow(self, key: str) -> SecretStr | None:
        """GETDEL: the first taker gets it, every later one None."""
        try:
            raw = await self._redis.getdel(f"{self._prefix}oauth_flow:{key}")
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if raw is None:
            return None
        return self._cipher.decrypt(key, raw.decode() if isinstance(raw, bytes) else str(raw))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
