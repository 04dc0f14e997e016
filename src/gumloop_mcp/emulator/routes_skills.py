"""Skills: list, multipart create/update (validated SKILL.md, 413 over 10 MB), delete, download."""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web

from gumloop_mcp.emulator import files
from gumloop_mcp.emulator.context import Emulator, emu
from gumloop_mcp.emulator.errors import ApiError, bad_request, not_found
from gumloop_mcp.emulator.pagination import paginate
from gumloop_mcp.emulator.seed import CREATOR
from gumloop_mcp.emulator.skills import SkillError, collect, validate
from gumloop_mcp.emulator.store import iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"


def _view(skill: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in skill.items() if not k.startswith("_")}


async def _upload(request: web.Request, e: Emulator) -> tuple[dict[str, bytes], str, str]:
    limit = e.settings.max_skill_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise ApiError(413, "payload_too_large", f"skill upload exceeds the {limit} byte (10 MB) limit")
    if not request.content_type.startswith("multipart/"):
        raise bad_request("skills are uploaded as multipart/form-data with a 'files' field", param="files")
    uploads: list[tuple[str, bytes]] = []
    reader = await request.multipart()
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name != "files":
            await part.read()
            continue
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            total += len(chunk)
            if total > limit:
                raise ApiError(
                    413, "payload_too_large", f"skill upload exceeds the {limit} byte (10 MB) limit"
                )
        uploads.append((part.filename or "SKILL.md", bytes(data)))
    try:
        skill_files = collect(uploads, limit)
        name, description = validate(skill_files)
    except SkillError as err:
        code = "payload_too_large" if err.status == 413 else "invalid_request"
        raise ApiError(err.status, code, str(err), param="files") from err
    return skill_files, name, description


@routes.get(API + "/skills")
async def list_skills(request: web.Request) -> web.Response:
    """Skills with total_count, cursor-paginated."""
    e, q = emu(request), request.query
    items = [s for s in e.store.skills.values() if not s.get("_deleted")]
    if search := q.get("search_query"):
        items = [s for s in items if search.lower() in (s["name"] + " " + s["description"]).lower()]
    if aid := q.get("agent_id"):
        attached = set((e.store.agents.get(aid) or {}).get("skill_ids") or [])
        items = [s for s in items if s["id"] in attached]
    order = q.get("sort_order", "newest")
    if order not in {"newest", "popular", "most_used"}:
        raise bad_request("sort_order must be newest, popular or most_used", param="sort_order")
    key = {"newest": "created_at", "popular": "view_count", "most_used": "usage_count"}[order]
    items.sort(key=lambda s: s[key], reverse=True)
    page, nxt = paginate(items, q)
    return web.json_response(
        {"skills": [_view(s) for s in page], "next_cursor": nxt, "total_count": len(items)}
    )


@routes.post(API + "/skills")
async def create_skill(request: web.Request) -> web.Response:
    """201 with the new skill."""
    e = emu(request)
    skill_files, name, description = await _upload(request, e)
    now = iso(e.now())
    sid = new_id("skill_")
    skill = {
        "id": sid,
        "name": name,
        "description": description,
        "team_id": e.settings.team_id,
        "created_at": now,
        "updated_at": now,
        "metadata": {},
        "usage_count": 0,
        "view_count": 0,
        "last_used_at": None,
        "version_id": new_id("sv_"),
        "major_version": 1,
        "is_deployed": True,
        "version_created_at": now,
        "creator": CREATOR,
        "_files": skill_files,
    }
    e.store.skills[sid] = skill
    return web.json_response({"skill": _view(skill)}, status=201)


def _skill_or_404(e: Emulator, skill_id: str) -> dict[str, Any]:
    skill = e.store.skills.get(skill_id)
    if skill is None or skill.get("_deleted"):
        raise ApiError(404, "skill_not_found", f"skill {skill_id!r} not found", param="skill_id")
    return skill


@routes.patch(API + "/skills/{skill_id}")
async def update_skill(request: web.Request) -> web.Response:
    """Replace the files: a new version (new version_id, major_version + 1); earlier versions stay
    downloadable by their version_id."""
    e = emu(request)
    skill = _skill_or_404(e, request.match_info["skill_id"])
    skill_files, name, description = await _upload(request, e)
    now = iso(e.now())
    history = skill.setdefault("_history", {})
    history[skill["version_id"]] = {
        "name": skill["name"],
        "major_version": skill["major_version"],
        "_files": skill["_files"],
    }
    skill.update(
        {
            "name": name,
            "description": description,
            "updated_at": now,
            "version_id": new_id("sv_"),
            "major_version": skill["major_version"] + 1,
            "version_created_at": now,
            "_files": skill_files,
        }
    )
    return web.json_response({"skill": _view(skill)})


@routes.delete(API + "/skills/{skill_id}")
async def delete_skill(request: web.Request) -> web.Response:
    """Soft delete."""
    e = emu(request)
    skill = _skill_or_404(e, request.match_info["skill_id"])
    skill["_deleted"] = True
    for agent in e.store.agents.values():
        if skill["id"] in (agent.get("skill_ids") or []):
            agent["skill_ids"].remove(skill["id"])
    return web.json_response({"deleted": True})


@routes.get(API + "/skills/{skill_id}/download")
async def download_skill(request: web.Request) -> web.Response:
    """A signed link to the skill (the current version, or ``version_id``'s) packaged as a zip."""
    e = emu(request)
    skill = _skill_or_404(e, request.match_info["skill_id"])
    vid = request.query.get("version_id") or skill["version_id"]
    version = skill if vid == skill["version_id"] else skill.get("_history", {}).get(vid)
    if version is None:
        raise not_found("skill version", vid)
    data = files.zip_archive(dict(version["_files"]))
    blob = e.store.add_blob(f"{version['name']}.skill", "application/zip", data)
    return web.json_response(
        {
            "download_url": e.signed_url(request, blob.id),
            "filename": blob.filename,
            "media_type": "application/zip",
            "size": len(data),
            "id": skill["id"],
            "version_id": vid,
            "major_version": version["major_version"],
        }
    )
