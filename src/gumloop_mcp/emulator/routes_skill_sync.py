"""POST /skills/sync/plan (the SDK's Sync.plan, behind `gumloop sync`): the organization's published skills
as a manifest whose hash changes whenever one of them does."""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from gumloop_mcp.emulator.context import emu, json_body
from gumloop_mcp.emulator.errors import ApiError, bad_request

routes = web.RouteTableDef()
API = "/api/v1"
# The only limits the SDK (0.5.9, CliSyncLimits) accepts.
LIMITS = {
    "files_per_skill": 1000,
    "bytes_per_file": 26_214_400,
    "bundle_transfer_bytes": 104_857_600,
    "total_uncompressed_bytes": 209_715_200,
}
ORGANIZATION_NAME = "Emulated Organization"


@routes.post(API + "/skills/sync/plan")
async def plan(request: web.Request) -> web.Response:
    """The manifest of the caller's organization (or the organization_id given, which must be it)."""
    e, body = emu(request), await json_body(request)
    org = body.get("organization_id", e.settings.organization_id)
    if not isinstance(org, str) or not org:
        raise bad_request("organization_id must be a non-empty string", param="organization_id")
    if org != e.settings.organization_id:
        raise ApiError(
            403,
            "forbidden",
            f"not a member of organization {org!r}",
            type_="permission_error",
            param="organization_id",
        )
    published = sorted(
        (s["id"], s["version_id"])
        for s in e.store.skills.values()
        if not s.get("_deleted") and s.get("is_deployed")
    )
    digest = hashlib.sha256(json.dumps(published, separators=(",", ":")).encode()).hexdigest()
    return web.json_response(
        {
            "organization": {"organization_id": org, "organization_name": ORGANIZATION_NAME},
            "manifest": {
                "algorithm": "sha256",
                "format_version": 1,
                "hash": digest,
                "skill_count": len(published),
            },
            "limits": LIMITS,
            "skill_count": len(published),
        }
    )
