"""Errors of the Gumloop proxy. The servicer maps them to gRPC status in one place.

ProxyError
├── InvalidArguments          INVALID_ARGUMENT + google.rpc.BadRequest (field violations)
├── NotFound                  NOT_FOUND (unknown account or operation)
├── AlreadyExists             ALREADY_EXISTS (account id taken)
├── StoreUnavailable          UNAVAILABLE (account store down)
├── DownloadFailed            FAILED_PRECONDITION (signed link expired or refused) / UNAVAILABLE
├── IdempotencyKeyReused      FAILED_PRECONDITION (same key, different operation or arguments)
├── AccountNotReady           FAILED_PRECONDITION (OAuth connection pending or needing reconnection)
├── OAuthRefused              FAILED_PRECONDITION (Gumloop's OAuth server refused a code or registration)
├── TooManyStreams            RESOURCE_EXHAUSTED (the account's open streams at max_open_streams_per_account)
└── UpstreamError             by HTTP status: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED,
    │                         402 FAILED_PRECONDITION, 403 PERMISSION_DENIED, 404 NOT_FOUND,
    │                         409 ALREADY_EXISTS | FAILED_PRECONDITION, 413 INVALID_ARGUMENT,
    │                         other 4xx FAILED_PRECONDITION; always with an UpstreamError detail
    ├── UpstreamRateLimited   RESOURCE_EXHAUSTED + RetryInfo + rate-limit trailing metadata (429)
    ├── UpstreamUnavailable   UNAVAILABLE (5xx, connection refused or reset)
    ├── UpstreamTimeout       DEADLINE_EXCEEDED
    └── UpstreamMalformed     DATA_LOSS (a body that cannot be parsed)
        └── UpstreamTooLarge  OUT_OF_RANGE (an answer above max_response_bytes)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AccountNotReady",
    "AlreadyExists",
    "OAuthRefused",
    "DownloadFailed",
    "IdempotencyKeyReused",
    "InvalidArguments",
    "NotFound",
    "ProxyError",
    "StoreUnavailable",
    "TooManyStreams",
    "UpstreamError",
    "UpstreamMalformed",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamTooLarge",
    "UpstreamUnavailable",
]


class ProxyError(Exception):
    """Base of every error the proxy reports to its callers."""


class InvalidArguments(ProxyError):
    """Arguments failed validation; each violation names the field (dotted JSON path) and the expectation."""

    def __init__(self, violations: Sequence[tuple[str, str]], message: str = "invalid arguments") -> None:
        self.violations = list(violations)
        detail = "; ".join(f"{field}: {why}" for field, why in self.violations)
        super().__init__(f"{message}: {detail}" if detail else message)


class NotFound(ProxyError):
    """An unknown account or operation."""


class AlreadyExists(ProxyError):
    """An account with that id exists already."""


class StoreUnavailable(ProxyError):
    """The account store cannot be reached."""


class DownloadFailed(ProxyError):
    """A signed download link could not be fetched.

    `expired` is true when the host refused the link (403/404/410), so asking for a fresh link helps.
    """

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class UpstreamError(ProxyError):
    """Gumloop answered with an error status; Gumloop's error envelope is kept as it came."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int = 0,
        code: str = "",
        type: str = "",
        param: str = "",
        details: dict[str, Any] | None = None,
        operation: str = "",
        rate_limit: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.type = type
        self.param = param
        self.details = details or {}
        self.operation = operation
        # A ratelimit.RateLimitInfo when upstream sent rate-limit headers.
        self.rate_limit = rate_limit


class UpstreamRateLimited(UpstreamError):
    """Gumloop answered 429. Never retried by the proxy."""


class UpstreamUnavailable(UpstreamError):
    """Gumloop answered 5xx, or the connection failed or was reset."""


class UpstreamTimeout(UpstreamError):
    """Gumloop did not answer within the timeout or the caller's deadline."""


class UpstreamMalformed(UpstreamError):
    """Gumloop answered with a body that cannot be parsed as what its content type claims."""


class UpstreamTooLarge(UpstreamMalformed):
    """Gumloop's answer is larger than `max_response_bytes`; it was not read to the end."""


class TooManyStreams(ProxyError):
    """The account has `max_open_streams_per_account` streams open; this one was not sent upstream."""


class IdempotencyKeyReused(ProxyError):
    """An idempotency key was reused with another operation or other arguments (FAILED_PRECONDITION)."""


class AccountNotReady(ProxyError):
    """An OAuth connection that cannot be used: its authorization is pending, or Gumloop refused to
    refresh it (needs reconnection). Nothing was sent upstream."""


class OAuthRefused(ProxyError):
    """Gumloop's OAuth server refused a step of connecting an account (registration, code exchange)."""
