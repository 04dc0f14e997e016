"""Agents, their skills/MCP servers/versions, artifacts and evaluations."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import agent_extras, agent_triggers, agent_versions
from gumloop_mcp.emulator.context import Emulator, emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request, forbidden, not_found
from gumloop_mcp.emulator.pagination import paginate
from gumloop_mcp.emulator.seed import CREATOR
from gumloop_mcp.emulator.store import iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
EDITABLE = {
    "name",
    "description",
    "is_active",
    "model_name",
    "system_prompt",
    "tools",
    "resources",
    "metadata",
    "folder_id",
}


def agent_or_404(e: Emulator, agent_id: str) -> dict[str, Any]:
    """The agent or 404."""
    agent = e.store.agents.get(agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    return agent


def agent_answer(agent: dict[str, Any]) -> dict[str, Any]:
    """One agent as the single-agent routes answer it, with its abilities and incognito setting."""
    return {
        **agent,
        "abilities": agent_extras.abilities(agent),
        "incognito": agent.get("incognito") or {"enforced": False},
        "active_trigger_count": None,
    }


@routes.get(API + "/agents")
async def list_agents(request: web.Request) -> web.Response:
    """Agents filtered by search/creator/has_triggers/tool, cursor-paginated."""
    e, q = emu(request), request.query
    items = list(e.store.agents.values())
    if search := q.get("search"):
        items = [a for a in items if search.lower() in (a["name"] + " " + a["description"]).lower()]
    if creator := q.get("creator"):
        items = [a for a in items if (a["creator"] or {}).get("id") == creator]
    if (has := q.get("has_triggers")) is not None:
        items = [a for a in items if (a["active_trigger_count"] > 0) == (has.lower() == "true")]
    if tool := q.get("tool"):
        items = [a for a in items if any(t.get("server_id") == tool for t in a["tools"])]
    page, nxt = paginate(items, q)
    return web.json_response({"agents": page, "next_cursor": nxt})


def unknown_skills(e: Emulator, ids: list[str], param: str) -> ApiError | None:
    """400 skill_not_found naming the ids that are not (or no longer) skills, or None."""
    unknown = [sid for sid in ids if sid not in e.store.skills or e.store.skills[sid].get("_deleted")]
    if not unknown:
        return None
    return ApiError(
        400, "skill_not_found", f"skills not found: {', '.join(unknown)}",
        param=param, details={"skill_ids": unknown},
    )  # fmt: skip


def _optional(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise bad_request(f"{key} must be {what}", param=key)
    return value


@routes.post(API + "/agents")
async def create_agent(request: web.Request) -> web.Response:
    """Create an agent (201), honouring ``agent_id`` (409 agent_already_exists when taken), ``team_id``,
    ``folder_id``, ``is_active`` and ``skill_ids`` (attached in the same transaction: an unknown id fails
    the whole request with 400 skill_not_found and no agent is created)."""
    e, body = emu(request), await json_body(request)
    name = required(body, "name")
    if not isinstance(name, str) or len(name) > 256:
        raise bad_request("name must be a string of at most 256 characters", param="name")
    skill_ids = _optional(body, "skill_ids", list, "a list of skill ids") or []
    if not all(isinstance(sid, str) for sid in skill_ids):
        raise bad_request("skill ids must be strings", param="skill_ids")
    skill_ids = list(dict.fromkeys(skill_ids))
    if (err := unknown_skills(e, skill_ids, "skill_ids")) is not None:
        raise err
    is_active = body.get("is_active", True)
    if not isinstance(is_active, bool):
        raise bad_request("is_active must be a boolean", param="is_active")
    aid = _optional(body, "agent_id", str, "a string") or new_id("agent_")
    if aid in e.store.agents:
        raise ApiError(409, "agent_already_exists", f"agent {aid!r} already exists", param="agent_id")
    agent: dict[str, Any] = {
        "id": aid,
        "name": name,
        "description": body.get("description") or "",
        "team_id": _optional(body, "team_id", str, "a string") or e.settings.team_id,
        "is_active": is_active,
        "model_name": body.get("model_name") or "anthropic/claude-sonnet-4",
        "system_prompt": body.get("system_prompt") or "",
        "tools": body.get("tools") or [],
        "resources": body.get("resources") or [],
        "skill_ids": skill_ids,
        "metadata": body.get("metadata") or {},
        "folder_id": _optional(body, "folder_id", str, "a string"),
        "type": "agent",
        "created_at": iso(e.now()),
        "active_trigger_count": 0,
        "creator": CREATOR,
    }
    e.store.agents[aid] = agent
    e.store.agent_versions[aid] = []
    agent_versions.record(e.store, agent, e.now(), CREATOR)
    e.store.evaluations[aid] = []
    return web.json_response({"agent": agent_answer(agent)}, status=201)


@routes.get(API + "/agents/{agent_id}")
async def get_agent(request: web.Request) -> web.Response:
    """One agent."""
    return web.json_response(
        {"agent": agent_answer(agent_or_404(emu(request), request.match_info["agent_id"]))}
    )


@routes.patch(API + "/agents/{agent_id}")
async def update_agent(request: web.Request) -> web.Response:
    """Partial update of editable fields; a changed composition is recorded as a new version."""
    e, body = emu(request), await json_body(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    unknown = sorted(set(body) - EDITABLE - {"team_id"})
    if unknown:
        raise bad_request(f"unknown fields {unknown}; editable: {sorted(EDITABLE)}", param=unknown[0])
    agent.update({k: v for k, v in body.items() if k in EDITABLE})
    agent_versions.record(e.store, agent, e.now(), CREATOR)
    return web.json_response({"agent": agent_answer(agent)})


@routes.delete(API + "/agents/{agent_id}")
async def delete_agent(request: web.Request) -> web.Response:
    """Delete a custom agent with its versions, triggers, app rules and evaluation setup (its sessions stay);
    other agents stop delegating to it. Platform agents are refused with 403."""
    e = emu(request)
    aid = request.match_info["agent_id"]
    if aid in agent_extras.PLATFORM_AGENTS:
        raise forbidden(f"{aid!r} is a platform agent and cannot be deleted")
    agent_or_404(e, aid)
    del e.store.agents[aid]
    for table in (e.store.agent_versions, e.store.evaluations, e.store.evaluation_configs, e.store.app_rules):
        table.pop(aid, None)
    agent_triggers.forget(e.store, aid)
    for other in e.store.agents.values():
        allowed = ((other.get("metadata") or {}).get("subagent") or {}).get("allowed_gummie_ids")
        if isinstance(allowed, list) and aid in allowed:
            allowed.remove(aid)
    return web.json_response({"agent_id": aid, "deleted": True})


_MAX_SKILL_DELTA = 100


@routes.patch(API + "/agents/{agent_id}/skills")
async def update_agent_skills(request: web.Request) -> web.Response:
    """Attach/detach skills by delta (a new version when the set changes), per gumloop-api.md §2b.

    At most 100 unique ids; an id in both lists (invalid_request), or an unknown skill (skill_not_found),
    is refused with 400 and the offending ids in error.details.skill_ids. The answer says what changed
    and what already was so.
    """
    e, body = emu(request), await json_body(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    attach, detach = body.get("attach") or [], body.get("detach") or []
    if not isinstance(attach, list) or not isinstance(detach, list) or not (attach or detach):
        raise bad_request("attach and/or detach must be non-empty lists of skill ids", param="attach")
    if not all(isinstance(sid, str) for sid in [*attach, *detach]):
        raise bad_request("skill ids must be strings", param="attach")
    attach, detach = list(dict.fromkeys(attach)), list(dict.fromkeys(detach))
    if len(set(attach) | set(detach)) > _MAX_SKILL_DELTA:
        raise bad_request(f"at most {_MAX_SKILL_DELTA} unique skill ids per request", param="attach")
    both = sorted(set(attach) & set(detach))
    if both:
        raise ApiError(
            400, "invalid_request", "skill ids may not be both attached and detached",
            param="attach", details={"skill_ids": both},
        )  # fmt: skip
    if (err := unknown_skills(e, attach, "attach")) is not None:
        raise err
    current: list[str] = agent["skill_ids"]
    attached = [sid for sid in attach if sid not in current]
    already_attached = [sid for sid in attach if sid in current]
    detached = [sid for sid in detach if sid in current]
    already_detached = [sid for sid in detach if sid not in current]
    ids = [sid for sid in current if sid not in detach] + attached
    if attached or detached:
        agent["skill_ids"] = ids
        agent_versions.record(e.store, agent, e.now(), CREATOR)
    return web.json_response(
        {
            "agent_id": agent["id"],
            "skill_ids": ids,
            "attached": attached,
            "detached": detached,
            "already_attached": already_attached,
            "already_detached": already_detached,
        }
    )


# The catalog decides these; a PUT body carrying them is ignored (OAS attachAgentMcpServer).
MCP_IDENTITY = {"type", "server_id", "secret_id", "mcp_server_url"}


def _mcp_entries(agent: dict[str, Any], server_id: str) -> list[int]:
    """Indexes of the agent's tools entries that attach ``server_id``."""
    return [
        i for i, t in enumerate(agent["tools"]) if isinstance(t, dict) and t.get("server_id") == server_id
    ]


