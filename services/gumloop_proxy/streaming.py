"""Server-sent events: an incremental parser following the WHATWG EventSource rules.

Lines end at \\r\\n, \\r or \\n and nothing else (not at U+2028, U+0085 or \\f, where
str.splitlines() also breaks, though they may sit inside a JSON string); they are `field: value`;
`data` lines of one event are joined with newlines; a blank line dispatches the event; lines
starting with ':' are comments (keep-alives); an event without data is not dispatched; the event
name defaults to "message"; an unfinished event at the end of the stream is discarded, as
browsers do.

A stream has no overall size, but one line and one event do: `iter_lines` and `iter_events`
raise UpstreamTooLarge past their ceiling (max_response_bytes), so an upstream that never ends a
line or an event cannot fill the proxy's memory.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

from .errors import UpstreamTooLarge

__all__ = ["SSEEvent", "SSEParser", "iter_events", "iter_lines", "split_lines"]

# The only line terminators of text/event-stream (WHATWG HTML, 9.2.5 "end-of-line").
_TERMINATOR = re.compile(r"\r\n|\r|\n")


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


def split_lines(text: str) -> list[str]:
    """`text` split on \\r\\n, \\r and \\n only (the SSE line terminators), like splitlines() for
    those: a final terminator opens no further line. str.splitlines() also breaks on U+2028,
    U+0085, \\f, \\v and others, which may appear inside a JSON string of a `data` line."""
    parts = _TERMINATOR.split(text)
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


async def iter_lines(chunks: AsyncIterable[str], max_line_chars: int) -> AsyncIterator[str]:
    """Lines of a text stream, split on \\n, \\r\\n and \\r only (a \\r\\n cut between chunks
    is one terminator), each at most `max_line_chars` long: UpstreamTooLarge as soon as a line
    passes it. Linear in the stream's size however its lines are cut into chunks."""
    pending: list[str] = []
    pending_chars = 0
    skip_lf = False  # the previous chunk ended with \r: a \n opening this one ends no new line
    async for chunk in chunks:
        if not chunk:
            continue
        if skip_lf and chunk.startswith("\n"):
            chunk = chunk[1:]
        skip_lf = chunk.endswith("\r")
        start = 0
        for match in _TERMINATOR.finditer(chunk):
            piece = chunk[start : match.start()]
            if pending_chars + len(piece) > max_line_chars:
                raise UpstreamTooLarge(f"a line of the stream is longer than {max_line_chars} characters")
            if pending:
                pending.append(piece)
                line = "".join(pending)
                pending, pending_chars = [], 0
            else:
                line = piece
            yield line
            start = match.end()
        rest = chunk[start:]
        if rest:
            pending.append(rest)
            pending_chars += len(rest)
            if pending_chars > max_line_chars:
                raise UpstreamTooLarge(f"a line of the stream is longer than {max_line_chars} characters")
    if pending:
        yield "".join(pending)


async def iter_events(
    lines: AsyncIterable[str], *, max_event_chars: int | None = None
) -> AsyncIterator[SSEEvent]:
    """The events of a stream of lines (e.g. `iter_lines(...)` or httpx's `Response.aiter_lines()`)."""
    parser = SSEParser()
    size = 0
    async for raw in lines:
        # iter_lines yields single lines; another source may hand over several at once.
        for line in split_lines(raw):
            size += len(line)
            if max_event_chars is not None and size > max_event_chars:
                raise UpstreamTooLarge(f"an event of the stream is longer than {max_event_chars} characters")
            event = parser.feed(line)
            if not line:
                size = 0  # a blank line ends the event (dispatched or not)
            if event is not None:
                yield event
