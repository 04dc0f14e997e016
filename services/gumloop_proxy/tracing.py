"""Spans of upstream HTTP requests (one per attempt), when tracing is on.

Each attempt is a CLIENT span named `<METHOD> <catalog operation>`, a child of the gRPC call's span,
and the request carries its W3C `traceparent`. Attributes: the operation, the HTTP method, Gumloop's
host, the answer's status, the attempt's resend count and the rate-limit state Gumloop reported
(limit, remaining, reset, retry-after). Never the URL's path or query, a header or a body.
With tracing off, `upstream_span` yields None and costs one boolean check.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry import trace

from gumloop_mcp.runtime import inject_headers, tracer, tracing_enabled

from .ratelimit import parse_rate_limit

__all__ = ["record_response", "traced_headers", "upstream_span"]


@contextmanager
def upstream_span(operation: str, method: str, url: str, attempt: int = 0) -> Iterator[trace.Span | None]:
    """The span of one upstream attempt (None when tracing is off); failures set `error.type`."""
    if not tracing_enabled():
        yield None
        return
    attributes: dict[str, Any] = {
        "gmcp.operation": operation,
        "http.request.method": method,
        "server.address": httpx.URL(url).host,
    }
    if attempt:
        attributes["http.request.resend_count"] = attempt
    with tracer().start_as_current_span(
        f"{method} {operation}",
        kind=trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,  # an exception's text may quote a URL
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            raise


def traced_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` plus the current span's `traceparent` (a copy; unchanged when tracing is off)."""
    out = dict(headers)
    inject_headers(out)
    return out


def record_response(span: trace.Span | None, response: httpx.Response) -> None:
    """Set the answer's status and the rate-limit state Gumloop reported on `span`."""
    if span is None:
        return
    status = response.status_code
    span.set_attribute("http.response.status_code", status)
    span.set_attribute("gmcp.ratelimit.limited", status == 429)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        if status >= 500 or status == 429:
            span.set_status(trace.StatusCode.ERROR)
    info = parse_rate_limit({k.lower(): v for k, v in response.headers.items()}, time.time())
    if info is None:
        return
    for name, value in (
        ("gmcp.ratelimit.limit", info.limit),
        ("gmcp.ratelimit.remaining", info.remaining),
        ("gmcp.ratelimit.reset_s", info.reset_seconds),
        ("gmcp.ratelimit.retry_after_s", info.retry_after_seconds),
    ):
        if value is not None:
            span.set_attribute(name, value)
