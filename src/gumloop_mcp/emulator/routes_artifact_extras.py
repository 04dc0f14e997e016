"""Artifacts beyond the documented routes (the SDK's Artifacts.delete, rename, list_versions,
set_password)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import item_access
from gumloop_mcp.emulator.context import Emulator, emu, json_body
from gumloop_mcp.emulator.errors import bad_request, not_found

routes = web.RouteTableDef()
API = "/api/v1"


def _artifact(e: Emulator, request: web.Request) -> dict[str, Any]:
    art = e.store.artifacts.get(request.match_info["artifact_id"])
    if art is None:
        raise not_found("artifact", request.match_info["artifact_id"])
    return art


@routes.delete(API + "/artifacts/{artifact_id}")
async def delete_artifact(request: web.Request) -> web.Response:
    """Remove the artifact, its stored file and its sharing."""
    e = emu(request)
    art = _artifact(e, request)
    del e.store.artifacts[art["id"]]
    e.store.blobs.pop(art["_blob"], None)
    e.store.item_access.pop(("artifact", art["id"]), None)
    return web.json_response({"deleted": True})


@routes.put(API + "/artifacts/{artifact_id}/name")
async def rename_artifact(request: web.Request) -> web.Response:
    """Set the display name (null resets it); the stored filename stays."""
    e, body = emu(request), await json_body(request)
    art = _artifact(e, request)
    if "name" not in body:
        raise bad_request("name is required (null resets it)", param="name")
    name = body["name"]
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 256):
        raise bad_request("name must be 1-256 characters, or null", param="name")
    art["_display_name"] = name
    return web.json_response({"name": name})


@routes.get(API + "/artifacts/{artifact_id}/versions")
async def list_versions(request: web.Request) -> web.Response:
    """The artifact's versions, newest first (the emulator keeps one per artifact)."""
    e = emu(request)
    art = _artifact(e, request)
    blob = e.store.blobs[art["_blob"]]
    version = {
        "version_id": art["version_id"],
        "major_version": art["major_version"],
        "created_ts": art["created_at"],
        "is_deployed": True,
        "is_current": True,
        "filename": blob.filename,
        "media_type": blob.media_type,
        "size": len(blob.data),
    }
    return web.json_response({"versions": [version]})


@routes.put(API + "/artifacts/{artifact_id}/password")
async def set_password(request: web.Request) -> web.Response:
    """Set the link password (kept hashed, never answered)."""
    e, body = emu(request), await json_body(request)
    art = _artifact(e, request)
    item_access.set_password(e.store, art["id"], body.get("password"))
    return web.json_response({"success": True})