def _redacted(entry: dict[str, Any]) -> dict[str, Any]:
    """An MCP tool config with its secret and server URL removed."""
    return {k: v for k, v in entry.items() if k not in {"secret_id", "mcp_server_url"}}


@routes.get(API + "/agents/{agent_id}/mcp-servers")
async def list_agent_mcp(request: web.Request) -> web.Response:
    """The MCP servers attached to an agent (its tools entries with a server_id), secrets scrubbed."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    servers = [_redacted(t) for t in agent["tools"] if isinstance(t, dict) and t.get("server_id")]
    return web.json_response({"agent_id": agent["id"], "mcp_servers": servers})


@routes.put(API + "/agents/{agent_id}/mcp-servers/{server_id}")
async def attach_agent_mcp(request: web.Request) -> web.Response:
    """Attach an MCP server to an agent or replace its configuration (upsert), recorded in the agent's
    tools: ``{agent_id, mcp_server, created, auth_status}``. 404 mcp_server_not_found for a server not in
    the catalog; 403 mcp_server_restricted for one the organization has blocked (status ``blocked``); 409
    ambiguous_mcp_server when the agent already holds more than one entry for the server."""
    e, body = emu(request), await json_body(request)
    aid, sid = request.match_info["agent_id"], request.match_info["server_id"]
    agent = agent_or_404(e, aid)
    srv = e.store.mcp_servers.get(sid)
    if srv is None:
        raise ApiError(404, "mcp_server_not_found", f"MCP server {sid!r} not found", param="server_id")
    if srv["status"] == "blocked":
        raise ApiError(
            403,
            "mcp_server_restricted",
            f"MCP server {sid!r} is restricted for this organization",
            type_="permission_error",
            param="server_id",
        )
    existing = _mcp_entries(agent, sid)
    if len(existing) > 1:
        raise ApiError(
            409,
            "ambiguous_mcp_server",
            f"agent {aid!r} has {len(existing)} entries for MCP server {sid!r}; remove them and retry",
            param="server_id",
        )
    entry = {
        **{k: v for k, v in body.items() if k not in MCP_IDENTITY},
        "type": srv["type"],
        "server_id": sid,
    }
    if existing:
        agent["tools"][existing[0]] = entry
    else:
        agent["tools"].append(entry)
    agent_versions.record(e.store, agent, e.now(), CREATOR)
    return web.json_response(
        {
            "agent_id": aid,
            "mcp_server": _redacted(entry),
            "created": not existing,
            "auth_status": "authenticated" if srv["status"] == "connected" else srv["status"],
        }
    )


@routes.delete(API + "/agents/{agent_id}/mcp-servers/{server_id}")
async def detach_agent_mcp(request: web.Request) -> web.Response:
    """Detach an MCP server (idempotent): ``{agent_id, server_id, detached}``."""
    e = emu(request)
    aid, sid = request.match_info["agent_id"], request.match_info["server_id"]
    agent = agent_or_404(e, aid)
    existing = set(_mcp_entries(agent, sid))
    if existing:
        agent["tools"] = [t for i, t in enumerate(agent["tools"]) if i not in existing]
        agent_versions.record(e.store, agent, e.now(), CREATOR)
    return web.json_response({"agent_id": aid, "server_id": sid, "detached": bool(existing)})


@routes.get(API + "/agents/{agent_id}/versions")
async def list_versions(request: web.Request) -> web.Response:
    """Agent versions, newest first."""
    e = emu(request)
    agent_or_404(e, request.match_info["agent_id"])
    page, nxt = paginate(e.store.agent_versions[request.match_info["agent_id"]], request.query)
    return web.json_response({"versions": [agent_versions.summary(v) for v in page], "next_cursor": nxt})


@routes.get(API + "/agents/{agent_id}/versions/{version_id}")
async def get_version(request: web.Request) -> web.Response:
    """One version with its composition (as it was then) and what changed from the previous version."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    vid = request.match_info["version_id"]
    version = next((v for v in e.store.agent_versions[agent["id"]] if v["id"] == vid), None)
    if version is None:
        raise not_found("agent version", vid)
    return web.json_response(agent_versions.detail(e.store.agent_versions[agent["id"]], version))


