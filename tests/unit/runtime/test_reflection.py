"""Server reflection answers under grpc.reflection.v1 (what grpcurl asks first) and v1alpha."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha

from gumloop_mcp.runtime import CallerTokens, create_grpc_server, start_serving
from gumloop_mcp.runtime._reflection import V1_FILE, V1ALPHA_SERVICE_NAME, v1_file_descriptor

V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA_METHOD = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def _v1_messages() -> tuple[Any, Any]:
    """v1 request and response classes from a pool of their own (the client's view of the v1 proto)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(v1_file_descriptor())
    request = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionRequest")
    )
    response = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionResponse")
    )
    return request, response


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    """A server with one service and caller tokens (reflection stays open without them)."""
    server, port, health_servicer = create_grpc_server(
        lambda s: None,
        [health.SERVICE_NAME],
        host="127.0.0.1",
        port=0,
        caller_tokens=CallerTokens.parse("facade=caller-token-0123456789abcdef"),
    )
    await start_serving(server, health_servicer)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(None)


async def _ask(channel: grpc.aio.Channel, method: str, request: Any, response_type: Any) -> list[Any]:
    call = channel.stream_stream(
        method,
        request_serializer=request.__class__.SerializeToString,
        response_deserializer=response_type.FromString,
    )
    return [answer async for answer in call(iter([request]), timeout=5)]


async def test_a_v1_client_lists_the_services(channel: grpc.aio.Channel) -> None:
    """list_services over v1 names the registered services and both reflection services."""
    request_type, response_type = _v1_messages()
    (answer,) = await _ask(channel, V1_METHOD, request_type(list_services=""), response_type)
    assert request_type.DESCRIPTOR.full_name == "grpc.reflection.v1.ServerReflectionRequest"
    names = {s.name for s in answer.list_services_response.service}
    assert names == {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_a_v1_client_can_describe_the_v1_reflection_service_itself(channel: grpc.aio.Channel) -> None:
    """file_containing_symbol finds the v1 reflection proto (grpcurl describes every listed service)."""
    request_type, response_type = _v1_messages()
    (answer,) = await _ask(
        channel,
        V1_METHOD,
        request_type(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
        response_type,
    )
    assert not answer.HasField("error_response"), answer.error_response
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in answer.file_descriptor_response.file_descriptor_proto
    ]
    assert V1_FILE in {f.name for f in files}
    (v1,) = [f for f in files if f.name == V1_FILE]
    assert v1.package == "grpc.reflection.v1"
    assert [m.name for m in v1.service[0].method] == ["ServerReflectionInfo"]
    assert v1.service[0].method[0].input_type == ".grpc.reflection.v1.ServerReflectionRequest"


async def test_v1alpha_still_answers(channel: grpc.aio.Channel) -> None:
    """Older tools keep working."""
    (answer,) = await _ask(
        channel,
        V1ALPHA_METHOD,
        v1alpha.ServerReflectionRequest(list_services=""),
        v1alpha.ServerReflectionResponse,
    )
    assert "grpc.reflection.v1.ServerReflection" in {s.name for s in answer.list_services_response.service}


def test_the_v1alpha_name_is_grpcio_reflections() -> None:
    """The service name registered before grpcio-reflection is imported is the one it serves."""
    from grpc_reflection.v1alpha import reflection

    assert V1ALPHA_SERVICE_NAME == reflection.SERVICE_NAME
