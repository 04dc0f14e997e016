"""resources/subscribe: a session's watched resources, polled, and their updates sent on its stream.

Gumloop pushes nothing, so each subscription polls its resource (the same read as resources/read)
every `interval_s` and, when what a read returns changed, sends `notifications/resources/updated`
on the stream the session holds open: the Streamable HTTP GET stream, or the HTTP+SSE stream
(transports `attach` it). A change seen while no stream is attached is sent once one is.

A watch runs on the replica that took the subscribe request, keyed by the session's connection key.
With several replicas (`remote`, protocol/stream_relay.py) no session affinity is needed: an update
for a session whose stream another replica holds is sent to that replica; an unsubscribe that finds
no watch here ends it on whichever replica runs it; a subscribe takes the watch over from another
replica (one poller per session and resource). The per-session bound counts the session's watches
on every replica (`reserve`, kept in the shared state; with it down, this replica's own count holds).
A subscription ends on unsubscribe, when its session ends or expires, when its resource disappears
(one last update says so), when its server is revoked (protocol/features.py holds it in LiveWork)
or at shutdown. The 2026-07-28 revision has no sessions: there are no subscriptions there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from .errors import InvalidParams, ResourceNotFound

__all__ = ["DEFAULT_MAX_PER_SESSION", "RemoteStreams", "Subscriptions"]

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
Fingerprint = Callable[[], Awaitable[str]]
DEFAULT_MAX_PER_SESSION: Final = 8


class RemoteStreams(Protocol):
    """The sessions' streams and watches on other replicas (protocol/stream_relay.py implements it)."""

    async def notify(self, conn_key: str, note: dict[str, Any]) -> bool:
        """Send `note` on the session's stream held by another replica; False when none holds one."""
        ...

    async def unsubscribe(self, conn_key: str, uri: str | None) -> None:
        """End the session's watch of `uri` (None: all its watches) on every other replica."""
        ...

    async def reserve(self, conn_key: str, uri: str, limit: int, until: float) -> bool:
        """Count a watch of `uri` against the session's `limit` on every replica; False when full."""
        ...

    def forget(self, conn_key: str, uri: str) -> None:
        """Stop counting this replica's watch, in the background (kept if another took it over)."""
        ...

    async def uncount(self, conn_key: str, uri: str | None) -> None:
        """Stop counting the session's watch of `uri` (None: all) wherever it runs or ran."""
        ...


@dataclass(slots=True)
class _Watch:
    task: asyncio.Task[None] | None = None
    on_end: list[Callable[[], None]] = field(default_factory=list)
    # A change not yet delivered: sent again at the next interval.
    pending: bool = False


