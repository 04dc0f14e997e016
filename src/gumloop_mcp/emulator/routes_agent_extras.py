"""Agent routes only the official SDK (0.5.9 ``Agents``) calls: abilities, incognito, knowledge sources,
subagents, app rules, the evaluation options and on-demand evaluation runs (queued as jobs that finish
after ``EVALUATION_SECONDS`` and then appear among the agent's evaluations). Logic in agent_extras.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import agent_extras, agent_versions
from gumloop_mcp.emulator.context import emu, json_body
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.routes_agents import agent_answer, agent_or_404
from gumloop_mcp.emulator.seed import CREATOR
from gumloop_mcp.emulator.store import EVALUATION_SECONDS, Job

routes = web.RouteTableDef()
API = "/api/v1"
BASE = API + "/agents/{agent_id}"
MAX_EVALUATION_SESSIONS = 100


def _version(agent: dict[str, Any]) -> int:
    """The agent's current version number (agent_versions.record keeps it)."""
    return int(agent.get("version") or 1)


@routes.get(API + "/agents/evaluation-options")
async def evaluation_options(request: web.Request) -> web.Response:
    """What an evaluation config may hold."""
    emu(request)
    return web.json_response(agent_extras.EVALUATION_OPTIONS)


@routes.patch(BASE + "/abilities")
async def update_abilities(request: web.Request) -> web.Response:
    """Merge the abilities sent; a stale ``version`` is refused with 409 agent_version_conflict."""
    e, body = emu(request), await json_body(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    version = body.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise bad_request("version must be an integer", param="version")
    if version is not None and version != _version(agent):
        raise ApiError(
            409, "agent_version_conflict",
            f"agent {agent['id']!r} is at version {_version(agent)}, not {version}; read it again",
            param="version",
        )  # fmt: skip
    agent_extras.apply_abilities(agent, body)
    return web.json_response(
        {"agent_id": agent["id"], "abilities": agent_extras.abilities(agent), "version": _version(agent)}
    )


@routes.patch(BASE + "/incognito")
async def set_incognito(request: web.Request) -> web.Response:
    """``{enforced}`` makes every session incognito (the emulated user holds the role permission)."""
    e, body = emu(request), await json_body(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    if not isinstance(body.get("enforced"), bool):
        raise bad_request("enforced must be a boolean", param="enforced")
    agent["incognito"] = {"enforced": body["enforced"]}
    return web.json_response({"agent": agent_answer(agent)})


@routes.get(BASE + "/knowledge-sources")
async def list_knowledge_sources(request: web.Request) -> web.Response:
    """The Brain sources attached to the agent."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    return web.json_response(
        {"agent_id": agent["id"], "knowledge_sources": agent.get("knowledge_sources") or []}
    )


@routes.put(BASE + "/knowledge-sources/{connector_id}")
async def attach_knowledge_source(request: web.Request) -> web.Response:
    """Attach a source or change its scope (upsert); ``outcome`` is attached, updated or unchanged."""
    e, body = emu(request), await json_body(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    cid = request.match_info["connector_id"]
    entry = {"connector_id": cid, "config": agent_extras.knowledge_scope(body.get("config"))}
    sources: list[dict[str, Any]] = agent.setdefault("knowledge_sources", [])
    index = next((i for i, s in enumerate(sources) if s["connector_id"] == cid), None)
    if index is None:
        sources.append(entry)
        outcome = "attached"
    else:
        outcome = "unchanged" if sources[index] == entry else "updated"
        sources[index] = entry
    return web.json_response({"agent_id": agent["id"], "knowledge_source": entry, "outcome": outcome})


@routes.delete(BASE + "/knowledge-sources/{connector_id}")
async def detach_knowledge_source(request: web.Request) -> web.Response:
    """Detach a source (idempotent)."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    cid = request.match_info["connector_id"]
    before = agent.get("knowledge_sources") or []
    agent["knowledge_sources"] = [s for s in before if s["connector_id"] != cid]
    detached = len(agent["knowledge_sources"]) != len(before)
    return web.json_response({"agent_id": agent["id"], "connector_id": cid, "detached": detached})


def _subagents(agent: dict[str, Any]) -> list[str]:
    """The agent's ``metadata.subagent.allowed_gummie_ids`` (created empty when absent)."""
    setting = agent.setdefault("metadata", {}).setdefault("subagent", {})
    ids: list[str] = setting.setdefault("allowed_gummie_ids", [])
    return ids


@routes.put(BASE + "/subagents/{subagent_id}")
async def attach_subagent(request: web.Request) -> web.Response:
    """Allow delegating to another agent of the same workspace (idempotent)."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    sub = agent_or_404(e, request.match_info["subagent_id"])
    if sub["id"] == agent["id"]:
        raise bad_request("an agent cannot be its own subagent", param="subagent_id")
    if sub["team_id"] != agent["team_id"]:
        raise bad_request("the subagent must be in the agent's workspace", param="subagent_id")
    ids = _subagents(agent)
    changed = sub["id"] not in ids
    if changed:
        ids.append(sub["id"])
        agent_versions.record(e.store, agent, e.now(), CREATOR)
    return web.json_response({"agent_id": agent["id"], "subagent_ids": list(ids), "changed": changed})


@routes.delete(BASE + "/subagents/{subagent_id}")
async def detach_subagent(request: web.Request) -> web.Response:
    """Stop delegating to an agent (idempotent)."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    ids = _subagents(agent)
    sid = request.match_info["subagent_id"]
    changed = sid in ids
    if changed:
        ids.remove(sid)
        agent_versions.record(e.store, agent, e.now(), CREATOR)
    return web.json_response({"agent_id": agent["id"], "subagent_ids": list(ids), "changed": changed})


@routes.get(BASE + "/app-rules")
async def list_app_rules(request: web.Request) -> web.Response:
    """The rules the agent wrote for its connectors (read only)."""
    e = emu(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    return web.json_response({"agent_id": agent["id"], "app_rules": e.store.app_rules.get(agent["id"], [])})


def _session_ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("session_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(s, str) and s for s in ids):
        raise bad_request("session_ids must be a non-empty list of session ids", param="session_ids")
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_EVALUATION_SESSIONS:
        raise bad_request(f"at most {MAX_EVALUATION_SESSIONS} sessions per run", param="session_ids")
    return unique


@routes.post(BASE + "/evaluations/run")
async def run_evaluations(request: web.Request) -> web.Response:
    """Queue an evaluation per finished session of the agent (1 credit each); unknown, unfinished and
    already evaluated sessions are skipped with a reason. ``dry_run`` queues nothing."""
    e, body = emu(request), await json_body(request)
    agent = agent_or_404(e, request.match_info["agent_id"])
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise bad_request("dry_run must be a boolean", param="dry_run")
    evaluated = {v["interaction_id"]: v["evaluation_id"] for v in e.store.evaluations.get(agent["id"], [])}
    queued = {
        j.payload["session_id"]: j.id
        for j in e.store.jobs.values()
        if j.kind == "evaluation" and j.state == "queued" and j.payload["agent_id"] == agent["id"]
    }
    config = e.store.evaluation_configs.get(agent["id"]) or {}
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    now = e.now()
    for sid in _session_ids(body):
        session = e.store.sessions.get(sid)
        if session is None or session.agent_id != agent["id"]:
            skipped.append({"session_id": sid, "reason": "session_not_found", "result_id": None})
        elif session.state not in ("completed", "failed"):
            skipped.append({"session_id": sid, "reason": "session_not_finished", "result_id": None})
        elif sid in evaluated or sid in queued:
            skipped.append({"session_id": sid, "reason": "already_evaluated",
                            "result_id": evaluated.get(sid) or queued.get(sid)})  # fmt: skip
        elif dry_run:
            results.append({"id": None, "session_id": sid, "status": "dry_run"})
        else:
            result = agent_extras.evaluation_of(session, config)
            eid = result["evaluation_id"]
            e.store.jobs[eid] = Job(
                eid, "evaluation", "queued", now, now + e.store.delay(EVALUATION_SECONDS),
                {"agent_id": agent["id"], "session_id": sid, "result": result},
            )  # fmt: skip
            results.append({"id": eid, "session_id": sid, "status": "queued"})
    body_out = {"dry_run": dry_run, "credit_cost": len(results), "results": results, "skipped": skipped}
    return web.json_response(body_out)
