"""gRPC failures from the proxy as actionable tool errors."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.mcp_facade.tools.tool_errors import ToolFailure, failure_result, rpc_error_result


def err(
    code: grpc.StatusCode, message: str, *details: Any, trailing: tuple[tuple[str, str], ...] = ()
) -> Any:
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    meta = grpc.aio.Metadata(*trailing, ("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), meta, message, None)


def text(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


def test_rate_limit_fields_come_from_trailing_metadata() -> None:
    """429: limit, remaining, reset, retry_after_seconds and the draft fields."""
    result = rpc_error_result(
        err(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "slow down",
            trailing=(
                ("ratelimit-limit", "100"),
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "12"),
                ("retry-after", "12"),
                ("ratelimit-policy", '"default";q=100;w=60'),
            ),
        ),
        tool="t",
    )
    sc = result["structuredContent"]
    assert result["isError"] is True
    assert (sc["limit"], sc["remaining"], sc["reset_seconds"], sc["retry_after_seconds"]) == (100, 0, 12, 12)
    assert sc["ratelimit_policy"] == '"default";q=100;w=60'
    assert "retry after 12 seconds" in text(result)
    assert sc["retry_after_is_default"] is False and "default" not in text(result)


def test_a_retry_after_the_proxy_made_up_is_marked_as_a_default() -> None:
    """Gumloop sent no rate-limit headers: the proxy's default retry-after is said to be one."""
    result = rpc_error_result(
        err(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "slow down",
            trailing=(("retry-after", "30"), ("retry-after-source", "default")),
        ),
        tool="t",
    )
    sc = result["structuredContent"]
    assert sc["retry_after_seconds"] == 30 and sc["retry_after_is_default"] is True
    assert sc["limit"] is None and sc["remaining"] is None
    assert "retry after 30 seconds (Gumloop gave no retry time; this is the gateway's default)" in text(
        result
    )


def test_rate_limit_falls_back_to_retry_info() -> None:
    """Without headers, google.rpc.RetryInfo gives retry_after_seconds."""
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=7))
    result = rpc_error_result(err(grpc.StatusCode.RESOURCE_EXHAUSTED, "x", info), tool="t")
    assert result["structuredContent"]["retry_after_seconds"] == 7


def test_each_code_says_what_to_do() -> None:
    """Messages for not found, unavailable, deadline and credentials."""
    missing = rpc_error_result(err(grpc.StatusCode.NOT_FOUND, "no run"), tool="t", arguments={"run_id": "r9"})
    assert "run_id='r9'" in text(missing) and missing["structuredContent"]["ids"] == {"run_id": "r9"}
    assert "retry later" in text(rpc_error_result(err(grpc.StatusCode.UNAVAILABLE, "down"), tool="t"))
    assert "retry later" in text(rpc_error_result(err(grpc.StatusCode.DEADLINE_EXCEEDED, "slow"), tool="t"))
    assert "credentials" in text(rpc_error_result(err(grpc.StatusCode.UNAUTHENTICATED, "401"), tool="t"))


def test_an_outage_says_whose_it_is() -> None:
    """With an UpstreamError detail Gumloop failed; without one the gateway's own proxy did."""
    gumloop = pb.UpstreamError(http_status=503, message="maintenance")
    theirs = rpc_error_result(err(grpc.StatusCode.UNAVAILABLE, "x", gumloop), tool="t")
    assert text(theirs).startswith("Gumloop did not answer") and "maintenance" in text(theirs)
    assert "component" not in theirs["structuredContent"]
    ours = rpc_error_result(err(grpc.StatusCode.UNAVAILABLE, "connection refused"), tool="t")
    assert "gateway's Gumloop proxy is unavailable" in text(ours) and "Gumloop was not called" in text(ours)
    assert ours["structuredContent"] == {"error": "unavailable", "component": "gateway"}
    late = rpc_error_result(err(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), tool="t")
    assert "gateway's time limit" in text(late) and "unknown" in text(late)
    assert late["structuredContent"]["component"] == "gateway"


def test_upstream_error_detail_is_used() -> None:
    """The UpstreamError message and code reach the model."""
    upstream = pb.UpstreamError(http_status=409, code="interaction_not_in_terminal_state", message="busy")
    result = rpc_error_result(err(grpc.StatusCode.FAILED_PRECONDITION, "conflict", upstream), tool="t")
    assert "busy" in text(result)
    assert result["structuredContent"]["upstream_code"] == "interaction_not_in_terminal_state"


def test_invalid_argument_lists_violations() -> None:
    """Each BadRequest violation is listed by field."""
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="pipeline_inputs.topic", description="required")
        ]
    )
    result = rpc_error_result(err(grpc.StatusCode.INVALID_ARGUMENT, "bad", bad), tool="t")
    assert "pipeline_inputs.topic: required" in text(result)
    assert result["structuredContent"]["field_violations"] == [
        {"field": "pipeline_inputs.topic", "description": "required"}
    ]


def test_inconsistent_status_details_do_not_hide_the_error() -> None:
    """A details trailer that does not match the status is ignored, not raised."""
    status = status_pb2.Status(code=5, message="other")
    meta = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    error = grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), meta, "down", None)
    assert "retry later" in text(rpc_error_result(error, tool="t"))


def test_local_failures_carry_their_fields() -> None:
    """ToolFailure becomes isError with field_violations."""
    result = failure_result(ToolFailure("bad", fields=[("limit", "too small")]))
    assert result["isError"] is True
    assert result["structuredContent"]["field_violations"] == [{"field": "limit", "description": "too small"}]


def test_a_refused_gateway_credential_is_an_operator_problem_not_the_accounts() -> None:
    """The proxy refusing the façade's own caller token never blames the Gumloop account."""
    refused = err(
        grpc.StatusCode.UNAUTHENTICATED,
        "the Gumloop proxy requires a caller token (unknown caller token); send a bearer token",
    )
    result = rpc_error_result(refused, tool="list_all_gumloop_teams")
    assert result["isError"] is True
    assert result["structuredContent"]["error"] == "gateway_misconfigured"
    assert "operator" in text(result) and "credentials" not in text(result)


def test_a_limit_of_the_gateway_itself_is_not_called_a_gumloop_rate_limit() -> None:
    """RESOURCE_EXHAUSTED with no UpstreamError and no rate-limit field: the proxy's own bound."""
    said = "the account already has 8 streams open (max_open_streams_per_account); close one or retry"
    result = rpc_error_result(err(grpc.StatusCode.RESOURCE_EXHAUSTED, said), tool="t")
    assert result["structuredContent"] == {"error": "gateway_limit", "component": "gateway"}
    assert "Gumloop was not called" in text(result) and "max_open_streams_per_account" in text(result)
    assert "rate limit" not in text(result)
