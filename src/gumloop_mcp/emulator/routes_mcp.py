"""MCP servers: listings, tools, resources (cursor), prompts, and batched tool calls (200/207)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.context import Emulator, emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.pagination import paginate

routes = web.RouteTableDef()
API = "/api/v1"


def _server(e: Emulator, server_id: str) -> dict[str, Any]:
    srv = e.store.mcp_servers.get(server_id)
    if srv is None:
        raise ApiError(404, "mcp_server_not_found", f"MCP server {server_id!r} not found", param="server_id")
    return srv


def _public(srv: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in srv.items() if not k.startswith("_")}


def _header(srv: dict[str, Any]) -> dict[str, Any]:
    return {
        "server_id": srv["server_id"],
        "status": srv["status"],
        "gumloop_auth_url": srv["gumloop_auth_url"],
    }


@routes.get(API + "/mcp/servers")
async def list_servers(request: web.Request) -> web.Response:
    """Every MCP server."""
    return web.json_response({"servers": [_public(s) for s in emu(request).store.mcp_servers.values()]})


@routes.get(API + "/mcp/servers/{server_id}")
async def get_server(request: web.Request) -> web.Response:
    """One server with its allowed tool call ids."""
    srv = _server(emu(request), request.match_info["server_id"])
    return web.json_response(
        {"server": {**_public(srv), "allowed_tool_call_ids": [t["tool_call_id"] for t in srv["_tools"]]}}
    )


@routes.get(API + "/mcp/servers/{server_id}/tools")
async def list_tools(request: web.Request) -> web.Response:
    """Tools; empty when the server is not connected."""
    srv = _server(emu(request), request.match_info["server_id"])
    tools = (
        [{**t, "server": {"name": srv["name"]}} for t in srv["_tools"]]
        if srv["status"] == "connected"
        else []
    )
    return web.json_response({"tools": tools, **_header(srv)})


@routes.get(API + "/mcp/servers/{server_id}/resources")
async def list_resources(request: web.Request) -> web.Response:
    """Resources, cursor-paginated."""
    srv = _server(emu(request), request.match_info["server_id"])
    page, nxt = paginate(srv["_resources"], request.query)
    return web.json_response({"resources": page, **_header(srv), "next_cursor": nxt})


@routes.get(API + "/mcp/servers/{server_id}/resources/read")
async def read_resource(request: web.Request) -> web.Response:
    """A resource's contents."""
    srv = _server(emu(request), request.match_info["server_id"])
    uri = required(request.query, "uri")
    res = next((r for r in srv["_resources"] if r["uri"] == uri), None)
    if res is None:
        raise ApiError(404, "not_found", f"resource {uri!r} not found on {srv['server_id']}", param="uri")
    text = f"Contents of {res['title']}"
    return web.json_response(
        {
            "server_id": srv["server_id"],
            "uri": uri,
            "contents": [{"uri": uri, "mime_type": "text/plain", "text": text}],
        }
    )


@routes.get(API + "/mcp/servers/{server_id}/prompts")
async def list_prompts(request: web.Request) -> web.Response:
    """Prompts."""
    srv = _server(emu(request), request.match_info["server_id"])
    return web.json_response({"prompts": srv["_prompts"], **_header(srv)})


@routes.post(API + "/mcp/servers/{server_id}/prompts/get")
async def get_prompt(request: web.Request) -> web.Response:
    """A rendered prompt; 400 when a required argument is missing."""
    e, body = emu(request), await json_body(request)
    srv = _server(e, request.match_info["server_id"])
    name = required(body, "name")
    prompt = next((p for p in srv["_prompts"] if p["name"] == name), None)
    if prompt is None:
        raise ApiError(404, "not_found", f"prompt {name!r} not found on {srv['server_id']}", param="name")
    args = body.get("arguments") or {}
    if not isinstance(args, dict):
        raise bad_request("arguments must be an object", param="arguments")
    for arg in prompt["arguments"]:
        if arg["required"] and arg["name"] not in args:
            raise bad_request(f"argument {arg['name']!r} is required", param="arguments")
    text = f"{prompt['description']}: " + ", ".join(f"{k}={v}" for k, v in args.items())
    return web.json_response(
        {
            "server_id": srv["server_id"],
            "name": name,
            "description": prompt["description"],
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        }
    )


def _call(e: Emulator, index: int, call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise bad_request(f"calls[{index}] must be an object", param="calls")
    ref = call.get("ref", str(index))
    sid, tool = call.get("server_id"), call.get("tool_name")
    if not sid or not tool:
        raise bad_request(f"calls[{index}] needs server_id and tool_name", param="calls")
    base = {"ref": ref, "server_id": sid, "tool_name": tool}
    srv = e.store.mcp_servers.get(sid)
    if srv is None:
        err = {
            "code": "mcp_server_not_found",
            "message": f"MCP server {sid!r} not found",
            "type": "invalid_request_error",
            "param": "server_id",
            "details": {},
        }
        return {**base, "status": "error", "content": None, "error": err}
    if srv["status"] == "blocked":
        err = {
            "code": "mcp_server_restricted",
            "message": f"MCP server {sid!r} is restricted for this organization",
            "type": "permission_error",
            "param": "server_id",
            "details": {"server_id": sid},
        }
        return {**base, "status": "error", "content": None, "error": err}
    if srv["status"] != "connected":
        err = {
            "code": "auth_required",
            "message": f"Connect {srv['name']} first",
            "type": "permission_error",
            "param": "tool_name",
            "details": {"server_id": sid, "tool_name": tool, "gumloop_auth_url": srv["gumloop_auth_url"]},
        }
        return {**base, "status": "unauthenticated", "content": None, "error": err}
    if not any(t["name"] == tool for t in srv["_tools"]):
        err = {
            "code": "tool_not_found",
            "message": f"tool {tool!r} not found on {sid}",
            "type": "invalid_request_error",
            "param": "tool_name",
            "details": {},
        }
        return {**base, "status": "error", "content": None, "error": err}
    return {
        **base,
        "status": "success",
        "content": [{"type": "text", "text": f"{tool} ok: {call.get('arguments') or {}}"}],
        "error": None,
    }


@routes.post(API + "/mcp/tools/call")
async def call_tools(request: web.Request) -> web.Response:
    """1-5 calls; 200 when all succeed or all fail, 207 when mixed."""
    e, body = emu(request), await json_body(request)
    calls = body.get("calls")
    if not isinstance(calls, list) or not 1 <= len(calls) <= 5:
        raise bad_request("calls must be a list of 1 to 5 tool calls", param="calls")
    results = [_call(e, i, c) for i, c in enumerate(calls)]
    ok = {r["status"] == "success" for r in results}
    return web.json_response({"results": results}, status=207 if len(ok) == 2 else 200)
