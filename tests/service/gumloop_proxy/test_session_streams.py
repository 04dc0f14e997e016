"""The stream-host session operations through the proxy against the emulator: stream_new_session starts a
session and relays its turn; stream_session_message sends a message with an uploaded attachment."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc

from .conftest import invoke


async def _stream(
    stub: pb_grpc.ProxyServiceStub, account_id: str, operation: str, arguments: dict[str, Any]
) -> list[dict[str, Any]]:
    """The relayed events' JSON data, after checking the stream started with 200 and ended."""
    call = stub.StreamOperation(
        pb.StreamOperationRequest(
            account_id=account_id, operation=operation, arguments_json=json.dumps(arguments)
        ),
        timeout=20,
    )
    parts = [message async for message in call]
    assert parts[0].WhichOneof("part") == "start" and parts[0].start.http_status == 200
    assert parts[-1].WhichOneof("part") == "end"
    return [json.loads(p.event.data) for p in parts if p.WhichOneof("part") == "event"]


async def test_a_new_session_streams_its_turn_then_a_message_with_an_attachment_streams_its_reply(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """user-message, text-delta, finish (completed) for each turn; the uploaded file is accepted."""
    _, agents = await invoke(stub, account.id, "list_agents", {})
    events = await _stream(
        stub, account.id, "stream_new_session", {"agent_id": agents["agents"][0]["id"], "input": "Hello"}
    )
    assert [e["type"] for e in events] == ["user-message", "text-delta", "finish"]
    assert events[0]["data"] == {"content": "Hello"} and events[-1]["data"]["state"] == "completed"
    session_id = events[-1]["stream_cursor"].split(":")[0]
    content = base64.b64encode(b"a,b\n1,2\n").decode()
    _, uploaded = await invoke(
        stub,
        account.id,
        "upload_session_file",
        {"session_id": session_id, "file_name": "t.csv", "file_content": content},
    )
    assert uploaded == {"file_name": "t.csv", "media_type": "text/csv", "size": 8}
    more = await _stream(
        stub,
        account.id,
        "stream_session_message",
        {"session_id": session_id, "input": "Read it", "attachments": [{"file_name": "t.csv"}]},
    )
    assert [e["type"] for e in more] == ["user-message", "text-delta", "finish"]
    _, session = await invoke(stub, account.id, "get_session", {"session_id": session_id})
    assert [m["content"] for m in session["session"]["messages"] if m["role"] == "user"] == [
        "Hello",
        "Read it",
    ]


async def test_an_attachment_never_uploaded_fails_the_stream_with_gumloops_reason(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """Gumloop's 400 reaches the caller as INVALID_ARGUMENT naming the attachment."""
    _, agents = await invoke(stub, account.id, "list_agents", {})
    _, created = await invoke(stub, account.id, "create_session", {"agent_id": agents["agents"][0]["id"]})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _stream(
            stub,
            account.id,
            "stream_session_message",
            {
                "session_id": created["session"]["id"],
                "input": "x",
                "attachments": [{"file_name": "nope.csv"}],
            },
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nope.csv" in (caught.value.details() or "")
