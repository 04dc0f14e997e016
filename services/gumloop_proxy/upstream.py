"""The upstream HTTP client: one pooled httpx.AsyncClient per process, bounded per account.

- Explicit timeouts (connect, read) and pool limits from settings; the caller's remaining
  gRPC deadline caps every request's timeout, so a slow Gumloop never outlives the caller. A
  buffered request is also bounded as a whole (request_timeout_s or the deadline), so an answer
  dripping in slower than the read timeout notices still ends on time.
- At most `max_concurrency` requests in flight per account (a semaphore keyed by account id);
  a stream holds its slot only until its headers arrive. Open streams are bounded on their own, for
  their whole life: at most `max_open_streams_per_account` per account, one more is refused
  (errors.TooManyStreams, RESOURCE_EXHAUSTED) before anything goes upstream.
- Retries only where repeating cannot hurt: idempotent GETs, after a connection error or a
  502/503, at most twice with jittered backoff. Never a 429, never a POST.
- Every failure becomes an errors.UpstreamError subclass carrying Gumloop's error envelope,
  with the request's credential cut out of it (an answer may quote the key it was sent).
- `UpstreamMetrics` counts every attempt by catalog operation and HTTP status (or the failure's
  kind), times it, and counts 429s and retries; labels are operation names of the catalog only
  (anything else is "other"), never accounts, URLs or credentials.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any, Final

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

from gumloop_mcp.runtime import child_of

from .errors import (
    TooManyStreams,
    UpstreamError,
    UpstreamMalformed,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
)
from .ratelimit import default_retry_after, parse_rate_limit
from .requests import UpstreamRequest
from .settings import ProxySettings
from .tracing import record_response, traced_headers, upstream_span
from .transport import AiohttpTransport, BodyTooLarge, default_transport

__all__ = [
    "Upstream",
    "UpstreamMetrics",
    "UpstreamResponse",
    "error_from_response",
    "read_bounded",
    "useful_headers",
]

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO; signed download URLs carry their signature in the query.
logging.getLogger("httpx").setLevel(logging.WARNING)

RETRY_STATUSES: Final = frozenset({502, 503})
MAX_RETRIES: Final = 2
_USEFUL_HEADERS: Final = frozenset(
    {
        "content-type", "content-length", "content-disposition", "location", "retry-after",
        "x-request-id", "request-id", "x-gumloop-request-id", "ratelimit", "ratelimit-policy",
        "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "x-ratelimit-limit",
        "x-ratelimit-remaining", "x-ratelimit-reset",
    }
)  # fmt: skip


# HTTP statuses labelled by their code; any other is labelled by its class ("4xx").
_LABELLED_STATUSES: Final = frozenset(
    {200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504}
)
UPSTREAM_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 90, 300)


def status_label(status: int) -> str:
    """A bounded label for an HTTP status: the code for common ones, else its class."""
    return str(status) if status in _LABELLED_STATUSES else f"{status // 100}xx"


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """A streamed httpx response's (decoded) body, or BodyTooLarge as soon as it, or its declared
    length, passes `limit` bytes: a compression bomb stops here too."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class UpstreamMetrics:
    """Upstream requests (each attempt) by operation and status, their latency, 429s and retries.

    `status` is an HTTP status (`status_label`) or, when no answer came, `timeout`,
    `connection_error`, `too_large` or `cancelled`.
    """

    def __init__(self, registry: CollectorRegistry, operations: Iterable[str]) -> None:
        self._known = frozenset(operations)
        self.requests = Counter(
            "gmcp_proxy_upstream_requests",
            "Upstream HTTP requests (every attempt), by catalog operation and HTTP status or failure.",
            ["operation", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "gmcp_proxy_upstream_request_seconds",
            "Upstream HTTP request latency (a stream: until its headers), by catalog operation.",
            ["operation"],
            buckets=UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.rate_limited = Counter(
            "gmcp_proxy_upstream_rate_limited",
            "Upstream answers HTTP 429, by catalog operation.",
            ["operation"],
            registry=registry,
        )
        self.retries = Counter(
            "gmcp_proxy_upstream_retries",
            "Upstream requests sent again (idempotent GETs after a connection error or 502/503).",
            ["operation"],
            registry=registry,
        )
        self._requests = child_of(self.requests)
        self._seconds = child_of(self.seconds)

    def _operation(self, operation: str) -> str:
        return operation if operation in self._known else "other"

    def observe(self, operation: str, status: int | str, started: float) -> None:
        """One attempt of `operation` ended with `status` (an HTTP status or a failure kind)."""
        op = self._operation(operation)
        label = status_label(status) if isinstance(status, int) else status
        self._requests(op, label).inc()
        self._seconds(op).observe(time.perf_counter() - started)
        if status == 429:
            self.rate_limited.labels(op).inc()

    def retried(self, operation: str) -> None:
        """`operation` is about to be sent again."""
        self.retries.labels(self._operation(operation)).inc()


@dataclass(frozen=True)
class UpstreamResponse:
    """A successful (2xx/3xx) upstream answer, fully read."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def media_type(self) -> str:
        """The content type without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def is_json(self) -> bool:
        """True when the body claims to be JSON."""
        media = self.media_type
        return media == "application/json" or media.endswith("+json")


def useful_headers(headers: httpx.Headers) -> dict[str, str]:
    """Lower-cased headers worth passing on; never cookies or credentials."""
    return {k.lower(): v for k, v in headers.items() if k.lower() in _USEFUL_HEADERS}


class _NoCookies(CookieJar):
    """A jar that keeps nothing: the pooled client serves every account, so no answer's Set-Cookie
    may ride along on another request (and parsing them cost every request ~50 us)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


class Upstream:
    """Sends UpstreamRequests to Gumloop; one per process, closed at shutdown."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: UpstreamMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        if transport is None:
            # aiohttp's pool under httpx's API: about 0.4 ms less per request than httpcore (transport.py).
            transport = default_transport(
                settings.max_connections,
                keepalive_expiry=30.0,
                allow_link_local=settings.allow_link_local_upstream,
            )
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=min(settings.max_connections, 50),
                keepalive_expiry=30.0,
            ),
            follow_redirects=False,
            transport=transport,
            cookies=_NoCookies(),
        )
        self._direct = transport if isinstance(transport, AiohttpTransport) else None
        self._semaphores: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self._open_streams: dict[str, int] = {}  # by account id; absent when none is open

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared pooled client (artifact downloads use it too)."""
        return self._client

    async def close(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    def _semaphore(self, account_id: str, max_concurrency: int) -> asyncio.Semaphore:
        limit = max_concurrency if max_concurrency > 0 else self._settings.default_account_concurrency
        current = self._semaphores.get(account_id)
        if current is None or current[0] != limit:
            current = (limit, asyncio.Semaphore(limit))
            self._semaphores[account_id] = current
        return current[1]

    def _timeout(self, time_remaining: float | None, stream: bool = False) -> httpx.Timeout:
        total = self._settings.stream_timeout_s if stream else self._settings.request_timeout_s
        if time_remaining is not None:
            total = max(0.01, min(total, time_remaining))
        return httpx.Timeout(total, connect=min(self._settings.connect_timeout_s, total))

    async def send(
        self,
        request: UpstreamRequest,
        *,
        account_id: str,
        max_concurrency: int,
        operation: str,
        deadline: float | None = None,
        retry_safe: bool = False,
    ) -> UpstreamResponse:
        """Send `request` and read the whole answer; raise an UpstreamError for any failure.

        `deadline` is a time.monotonic() instant after which the caller no longer listens.
        """
        attempt = 0
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise UpstreamTimeout(
                    "the caller's deadline ran out before Gumloop answered", operation=operation
                )
            budget = 0.0
            try:
                async with self._semaphore(account_id, max_concurrency):
                    remaining = None if deadline is None else deadline - time.monotonic()
                    timeout = self._timeout(remaining)
                    budget = timeout.read or self._settings.request_timeout_s
                    response = await self._timed(
                        operation, self._exchange(request, timeout, operation, attempt), budget
                    )
            except TimeoutError as exc:
                why = (
                    "request_timeout_s"
                    if budget >= self._settings.request_timeout_s
                    else "the caller's deadline"
                )
                raise UpstreamTimeout(
                    f"Gumloop did not finish answering within {budget:g} s ({why})", operation=operation
                ) from exc
            except BodyTooLarge as exc:
                raise UpstreamTooLarge(
                    f"Gumloop's answer is larger than {exc.limit} bytes (max_response_bytes); "
                    "ask for less (a smaller page or limit)",
                    operation=operation,
                ) from exc
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(
                    f"Gumloop did not answer in time ({type(exc).__name__})", operation=operation
                ) from exc
            except httpx.TransportError as exc:
                if retry_safe and attempt < MAX_RETRIES:
                    attempt += 1
                    self._retried(operation)
                    await _backoff(attempt, deadline)
                    continue
                raise UpstreamUnavailable(
                    f"connection to Gumloop failed ({_failure(exc, operation)})", operation=operation
                ) from exc
            if response.status_code in RETRY_STATUSES and retry_safe and attempt < MAX_RETRIES:
                attempt += 1
                logger.info(
                    "retrying %s after HTTP %d (attempt %d)", operation, response.status_code, attempt
                )
                self._retried(operation)
                await _backoff(attempt, deadline)
                continue
            if response.status_code >= 400:
                body = _without_credentials(response.content, request)
                raise error_from_response(
                    response.status_code,
                    response.headers,
                    body,
                    operation,
                    default_retry_after_s=self._settings.rate_limited_default_retry_after_s,
                )
            return UpstreamResponse(response.status_code, useful_headers(response.headers), response.content)

    def _observe(self, operation: str, status: int | str, started: float) -> None:
        if self._metrics is not None:
            self._metrics.observe(operation, status, started)

    def _retried(self, operation: str) -> None:
        if self._metrics is not None:
            self._metrics.retried(operation)

    async def _timed(
        self, operation: str, exchange: Awaitable[httpx.Response], budget: float
    ) -> httpx.Response:
        """`exchange` bounded by `budget` seconds as a whole, observed in the metrics."""
        started = time.perf_counter()
        outcome: int | str = "cancelled"
        try:
            # The per-phase timeouts bound each read, not the whole answer: an upstream
            # dripping a byte a second would never trip them. This bounds it all.
            async with asyncio.timeout(budget):
                response = await exchange
            outcome = response.status_code
            return response
        except (TimeoutError, httpx.TimeoutException):
            outcome = "timeout"
            raise
        except BodyTooLarge:
            outcome = "too_large"
            raise
        except httpx.TransportError:
            outcome = "connection_error"
            raise
        finally:
            self._observe(operation, outcome, started)

    async def _exchange(
        self, request: UpstreamRequest, timeout: httpx.Timeout, operation: str = "", attempt: int = 0
    ) -> httpx.Response:
        """`client.request(...)` in its span (when tracing): built by httpx, sent by the aiohttp
        transport directly when it is ours."""
        with upstream_span(operation, request.method, request.url, attempt) as span:
            response = await self._send_built(request, timeout)
            record_response(span, response)
            return response

    async def _send_built(self, request: UpstreamRequest, timeout: httpx.Timeout) -> httpx.Response:
        built = self._client.build_request(
            request.method,
            _parsed_url(request.url),
            params=_query(request),
            json=request.json_body,
            data=request.form,
            files=request.files or None,
            headers=traced_headers(request.headers),
            timeout=timeout,
        )
        limit = self._settings.max_response_bytes
        if self._direct is not None:
            # The client has no auth, redirects, hooks or cookies, so send() would add nothing but time.
            return await self._direct.fetch(built, max_bytes=limit)
        response = await self._client.send(built, stream=True)
        try:
            content = await read_bounded(response, limit)
        finally:
            await response.aclose()
        return httpx.Response(
            response.status_code,
            headers=[(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"],
            content=content,
            request=built,
        )

    @asynccontextmanager
    async def stream(
        self,
        request: UpstreamRequest,
        *,
        account_id: str,
        max_concurrency: int,
        operation: str,
        deadline: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open a streaming request; yields the response once a 2xx status arrived.

        The account's concurrency slot is held while the request is sent and its headers awaited,
        then released: an open stream (up to stream_timeout_s) must not make the account's other
        calls queue behind it. The stream itself counts against `max_open_streams_per_account` from
        here until the block is left; one over it raises TooManyStreams at once, sending nothing.
        Leaving the block (including by cancellation when the gRPC client goes away) closes the
        upstream connection.
        """
        limit = self._settings.max_open_streams_per_account
        if self._open_streams.get(account_id, 0) >= limit:
            raise TooManyStreams(
                f"the account already has {limit} streams open (max_open_streams_per_account); "
                "close one or retry when one ends"
            )
        self._open_streams[account_id] = self._open_streams.get(account_id, 0) + 1
        try:
            async with self._open_stream(
                request, account_id, max_concurrency, operation, deadline
            ) as response:
                yield response
        finally:
            left = self._open_streams.pop(account_id) - 1
            if left > 0:
                self._open_streams[account_id] = left

    @asynccontextmanager
    async def _open_stream(
        self,
        request: UpstreamRequest,
        account_id: str,
        max_concurrency: int,
        operation: str,
        deadline: float | None,
    ) -> AsyncIterator[httpx.Response]:
        remaining = None if deadline is None else deadline - time.monotonic()
        semaphore = self._semaphore(account_id, max_concurrency)
        await semaphore.acquire()
        holding = True
        started = time.perf_counter()
        outcome: int | str | None = "cancelled"  # None once observed
        try:
            with upstream_span(operation, request.method, request.url) as span:
                async with self._client.stream(
                    request.method,
                    request.url,
                    params=_query(request),
                    json=request.json_body,
                    headers=traced_headers(request.headers),
                    timeout=self._timeout(remaining, stream=True),
                ) as response:
                    record_response(span, response)
                    semaphore.release()
                    holding = False
                    self._observe(operation, response.status_code, started)
                    outcome = None
                    if response.status_code >= 400:
                        body = _without_credentials(await response.aread(), request)
                        raise error_from_response(
                            response.status_code,
                            response.headers,
                            body,
                            operation,
                            default_retry_after_s=self._settings.rate_limited_default_retry_after_s,
                        )
                    yield response
        except httpx.TimeoutException as exc:
            outcome = outcome and "timeout"
            raise UpstreamTimeout(
                f"Gumloop stream timed out ({type(exc).__name__})", operation=operation
            ) from exc
        except httpx.TransportError as exc:
            outcome = outcome and "connection_error"
            raise UpstreamUnavailable(
                f"Gumloop stream failed ({_failure(exc, operation)})", operation=operation
            ) from exc
        finally:
            if holding:
                semaphore.release()
            if outcome is not None:  # no headers came
                self._observe(operation, outcome, started)


