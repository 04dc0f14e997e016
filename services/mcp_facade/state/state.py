"""The façade's shared state: the seam that lets any replica serve any request.

What used to live in one process's memory goes through a `FacadeState`:
- the per-server call budget (a token bucket),
- a session's end (DELETE) and its logging level,
- task records, with a replica's liveness (heartbeat) so readers can tell a dead owner,
- which replica holds a legacy HTTP+SSE stream,
- messages between replicas: `send()` to one replica (task cancellation, relayed legacy
  SSE POSTs) and `broadcast()` to all (a task reached a terminal state).

Two backends: `MemoryState` (this module; one process, the embedded default) and
`RedisState` (state_redis.py; several replicas on one Redis). The composition root
(server.py, `open_state()`) picks one from the settings.

Failure policy when the backend is unreachable (Redis down):
- `take_call` and `session_state` fail OPEN: the call is allowed, the session is taken as
  not ended with no logging level. The budget guards a quota against a runaway model and
  the session record only adds DELETE/setLevel on top of a signed, expiring, re-authorised
  session id; refusing every request while Redis is down would turn a cache outage into a
  full outage. Each failure is counted (`gmcp_facade_state_unavailable_total{feature}`)
  and logged at most once per `_WARN_EVERY_S` per feature. A failure also trips a short
  breaker (`_BREAKER_S`): meanwhile these reads fail open without trying Redis, so a hung
  Redis costs one request a socket timeout, not every request.
- everything else (ending a session, setting a level, tasks, stream presence, messages)
  raises `StateUnavailable`, which callers turn into a clear error: a write that did not
  happen is never acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .budget import CallBudget

if TYPE_CHECKING:
    from ..metrics import FacadeMetrics

__all__ = ["FacadeState", "MemoryState", "StateUnavailable"]

logger = logging.getLogger(__name__)

_WARN_EVERY_S: Final = 30.0
_BREAKER_S: Final = 2.0
# Bound the in-memory records so a flood of sessions or tasks cannot grow memory without limit.
_MAX_RECORDS: Final = 50_000
_MAX_TASK_RECORDS: Final = 10_000

Handler = Callable[[dict[str, Any]], None]


class StateUnavailable(Exception):
    """The shared state backend (Redis) could not be reached or answered badly."""


class FacadeState(ABC):
    """Shared façade state; see the module docstring for the failure policy."""

    def __init__(self, metrics: FacadeMetrics | None = None) -> None:
        # Names this process among the replicas: task owner, stream owner, message address.
        self.replica_id = secrets.token_hex(8)
        self._metrics = metrics
        self._handlers: dict[str, Handler] = {}
        self._last_warning: dict[str, float] = {}
        self._tripped_until = 0.0

    def on_message(self, kind: str, handler: Handler) -> None:
        """Call `handler(message)` for every message of `kind` this replica receives."""
        self._handlers[kind] = handler

    def _dispatch(self, message: dict[str, Any]) -> None:
        handler = self._handlers.get(str(message.get("kind")))
        if handler is None:
            return
        try:
            handler(message)
        except Exception:  # one bad message must not stop the listener
            logger.exception("state message handler failed")

    def degraded(self, feature: str, exc: BaseException, *, failing_open: bool = True) -> None:
        """Count a backend failure of `feature`, warn about it (rate-limited) and trip the breaker."""
        if self._metrics is not None:
            self._metrics.state_unavailable.labels(feature).inc()
        now = time.monotonic()
        self._tripped_until = now + _BREAKER_S
        if now - self._last_warning.get(feature, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._last_warning[feature] = now
            # The exception text may carry the URL (and its password): log only its kind.
            outcome = "failing open" if failing_open else "answering with an error"
            logger.warning("façade state unavailable for %s (%s); %s", feature, type(exc).__name__, outcome)

    def tripped(self, feature: str) -> bool:
        """Whether a recent failure says to fail open without trying the backend (counted)."""
        if time.monotonic() >= self._tripped_until:
            return False
        if self._metrics is not None:
            self._metrics.state_unavailable.labels(feature).inc()
        return True

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect and start background work (listener, heartbeat)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop background work and release connections."""

    # -- call budget (fails open) ------------------------------------------------------

    @abstractmethod
    async def take_call(self, key: str, per_minute: int) -> float:
        """Consume one call of `key`'s bucket: 0 when allowed, else seconds until the next one."""

    # -- sessions --------------------------------------------------------------------

    @abstractmethod
    async def session_state(self, nonce: str) -> tuple[bool, str | None]:
        """(ended, logging level) of a session; fails open to (False, None)."""

    @abstractmethod
    async def end_session(self, nonce: str, expires_at: float) -> None:
        """Mark the session ended until its expiry (epoch seconds)."""

    @abstractmethod
    async def set_session_level(self, nonce: str, level: str, expires_at: float) -> None:
        """Remember the session's logging level until its expiry."""

    # -- tasks -----------------------------------------------------------------------

    @abstractmethod
    async def create_task(self, record: dict[str, Any]) -> None:
        """Store a new task record (keys `id`, `server`, `created`, `ttl` in ms) for `ttl` from now."""

    @abstractmethod
    async def update_task(self, record: dict[str, Any]) -> None:
        """Replace an existing record, keeping its expiry (a no-op once it expired)."""

    @abstractmethod
    async def load_task(self, server_id: str, task_id: str) -> dict[str, Any] | None:
        """The record of `server_id`'s task, or None."""

    @abstractmethod
    async def list_tasks(self, server_id: str) -> list[dict[str, Any]]:
        """The server's unexpired task records, oldest first."""

    @abstractmethod
    async def replica_alive(self, replica_id: str) -> bool:
        """Whether that replica's heartbeat is current."""

    # -- legacy SSE stream presence ----------------------------------------------------

    @abstractmethod
    async def claim_stream(self, conn_id: str, server_id: str, ttl_s: float) -> None:
        """Announce (or refresh) that this replica holds stream `conn_id` for `ttl_s`."""

    @abstractmethod
    async def release_stream(self, conn_id: str) -> None:
        """Forget the stream (closed), unless another replica has claimed it since (one step)."""

    @abstractmethod
    async def stream_owner(self, conn_id: str) -> tuple[str, str] | None:
        """(replica id, server id) of an open stream, or None."""

    # -- a session's resource watches, counted across replicas -------------------------

    @abstractmethod
    async def reserve_watch(self, conn_key: str, uri: str, limit: int, ttl_s: float) -> bool:
        """Record that this replica watches `uri` for the session (kept `ttl_s` at least); False when
        the session already watches `limit` other resources on any replica. A `uri` already recorded
        is always allowed and becomes this replica's (a subscribe takes a watch over)."""

    @abstractmethod
    async def release_watch(self, conn_key: str, uri: str | None, *, any_replica: bool = False) -> None:
        """Forget the session's watch of `uri` while this replica holds it, or whoever holds it with
        `any_replica` (the client unsubscribed); `uri` None forgets them all (the session ended)."""

    # -- messages between replicas --------------------------------------------------------

    @abstractmethod
    async def send(self, replica_id: str, message: dict[str, Any]) -> bool:
        """Deliver `message` (JSON-able, with a `kind`) to one replica; False when nobody got it."""

    @abstractmethod
    async def broadcast(self, message: dict[str, Any]) -> None:
        """Deliver `message` to every replica, this one included."""


