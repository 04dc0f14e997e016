"""JSON-RPC parsing and classification."""

from __future__ import annotations

import pytest

from services.mcp_facade.protocol.jsonrpc import (
    PARSE_ERROR,
    JsonRpcError,
    error_response,
    parse_body,
    parse_message,
)


def test_parse_body_rejects_invalid_json_with_parse_error() -> None:
    """Invalid JSON raises -32700 meant for HTTP 400."""
    with pytest.raises(JsonRpcError) as raised:
        parse_body(b"{nope")
    assert (raised.value.code, raised.value.http_status) == (-32700, 400)


def test_messages_are_classified_as_request_notification_or_response() -> None:
    """An id plus method is a request, a method alone a notification, id plus result a response."""
    assert parse_message({"jsonrpc": "2.0", "id": 1, "method": "ping"}).kind == "request"
    assert parse_message({"jsonrpc": "2.0", "method": "notifications/initialized"}).kind == "notification"
    assert parse_message({"jsonrpc": "2.0", "id": "a", "result": {}}).kind == "response"


@pytest.mark.parametrize(
    "obj",
    [
        [],
        "ping",
        {"id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},
        {"jsonrpc": "2.0", "id": True, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1, "method": "x", "params": [1, 2]},
        {"jsonrpc": "2.0", "id": 1},
    ],
)
def test_invalid_messages_raise_invalid_request(obj: object) -> None:
    """Non-objects, missing/incorrect jsonrpc, null/bool ids, bad method or params get -32600."""
    with pytest.raises(JsonRpcError) as raised:
        parse_message(obj)
    assert raised.value.code == -32600


def test_meta_and_params_default_to_empty() -> None:
    """params and params._meta read as empty objects when absent."""
    msg = parse_message({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert (msg.params, msg.meta) == ({}, {})


def test_error_response_carries_data_only_when_given() -> None:
    """The error object has code and message, and data only when set."""
    assert error_response(1, JsonRpcError(-32602, "bad")) == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32602, "message": "bad"},
    }
    assert error_response(None, JsonRpcError(-32022, "v", {"supported": []}))["error"]["data"] == {
        "supported": []
    }


def test_a_nesting_bomb_is_a_parse_error_not_a_crash() -> None:
    """100k opening brackets: -32700 with HTTP 400, not a RecursionError."""
    with pytest.raises(JsonRpcError) as caught:
        parse_body(b"[" * 100_000)
    assert caught.value.code == PARSE_ERROR and caught.value.http_status == 400
    assert "nested too deeply" in caught.value.message
