"""An OpenAPI 3.1 document for the Gumloop REST host, generated from our operation catalog.

The FastMCP peer is built from it, so both servers expose the same operations with the same input
schemas; the catalog is read through the proxy's public gRPC contract (ListOperations).
"""

from __future__ import annotations

import json
from typing import Any

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import create_channel

_LOCATIONS = {pb.PARAMETER_LOCATION_PATH: "path", pb.PARAMETER_LOCATION_QUERY: "query"}


async def fetch_operations(proxy_target: str, caller_token: str | None = None) -> list[pb.Operation]:
    """Every catalog operation, through the proxy's ListOperations (sending the caller token)."""
    async with create_channel(proxy_target, caller_token=caller_token) as channel:
        response = await pb_grpc.ProxyServiceStub(channel).ListOperations(
            pb.ListOperationsRequest(), timeout=10
        )
    return list(response.operations)


def build_openapi(operations: list[pb.Operation], server_url: str) -> dict[str, Any]:
    """OpenAPI 3.1 for the operations served by the REST host (the streaming host's are left out)."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        if op.host != pb.HOST_API:
            continue
        schema = json.loads(op.input_schema_json or "{}")
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        parameters, body_props, multipart = [], {}, False
        for param in op.parameters:
            prop = properties.get(param.name, {"type": "string"})
            where = _LOCATIONS.get(param.location)
            if where:
                parameters.append(
                    {
                        "name": param.wire_name or param.name,
                        "in": where,
                        "required": where == "path" or param.name in required,
                        "schema": prop,
                        "description": prop.get("description", ""),
                    }
                )
            else:
                body_props[param.wire_name or param.name] = prop
                multipart = multipart or param.location in (
                    pb.PARAMETER_LOCATION_MULTIPART_FIELD,
                    pb.PARAMETER_LOCATION_MULTIPART_FILE,
                )
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.title,
            "description": op.description,
            "tags": list(op.tags),
            "parameters": parameters,
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}},
        }
        if body_props:
            media = "multipart/form-data" if multipart else "application/json"
            body_schema = {
                "type": "object",
                "properties": body_props,
                "required": sorted(required & set(body_props)),
            }
            entry["requestBody"] = {"required": True, "content": {media: {"schema": body_schema}}}
        paths.setdefault(op.path, {})[op.http_method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gumloop (from the gumloop-mcp catalog)", "version": "1"},
        "servers": [{"url": server_url}],
        "paths": paths,
    }