def _failure(exc: httpx.TransportError, operation: str) -> str:
    """What a caller is told of a transport failure: its kind, and the egress guard's reason.

    The transport's own text names hosts, ports and resolver errors of the internal network;
    that goes to the log (no secret in it: the transport never puts the URL in its messages).
    """
    kind = type(exc).__name__
    text = str(exc)
    logger.warning("%s: upstream %s: %s", operation, kind, text)
    if text.startswith("refusing to connect") or "resolves to a link-local" in text:
        return f"{kind}: the proxy's egress guard refused the address (GMCP_PROXY_ALLOW_LINK_LOCAL_UPSTREAM)"
    return kind


def _without_credentials(body: bytes, request: UpstreamRequest) -> bytes:
    """`body` with the request's credential replaced, before any of it becomes an error message.

    Error answers are passed on to the caller (message, code, details); a server that quotes the
    key it was sent ("Invalid API key: sk-...", a debug page echoing the headers) must not hand
    the account's credential to whoever made the call.
    """
    authorization = request.headers.get("authorization", "")
    secret = authorization.partition(" ")[2].strip() if " " in authorization else authorization
    if len(secret) < 4:
        return body
    for spelling in {secret, json.dumps(secret)[1:-1]}:
        body = body.replace(spelling.encode(), b"[REDACTED]")
    return body


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """`url` parsed by httpx, once per distinct URL (~10 us each time; an operation without path
    parameters always sends the same one). httpx.URL is immutable, so the parsed one is shared."""
    return httpx.URL(url)


