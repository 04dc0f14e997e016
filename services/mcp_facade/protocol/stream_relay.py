"""Sessions' standing streams across replicas, for resource subscriptions without session affinity.

A Streamable HTTP session's GET stream is held by one replica; its resources/subscribe may reach
another, which runs the watch (resources/subscriptions.py). This module is that watch's way to the
stream and to the watches elsewhere, over the shared state (`FacadeState`):

- a replica holding a session's GET stream claims `get:<session nonce>` (`claim_stream`, refreshed
  every `_REFRESH_S` while the stream is open, released when it closes; a dead replica's claim
  lapses after `_CLAIM_TTL_S`);
- an update for a session with no stream here goes to the claim's replica (`send`), which pushes it
  on its stream; with no claim the update stays pending and is tried again at the next poll, and so
  does one whose stream closed before it arrived (the claim's replica sends it back as undelivered);
- an unsubscribe (or a DELETE of the session) with no watch here is broadcast, and the replica that
  runs the watch ends it; a subscribe broadcasts the same first, so the newest replica takes it over;
- a session's watches are counted in the shared state (`reserve_watch`, a hash URI -> replica), so
  the per-session bound holds across replicas; a watch that ends here uncounts itself unless another
  replica has taken it over, and the client's unsubscribe or DELETE uncounts it wherever it ran.

HTTP+SSE needs none of this: every POST of such a session is relayed to its stream's replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from ..resources.subscriptions import Subscriptions
from ..state.state import FacadeState, StateUnavailable

__all__ = ["SessionStreams"]

logger = logging.getLogger(__name__)

_UPDATE: Final = "resource-updated"
_UNSUBSCRIBE: Final = "resource-unsubscribe"
_UNDELIVERED: Final = "resource-undelivered"
_CLAIM_TTL_S: Final = 30.0
_REFRESH_S: Final = 10.0
_RELEASE_WAIT_S: Final = 2.0


def _claim(conn_key: str) -> str:
    return f"get:{conn_key}"


class SessionStreams:
    """`RemoteStreams` over the shared state; `announce` claims a local GET stream for the others."""

    def __init__(self, state: FacadeState) -> None:
        self._state = state
        self._subscriptions: Subscriptions | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The watch releases in flight: shutdown lets them finish (its watches end then).
        self._releases: set[asyncio.Task[None]] = set()
        state.on_message(_UPDATE, self._on_update)
        state.on_message(_UNSUBSCRIBE, self._on_unsubscribe)
        state.on_message(_UNDELIVERED, self._on_undelivered)

    def serve(self, subscriptions: Subscriptions) -> None:
        """The subscriptions whose streams and watches this relay reaches."""
        self._subscriptions = subscriptions
        subscriptions.remote = self

    # -- RemoteStreams --------------------------------------------------------------------------

    async def notify(self, conn_key: str, note: dict[str, Any]) -> bool:
        owner = await self._state.stream_owner(_claim(conn_key))
        if owner is None or owner[0] == self._state.replica_id:
            return False
        message = {"kind": _UPDATE, "conn": conn_key, "note": note, "from": self._state.replica_id}
        return await self._state.send(owner[0], message)

    async def unsubscribe(self, conn_key: str, uri: str | None) -> None:
        message = {"kind": _UNSUBSCRIBE, "conn": conn_key, "uri": uri, "from": self._state.replica_id}
        await self._state.broadcast(message)

    async def reserve(self, conn_key: str, uri: str, limit: int, until: float) -> bool:
        return await self._state.reserve_watch(conn_key, uri, limit, max(1.0, until - time.time()))

    def forget(self, conn_key: str, uri: str) -> None:
        task = self._spawn(self._release_watch(conn_key, uri, anywhere=False))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def uncount(self, conn_key: str, uri: str | None) -> None:
        await self._release_watch(conn_key, uri, anywhere=True)

    async def _release_watch(self, conn_key: str, uri: str | None, *, anywhere: bool) -> None:
        # With the shared state down (counted and logged there) the record lapses with the session.
        with contextlib.suppress(StateUnavailable):
            await self._state.release_watch(conn_key, uri, any_replica=anywhere)

    # -- this replica's streams -----------------------------------------------------------------

    def announce(self, conn_key: str, server_id: str) -> Callable[[], None]:
        """A session's GET stream opened here: claim it until the returned release is called."""
        task = self._spawn(self._hold_claim(conn_key, server_id))

        def release() -> None:
            task.cancel()

        return release

    async def _hold_claim(self, conn_key: str, server_id: str) -> None:
        try:
            while True:
                # A failure is counted and logged by the state; tried again at the next refresh.
                with contextlib.suppress(StateUnavailable):
                    await self._state.claim_stream(_claim(conn_key), server_id, _CLAIM_TTL_S)
                await asyncio.sleep(_REFRESH_S)
        finally:
            # Released unless another replica has claimed it since (the client reconnected there).
            with contextlib.suppress(StateUnavailable):
                await self._state.release_stream(_claim(conn_key))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in a task kept until it ends (and cancelled by `close`)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Uncount the watches that ended (waiting `_RELEASE_WAIT_S` at most), then release every claim
        (shutdown): a session served again by another replica keeps its whole bound."""
        if self._releases:
            await asyncio.wait(list(self._releases), timeout=_RELEASE_WAIT_S)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- messages from other replicas -----------------------------------------------------------

    def _on_update(self, message: dict[str, Any]) -> None:
        note, conn_key = message.get("note"), str(message.get("conn"))
        if self._subscriptions is None or not isinstance(note, dict):
            return
        self._spawn(self._push(conn_key, note, str(message.get("from") or "")))

    async def _push(self, conn_key: str, note: dict[str, Any], sender: str) -> None:
        assert self._subscriptions is not None
        if await self._subscriptions.push(conn_key, note):
            return
        # The stream closed since its claim was read: the watch's replica keeps the update pending.
        logger.info("a relayed resource update found no stream for its session; sent back as pending")
        params = note.get("params")
        uri = params.get("uri") if isinstance(params, dict) else None
        if sender and isinstance(uri, str):
            with contextlib.suppress(StateUnavailable):
                await self._state.send(sender, {"kind": _UNDELIVERED, "conn": conn_key, "uri": uri})

    def _on_undelivered(self, message: dict[str, Any]) -> None:
        if self._subscriptions is not None:
            self._subscriptions.keep_pending(str(message.get("conn")), str(message.get("uri")))

    def _on_unsubscribe(self, message: dict[str, Any]) -> None:
        if self._subscriptions is None or message.get("from") == self._state.replica_id:
            return
        # Already uncounted by the sender: the client's unsubscribe or DELETE, or a take-over (the
        # watch is now the sender's).
        conn_key, uri = str(message.get("conn")), message.get("uri")
        if uri is None:
            self._subscriptions.end_session(conn_key, uncount=False)
        else:
            self._subscriptions.unsubscribe(conn_key, str(uri), uncount=False)