@routes.get(API + "/agents/{agent_id}/artifacts")
async def list_artifacts(request: web.Request) -> web.Response:
    """Artifacts of an agent, optionally of one session, with signed URLs."""
    e, q = emu(request), request.query
    aid = request.match_info["agent_id"]
    agent_or_404(e, aid)
    items = [a for a in e.store.artifacts.values() if a["agent_id"] == aid]
    if sid := q.get("session_id"):
        items = [a for a in items if a["session_id"] == sid]
    if search := q.get("search_query"):
        items = [a for a in items if search.lower() in a["filename"].lower()]
    order = q.get("sort_order", "newest")
    if order not in {"newest", "oldest"}:
        raise bad_request("sort_order must be newest or oldest", param="sort_order")
    items.sort(key=lambda a: a["created_at"], reverse=order == "newest")
    page, nxt = paginate(items, q)
    out = [
        {**{k: v for k, v in a.items() if not k.startswith("_")}, "url": e.signed_url(request, a["_blob"])}
        for a in page
    ]
    return web.json_response({"artifacts": out, "next_cursor": nxt})


@routes.get(API + "/artifacts/{artifact_id}/download")
async def get_artifact(request: web.Request) -> web.Response:
    """A signed, expiring download link; 502 signing_failed when the link cannot be signed."""
    e = emu(request)
    art = e.store.artifacts.get(request.match_info["artifact_id"])
    if art is None:
        raise not_found("artifact", request.match_info["artifact_id"])
    if (vid := request.query.get("version_id")) and vid != art["version_id"]:
        raise not_found("artifact version", vid)
    url = e.signed_url(request, art["_blob"])
    blob = e.store.blobs[art["_blob"]]
    return web.json_response(
        {
            "download_url": url,
            "filename": blob.filename,
            "media_type": blob.media_type,
            "size": len(blob.data),
        }
    )


