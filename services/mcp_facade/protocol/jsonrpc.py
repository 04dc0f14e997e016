"""JSON-RPC 2.0 framing for MCP: parsing, classification and error objects.

Error tree (all are `JsonRpcError`, answered with the code below; the HTTP status
is chosen by the transport):

    JsonRpcError
      -32700 PARSE_ERROR            body is not JSON
      -32600 INVALID_REQUEST        not a JSON-RPC 2.0 message, batch where not allowed,
                                    missing session, ...
      -32601 METHOD_NOT_FOUND       unknown or unadvertised method
      -32602 INVALID_PARAMS         bad params, unknown (or out-of-scope) tool, bad level
      -32603 INTERNAL_ERROR         a bug or a backend failure we cannot describe better
      -32000 RATE_LIMITED           the MCP server's call budget is spent (tools/list, batch items);
                                    data.retry_after_seconds says when to retry
      -32020 HEADER_MISMATCH        2026-07-28: Mcp-Method / Mcp-Name differ from the body
      -32022 UNSUPPORTED_VERSION    2026-07-28: protocol version not supported
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gumloop_mcp.runtime import json_loads

__all__ = [
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "MODERN_HTTP_STATUS",
    "PARSE_ERROR",
    "RATE_LIMITED",
    "UNSUPPORTED_VERSION",
    "JsonRpcError",
    "Message",
    "as_object",
    "error_response",
    "parse_body",
    "parse_message",
    "result_response",
]

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
RATE_LIMITED: Final = -32000
HEADER_MISMATCH: Final = -32020
MISSING_CLIENT_CAPABILITY: Final = -32021
UNSUPPORTED_VERSION: Final = -32022

# The HTTP status of a 2026-07-28 error answer by code, as the spec and the official SDK
# (mcp.shared.inbound.ERROR_CODE_HTTP_STATUS) send it; other codes go with 200. The session
# revisions answer handler errors with 200 (their transport assigns no status to them).
MODERN_HTTP_STATUS: Final = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}

RequestId = str | int


class JsonRpcError(Exception):
    """A protocol fault answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status

    def to_error(self) -> dict[str, Any]:
        """The `error` member of a response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True, slots=True)
class Message:
    """One classified JSON-RPC message."""

    kind: str  # "request" | "notification" | "response"
    raw: dict[str, Any]
    id: RequestId | None = None
    method: str = ""

    @property
    def params(self) -> dict[str, Any]:
        """The params object (empty when absent)."""
        params = self.raw.get("params")
        return params if isinstance(params, dict) else {}

    @property
    def meta(self) -> dict[str, Any]:
        """`params._meta` (empty when absent)."""
        meta = self.params.get("_meta")
        return meta if isinstance(meta, dict) else {}


def as_object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def parse_body(body: bytes) -> Any:
    """Decode a request body as JSON, or raise -32700."""
    try:
        return json_loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonRpcError(PARSE_ERROR, "Parse error: the body is not valid JSON", http_status=400) from exc
    except RecursionError as exc:  # a nesting bomb: deeper than any JSON-RPC message needs
        raise JsonRpcError(
            PARSE_ERROR, "Parse error: the body is nested too deeply", http_status=400
        ) from exc


def parse_message(obj: Any) -> Message:
    """Classify one decoded JSON value as a request, notification or response, or raise -32600."""
    if not isinstance(obj, dict):
        raise JsonRpcError(INVALID_REQUEST, "Invalid Request: expected a JSON-RPC object", http_status=400)
    if obj.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', http_status=400)
    has_id = "id" in obj
    msg_id = obj.get("id")
    if has_id and (isinstance(msg_id, bool) or not isinstance(msg_id, (str, int))):
        raise JsonRpcError(
            INVALID_REQUEST, "Invalid Request: id must be a string or an integer, never null", http_status=400
        )
    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str) or not method:
            raise JsonRpcError(INVALID_REQUEST, "Invalid Request: method must be a string", http_status=400)
        params = obj.get("params")
        if params is not None and not isinstance(params, dict):
            raise JsonRpcError(INVALID_REQUEST, "Invalid Request: params must be an object", http_status=400)
        return Message("request" if has_id else "notification", obj, msg_id, method)
    if has_id and ("result" in obj or "error" in obj):
        return Message("response", obj, msg_id)
    raise JsonRpcError(INVALID_REQUEST, "Invalid Request: neither a request nor a response", http_status=400)


def result_response(msg_id: RequestId | None, result: dict[str, Any]) -> dict[str, Any]:
    """A success response."""
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


def error_response(msg_id: RequestId | None, error: JsonRpcError) -> dict[str, Any]:
    """An error response (id null when the request's id could not be read)."""
    return {"jsonrpc": "2.0", "id": msg_id, "error": error.to_error()}
