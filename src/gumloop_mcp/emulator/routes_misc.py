"""Models, teams, brain search, audit logs, data exports and workspace administration."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.context import Emulator, emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request, forbidden, not_found
from gumloop_mcp.emulator.store import EXPORT_SECONDS, Job, iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
SOURCES = {
    "notion",
    "google_drive",
    "slack",
    "github",
    "confluence",
    "direct_file_uploads",
    "gumloop_artifacts",
}


@routes.get(API + "/models")
async def list_models(request: web.Request) -> web.Response:
    """Model groups."""
    return web.json_response({"model_groups": emu(request).store.models})


@routes.get(API + "/teams")
async def list_teams(request: web.Request) -> web.Response:
    """Teams of the user."""
    return web.json_response({"teams": emu(request).store.teams})


@routes.post(API + "/brain/search")
async def search_brain(request: web.Request) -> web.Response:
    """Keyword search over seeded documents with a simple overlap score."""
    e, body = emu(request), await json_body(request)
    query = required(body, "query")
    if not isinstance(query, str):
        raise bad_request("query must be a string", param="query")
    limit = body.get("limit", 8)
    if not isinstance(limit, int) or not 1 <= limit <= 50:
        raise bad_request("limit must be an integer between 1 and 50", param="limit")
    sources = body.get("source_type") or []
    if not isinstance(sources, list) or set(sources) - SOURCES:
        raise bad_request(f"source_type must be a list of {sorted(SOURCES)}", param="source_type")
    words = {w for w in query.lower().split() if w}
    results = []
    for doc in e.store.brain_docs:
        if sources and doc["source"] not in sources:
            continue
        hay = (doc["title"] + " " + doc["content"]).lower()
        hits = sum(1 for w in words if w in hay)
        if hits:
            results.append({**doc, "score": round(hits / len(words), 3)})
    results.sort(key=lambda d: d["score"], reverse=True)
    return web.json_response({"results": results[:limit]})


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer", param=name) from exc


def _timestamp(value: str, name: str) -> dt.datetime:
    """An ISO 8601 timestamp (a date alone is midnight; no offset is UTC); 400 naming ``name`` otherwise."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(f"{name} must be an ISO 8601 timestamp, got {value!r}", param=name) from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _admin(e: Emulator, params: Any) -> str:
    """The calling admin's user_id: 400 when missing, 403 when it is not this key's user."""
    user = required(params, "user_id")
    if user != e.settings.user_id:
        raise forbidden(f"user {user!r} is not an organization admin for this key")
    return str(user)


def _org_admin(e: Emulator, params: Any) -> None:
    """The organization endpoints name the organization and the admin calling: 400 when either is missing,
    404 for an organization we do not know, 403 when user_id is not this key's user (not an org admin)."""
    org = required(params, "organization_id")
    required(params, "user_id")
    if org != e.settings.organization_id:
        raise ApiError(404, "not_found", f"Organization {org!r} not found", param="organization_id")
    _admin(e, params)


@routes.get(API + "/get_audit_logs")
async def audit_logs(request: web.Request) -> web.Response:
    """Audit logs between start_time and end_time (ISO 8601), page-number paginated (page from 1,
    page_size default 50): ``{audit_logs, total_count, page, page_size, total_pages}``."""
    e, q = emu(request), request.query
    _org_admin(e, q)
    start = _timestamp(required(q, "start_time"), "start_time")
    end = _timestamp(required(q, "end_time"), "end_time")
    if end < start:
        raise bad_request("end_time must not be before start_time", param="end_time")
    page, size = _int(q.get("page"), "page", 1), _int(q.get("page_size"), "page_size", 50)
    if page < 1:
        raise bad_request("page must be >= 1", param="page")
    if not 1 <= size <= 100:
        raise bad_request("page_size must be between 1 and 100", param="page_size")
    items = [a for a in e.store.audit_logs if start <= _timestamp(a["timestamp"], "timestamp") <= end]
    chunk = items[(page - 1) * size : page * size]
    return web.json_response(
        {
            "audit_logs": chunk,
            "total_count": len(items),
            "page": page,
            "page_size": size,
            "total_pages": math.ceil(len(items) / size),
        }
    )