@routes.get(API + "/agents/{agent_id}/evaluations")
async def list_evaluations(request: web.Request) -> web.Response:
    """Evaluations, newest first, optionally by grade."""
    e, q = emu(request), request.query
    agent_or_404(e, request.match_info["agent_id"])
    items = sorted(
        e.store.evaluations[request.match_info["agent_id"]], key=lambda v: v["created_ts"], reverse=True
    )
    if grade := q.get("grade"):
        if grade not in {"pass", "needs_review", "needs_attention"}:
            raise bad_request("grade must be pass, needs_review or needs_attention", param="grade")
        items = [v for v in items if v["grade"] == grade]
    page, nxt = paginate(items, q)
    return web.json_response({"evaluations": page, "next_cursor": nxt})


@routes.get(API + "/agents/{agent_id}/evaluations/metrics")
async def evaluation_metrics(request: web.Request) -> web.Response:
    """Grade and tag counts over the last ``days``."""
    e = emu(request)
    agent_or_404(e, request.match_info["agent_id"])
    try:
        days = int(request.query.get("days", "30"))
    except ValueError as exc:
        raise bad_request("days must be an integer", param="days") from exc
    if not 1 <= days <= 365:
        raise bad_request("days must be between 1 and 365", param="days")
    since = iso(e.now() - days * 86400)
    grades = {"pass": 0, "needs_review": 0, "needs_attention": 0}
    tags: dict[str, int] = {}
    for ev in e.store.evaluations[request.match_info["agent_id"]]:
        if ev["created_ts"] >= since:
            grades[ev["grade"]] += 1
            for tag in ev["applied_tags"]:
                tags[tag] = tags.get(tag, 0) + 1
    return web.json_response({"days": days, "grades": grades, "tags": tags})


