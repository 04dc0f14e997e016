"""StreamOperation relays what upstream sent: SSE lines split only where SSE splits them, and a
2xx answer that is not an event stream relayed as one event instead of lost."""

from __future__ import annotations

import json

import grpc
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc

from .conftest import FakeGumloop, create_fake_account

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def _relay(stub: pb_grpc.ProxyServiceStub, account_id: str) -> list[pb.StreamOperationResponse]:
    call = stub.StreamOperation(
        pb.StreamOperationRequest(
            account_id=account_id, operation="create_chat_completion", arguments_json=json.dumps(CHAT)
        ),
        timeout=15,
    )
    return [message async for message in call]


async def test_unicode_line_separators_inside_data_are_not_line_ends(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    """`data: {"content":"line\\u2028sep"}` was cut at U+2028 (str.splitlines) into invalid JSON."""
    content = "line\u2028sep\u0085next\x0cfeed\x0bvt\x1cfs"
    chunk = json.dumps({"choices": [{"delta": {"content": content}}]}, ensure_ascii=False)
    gumloop.chat_reply = ("text/event-stream", f"data: {chunk}\r\n\r\ndata: [DONE]\n\n".encode())
    account = await create_fake_account(stub, gumloop)
    messages = await _relay(stub, account.id)
    events = [m.event for m in messages if m.WhichOneof("part") == "event"]
    assert [e.data for e in events] == [chunk, "[DONE]"]
    assert json.loads(events[0].data)["choices"][0]["delta"]["content"] == content
    assert messages[-1].end.event_count == 2


async def test_a_2xx_json_answer_to_a_stream_request_is_relayed_as_one_event(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    """A non-SSE 2xx answer used to end as start + end{event_count: 0}, its body lost."""
    body = {"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hey"}}]}
    gumloop.chat_reply = ("application/json", json.dumps(body).encode())
    account = await create_fake_account(stub, gumloop)
    messages = await _relay(stub, account.id)
    assert [m.WhichOneof("part") for m in messages] == ["start", "event", "end"]
    assert messages[0].start.headers["content-type"] == "application/json"
    assert messages[1].event.event == "message" and json.loads(messages[1].event.data) == body
    assert messages[2].end.event_count == 1


async def test_a_2xx_binary_answer_to_a_stream_request_is_data_loss(
    stub: pb_grpc.ProxyServiceStub, gumloop: FakeGumloop
) -> None:
    """A body that is not text cannot be relayed as an event: a clear DATA_LOSS, not silence."""
    gumloop.chat_reply = ("application/octet-stream", b"\xff\xfe\x00binary")
    account = await create_fake_account(stub, gumloop)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _relay(stub, account.id)
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert "not text" in (caught.value.details() or "")