def _query(request: UpstreamRequest) -> httpx.QueryParams | None:
    return httpx.QueryParams([(k, v) for k, v in request.params]) if request.params else None


async def _backoff(attempt: int, deadline: float | None) -> None:
    delay = min(2.0, 0.1 * (2**attempt)) * random.uniform(0.5, 1.5)
    if deadline is not None:
        delay = min(delay, max(0.0, deadline - time.monotonic()) / 2)
    await asyncio.sleep(delay)


# Keys of a flat error body that are not context (the SDK's errors._FLAT_RESERVED_KEYS).
_FLAT_RESERVED = frozenset({"error", "message", "error_description", "trace_id", "metadata", "detail"})
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _flat_details(body: dict[str, Any]) -> dict[str, Any]:
    """A flat body's machine-readable context: its ``metadata`` object, else the other top-level keys."""
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        return metadata
    return {k: v for k, v in body.items() if k not in _FLAT_RESERVED}


def error_from_response(
    status: int, headers: httpx.Headers, body: bytes, operation: str, *, default_retry_after_s: int = 0
) -> UpstreamError:
    """The UpstreamError for an error answer, keeping what Gumloop said in any of its forms (as its
    SDK's errors.to_api_error reads them):

    - the v1 envelope ``{"error": {code, message, type, param, details}}``;
    - the flat PublicError ``{"error": code, "message", "metadata"}`` (older endpoints): code, message,
      metadata as details (its ``param`` as the param); OAuth's ``error_description`` as the message;
    - a bare string (JSON or text; the legacy agent endpoints): the message, and the code too when it
      reads as one (``gummie_not_found``);
    - anything else: ``message`` or ``detail`` when present, else the start of the body.

    A 429 saying nothing of when to retry gets `default_retry_after_s` (when > 0), marked as a default.
    """
    code = type_ = param = ""
    details: dict[str, Any] = {}
    message = ""
    try:
        parsed: Any = json.loads(body) if body else None
    except (ValueError, RecursionError):  # RecursionError: a nesting bomb
        parsed = None
    if isinstance(parsed, dict):
        envelope = parsed.get("error")
        if isinstance(envelope, dict):
            code = str(envelope.get("code") or "")
            message = str(envelope.get("message") or "")
            type_ = str(envelope.get("type") or "")
            param = str(envelope.get("param") or "")
            raw_details = envelope.get("details")
            details = raw_details if isinstance(raw_details, dict) else {}
        else:
            if isinstance(envelope, str):
                code = envelope
            details = _flat_details(parsed)
            if isinstance(details.get("param"), str):
                param = details["param"]
            for key in ("message", "error_description", "detail"):
                if isinstance(parsed.get(key), str) and parsed[key]:
                    message = parsed[key]
                    break
            else:
                message = code
    else:
        text = parsed if isinstance(parsed, str) else body[:500].decode("utf-8", "replace")
        message = text.strip()[:500]
        if _CODE.fullmatch(message):
            code = message
    message = message or f"Gumloop answered HTTP {status}"
    kwargs: dict[str, Any] = {
        "http_status": status, "code": code, "type": type_, "param": param, "details": details,
        "operation": operation,
    }  # fmt: skip
    if status == 429:
        info = parse_rate_limit({k.lower(): v for k, v in headers.items()}, time.time())
        kwargs["rate_limit"] = default_retry_after(info, default_retry_after_s)
        return UpstreamRateLimited(message, **kwargs)
    if status >= 500:
        return UpstreamUnavailable(message, **kwargs)
    return UpstreamError(message, **kwargs)


def malformed(operation: str, status: int, why: str) -> UpstreamMalformed:
    """The error for a 2xx answer whose body does not parse as its content type claims."""
    return UpstreamMalformed(
        f"upstream returned malformed body: {why}", http_status=status, operation=operation
    )