DATA_TYPES = ("workflows", "agents", "agent_interactions", "credit_logs")
SCOPING = ("workspace_ids", "include_all_workspaces", "include_personal_workspaces", "entity_ids")


def _string_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request(f"{name} must be a list of strings", param=name)
    return list(value)


@routes.post(API + "/export_data")
async def export_data(request: web.Request) -> web.Response:
    """Start an export job (REQUESTED -> IN_PROGRESS -> COMPLETED): ``{success, data_export_id, state,
    created_ts}``. 400 for a missing user_id/export_fields/start_date/end_date, a malformed date, an unknown
    data_type or export_level, ``export_level: workspace`` without exactly one workspace id, or a
    non-credit-log export with no scoping parameter (workspace_ids, include_all_workspaces,
    include_personal_workspaces, entity_ids)."""
    e, body = emu(request), await json_body(request)
    _admin(e, body)
    fields = _string_list(body, "export_fields")
    if not fields:
        raise bad_request("export_fields must be a non-empty list of field names", param="export_fields")
    start = _timestamp(str(required(body, "start_date")), "start_date")
    end = _timestamp(str(required(body, "end_date")), "end_date")
    if end < start:
        raise bad_request("end_date must not be before start_date", param="end_date")
    data_type = body.get("data_type", "workflows")
    if data_type not in DATA_TYPES:
        raise bad_request(f"data_type must be one of {list(DATA_TYPES)}", param="data_type")
    level = body.get("export_level", "organization")
    if level not in {"workspace", "organization"}:
        raise bad_request("export_level must be workspace or organization", param="export_level")
    workspaces, entities = _string_list(body, "workspace_ids"), _string_list(body, "entity_ids")
    if data_type != "credit_logs":
        if not any(body.get(k) for k in SCOPING):
            raise bad_request(
                f"a {data_type} export needs at least one of {', '.join(SCOPING)}", param="workspace_ids"
            )
        if level == "workspace" and len(workspaces) != 1:
            raise bad_request(
                "export_level workspace needs exactly one workspace_ids entry", param="workspace_ids"
            )
    now = e.now()
    jid = new_id("export_")
    payload = {**body, "data_type": data_type, "export_fields": fields, "entity_ids": entities}
    payload.update(_start=start.timestamp(), _end=end.timestamp())
    e.store.jobs[jid] = Job(jid, "export", "REQUESTED", now, now + e.store.delay(EXPORT_SECONDS), payload)
    return web.json_response(
        {"success": True, "data_export_id": jid, "state": "REQUESTED", "created_ts": iso(now)}
    )


