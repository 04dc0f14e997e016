"""Logging: JSON lines with a request id, and a filter that redacts secrets.

Every service calls `configure()` once in `main()`. The redacting filter rewrites
the message and arguments of every record, so a token that slips into a log call
by accident still never reaches the output.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

__all__ = ["REDACTED", "RedactingFilter", "configure", "redact", "request_id_var"]

REDACTED: Final = "[REDACTED]"

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Our own token shapes (see gumloop_mcp.runtime.tokenformat), bearer credentials,
# the URL token in MCP paths, and common key=value secret spellings.
_PATTERNS: Final = [
    re.compile(r"gmcp(?:at)?_[A-Za-z0-9]{20,}(?:_[A-Za-z0-9]{4,})?"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(/mcp/)[^/\s?\"']{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|access[_-]?token|secret|password|x-goog-signature)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
    ),
]


def redact(text: str) -> str:
    """Return `text` with anything that looks like a secret replaced by [REDACTED]."""
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Renders each record's message once, redacts it, and drops the raw arguments."""

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
        request_id = request_id_var.get()
        if request_id:
            record.request_id = request_id
        return True


def configure(level: str = "INFO", *, json_format: bool = True, stream: Any = None) -> None:
    """Install the JSON (or plain) formatter and the redacting filter on the root logger."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_format:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs full URLs (signed download links) at INFO; aiohttp's access log is replaced by the façade.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
