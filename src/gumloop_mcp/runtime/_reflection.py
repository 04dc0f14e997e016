"""gRPC server reflection under both service names: `grpc.reflection.v1` and `grpc.reflection.v1alpha`.

grpcio-reflection (1.85) ships only the v1alpha service, while current tools (grpcurl, Postman,
grpcui, Kreya) ask for v1 first. The two protos are the same messages with the same field numbers
under another package, so v1 is served by the same servicer with the same (wire-identical)
serializers, and the v1 file is added to the default descriptor pool (built from v1alpha's,
renamed) so that a client can describe the v1 service itself too.
"""

from __future__ import annotations

from typing import Final

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

__all__ = ["V1_FILE", "V1_SERVICE_NAME", "enable_reflection", "v1_file_descriptor"]

V1_SERVICE_NAME: Final = "grpc.reflection.v1.ServerReflection"
V1_FILE: Final = "grpc/reflection/v1/reflection.proto"
_V1ALPHA_PACKAGE: Final = "grpc.reflection.v1alpha"
_V1_PACKAGE: Final = "grpc.reflection.v1"


def v1_file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto, made from the v1alpha file by renaming its package."""
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
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.AddSerializedFile(v1_file_descriptor().SerializeToString())


def enable_reflection(service_names: list[str], server: grpc.aio.Server) -> None:
    """Serve reflection for `service_names` (plus both reflection services) under v1 and v1alpha."""
    _register_v1_file()
    names = [*service_names, V1_SERVICE_NAME, reflection.SERVICE_NAME]
    servicer = reflection.aio.ReflectionServicer(names)
    for service in (V1_SERVICE_NAME, reflection.SERVICE_NAME):
        handlers = {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