class Subscriptions:
    """Subscriptions of every session this replica serves."""

    def __init__(
        self,
        *,
        interval_s: float,
        max_per_session: int = DEFAULT_MAX_PER_SESSION,
        clock: Callable[[], float] = time.time,
        remote: RemoteStreams | None = None,
    ) -> None:
        self._interval_s = interval_s
        self._max = max_per_session
        self._clock = clock
        self.remote = remote
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
                self.end_session(conn_key)

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
            if not await self._reserve(conn_key, uri, until):
                raise InvalidParams(
                    f"A session may watch at most {self._max} resources; unsubscribe from one first"
                )
            await self._take_over(conn_key, uri)
            baseline = await fingerprint()
        except BaseException:
            self._end(key, watch)
            raise
        if self._watches.get(key) is watch:  # not unsubscribed while the first read ran
            watch.task = asyncio.create_task(self._run(key, watch, fingerprint, baseline, until))

    async def _reserve(self, conn_key: str, uri: str, until: float) -> bool:
        """Whether the session's watches on every replica leave room for this one (recorded if so).
        With the shared state down the local bound, already checked, is the one that holds."""
        if self.remote is None:
            return True
        try:
            return await self.remote.reserve(conn_key, uri, self._max, until)
        except Exception as exc:
            logger.info("counting a watch across replicas failed: %s", type(exc).__name__)
            return True

    async def _take_over(self, conn_key: str, uri: str) -> None:
        """End the same watch on other replicas: one poller per session and resource. Best effort:
        with the shared state down, two replicas may poll it until one watch ends."""
        if self.remote is None:
            return
        try:
            await self.remote.unsubscribe(conn_key, uri)
        except Exception as exc:
            logger.info("taking a watch over from other replicas failed: %s", type(exc).__name__)

    def unsubscribe(self, conn_key: str, uri: str, *, uncount: bool = True) -> bool:
        """Stop watching here; False when the session was not watching `uri` on this replica.
        `uncount` False: the caller has uncounted the watch already, or another replica counts it."""
        watch = self._watches.get((conn_key, uri))
        if watch is None:
            return False
        self._stop((conn_key, uri), watch, uncount=uncount)
        return True

    async def unsubscribe_anywhere(self, conn_key: str, uri: str) -> None:
        """resources/unsubscribe: stop watching here, or on the replica that runs the watch."""
        if self.remote is not None:
            await self.remote.uncount(conn_key, uri)  # before answering, and even if its replica is gone
        if not self.unsubscribe(conn_key, uri, uncount=False) and self.remote is not None:
            await self.remote.unsubscribe(conn_key, uri)

    def end_session(self, conn_key: str, *, uncount: bool = True) -> None:
        """The session ended: stop its watches on this replica (`uncount` as for `unsubscribe`)."""
        for uri in self.watching(conn_key):
            self.unsubscribe(conn_key, uri, uncount=uncount)

    async def end_session_anywhere(self, conn_key: str) -> None:
        """The session ended (DELETE): stop its watches here and on every other replica."""
        self.end_session(conn_key, uncount=False)  # all of them are uncounted below
        if self.remote is not None:
            await self.remote.uncount(conn_key, None)
            await self.remote.unsubscribe(conn_key, None)

    def _stop(self, key: tuple[str, str], watch: _Watch, *, uncount: bool = True) -> None:
        if watch.task is not None:
            watch.task.cancel()
        # now: a task cancelled before it ever ran has no finally to do it
        self._end(key, watch, uncount=uncount)

    def _end(self, key: tuple[str, str], watch: _Watch, *, uncount: bool = True) -> None:
        if self._watches.get(key) is watch:
            del self._watches[key]
            if uncount and self.remote is not None:
                self.remote.forget(*key)  # unless another replica has taken it over since
        callbacks, watch.on_end = watch.on_end, []
        for callback in callbacks:
            callback()

    def keep_pending(self, conn_key: str, uri: str) -> None:
        """An update relayed for the watch found no stream where it went (it closed meanwhile): send it
        again at the next interval."""
        watch = self._watches.get((conn_key, uri))
        if watch is not None:
            watch.pending = True

    def cut(self, conn_key: str, uri: str) -> None:
        """End a watch at once (its server was revoked or expired)."""
        self.unsubscribe(conn_key, uri)

    async def _run(
        self, key: tuple[str, str], watch: _Watch, fingerprint: Fingerprint, last: str, until: float
    ) -> None:
        conn_key, uri = key
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
                    last, watch.pending = now, True
                if watch.pending and await self._notify(conn_key, uri):
                    watch.pending = False
        finally:
            self._end(key, watch)

    async def _notify(self, conn_key: str, uri: str) -> bool:
        """Send the update on the session's newest stream, here or on the replica holding it; False
        when it has none (or sending failed): the update stays pending for the next interval."""
        note = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
        if conn_key in self._streams:
            return await self.push(conn_key, note)
        if self.remote is None:
            return False
        try:
            return await self.remote.notify(conn_key, note)
        except Exception as exc:  # the shared state is down: retried at the next interval
            logger.info("relaying a resource update failed: %s", type(exc).__name__)
            return False

    async def push(self, conn_key: str, note: dict[str, Any]) -> bool:
        """Send `note` on the session's newest stream on this replica; False when it has none."""
        sends = self._streams.get(conn_key)
        if not sends:
            return False
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
