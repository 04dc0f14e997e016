"""GET/PUT /{sessions,artifacts,skills}/{id}/access (item_access.py)."""

from __future__ import annotations

from aiohttp import web

from gumloop_mcp.emulator import item_access
from gumloop_mcp.emulator.context import Emulator, emu, json_body
from gumloop_mcp.emulator.errors import not_found

routes = web.RouteTableDef()
API = "/api/v1"
PLURALS = {"sessions": "session", "artifacts": "artifact", "skills": "skill"}


def _item(request: web.Request) -> tuple[Emulator, str, str]:
    """(emulator, kind, id) of an existing item; 404 otherwise."""
    e = emu(request)
    kind, item_id = PLURALS[request.match_info["plural"]], request.match_info["item_id"]
    if kind == "session":
        found = item_id in e.store.sessions
    elif kind == "artifact":
        found = item_id in e.store.artifacts
    else:
        found = item_id in e.store.skills and not e.store.skills[item_id].get("_deleted")
    if not found:
        raise not_found(kind, item_id)
    return e, kind, item_id


def _base(e: Emulator, request: web.Request) -> str:
    return e.settings.public_base_url or f"{request.scheme}://{request.host}"


@routes.get(API + "/{plural:sessions|artifacts|skills}/{item_id}/access")
async def get_access(request: web.Request) -> web.Response:
    """The item's access."""
    e, kind, item_id = _item(request)
    return web.json_response({"access": item_access.view(e.store, kind, item_id, _base(e, request))})


@routes.put(API + "/{plural:sessions|artifacts|skills}/{item_id}/access")
async def update_access(request: web.Request) -> web.Response:
    """Apply {share, remove, link}; the new access and who was notified."""
    e, kind, item_id = _item(request)
    notified = item_access.change(e.store, kind, item_id, await json_body(request))
    view = item_access.view(e.store, kind, item_id, _base(e, request))
    return web.json_response({"access": view, "notified": notified})
