"""GET /mcp/servers/{server_id}/accounts (the SDK's Mcp.list_accounts): the accounts connected to a server."""

from __future__ import annotations

from aiohttp import web

from gumloop_mcp.emulator.context import emu
from gumloop_mcp.emulator.errors import ApiError

routes = web.RouteTableDef()
API = "/api/v1"


@routes.get(API + "/mcp/servers/{server_id}/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    """One default account in use for a connected server; none for a server not connected."""
    e, sid = emu(request), request.match_info["server_id"]
    srv = e.store.mcp_servers.get(sid)
    if srv is None:
        raise ApiError(404, "mcp_server_not_found", f"MCP server {sid!r} not found", param="server_id")
    accounts = (
        [
            {
                "id": f"acct_{sid}_1",
                "label": f"{srv['name']} (ada@example.com)",
                "is_default": True,
                "in_use": True,
            }
        ]
        if srv["status"] == "connected"
        else []
    )
    return web.json_response({"server_id": sid, "accounts": accounts})
