"""Server->client requests awaiting the client's answer, on whichever replica the answer lands.

A tools/call answered on an SSE stream may ask the client something (`elicitation/create`) and await
the response, which the client POSTs back separately. Behind a load balancer without session affinity
that POST may reach another replica. So each request id names the replica that awaits it
(`gumloop-elicit-<replica id>-<n>`): the replica that receives the response resolves it when the
request is its own, and otherwise sends the response to the named replica over the shared state
(`FacadeState.send`, Redis pub/sub with several replicas), which resolves it there. A response whose
id names no live replica, or no pending request, is dropped with an INFO line: the request it answers
has already ended (timed out, cancelled, or its replica stopped).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from typing import Any, Final

from ..state.state import FacadeState

__all__ = ["OutgoingRequests"]

logger = logging.getLogger(__name__)

_RELAYED: Final = "client-response"
_ID: Final = re.compile(r"gumloop-elicit-([0-9a-f]{16})-[0-9]+")


class OutgoingRequests:
    """This replica's pending server->client requests, by (connection key, request id)."""

    def __init__(self, state: FacadeState) -> None:
        self._state = state
        self._pending: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        state.on_message(_RELAYED, self._on_relayed)

    def open(self, conn_key: str) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        """A new request id naming this replica, and the future its response resolves."""
        request_id = f"gumloop-elicit-{self._state.replica_id}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[(conn_key, request_id)] = future
        return request_id, future

    def close(self, conn_key: str, request_id: str) -> None:
        """The request ended (answered, timed out or cancelled): a late response finds nothing."""
        self._pending.pop((conn_key, request_id), None)

    async def deliver(self, conn_key: str, request_id: Any, message: dict[str, Any]) -> bool:
        """Hand a client's response to the request awaiting it, here or on the replica its id names.

        True when it was resolved here or handed to a live replica; False when nothing awaits it.
        Raises StateUnavailable when it belongs to another replica and the shared state is down.
        """
        key = str(request_id)
        if self._resolve(conn_key, key, message):
            return True
        match = _ID.fullmatch(key)
        owner = match.group(1) if match else None
        if owner is None or owner == self._state.replica_id:
            logger.info("a client response matched no pending server request")
            return False
        relayed = {"kind": _RELAYED, "conn": conn_key, "id": key, "message": message}
        if await self._state.send(owner, relayed):
            return True
        logger.info("a client response named a replica that is gone")
        return False

    def _resolve(self, conn_key: str, request_id: str, message: dict[str, Any]) -> bool:
        future = self._pending.pop((conn_key, request_id), None)
        if future is None or future.done():
            return False
        future.set_result(message)
        return True

    def _on_relayed(self, relayed: dict[str, Any]) -> None:
        message = relayed.get("message")
        if isinstance(message, dict) and not self._resolve(
            str(relayed.get("conn")), str(relayed.get("id")), message
        ):
            logger.info("a relayed client response matched no pending server request")

    @property
    def pending(self) -> int:
        """How many requests await an answer here."""
        return len(self._pending)
