"""Mapping proxy errors to gRPC statuses, in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy import errors
from services.gumloop_proxy.ratelimit import default_retry_after
from services.gumloop_proxy.status import StatusWithTrailers, to_status


def _details(status: StatusWithTrailers) -> status_pb2.Status:
    raw = dict(status.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    return status_pb2.Status.FromString(raw)


def _unpack(status: StatusWithTrailers, message_type: type) -> list:
    out = []
    for any_ in _details(status).details:
        if any_.Is(message_type.DESCRIPTOR):
            item = message_type()
            any_.Unpack(item)
            out.append(item)
    return out


@pytest.mark.parametrize(
    ("http_status", "code", "expected"),
    [
        (400, "", grpc.StatusCode.INVALID_ARGUMENT),
        (401, "", grpc.StatusCode.UNAUTHENTICATED),
        (402, "", grpc.StatusCode.FAILED_PRECONDITION),
        (403, "insufficient_scope", grpc.StatusCode.PERMISSION_DENIED),
        (404, "", grpc.StatusCode.NOT_FOUND),
        (409, "interaction_not_in_terminal_state", grpc.StatusCode.FAILED_PRECONDITION),
        (409, "session_already_exists", grpc.StatusCode.ALREADY_EXISTS),
        (413, "", grpc.StatusCode.INVALID_ARGUMENT),
        (418, "", grpc.StatusCode.FAILED_PRECONDITION),
    ],
)
def test_upstream_http_errors_map_to_fitting_codes(
    http_status: int, code: str, expected: grpc.StatusCode
) -> None:
    """Each upstream status has its gRPC code, and the envelope travels as an UpstreamError detail."""
    error = errors.UpstreamError(
        "boom",
        http_status=http_status,
        code=code,
        type="invalid_request_error",
        details={"a": 1},
        operation="op",
    )
    status = to_status(error)
    assert status.code == expected
    (detail,) = _unpack(status, pb.UpstreamError)
    assert (detail.http_status, detail.code, detail.operation) == (http_status, code, "op")
    assert json.loads(detail.details_json) == {"a": 1}
    assert "HTTP " + str(http_status) in status.details


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.UpstreamUnavailable("503", http_status=503), grpc.StatusCode.UNAVAILABLE),
        (errors.UpstreamUnavailable("reset"), grpc.StatusCode.UNAVAILABLE),
        (errors.UpstreamTimeout("slow"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.UpstreamMalformed("upstream returned malformed body: x"), grpc.StatusCode.DATA_LOSS),
        (errors.NotFound("no"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("taken"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.StoreUnavailable("down"), grpc.StatusCode.UNAVAILABLE),
        (errors.DownloadFailed("expired", expired=True), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.DownloadFailed("refused"), grpc.StatusCode.UNAVAILABLE),
        (errors.IdempotencyKeyReused("again"), grpc.StatusCode.FAILED_PRECONDITION),
    ],
)
def test_other_errors_map_to_their_codes(error: errors.ProxyError, expected: grpc.StatusCode) -> None:
    """Transport failures, timeouts, bad bodies and local errors each get a fitting code."""
    assert to_status(error).code == expected


def test_invalid_arguments_carry_field_violations() -> None:
    """INVALID_ARGUMENT lists every field with what was expected."""
    status = to_status(errors.InvalidArguments([("pipeline_inputs.topic", "is required"), ("x", "unknown")]))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = _unpack(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("pipeline_inputs.topic", "is required"),
        ("x", "unknown"),
    ]


@dataclass
class FakeRateLimit:
    """Stands in for ratelimit.RateLimitInfo."""

    def to_proto(self) -> pb.RateLimit:
        return pb.RateLimit(
            limit=5, remaining=0, reset_seconds=30, retry_after_seconds=30, ratelimit='"d";r=0;t=30'
        )

    def to_trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("ratelimit-limit", "5"), ("retry-after", "30"))


def test_a_429_is_resource_exhausted_with_retry_info_and_rate_limit_trailers() -> None:
    """RetryInfo, a RateLimit detail and the normalized headers as trailing metadata."""
    error = errors.UpstreamRateLimited(
        "slow down", http_status=429, operation="create_session", rate_limit=FakeRateLimit()
    )
    status = to_status(error)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(status.trailing_metadata)
    assert trailers["ratelimit-limit"] == "5" and trailers["retry-after"] == "30"
    (retry,) = _unpack(status, error_details_pb2.RetryInfo)
    assert retry.retry_delay.seconds == 30
    (upstream,) = _unpack(status, pb.UpstreamError)
    assert upstream.rate_limit.remaining == 0 and upstream.http_status == 429
    assert _unpack(status, pb.RateLimit)[0].limit == 5


def test_a_429_with_the_default_retry_after_says_so_in_its_message_and_trailers() -> None:
    """The proxy's default retry-after is marked: a trailer and a note in the status message."""
    info = default_retry_after(None, 30)
    error = errors.UpstreamRateLimited("slow down", http_status=429, operation="list_teams", rate_limit=info)
    status = to_status(error)
    trailers = dict(status.trailing_metadata)
    assert trailers["retry-after"] == "30" and trailers["retry-after-source"] == "default"
    assert "ratelimit-limit" not in trailers
    assert status.details.startswith("list_teams: Gumloop HTTP 429: slow down")
    assert "30 s is the proxy's default" in status.details
    (upstream,) = _unpack(status, pb.UpstreamError)
    assert upstream.message == "slow down"  # Gumloop's own message is kept as it came