@routes.get(API + "/agents/{agent_id}/evaluations/{evaluation_id}")
async def get_evaluation(request: web.Request) -> web.Response:
    """One evaluation."""
    e = emu(request)
    agent_or_404(e, request.match_info["agent_id"])
    eid = request.match_info["evaluation_id"]
    ev = next(
        (v for v in e.store.evaluations[request.match_info["agent_id"]] if v["evaluation_id"] == eid), None
    )
    if ev is None:
        raise not_found("evaluation", eid)
    return web.json_response({"evaluation": ev})


@routes.get(API + "/agents/{agent_id}/evaluation-config")
async def get_evaluation_config(request: web.Request) -> web.Response:
    """The agent's evaluation config."""
    e = emu(request)
    aid = request.match_info["agent_id"]
    agent_or_404(e, aid)
    return web.json_response({"config": e.store.evaluation_configs.setdefault(aid, _default_config(aid))})


def _default_config(aid: str) -> dict[str, Any]:
    return {
        "agent_id": aid,
        "enabled": False,
        "is_active": False,
        "model_name": None,
        "frequency": "debounced",
        "language": "en",
        "include_auto_tags": False,
        "interaction_types": [],
        "criteria": [],
        "tags": [],
        "data_points": [],
        "sentiment": {"enabled": False, "affects_grade": False, "description": ""},
        "updated_ts": None,
    }


@routes.patch(API + "/agents/{agent_id}/evaluation-config")
async def update_evaluation_config(request: web.Request) -> web.Response:
    """Partial update; lists replace."""
    e, body = emu(request), await json_body(request)
    aid = request.match_info["agent_id"]
    agent_or_404(e, aid)
    config = e.store.evaluation_configs.setdefault(aid, _default_config(aid))
    unknown = sorted(set(body) - set(config) - {"team_id"} | ({"agent_id", "updated_ts"} & set(body)))
    if unknown:
        raise bad_request(f"fields {unknown} cannot be updated", param=unknown[0])
    for key, limit in (("criteria", 30), ("tags", 50), ("data_points", 40)):
        if key in body and (not isinstance(body[key], list) or len(body[key]) > limit):
            raise bad_request(f"{key} must be a list of at most {limit} items", param=key)
    config.update({k: v for k, v in body.items() if k != "team_id"})
    config["updated_ts"] = iso(e.now())
    return web.json_response({"config": config})
