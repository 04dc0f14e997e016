"""The one place where proxy errors become gRPC statuses (AIP-193 style details).

Every upstream failure carries a pb.UpstreamError detail with Gumloop's envelope; a 429 also
carries google.rpc.RetryInfo, a pb.RateLimit detail and the rate-limit trailing metadata;
INVALID_ARGUMENT carries google.rpc.BadRequest field violations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.runtime import with_details

from . import errors
from .ratelimit import RateLimitInfo

__all__ = ["StatusWithTrailers", "grpc_code_for_http", "to_status"]

_BY_HTTP: Final = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    402: grpc.StatusCode.FAILED_PRECONDITION,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    410: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@dataclass(frozen=True)
class StatusWithTrailers(grpc.Status):  # type: ignore[misc]
    """A grpc.Status for `context.abort_with_status` whose trailers add rate-limit fields."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def grpc_code_for_http(status: int, code: str = "") -> grpc.StatusCode:
    """The gRPC code for an upstream HTTP error status (and Gumloop error code, for 409s)."""
    if status == 409 and code in ("session_already_exists", "already_exists"):
        return grpc.StatusCode.ALREADY_EXISTS
    if status in _BY_HTTP:
        return _BY_HTTP[status]
    if status >= 500:
        return grpc.StatusCode.UNAVAILABLE
    if 400 <= status < 500:
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.UNKNOWN


def to_status(error: errors.ProxyError) -> StatusWithTrailers:
    """The gRPC status (code, message, details, trailers) for a proxy error."""
    details: list[Message] = []
    extra_trailers: Sequence[tuple[str, str]] = ()
    if isinstance(error, errors.InvalidArguments):
        code = grpc.StatusCode.INVALID_ARGUMENT
        details.append(_bad_request(error.violations))
    elif isinstance(error, errors.NotFound):
        code = grpc.StatusCode.NOT_FOUND
    elif isinstance(error, errors.AlreadyExists):
        code = grpc.StatusCode.ALREADY_EXISTS
    elif isinstance(error, errors.StoreUnavailable):
        code = grpc.StatusCode.UNAVAILABLE
    elif isinstance(error, errors.IdempotencyKeyReused | errors.AccountNotReady | errors.OAuthRefused):
        code = grpc.StatusCode.FAILED_PRECONDITION
    elif isinstance(error, errors.TooManyStreams):
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
    elif isinstance(error, errors.DownloadFailed):
        code = grpc.StatusCode.FAILED_PRECONDITION if error.expired else grpc.StatusCode.UNAVAILABLE
    elif isinstance(error, errors.UpstreamError):
        detail = _upstream_detail(error)
        if isinstance(error, errors.UpstreamRateLimited):
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
            if error.rate_limit is not None:
                limit: pb.RateLimit = error.rate_limit.to_proto()
                detail.rate_limit.CopyFrom(limit)
                details.append(limit)
                if limit.retry_after_seconds >= 0:
                    details.append(
                        error_details_pb2.RetryInfo(
                            retry_delay=duration_pb2.Duration(seconds=limit.retry_after_seconds)
                        )
                    )
                extra_trailers = error.rate_limit.to_trailing_metadata()
        elif isinstance(error, errors.UpstreamTimeout):
            code = grpc.StatusCode.DEADLINE_EXCEEDED
        elif isinstance(error, errors.UpstreamUnavailable):
            code = grpc.StatusCode.UNAVAILABLE
        elif isinstance(error, errors.UpstreamTooLarge):
            code = grpc.StatusCode.OUT_OF_RANGE
        elif isinstance(error, errors.UpstreamMalformed):
            code = grpc.StatusCode.DATA_LOSS
        else:
            code = grpc_code_for_http(error.http_status, error.code)
            if code == grpc.StatusCode.INVALID_ARGUMENT and error.param:
                details.append(_bad_request([(error.param, error.message)]))
        details.insert(0, detail)
    else:
        code = grpc.StatusCode.INTERNAL
    message = _message(error)
    base = with_details(code, message, *details)
    return StatusWithTrailers(code, message, (*base.trailing_metadata, *extra_trailers))


def _message(error: errors.ProxyError) -> str:
    if isinstance(error, errors.UpstreamError):
        prefix = f"{error.operation}: " if error.operation else ""
        status = f"Gumloop HTTP {error.http_status}" if error.http_status else "Gumloop"
        code = f" [{error.code}]" if error.code and error.code != error.message else ""
        note = ""
        info = error.rate_limit if isinstance(error, errors.UpstreamRateLimited) else None
        if isinstance(info, RateLimitInfo) and info.retry_after_is_default:
            note = (
                f" (Gumloop said nothing of when to retry; retry after {info.retry_after_seconds} s "
                "is the proxy's default)"
            )
        return f"{prefix}{status}{code}: {error.message}{note}"
    return str(error)


def _bad_request(violations: Sequence[tuple[str, str]]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=why)
            for field, why in violations
        ]
    )


def _upstream_detail(error: errors.UpstreamError) -> pb.UpstreamError:
    details: Any = error.details
    return pb.UpstreamError(
        http_status=error.http_status,
        code=error.code,
        type=error.type,
        message=error.message,
        param=error.param,
        details_json=json.dumps(details, sort_keys=True) if details else "",
        operation=error.operation,
    )