def _export_rows(e: Emulator, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of an export, from the emulator's data of that type inside the date window (field names as
    Gumloop's OAS lists them; a requested field the emulator has no value for is left empty)."""
    store, team = e.store, e.settings.team_id
    rows: list[tuple[float | str, dict[str, Any]]] = []
    kind = payload["data_type"]
    if kind in {"workflows", "credit_logs"}:
        for run in store.runs.values():
            wb = next((w for w in store.workbooks.values() if run.saved_item_id in w["saved_items"]), None)
            rows.append(
                (
                    run.created_ts,
                    {
                        "run_id": run.run_id,
                        "log_id": f"cl_{run.run_id}",
                        "user_id": run.user_id,
                        "workspace_id": team,
                        "project_id": team,
                        "workbook_id": wb["workbook_id"] if wb else "",
                        "workbook_name": wb["name"] if wb else "",
                        "pl_run_created_ts": iso(run.created_ts),
                        "pl_run_finished_ts": iso(run.finished_ts) if run.finished_ts else "",
                        "timestamp": iso(run.created_ts),
                        "category": "PIPELINE_RUN",
                        "type": "PIPELINE_RUN",
                        "name": store.saved_items.get(run.saved_item_id, {}).get("name", ""),
                        "credit_cost": 1,
                        "amount": -1,
                    },
                )
            )
    elif kind == "agents":
        for agent in store.agents.values():
            row = {
                "agent_id": agent["id"],
                "agent_name": agent["name"],
                "agent_description": agent["description"],
                "agent_model": agent["model_name"],
                "agent_system_prompt": agent["system_prompt"],
                "agent_created_ts": agent["created_at"],
                "agent_tools": json.dumps(agent["tools"]),
                "agent_metadata": json.dumps(agent["metadata"]),
                "workspace_id": team,
            }
            rows.append((agent["created_at"], row))
    else:
        for session in store.sessions.values():
            row = {
                "interaction_id": session.id,
                "agent_id": session.agent_id,
                "agent_name": store.agents.get(session.agent_id, {}).get("name", ""),
                "interaction_type": session.type,
                "interaction_name": session.name,
                "interaction_created_ts": iso(session.created_at),
                "message_count": len(session.messages),
                "credit_cost": 0,
                "workspace_id": team,
            }
            rows.append((session.created_at, row))
    out = []
    for when, row in rows:
        ts = when if isinstance(when, float | int) else _timestamp(when, "timestamp").timestamp()
        if not payload["_start"] <= ts <= payload["_end"]:
            continue
        ids = {row.get("agent_id"), row.get("workbook_id")}
        if payload["entity_ids"] and kind != "credit_logs" and ids.isdisjoint(payload["entity_ids"]):
            continue
        out.append(row)
    return out


@routes.get(API + "/export_status")
async def export_status(request: web.Request) -> web.StreamResponse:
    """``{data_export_id, state, created_ts}`` plus ``finished_ts`` once COMPLETED or FAILED;
    ``download=true`` on a COMPLETED export gives the CSV (the requested export_fields as columns)."""
    e = emu(request)
    _admin(e, request.query)
    jid = required(request.query, "data_export_id")
    job = e.store.jobs.get(jid)
    if job is None or job.kind != "export":
        raise not_found("data export", jid)
    if request.query.get("download", "").lower() == "true" and job.state == "COMPLETED":
        fields = job.payload["export_fields"]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(fields)
        for row in _export_rows(e, job.payload):
            writer.writerow([row.get(f, "") for f in fields])
        return web.Response(text=out.getvalue(), content_type="text/csv")
    view = {"data_export_id": jid, "state": job.state, "created_ts": iso(job.created_ts)}
    if job.state in {"COMPLETED", "FAILED"} and job.finished_ts is not None:
        view["finished_ts"] = iso(job.finished_ts)
    return web.json_response(view)


async def _manage(request: web.Request, target: str, noun: str) -> web.Response:
    """``{success, message}`` for adding or removing one user (by email) to/from a workspace or group."""
    e, body = emu(request), await json_body(request)
    _org_admin(e, body)
    ident = required(body, target)
    action = required(body, "action")
    if action not in {"add", "remove"}:
        raise bad_request("action must be add or remove", param="action")
    email = body.get("user_email")
    if not isinstance(email, str) or "@" not in email:
        raise bad_request("user_email (an email address) is required", param="user_email")
    if "is_admin" in body and not isinstance(body["is_admin"], bool):
        raise bad_request("is_admin must be a boolean", param="is_admin")
    role = " as admin" if action == "add" and body.get("is_admin") else ""
    message = (
        f"User {email} added to {noun} {ident}{role}"
        if action == "add"
        else f"User {email} removed from {noun} {ident}"
    )
    return web.json_response({"success": True, "message": message})


@routes.post(API + "/manage_workspace_users")
async def manage_workspace_users(request: web.Request) -> web.Response:
    """Add/remove a workspace user."""
    return await _manage(request, "workspace_id", "workspace")


@routes.post(API + "/manage_permission_group_users")
async def manage_group_users(request: web.Request) -> web.Response:
    """Add/remove a permission-group (custom role) user; the group is ``group_id``."""
    return await _manage(request, "group_id", "permission group")
