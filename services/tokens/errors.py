"""Errors of the token service and their one mapping to gRPC status.

    TokenServiceError
    ├── InvalidArgument        bad input, with field violations     -> INVALID_ARGUMENT + BadRequest
    ├── NotFound               unknown record, account or token     -> NOT_FOUND (+ ResourceInfo, BadRequest)
    ├── PermissionDenied       an API token used beyond its grant   -> PERMISSION_DENIED
    ├── Aborted                concurrent changes kept conflicting  -> ABORTED (retry the call)
    └── Unavailable            a dependency cannot be reached       -> UNAVAILABLE
        ├── StoreUnavailable   SQLite or Redis refused or failed
        └── ProxyUnavailable   the proxy (catalog, accounts) is unreachable

Tokens that do not resolve (unknown, malformed, expired, revoked) are all `NotFound` with the same
message, so a caller cannot tell them apart. `to_status()` is the only place that knows gRPC codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import grpc
from google.rpc import error_details_pb2

from gumloop_mcp.runtime import with_details

__all__ = [
    "Aborted",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ProxyUnavailable",
    "StoreUnavailable",
    "TokenServiceError",
    "Unavailable",
    "Violation",
    "to_status",
]

#: (field path, description), e.g. ("mcp_server.name", "must be 1-128 characters").
Violation = tuple[str, str]
# A gRPC status travels in trailers (grpc-message and the BadRequest in grpc-status-details-bin), which
# a client refuses past 8 KiB: report at most this many violations, the summary message cut to this size
# (the BadRequest keeps every reported violation whole).
MAX_REPORTED_VIOLATIONS: Final = 10
MAX_SUMMARY_CHARS: Final = 1000


class TokenServiceError(Exception):
    """Base of every error the servicer turns into a gRPC status."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(TokenServiceError):
    """The request is malformed; `violations` name each bad field."""

    def __init__(self, violations: Sequence[Violation], message: str | None = None) -> None:
        self.violations = list(violations[:MAX_REPORTED_VIOLATIONS])
        if len(violations) > MAX_REPORTED_VIOLATIONS:
            more = len(violations) - MAX_REPORTED_VIOLATIONS
            self.violations.append(("request", f"{more} more problems not listed; fix these first"))
        summary = "; ".join(f"{field}: {desc}" for field, desc in self.violations)
        if len(summary) > MAX_SUMMARY_CHARS:
            summary = summary[: MAX_SUMMARY_CHARS - 1] + "…"
        super().__init__(message or f"invalid argument: {summary}")


class NotFound(TokenServiceError):
    """The named resource does not exist (or a token does not resolve)."""

    def __init__(self, message: str, *, resource_type: str = "", name: str = "", field: str = "") -> None:
        super().__init__(message)
        self.resource_type = resource_type
        self.name = name
        self.field = field


class PermissionDenied(TokenServiceError):
    """A valid credential was presented for something it does not grant."""


class Aborted(TokenServiceError):
    """Concurrent changes to the same record kept conflicting; the whole call may be retried."""


class Unavailable(TokenServiceError):
    """A dependency is down; the caller may retry later."""


class StoreUnavailable(Unavailable):
    """The record store (SQLite or Redis) cannot be used right now."""


class ProxyUnavailable(Unavailable):
    """The proxy could not be asked (catalog or account lookup)."""


def to_status(error: TokenServiceError) -> grpc.Status:
    """The gRPC status (with google.rpc details) that reports `error` to the caller."""
    if isinstance(error, InvalidArgument):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field, description=desc)
                for field, desc in error.violations
            ]
        )
        return with_details(grpc.StatusCode.INVALID_ARGUMENT, error.message, bad)
    if isinstance(error, NotFound):
        details: list[object] = []
        if error.resource_type:
            details.append(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource_type, resource_name=error.name, description=error.message
                )
            )
        if error.field:
            details.append(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=error.field, description=error.message
                        )
                    ]
                )
            )
        return with_details(grpc.StatusCode.NOT_FOUND, error.message, *details)  # type: ignore[arg-type]
    if isinstance(error, PermissionDenied):
        return with_details(grpc.StatusCode.PERMISSION_DENIED, error.message)
    if isinstance(error, Aborted):
        return with_details(grpc.StatusCode.ABORTED, error.message)
    if isinstance(error, Unavailable):
        return with_details(grpc.StatusCode.UNAVAILABLE, error.message)
    return with_details(grpc.StatusCode.INTERNAL, error.message)
