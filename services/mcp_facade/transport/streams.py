"""The public app's open SSE streams: their response headers, the open-streams gauge, their slots.

Both transports open SSE streams (a streamed tools/call, a session's GET stream, an HTTP+SSE
stream) through one `SseStreams`, so the gauge (`gmcp_facade_active_sse_streams`) and the per
server / per client address bounds (limits.py) count them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Final

from aiohttp import web

from ..metrics import FacadeMetrics
from .limits import StreamSlots

__all__ = ["SseStreams", "Tripped", "trip_counter"]

# Counts a refusal by a resource bound, by the bound's name (gmcp_facade_limit_tripped_total).
Tripped = Callable[[str], None]

_SSE_HEADERS: Final = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def trip_counter(metrics: FacadeMetrics | None) -> Tripped:
    """`metrics.tripped`, or a no-op without metrics."""
    return metrics.tripped if metrics is not None else (lambda limit: None)


class SseStreams:
    """Opens, counts and bounds the SSE streams of the public app."""

    def __init__(self, slots: StreamSlots, metrics: FacadeMetrics | None, tripped: Tripped) -> None:
        self._slots = slots
        self._metrics = metrics
        self._tripped = tripped
        self._open: set[web.StreamResponse] = set()

    @staticmethod
    def response() -> web.StreamResponse:
        """A prepared-to-be SSE response with anti-buffering headers."""
        return web.StreamResponse(headers=_SSE_HEADERS)

    def opened(self, response: web.StreamResponse) -> None:
        """Track an open SSE stream."""
        self._open.add(response)
        if self._metrics is not None:
            self._metrics.active_sse.inc()

    def closed(self, response: web.StreamResponse) -> None:
        """Forget a closed SSE stream."""
        if response in self._open:
            self._open.discard(response)
            if self._metrics is not None:
                self._metrics.active_sse.dec()

    @contextlib.contextmanager
    def slot(self, request: web.Request, server_id: str) -> Iterator[None]:
        """Hold one of the server's and the client address's stream slots, or raise 429."""
        client = request.remote or ""
        refused = self._slots.acquire(server_id, client)
        if refused is not None:
            self._tripped(refused)
            raise self._slots.refusal(refused)
        try:
            yield
        finally:
            self._slots.release(server_id, client)

    def open_for(self, server_id: str) -> int:
        """Streams holding a slot of `server_id` (tests, metrics)."""
        return self._slots.open_for(server_id)
