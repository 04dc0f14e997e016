"""Unit tests of the one error-to-status mapping."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from services.tokens.errors import (
    Aborted,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    to_status,
)


def details(status: grpc.Status) -> status_pb2.Status:
    (_, raw), *_ = [m for m in status.trailing_metadata if m[0] == "grpc-status-details-bin"]
    return status_pb2.Status.FromString(raw)


def test_invalid_argument_carries_bad_request_violations() -> None:
    """Every violation becomes a BadRequest field violation."""
    status = to_status(InvalidArgument([("a.b", "is bad"), ("c", "is worse")]))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert details(status).details[0].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [("a.b", "is bad"), ("c", "is worse")]
    assert "a.b: is bad" in status.details


def test_not_found_names_the_resource_and_field() -> None:
    """NOT_FOUND carries ResourceInfo and, when a field is named, a BadRequest."""
    status = to_status(NotFound("no such account", resource_type="integrated_account", name="x", field="f"))
    assert status.code == grpc.StatusCode.NOT_FOUND
    packed = details(status).details
    info, bad = error_details_pb2.ResourceInfo(), error_details_pb2.BadRequest()
    assert packed[0].Unpack(info) and info.resource_name == "x"
    assert packed[1].Unpack(bad) and bad.field_violations[0].field == "f"


def test_other_errors_map_to_their_codes() -> None:
    """Permission, conflict and availability errors keep their message."""
    assert to_status(PermissionDenied("nope")).code == grpc.StatusCode.PERMISSION_DENIED
    assert to_status(Aborted("kept changing")).code == grpc.StatusCode.ABORTED
    status = to_status(StoreUnavailable("Redis down"))
    assert (status.code, status.details) == (grpc.StatusCode.UNAVAILABLE, "Redis down")
