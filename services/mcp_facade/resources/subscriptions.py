"""resources/subscribe: a session's watched resources, polled, and their updates sent on its stream.

Gumloop pushes nothing, so each subscription polls its resource (the same read as resources/read)
every `interval_s` and, when what a read returns changed, sends `notifications/resources/updated`
on the stream the session holds open: the Streamable HTTP GET stream, or the HTTP+SSE stream
(transports `attach` it). A change seen while no stream is attached is sent once one is.

Subscriptions live in this replica's memory, keyed by the session's connection key: behind a load
balancer without session affinity, the GET stream and the subscribe request must reach the same
replica (as for elicitation answers). A subscription ends on unsubscribe, when its session expires,
when its resource disappears (one last update says so), when its server is revoked (protocol/
features.py holds it in LiveWork) or at shutdown. The 2026-07-28 revision has no sessions: there
are no subscriptions there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from .errors import InvalidParams, ResourceNotFound

__all__ = ["DEFAULT_MAX_PER_SESSION", "Subscriptions"]

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
Fingerprint = Callable[[], Awaitable[str]]
DEFAULT_MAX_PER_SESSION: Final = 8


@dataclass(slots=True)
class _Watch:
    task: asyncio.Task[None] | None = None
    on_end: list[Callable[[], None]] = field(default_factory=list)


class Subscriptions:
    """Subscriptions of every session this replica serves."""

    def __init__(
        self,
        *,
        interval_s: float,
        max_per_session: int = DEFAULT_MAX_PER_SESSION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval_s = interval_s
        self._max = max_per_session
        self._clock = clock
        self._streams: dict[str, list[Send]] = {}
        self._watches: dict[tuple[str, str], _Watch] = {}

    def attach(self, conn_key: str, send: Send, *, ends_watches: bool = False) -> Callable[[], None]:
        """A session's standing stream opened: updates go to the newest one. Returns the detach, which
        with `ends_watches` also ends the session's watches (an HTTP+SSE connection is its session)."""
        self._streams.setdefault(conn_key, []).append(send)

        def detach() -> None:
            sends = self._streams.get(conn_key)
            if sends is not None and send in sends:
                sends.remove(send)
                if not sends:
                    del self._streams[conn_key]
            if ends_watches:
                for uri in self.watching(conn_key):
                    self.unsubscribe(conn_key, uri)

        return detach

    def watching(self, conn_key: str) -> list[str]:
        """The URIs a session watches."""
        return sorted(uri for key, uri in self._watches if key == conn_key)

    async def subscribe(
        self, conn_key: str, uri: str, fingerprint: Fingerprint, *, until: float, on_end: Callable[[], None]
    ) -> None:
        """Watch `uri` for the session until `until` (epoch seconds); idempotent.

        The first read happens now, so an unknown resource is refused here (ResourceNotFound).
        `on_end` runs once when the watch stops, whatever stops it.
        """
        key = (conn_key, uri)
        if key in self._watches:
            on_end()
            return
        if len(self.watching(conn_key)) >= self._max:
            on_end()
            raise InvalidParams(
                f"A session may watch at most {self._max} resources; unsubscribe from one first"
            )
        watch = _Watch(on_end=[on_end])
        self._watches[key] = watch  # taken before the first read: a concurrent duplicate waits its turn
        try:
            baseline = await fingerprint()
        except BaseException:
            self._end(key, watch)
            raise
        if self._watches.get(key) is watch:  # not unsubscribed while the first read ran
            watch.task = asyncio.create_task(self._run(key, watch, fingerprint, baseline, until))

    def unsubscribe(self, conn_key: str, uri: str) -> bool:
        """Stop watching; False when the session was not watching `uri`."""
        watch = self._watches.get((conn_key, uri))
        if watch is None:
            return False
        self._stop((conn_key, uri), watch)
        return True

    def _stop(self, key: tuple[str, str], watch: _Watch) -> None:
        if watch.task is not None:
            watch.task.cancel()
        self._end(key, watch)  # now: a task cancelled before it ever ran has no finally to do it

    def _end(self, key: tuple[str, str], watch: _Watch) -> None:
        if self._watches.get(key) is watch:
            del self._watches[key]
        callbacks, watch.on_end = watch.on_end, []
        for callback in callbacks:
            callback()

    def cut(self, conn_key: str, uri: str) -> None:
        """End a watch at once (its server was revoked or expired)."""
        self.unsubscribe(conn_key, uri)

    async def _run(
        self, key: tuple[str, str], watch: _Watch, fingerprint: Fingerprint, last: str, until: float
    ) -> None:
        conn_key, uri = key
        pending = False
        try:
            while self._clock() < until:
                await asyncio.sleep(self._interval_s)
                try:
                    now = await fingerprint()
                except ResourceNotFound:
                    await self._notify(conn_key, uri)  # the client reads it and learns it is gone
                    return
                except Exception as exc:  # a failed poll is retried at the next interval
                    logger.info("polling a subscribed resource failed: %s", type(exc).__name__)
                    continue
                if now != last:
                    last, pending = now, True
                if pending and await self._notify(conn_key, uri):
                    pending = False
        finally:
            self._end(key, watch)

    async def _notify(self, conn_key: str, uri: str) -> bool:
        """Send the update on the session's newest stream; False when it has none (or it failed)."""
        sends = self._streams.get(conn_key)
        if not sends:
            return False
        note = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
        try:
            await sends[-1](note)
        except (ConnectionResetError, OSError):
            return False
        return True

    @property
    def active(self) -> int:
        """How many resources are watched."""
        return len(self._watches)

    async def close(self) -> None:
        """End every watch (shutdown)."""
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        for key, watch in list(self._watches.items()):
            self._stop(key, watch)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
