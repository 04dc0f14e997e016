"""Bounds on what one client can hold open: SSE streams per MCP server and per client address.

A refusal is HTTP 429 with a JSON-RPC error body and `Retry-After`, counted in
`gmcp_facade_limit_tripped_total{limit=...}`. A limit of 0 disables that count.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from aiohttp import web

from ..protocol.jsonrpc import RATE_LIMITED, JsonRpcError, error_response

__all__ = ["RETRY_AFTER_S", "StreamSlots", "limited"]

# What a refused client is told to wait: streams end when their clients leave, so soon.
RETRY_AFTER_S: Final = 5


def limited(message: str, *, status: int = 429, retry_after_s: int = RETRY_AFTER_S) -> web.HTTPException:
    """An HTTP error (429 by default) with a JSON-RPC error body and Retry-After."""
    error = JsonRpcError(RATE_LIMITED, message, {"retry_after_seconds": retry_after_s})
    exc = web.HTTPException(
        text=web.json_response(error_response(None, error)).text,
        content_type="application/json",
        headers={"Retry-After": str(retry_after_s)},
    )
    exc.set_status(status)
    return exc


class StreamSlots:
    """Counts open streams by MCP server id and by client address; refuses one over either limit."""

    def __init__(self, per_server: int, per_client: int) -> None:
        self._per_server = per_server
        self._per_client = per_client
        self._servers: Counter[str] = Counter()
        self._clients: Counter[str] = Counter()

    def acquire(self, server_id: str, client: str) -> str | None:
        """Take a slot; None when granted, else the name of the limit that refused it."""
        if self._per_server and self._servers[server_id] >= self._per_server:
            return "streams_per_server"
        if self._per_client and self._clients[client] >= self._per_client:
            return "streams_per_client"
        self._servers[server_id] += 1
        self._clients[client] += 1
        return None

    def release(self, server_id: str, client: str) -> None:
        """Give back a slot taken by `acquire`."""
        for counts, key in ((self._servers, server_id), (self._clients, client)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]

    def refusal(self, limit: str) -> web.HTTPException:
        """The 429 answering a stream refused by `limit`."""
        if limit == "streams_per_server":
            text = f"Too many open streams for this MCP server (at most {self._per_server}); close one first"
        else:
            text = f"Too many open streams from this client address (at most {self._per_client})"
        return limited(text)

    def open_for(self, server_id: str) -> int:
        """Streams open for `server_id` (tests, metrics)."""
        return self._servers[server_id]