class MemoryState(FacadeState):
    """One process's state: exactly the façade's single-replica behaviour."""

    def __init__(
        self, metrics: FacadeMetrics | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(metrics)
        self._clock = clock
        self._budgets: dict[int, CallBudget] = {}
        self._sessions: OrderedDict[str, tuple[bool, str | None, float]] = OrderedDict()
        self._tasks: OrderedDict[tuple[str, str], tuple[dict[str, Any], float]] = OrderedDict()
        self._streams: dict[str, tuple[str, float]] = {}
        # Session -> watched URI -> expiry (one replica: every watch is this one's).
        self._watches: OrderedDict[str, dict[str, float]] = OrderedDict()

    async def take_call(self, key: str, per_minute: int) -> float:
        """See FacadeState."""
        budget = self._budgets.get(per_minute)
        if budget is None:
            budget = self._budgets[per_minute] = CallBudget(per_minute)
        return budget.take(key)

    async def session_state(self, nonce: str) -> tuple[bool, str | None]:
        """See FacadeState."""
        entry = self._sessions.get(nonce)
        if entry is None or entry[2] <= self._clock():
            return False, None
        return entry[0], entry[1]

    async def end_session(self, nonce: str, expires_at: float) -> None:
        """See FacadeState."""
        self._remember_session(nonce, (True, None, expires_at))

    async def set_session_level(self, nonce: str, level: str, expires_at: float) -> None:
        """See FacadeState."""
        ended, _ = await self.session_state(nonce)
        self._remember_session(nonce, (ended, level, expires_at))

    def _remember_session(self, nonce: str, entry: tuple[bool, str | None, float]) -> None:
        self._sessions[nonce] = entry
        self._sessions.move_to_end(nonce)
        while len(self._sessions) > _MAX_RECORDS:
            self._sessions.popitem(last=False)

    async def create_task(self, record: dict[str, Any]) -> None:
        """See FacadeState."""
        self._expire_tasks()
        expires = self._clock() + int(record["ttl"]) / 1000
        self._tasks[(str(record["server"]), str(record["id"]))] = (dict(record), expires)
        while len(self._tasks) > _MAX_TASK_RECORDS:
            self._tasks.popitem(last=False)

    async def update_task(self, record: dict[str, Any]) -> None:
        """See FacadeState."""
        key = (str(record["server"]), str(record["id"]))
        entry = self._tasks.get(key)
        if entry is not None and entry[1] > self._clock():
            self._tasks[key] = (dict(record), entry[1])

    async def load_task(self, server_id: str, task_id: str) -> dict[str, Any] | None:
        """See FacadeState."""
        self._expire_tasks()
        entry = self._tasks.get((server_id, task_id))
        return dict(entry[0]) if entry is not None else None

    async def list_tasks(self, server_id: str) -> list[dict[str, Any]]:
        """See FacadeState."""
        self._expire_tasks()
        records = [dict(r) for (server, _), (r, _) in self._tasks.items() if server == server_id]
        return sorted(records, key=lambda r: float(r["created"]))

    def _expire_tasks(self) -> None:
        now = self._clock()
        for key in [k for k, (_, expires) in self._tasks.items() if expires <= now]:
            del self._tasks[key]

    async def replica_alive(self, replica_id: str) -> bool:
        """See FacadeState: only this process exists."""
        return replica_id == self.replica_id

    async def claim_stream(self, conn_id: str, server_id: str, ttl_s: float) -> None:
        """See FacadeState."""
        self._streams[conn_id] = (server_id, self._clock() + ttl_s)

    async def release_stream(self, conn_id: str) -> None:
        """See FacadeState."""
        self._streams.pop(conn_id, None)

    async def stream_owner(self, conn_id: str) -> tuple[str, str] | None:
        """See FacadeState."""
        entry = self._streams.get(conn_id)
        if entry is None or entry[1] <= self._clock():
            return None
        return self.replica_id, entry[0]

    async def reserve_watch(self, conn_key: str, uri: str, limit: int, ttl_s: float) -> bool:
        """See FacadeState."""
        now = self._clock()
        watched = {u: end for u, end in self._watches.pop(conn_key, {}).items() if end > now}
        if uri not in watched and len(watched) >= limit:
            self._watches[conn_key] = watched
            return False
        watched[uri] = max(watched.get(uri, 0.0), now + ttl_s)
        self._watches[conn_key] = watched
        while len(self._watches) > _MAX_RECORDS:
            self._watches.popitem(last=False)
        return True

    async def release_watch(self, conn_key: str, uri: str | None, *, any_replica: bool = False) -> None:
        """See FacadeState."""
        if uri is None:
            self._watches.pop(conn_key, None)
        elif conn_key in self._watches:
            self._watches[conn_key].pop(uri, None)
            if not self._watches[conn_key]:
                del self._watches[conn_key]

    async def send(self, replica_id: str, message: dict[str, Any]) -> bool:
        """See FacadeState."""
        if replica_id != self.replica_id or str(message.get("kind")) not in self._handlers:
            return False
        self._dispatch(message)
        return True

    async def broadcast(self, message: dict[str, Any]) -> None:
        """See FacadeState."""
        self._dispatch(message)
        await asyncio.sleep(0)
