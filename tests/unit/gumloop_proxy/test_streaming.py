"""Server-sent events parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.gumloop_proxy.streaming import SSEEvent, SSEParser, iter_events


def _parse(text: str) -> list[SSEEvent]:
    parser = SSEParser()
    out = []
    for line in text.split("\n"):
        event = parser.feed(line)
        if event is not None:
            out.append(event)
    return out


def test_events_with_names_ids_and_multi_line_data() -> None:
    """event/id/data fields build one event per blank line; data lines join with newlines."""
    events = _parse(
        'event: message\nid: 7\ndata: {"a":\ndata: 1}\n\nevent: finish\ndata: {"final": true}\n\n'
    )
    assert events == [
        SSEEvent(event="message", data='{"a":\n1}', id="7"),
        SSEEvent(event="finish", data='{"final": true}', id="7"),
    ]


def test_default_event_name_comments_and_empty_events() -> None:
    """No event field means "message"; comments and data-less events are skipped; one space is stripped."""
    events = _parse(": keep-alive\n\nevent: ping\n\ndata:no-space\n\ndata:  two\n\n")
    assert [(e.event, e.data) for e in events] == [("message", "no-space"), ("message", " two")]


def test_openai_chunks_and_the_done_sentinel_are_relayed() -> None:
    """Chat completion streams are data-only events ending with [DONE]."""
    events = _parse('data: {"choices":[]}\n\ndata: [DONE]\n\n')
    assert [e.data for e in events] == ['{"choices":[]}', "[DONE]"]


async def test_iter_events_discards_an_unfinished_trailing_event() -> None:
    """A stream cut in the middle of an event does not produce a half event; CRLF is handled."""

    async def lines() -> AsyncIterator[str]:
        for line in ["data: one\r", "", "data: cut"]:
            yield line

    assert [e.data async for e in iter_events(lines())] == ["one"]


async def _chunks(*parts: str) -> AsyncIterator[str]:
    for part in parts:
        yield part


async def test_bounded_lines_split_across_chunks_like_aiter_lines() -> None:
    """\\n, \\r\\n and \\r end lines even when a terminator is cut between two chunks."""
    from services.gumloop_proxy.streaming import iter_lines

    lines = [
        line
        async for line in iter_lines(
            _chunks("data: a\r", "\ndata: b\n\n", "data: c\rdata: d\r\n", "\r\n"), 100
        )
    ]
    assert lines == ["data: a", "data: b", "", "data: c", "data: d", ""]
    events = [e async for e in iter_events(iter_lines(_chunks("data: x\n", "\n"), 100))]
    assert [e.data for e in events] == ["x"]


async def test_a_line_or_an_event_past_the_ceiling_fails_instead_of_filling_memory() -> None:
    """An endless line, or endless data lines with no blank line, is UpstreamTooLarge at the ceiling."""
    import pytest

    from services.gumloop_proxy.errors import UpstreamTooLarge
    from services.gumloop_proxy.streaming import iter_lines

    async def endless_line() -> AsyncIterator[str]:
        yield "data: "
        while True:
            yield "x" * 1000

    async def endless_event() -> AsyncIterator[str]:
        while True:
            yield "data: " + "y" * 100 + "\n"

    with pytest.raises(UpstreamTooLarge):
        async for _ in iter_lines(endless_line(), 10_000):
            pass
    with pytest.raises(UpstreamTooLarge):
        async for _ in iter_events(iter_lines(endless_event(), 10_000), max_event_chars=10_000):
            pass


async def test_only_cr_lf_and_crlf_end_lines_not_unicode_separators() -> None:
    """U+2028/U+2029, U+0085, \\f, \\v and \\x1c-\\x1e end lines for str.splitlines, not for SSE."""
    from services.gumloop_proxy.streaming import iter_lines, split_lines

    inside = "a\u2028b\u2029c\u0085d\x0ce\x0bf\x1cg\x1dh\x1ei"
    data = 'data: {"content":"' + inside + '"}'
    lines = [line async for line in iter_lines(_chunks(data[:10], data[10:] + "\r\n", "\n"), 1000)]
    assert lines == [data, ""]
    events = [e async for e in iter_events(iter_lines(_chunks(data + "\n\n"), 1000))]
    assert [e.data for e in events] == ['{"content":"' + inside + '"}']
    # Several lines handed over at once (another line source) are split the same way.
    events = [e async for e in iter_events(_chunks(data + "\ndata: more\r\n", ""))]
    assert [e.data for e in events] == ['{"content":"' + inside + '"}\nmore']
    assert split_lines("a\u2028b\r\nc\rd\n") == ["a\u2028b", "c", "d"]
    assert split_lines("") == [""] and split_lines("\n") == [""] and split_lines("x") == ["x"]


async def test_a_long_line_in_many_small_chunks_is_read_in_linear_time() -> None:
    """The pending text was re-scanned on every chunk: a 2 MB line in 100-char chunks took seconds."""
    import time

    from services.gumloop_proxy.streaming import iter_lines

    async def pieces() -> AsyncIterator[str]:
        yield "data: "
        for _ in range(20_000):
            yield "x" * 100
        yield "\n\n"

    started = time.monotonic()
    lines = [line async for line in iter_lines(pieces(), 4_000_000)]
    elapsed = time.monotonic() - started
    assert [len(line) for line in lines] == [6 + 2_000_000, 0]
    assert elapsed < 2.0, elapsed
