"""Logging: JSON lines with a request id, a filter that redacts secrets, and one that stops floods.

Every service calls `configure()` once in `main()`. The redacting filter rewrites
the message and arguments of every record, so a token that slips into a log call
by accident still never reaches the output.

Inside a running event loop, INFO and DEBUG lines are written in batches at most
`batch_s` (50 ms) after they were logged: a write per line woke the process reading
our stderr (the `up` supervisor, a container runtime) once per request, which cost
a light tool call 0.1-0.3 ms at concurrency 1 on two cores. WARNING and above are
written at once together with everything before them (order is kept), and so is
every line logged outside an event loop; pending lines are written at exit
(logging.shutdown) and whenever 256 are waiting.

Each line's `time` is RFC 3339 in UTC with milliseconds (2026-01-02T03:04:05.678+00:00). Lines
logged within a request carry its `request_id` (and `caller`, on a gRPC server); with tracing on
(configure_tracing), lines logged within a span carry `trace_id` and `span_id` (hex, as in W3C
traceparent), so one tool call's lines can be found in every process.

A warning or error repeated from one place passes at most `repeat_burst` times per
`repeat_interval_s`, then a summary says how many were dropped (_repeatlimit.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import logging
import random
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from pythonjsonlogger.json import JsonFormatter

from ._repeatlimit import SUPPRESSED_FIELD, RepeatLimitFilter
from ._tracing import current_trace_ids

__all__ = [
    "REDACTED",
    "BatchingStreamHandler",
    "RedactingFilter",
    "RepeatLimitFilter",
    "caller_var",
    "configure",
    "new_request_id",
    "redact",
    "request_id_var",
]

REDACTED: Final = "[REDACTED]"

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    """A fresh request id: 16 hex digits (a correlation id, not a secret: no OS randomness needed)."""
    return f"{random.getrandbits(64):016x}"


# The authenticated gRPC caller's name (set by CallerAuthInterceptor), logged as `caller`.
caller_var: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="")

# Our own token shapes (see gumloop_mcp.runtime.tokenformat), bearer and basic credentials,
# the URL token in MCP paths, signed-URL query parameters (S3, GCS, Azure, the emulator's sig),
# credential headers however they are spelt (a dict repr, an HTTP line), and common key=value secrets.
_PATTERNS: Final = [
    re.compile(r"gmcp(?:at)?_[A-Za-z0-9]{20,}(?:_[A-Za-z0-9]{4,})?"),
    # The façade's OAuth secrets (services/mcp_facade/oauth): access, refresh, connect, client secret.
    re.compile(r"gmcp(?:oa|or|cc|ocs)_[0-9a-f]{32,}"),
    re.compile(r"(?i)((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(/mcp/)[^/\s?\"']{8,}"),
    re.compile(
        r"(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential"
        r"|signature|sig|token|access_token|api_key|key|code)=)[^&\s\"'#]+"
    ),
    re.compile(
        r"(?i)([\"']?\b(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\"'\n,}]+"
    ),
    re.compile(
        r"(?i)((?:api[_-]?key|access[_-]?token|secret|password|x-goog-signature)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
    ),
]


def _any_of(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    """One pattern matching wherever any of `patterns` would (a leading `(?i)` kept as a scoped flag)."""
    parts = []
    for pattern in patterns:
        text = pattern.pattern
        parts.append(f"(?i:{text[4:]})" if text.startswith("(?i)") else f"(?:{text})")
    return re.compile("|".join(parts))


# One search finds the text that holds nothing to redact (nearly every log field) at a third of the
# cost of trying each pattern's substitution: about 15 us less per access-log line.
_ANY_SECRET: Final = _any_of(_PATTERNS)
# LogRecord's own attributes; anything else on a record came in through `extra=`.
_RECORD_FIELDS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "caller",
    "trace_id",
    "span_id",
    SUPPRESSED_FIELD,
}


def _redact_value(value: Any, depth: int = 0) -> Any:
    """`value` with secrets redacted: strings in place, containers item by item, others as text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    if depth < 4 and isinstance(value, dict):
        return {str(k): _redact_value(v, depth + 1) for k, v in value.items()}
    if depth < 4 and isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(v, depth + 1) for v in value]
    return redact(str(value))


def redact(text: str) -> str:
    """Return `text` with anything that looks like a secret replaced by [REDACTED]."""
    if _ANY_SECRET.search(text) is None:
        return text
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


_BATCH_S: Final = 0.05
_MAX_PENDING: Final = 256


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that, in a running event loop, writes INFO/DEBUG lines in short batches."""

    def __init__(self, stream: TextIO, batch_s: float = _BATCH_S) -> None:
        super().__init__(stream)
        self._batch_s = batch_s
        self._pending: list[str] = []
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Format now; write now or with the next batch (called with the handler lock held)."""
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        if record.levelno >= logging.WARNING or len(self._pending) >= _MAX_PENDING or not self._scheduled():
            self._write_pending()

    def _scheduled(self) -> bool:
        """Whether a batch write is due on this thread's running loop (arranging one if needed)."""
        if self._batch_s <= 0:
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        current = self._timer_loop
        if current is loop:
            return True
        if current is not None and not current.is_closed():
            return False  # a batch is due on another thread's loop: this line goes out now
        loop.call_later(self._batch_s, self._on_timer, loop)
        self._timer_loop = loop
        return True

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self.acquire()
        try:
            if self._timer_loop is loop:
                self._timer_loop = None
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not break the caller
            pass

    def flush(self) -> None:
        """Write pending lines and flush the stream."""
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()
        super().flush()


class RedactingFilter(logging.Filter):
    """Renders each record's message once, redacts it, drops the raw arguments, and redacts the
    traceback, the stack and every `extra=` field (containers item by item, other objects as text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS:
                record.__dict__[name] = _redact_value(value)
        request_id = request_id_var.get()
        if request_id:
            record.request_id = request_id
        caller = caller_var.get()
        if caller:
            record.caller = caller
        ids = current_trace_ids()
        if ids is not None:
            record.trace_id, record.span_id = ids
        return True


def _rfc3339(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class _JsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _rfc3339(record)


class _PlainFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _rfc3339(record)


_installed_limiter: list[RepeatLimitFilter] = []


def _flush_limiter() -> None:
    for limiter in _installed_limiter:
        limiter.flush()


def configure(
    level: str = "INFO",
    *,
    json_format: bool = True,
    stream: Any = None,
    batch_s: float = _BATCH_S,
    repeat_burst: int = 20,
    repeat_interval_s: float = 60.0,
) -> None:
    """Install the JSON (or plain) formatter, the repeat limit and the redacting filter on the root logger.

    `batch_s` bounds how long an INFO/DEBUG line logged in an event loop may wait (0: write each at once).
    A WARNING or worse from one call site with one message template is written at most `repeat_burst`
    times per `repeat_interval_s`; a summary counts the rest.
    """
    handler = BatchingStreamHandler(stream or sys.stderr, batch_s)
    limiter = RepeatLimitFilter(repeat_burst, repeat_interval_s)
    limiter.sink = handler.handle
    if not _installed_limiter:
        atexit.register(_flush_limiter)  # after logging's own exit hook is registered: runs before it
    _installed_limiter[:] = [limiter]
    if json_format:
        handler.setFormatter(
            _JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(_PlainFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(limiter)  # first: a dropped record costs no redaction
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs full URLs (signed download links) at INFO; aiohttp's access log is replaced by the façade.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
