"""Server-sent events: an incremental parser following the WHATWG EventSource rules.

Lines are `field: value`; `data` lines of one event are joined with newlines; a blank line
dispatches the event; lines starting with ':' are comments (keep-alives); an event without data
is not dispatched; the event name defaults to "message"; an unfinished event at the end of the
stream is discarded, as browsers do.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

__all__ = ["SSEEvent", "SSEParser", "iter_events"]


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event."""

    event: str
    data: str
    id: str = ""
    retry_ms: int | None = None


@dataclass
class SSEParser:
    """Feed it lines (without their line terminators); it returns events as they complete."""

    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _id: str = ""
    _retry: int | None = None
    _last_id: str = ""

    def feed(self, line: str) -> SSEEvent | None:
        """Consume one line; return the event a blank line completes, if any."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], "", None
        if not data:
            return None
        return SSEEvent(event=event or "message", data="\n".join(data), id=self._last_id, retry_ms=retry)


async def iter_events(lines: AsyncIterable[str]) -> AsyncIterator[SSEEvent]:
    """The events of a stream of lines (e.g. httpx's `Response.aiter_lines()`)."""
    parser = SSEParser()
    async for raw in lines:
        # aiter_lines already splits on \n, \r\n and \r; a chunk may still hold several lines.
        for line in raw.splitlines() or [""]:
            event = parser.feed(line)
            if event is not None:
                yield event
