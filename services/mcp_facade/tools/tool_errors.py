"""Failures as MCP tool results (``isError: true``) with a message a model can act on.

Error tree (what becomes a tool error, never a JSON-RPC error):

    ToolFailure                  raised inside the tool layer, turned into a result by `failure_result`
    grpc.aio.AioRpcError         a proxy RPC failed; `rpc_error_result` maps the status code:
      INVALID_ARGUMENT           -> lists the field violations
      NOT_FOUND                  -> names the missing id
      RESOURCE_EXHAUSTED         -> rate-limit fields and retry_after_seconds in structuredContent
                                    (Gumloop's 429); without an UpstreamError, the gateway's own limit
      UNAVAILABLE / DEADLINE_EXCEEDED -> retry later: Gumloop's fault with an UpstreamError detail,
                                    the gateway's own (proxy unreachable, its time limit) without
      UNAUTHENTICATED / PERMISSION_DENIED -> the account's Gumloop credentials
      FAILED_PRECONDITION / ALREADY_EXISTS / DATA_LOSS / others -> the upstream's own words
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import grpc
from google.rpc import error_details_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.runtime import error_details, field_violations, is_caller_refusal

__all__ = ["ToolFailure", "error_result", "failure_result", "rpc_error_result"]


class ToolFailure(Exception):
    """A failure the model should see as a tool error (bad arguments, local validation)."""

    def __init__(self, message: str, *, fields: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []


def error_result(message: str, structured: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CallToolResult with isError true."""
    result: dict[str, Any] = {"content": [{"type": "text", "text": message}], "isError": True}
    if structured is not None:
        result["structuredContent"] = structured
    return result


def failure_result(failure: ToolFailure) -> dict[str, Any]:
    """The result for a local failure."""
    structured = None
    if failure.fields:
        structured = {
            "error": "invalid_arguments",
            "field_violations": [{"field": f, "description": d} for f, d in failure.fields],
        }
    return error_result(failure.message, structured)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _metadata(err: grpc.aio.AioRpcError) -> dict[str, str]:
    out: dict[str, str] = {}
    for source in (err.initial_metadata(), err.trailing_metadata()):
        for key, value in source or ():
            if isinstance(value, str):
                out[key.lower()] = value
    return out


def _rate_limit(err: grpc.aio.AioRpcError, upstream: pb.UpstreamError | None) -> dict[str, Any]:
    meta = _metadata(err)
    fields: dict[str, Any] = {
        "limit": _int(meta.get("ratelimit-limit")),
        "remaining": _int(meta.get("ratelimit-remaining")),
        "reset_seconds": _int(meta.get("ratelimit-reset")),
        "retry_after_seconds": _int(meta.get("retry-after")),
        "ratelimit": meta.get("ratelimit") or None,
        "ratelimit_policy": meta.get("ratelimit-policy") or None,
    }
    rl = upstream.rate_limit if upstream is not None and upstream.HasField("rate_limit") else None
    if rl is not None:
        for key, value in (
            ("limit", rl.limit),
            ("remaining", rl.remaining),
            ("reset_seconds", rl.reset_seconds),
            ("retry_after_seconds", rl.retry_after_seconds),
        ):
            if fields[key] is None and value >= 0:
                fields[key] = int(value)
        fields["ratelimit"] = fields["ratelimit"] or rl.ratelimit or None
        fields["ratelimit_policy"] = fields["ratelimit_policy"] or rl.ratelimit_policy or None
    for detail in _details(err):
        if fields["retry_after_seconds"] is None and detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            fields["retry_after_seconds"] = int(
                info.retry_delay.seconds + (1 if info.retry_delay.nanos else 0)
            )
    # The proxy marks a retry-after it made up because Gumloop sent no rate-limit headers.
    fields["retry_after_is_default"] = meta.get("retry-after-source") == "default"
    if fields["retry_after_seconds"] is None:
        fields["retry_after_is_default"] = fields["reset_seconds"] is None
        fields["retry_after_seconds"] = fields["reset_seconds"] if fields["reset_seconds"] is not None else 60
    return fields


def _says_when(err: grpc.aio.AioRpcError) -> bool:
    """Whether the error carries any rate-limit field (trailers or google.rpc.RetryInfo)."""
    meta = _metadata(err)
    if any(key.startswith("ratelimit") or key == "retry-after" for key in meta):
        return True
    return any(detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for detail in _details(err))


