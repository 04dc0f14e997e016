"""Where the authorization server keeps its records: a small key/value seam, memory or Redis.

Records are JSON objects under keys the service builds from SHA-256 digests of the secrets (codes,
tokens, client secrets): no secret is ever a key or a value. Every record has a lifetime. `claim`
stores a record only where none is: one caller wins, even across replicas, which is how a code or a
refresh token is redeemed once and a second redemption is told apart; `replace` writes only over a
live record, so renewing a grant never revives one another replica revoked meanwhile. `take` reads
and deletes in one step (connect codes). Per-server indexes (sets of grant ids) let the management API list
grants; members whose record has expired are pruned on read.

Nothing is cached in a replica: every check reads the backend, so a revocation written by one
replica holds on every other at once (on Redis; the memory backend serves one process).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from typing import Any, Final

__all__ = ["GrantStore", "MemoryGrantStore", "StoreUnavailable"]

# Bound the in-memory records so a flood of registrations cannot grow memory without limit.
_MAX_MEMORY_RECORDS: Final = 100_000


class StoreUnavailable(Exception):
    """The backend (Redis) could not be reached or answered badly."""


class GrantStore(ABC):
    """JSON records with lifetimes, one-winner claim, one-step take, and sets of ids."""

    @abstractmethod
    async def put(self, key: str, record: dict[str, Any], ttl_s: float) -> None:
        """Store `record` under `key` for `ttl_s` seconds (replacing any)."""

    @abstractmethod
    async def claim(self, key: str, record: dict[str, Any], ttl_s: float) -> bool:
        """Store `record` under `key` unless one is there: True for the one caller that stored it."""

    @abstractmethod
    async def replace(self, key: str, record: dict[str, Any], ttl_s: float) -> bool:
        """Store `record` under `key` only where one is already live: whether it was stored.

        Renewing a grant uses this, so a renewal racing a revocation can never bring the
        revoked grant back.
        """

    @abstractmethod
    async def get(self, key: str) -> dict[str, Any] | None:
        """The record under `key`, or None."""

    @abstractmethod
    async def take(self, key: str) -> dict[str, Any] | None:
        """The record under `key`, deleted in the same step (one taker wins), or None."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete `key`; whether it existed."""

    @abstractmethod
    async def add_member(self, index: str, member: str) -> None:
        """Add `member` to the set `index`."""

    @abstractmethod
    async def remove_member(self, index: str, member: str) -> None:
        """Remove `member` from the set `index`."""

    @abstractmethod
    async def members(self, index: str) -> list[str]:
        """The members of the set `index` (sorted)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class MemoryGrantStore(GrantStore):
    """One process (the embedded default)."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[float, str]] = {}
        self._sets: dict[str, set[str]] = {}

    def _live(self, key: str) -> str | None:
        entry = self._records.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._records[key]
            return None
        return entry[1]

    async def put(self, key: str, record: dict[str, Any], ttl_s: float) -> None:
        if len(self._records) >= _MAX_MEMORY_RECORDS:
            now = time.monotonic()
            for stale in [k for k, (until, _) in self._records.items() if until <= now]:
                del self._records[stale]
            if len(self._records) >= _MAX_MEMORY_RECORDS:
                raise StoreUnavailable("too many OAuth records in memory")
        self._records[key] = (time.monotonic() + ttl_s, json.dumps(record))

    async def claim(self, key: str, record: dict[str, Any], ttl_s: float) -> bool:
        if self._live(key) is not None:
            return False
        await self.put(key, record, ttl_s)
        return True

    async def replace(self, key: str, record: dict[str, Any], ttl_s: float) -> bool:
        if self._live(key) is None:
            return False
        await self.put(key, record, ttl_s)
        return True

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = self._live(key)
        return None if raw is None else dict(json.loads(raw))

    async def take(self, key: str) -> dict[str, Any] | None:
        raw = self._live(key)
        self._records.pop(key, None)
        return None if raw is None else dict(json.loads(raw))

    async def delete(self, key: str) -> bool:
        existed = self._live(key) is not None
        self._records.pop(key, None)
        return existed

    async def add_member(self, index: str, member: str) -> None:
        self._sets.setdefault(index, set()).add(member)

    async def remove_member(self, index: str, member: str) -> None:
        members = self._sets.get(index)
        if members is not None:
            members.discard(member)
            if not members:
                del self._sets[index]

    async def members(self, index: str) -> list[str]:
        return sorted(self._sets.get(index, ()))
