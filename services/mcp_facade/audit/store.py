"""Where the audit trail lives: the `AuditStore` contract and the in-memory backend (factory.py chooses).

Backends: `MemoryAuditStore` (here; one process, lost on restart), `SqliteAuditStore`
(store_sqlite.py; a 0600 file under GMCP_FACADE_DATA_DIR) and `RedisAuditStore` (store_redis.py;
one sorted set per server, shared by replicas). Each keeps records until `sweep` removes those
older than the retention period (the recorder calls it periodically).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from .records import AuditPage, AuditQuery, AuditRecord, page_of, sort_key

__all__ = ["AuditStore", "AuditUnavailable", "MemoryAuditStore"]

logger = logging.getLogger(__name__)

# The in-memory backend keeps at most this many records per server (the oldest go first).
MEMORY_MAX_PER_SERVER: Final = 10_000


class AuditUnavailable(Exception):
    """The audit store could not be reached or answered badly."""


class AuditStore(ABC):
    """A per-server, time-ordered trail of tool calls."""

    async def start(self) -> None:
        """Open connections or files (idempotent)."""
        return None

    async def close(self) -> None:
        """Release connections or files."""
        return None

    @abstractmethod
    async def append(self, records: Sequence[AuditRecord]) -> None:
        """Store a batch (AuditUnavailable when it could not be stored)."""

    @abstractmethod
    async def query(self, query: AuditQuery) -> AuditPage:
        """One page of a server's trail, newest first."""

    @abstractmethod
    async def sweep(self, before_ms: int) -> int:
        """Delete every record older than `before_ms`; how many went."""

    @abstractmethod
    async def summary(self, server_id: str, since_ms: int) -> tuple[int | None, int]:
        """The time (ms) of the server's latest call, and how many calls it had since `since_ms`."""

    @abstractmethod
    async def latest(self, server_id: str, outcomes: frozenset[str]) -> AuditRecord | None:
        """The server's newest record with one of `outcomes`, or None."""


class MemoryAuditStore(AuditStore):
    """The trail in this process's memory, bounded per server."""

    def __init__(self, max_per_server: int = MEMORY_MAX_PER_SERVER) -> None:
        self._max = max_per_server
        # Oldest first per server; appends arrive almost in order, so a sort on insert stays cheap.
        self._records: dict[str, list[AuditRecord]] = defaultdict(list)

    async def append(self, records: Sequence[AuditRecord]) -> None:
        touched = set()
        for record in records:
            self._records[record.server_id].append(record)
            touched.add(record.server_id)
        for server_id in touched:
            trail = self._records[server_id]
            trail.sort(key=sort_key)
            del trail[: max(0, len(trail) - self._max)]

    async def query(self, query: AuditQuery) -> AuditPage:
        found: list[AuditRecord] = []
        for record in reversed(self._records.get(query.server_id, [])):
            if query.matches(record):
                found.append(record)
                if len(found) > query.limit:
                    break
        return page_of(found, query.limit)

    async def sweep(self, before_ms: int) -> int:
        removed = 0
        for server_id in list(self._records):
            trail = self._records[server_id]
            kept = [r for r in trail if r.time_ms >= before_ms]
            removed += len(trail) - len(kept)
            if kept:
                self._records[server_id] = kept
            else:
                del self._records[server_id]
        return removed

    async def summary(self, server_id: str, since_ms: int) -> tuple[int | None, int]:
        trail = self._records.get(server_id, [])
        if not trail:
            return None, 0
        # The trail is sorted by (time, id): the calls since `since_ms` are a suffix.
        return trail[-1].time_ms, len(trail) - bisect_left(trail, since_ms, key=lambda r: r.time_ms)

    async def latest(self, server_id: str, outcomes: frozenset[str]) -> AuditRecord | None:
        return next((r for r in reversed(self._records.get(server_id, [])) if r.outcome in outcomes), None)