def _details(err: grpc.aio.AioRpcError) -> list[Any]:
    try:
        return error_details(err)
    except ValueError:  # a malformed status-details trailer must not hide the error itself
        return []


def _violations(err: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    try:
        return field_violations(err)
    except ValueError:
        return []


def _upstream(err: grpc.aio.AioRpcError) -> pb.UpstreamError | None:
    for detail in _details(err):
        if detail.Is(pb.UpstreamError.DESCRIPTOR):
            upstream = pb.UpstreamError()
            detail.Unpack(upstream)
            return upstream
    return None


def rpc_error_result(
    err: grpc.aio.AioRpcError, *, tool: str, arguments: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The tool result for a failed proxy RPC made by `tool`."""
    code = err.code()
    detail = err.details() or ""
    upstream = _upstream(err)
    said = (upstream.message if upstream is not None and upstream.message else detail).strip()
    structured: dict[str, Any] = {"error": code.name.lower() if code is not None else "unknown"}
    if upstream is not None:
        structured["upstream_status"] = upstream.http_status or None
        if upstream.code:
            structured["upstream_code"] = upstream.code
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = _violations(err)
        if upstream is not None and upstream.param and not violations:
            violations = [(upstream.param, said)]
        structured["field_violations"] = [{"field": f, "description": d} for f, d in violations]
        lines = "; ".join(f"{f}: {d}" for f, d in violations) if violations else said
        message = f"Invalid arguments for {tool}: {lines}. Fix these arguments and call again."
    elif code == grpc.StatusCode.NOT_FOUND:
        ids = {k: v for k, v in (arguments or {}).items() if k.endswith("_id") and isinstance(v, str)}
        which = ", ".join(f"{k}={v!r}" for k, v in ids.items())
        message = f"Not found{f' ({which})' if which else ''}: {said or 'no such resource'}. "
        message += "Check the id, e.g. with the matching list tool."
        if ids:
            structured["ids"] = ids
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED and upstream is None and not _says_when(err):
        # Not Gumloop's 429 (that carries an UpstreamError): a limit of the gateway's own, such as the
        # proxy's open streams per account. Nothing went upstream.
        structured["error"] = "gateway_limit"
        structured["component"] = "gateway"
        message = (
            f"This MCP gateway refused the call to protect the account: {said or code.name}. Gumloop was "
            "not called; retry once other running calls of this account have finished."
        )
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        limits = _rate_limit(err, upstream)
        structured.update(limits)
        structured["error"] = "rate_limited"
        guessed = (
            " (Gumloop gave no retry time; this is the gateway's default)"
            if limits["retry_after_is_default"]
            else ""
        )
        message = (
            f"Gumloop rate limit reached; retry after {limits['retry_after_seconds']} seconds{guessed}. "
            f"{said}"
        ).strip()
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and upstream is not None:
        message = f"Gumloop did not answer in time or is unavailable ({said or code.name}); retry later."
    elif code == grpc.StatusCode.UNAVAILABLE:
        # No UpstreamError detail: the proxy never reached Gumloop (the proxy itself is unreachable, or
        # its store is down). Blaming Gumloop would send the model and the operator the wrong way.
        structured["component"] = "gateway"
        message = (
            f"This MCP gateway's Gumloop proxy is unavailable ({said or code.name}); Gumloop was not "
            "called. Please retry later; if it persists, tell the gateway's operator."
        )
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        structured["component"] = "gateway"
        message = (
            f"The call did not finish within this gateway's time limit ({said or code.name}); whether "
            "Gumloop started the work is unknown. Check with the matching list or get tool, then retry "
            "later if nothing was started."
        )
    elif is_caller_refusal(err):
        structured["error"] = "gateway_misconfigured"
        message = (
            "This MCP gateway is misconfigured: its own service credential was refused by an internal "
            "service. Retrying will not help; tell the gateway's operator."
        )
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        message = (
            "Gumloop rejected this account's credentials (the API key or token is invalid or revoked); "
            "the account owner must reconnect it. Retrying will not help."
        )
    elif code == grpc.StatusCode.PERMISSION_DENIED:
        message = f"This Gumloop account is not allowed to do that: {said}."
    elif code == grpc.StatusCode.CANCELLED:
        message = "The call was cancelled."
    else:
        name = code.name if code is not None else "UNKNOWN"
        message = f"{tool} failed ({name}): {said or 'no detail'}."
    if upstream is not None and upstream.details_json:
        with contextlib.suppress(ValueError):
            structured["upstream_details"] = json.loads(upstream.details_json)
    return error_result(message, structured)
