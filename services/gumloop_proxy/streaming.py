"""Server-sent events: an incremental parser following the WHATWG EventSource rules.

Lines are `field: value`; `data` lines of one event are joined with newlines; a blank line
dispatches the event; lines starting with ':' are comments (keep-alives); an event without data
is not dispatched; the event name defaults to "message"; an unfinished event at the end of the
stream is discarded, as browsers do.

A stream has no overall size, but one line and one event do: `iter_lines` and `iter_events`
raise UpstreamTooLarge past their ceiling (max_response_bytes), so an upstream that never ends a
line or an event cannot fill the proxy's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

from .errors import UpstreamTooLarge

__all__ = ["SSEEvent", "SSEParser", "iter_events", "iter_lines"]


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


async def iter_lines(chunks: AsyncIterable[str], max_line_chars: int) -> AsyncIterator[str]:
    """Lines of a text stream (split on \\n, \\r\\n and \\r, as aiter_lines does), each at most
    `max_line_chars` long: UpstreamTooLarge as soon as a pending line passes it."""
    pending = ""
    skip_lf = False  # the previous chunk ended with \r: a \n opening this one ends no new line
    async for chunk in chunks:
        if skip_lf and chunk.startswith("\n"):
            chunk = chunk[1:]
        skip_lf = chunk.endswith("\r")
        pending += chunk
        parts = pending.splitlines(keepends=True)
        pending = parts.pop() if parts and not parts[-1].endswith(("\n", "\r")) else ""
        for part in parts:
            yield part.rstrip("\r\n")
        if len(pending) > max_line_chars:
            raise UpstreamTooLarge(f"a line of the stream is longer than {max_line_chars} characters")
    if pending:
        yield pending


async def iter_events(
    lines: AsyncIterable[str], *, max_event_chars: int | None = None
) -> AsyncIterator[SSEEvent]:
    """The events of a stream of lines (e.g. `iter_lines(...)` or httpx's `Response.aiter_lines()`)."""
    parser = SSEParser()
    size = 0
    async for raw in lines:
        # aiter_lines already splits on \n, \r\n and \r; a chunk may still hold several lines.
        for line in raw.splitlines() or [""]:
            size += len(line)
            if max_event_chars is not None and size > max_event_chars:
                raise UpstreamTooLarge(f"an event of the stream is longer than {max_event_chars} characters")
            event = parser.feed(line)
            if not line:
                size = 0  # a blank line ends the event (dispatched or not)
            if event is not None:
                yield event
