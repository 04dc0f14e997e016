"""Models, teams, brain search, audit logs, data exports and workspace administration."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.context import Emulator, emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request, forbidden, not_found
from gumloop_mcp.emulator.store import EXPORT_SECONDS, Job, new_id

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


def _org_admin(e: Emulator, params: Any) -> None:
    """The organization endpoints name the organization and the admin calling: 400 when either is missing,
    404 for an organization we do not know, 403 when user_id is not this key's user (not an org admin)."""
    org = required(params, "organization_id")
    user = required(params, "user_id")
    if org != e.settings.organization_id:
        raise ApiError(404, "not_found", f"Organization {org!r} not found", param="organization_id")
    if user != e.settings.user_id:
        raise forbidden(f"user {user!r} is not an admin of organization {org!r}")


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


@routes.post(API + "/export_data")
async def export_data(request: web.Request) -> web.Response:
    """Start an export job: REQUESTED -> IN_PROGRESS -> COMPLETED."""
    e, body = emu(request), await json_body(request)
    now = e.now()
    jid = new_id("export_")
    e.store.jobs[jid] = Job(jid, "export", "REQUESTED", now, now + e.store.delay(EXPORT_SECONDS), dict(body))
    return web.json_response({"data_export_id": jid, "state": "REQUESTED"})


@routes.get(API + "/export_status")
async def export_status(request: web.Request) -> web.StreamResponse:
    """Export state; ``download=true`` on a COMPLETED export gives the CSV."""
    e = emu(request)
    jid = required(request.query, "data_export_id")
    job = e.store.jobs.get(jid)
    if job is None or job.kind != "export":
        raise not_found("data export", jid)
    if request.query.get("download", "").lower() == "true":
        if job.state != "COMPLETED":
            raise bad_request(f"export {jid} is {job.state}; download once COMPLETED", param="download")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "timestamp", "user_id", "action"])
        for a in e.store.audit_logs:
            writer.writerow([a["event_id"], a["timestamp"], a["user_id"], a["event_type"]])
        return web.Response(text=out.getvalue(), content_type="text/csv")
    return web.json_response({"data_export_id": jid, "state": job.state})


async def _manage(request: web.Request, key: str) -> web.Response:
    body = await json_body(request)
    action = required(body, "action")
    if action not in {"add", "remove"}:
        raise bad_request("action must be add or remove", param="action")
    # Gumloop's OAS documents a single user_email; a list under user_emails is accepted too.
    emails: Any = body.get("user_emails") or ([body["user_email"]] if body.get("user_email") else None)
    if not isinstance(emails, list) or not emails or not all(isinstance(x, str) and "@" in x for x in emails):
        raise bad_request("user_email (an email address) is required", param="user_email")
    extra = {k: body[k] for k in (key, "group_id", "organization_id") if k in body}
    return web.json_response({"success": True, "action": action, "user_emails": emails, **extra})


@routes.post(API + "/manage_workspace_users")
async def manage_workspace_users(request: web.Request) -> web.Response:
    """Add/remove workspace users."""
    emu(request)
    return await _manage(request, "workspace_id")


@routes.post(API + "/manage_permission_group_users")
async def manage_group_users(request: web.Request) -> web.Response:
    """Add/remove permission-group users."""
    emu(request)
    return await _manage(request, "permission_group_id")
