"""gRPC server reflection under both service names: `grpc.reflection.v1` and `grpc.reflection.v1alpha`.

grpcio-reflection (1.85) ships only the v1alpha service, while current tools (grpcurl, Postman,
grpcui, Kreya) ask for v1 first. The two protos are the same messages with the same field numbers
under another package, so v1 is served by the same servicer with the same (wire-identical)
serializers, and the v1 file is added to the default descriptor pool (built from v1alpha's,
renamed) so that a client can describe the v1 service itself too.

Both are registered at start-up but built on the first reflection call (`_LazyReflection`):
grpcio-reflection imports protobuf's descriptor_pb2, about 4 MiB resident in every service that
nobody inspects with grpcurl (tests/unit/test_lazy_imports.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import grpc

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2

__all__ = ["V1ALPHA_SERVICE_NAME", "V1_FILE", "V1_SERVICE_NAME", "enable_reflection", "v1_file_descriptor"]

V1_SERVICE_NAME: Final = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE_NAME: Final = "grpc.reflection.v1alpha.ServerReflection"  # grpc_reflection's SERVICE_NAME
_METHOD: Final = "ServerReflectionInfo"
V1_FILE: Final = "grpc/reflection/v1/reflection.proto"
_V1ALPHA_PACKAGE: Final = "grpc.reflection.v1alpha"
_V1_PACKAGE: Final = "grpc.reflection.v1"


def v1_file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto, made from the v1alpha file by renaming its package."""
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = V1_FILE
    proto.package = _V1_PACKAGE
    proto.options.Clear()
    prefix = f".{_V1ALPHA_PACKAGE}."
    for message in proto.message_type:
        for message_field in message.field:
            if message_field.type_name.startswith(prefix):
                message_field.type_name = f".{_V1_PACKAGE}." + message_field.type_name[len(prefix) :]
    for service in proto.service:
        for method in service.method:
            for attr in ("input_type", "output_type"):
                name = getattr(method, attr)
                if name.startswith(prefix):
                    setattr(method, attr, f".{_V1_PACKAGE}." + name[len(prefix) :])
    return proto


def _register_v1_file() -> None:
    """Add the v1 file to the default pool once (a later grpcio-reflection may have added it)."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.AddSerializedFile(v1_file_descriptor().SerializeToString())


def enable_reflection(service_names: list[str], server: grpc.aio.Server) -> None:
    """Serve reflection for `service_names` (plus both reflection services) under v1 and v1alpha."""
    server.add_generic_rpc_handlers(
        (_LazyReflection([*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME]),)
    )


class _LazyReflection(grpc.GenericRpcHandler):  # type: ignore[misc]
    """The method of both reflection services, built (grpcio-reflection imported) on its first call."""

    def __init__(self, names: list[str]) -> None:
        self._names = names
        self._paths = frozenset(
            f"/{service}/{_METHOD}" for service in (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
        )
        self._handler: grpc.RpcMethodHandler | None = None

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method not in self._paths:
            return None
        if self._handler is None:
            self._handler = _reflection_handler(self._names)
        return self._handler


def _reflection_handler(names: list[str]) -> grpc.RpcMethodHandler:
    from grpc_reflection.v1alpha import reflection, reflection_pb2

    _register_v1_file()
    servicer = reflection.aio.ReflectionServicer(names)
    return grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
