"""Organizations and organization evaluations (official SDK 0.5.9 ``Organizations``, ``Evaluations``):
list organizations; evaluation options; evaluations list, create, get, update, delete; targets; run over
existing sessions; results (list, one) and metrics.

An evaluation starts disabled and cannot be enabled without targets; removing every target pauses it.
A run queues one result per session of a covered agent (others are skipped with a reason); results move
lazily when read: ``queued`` until RESULT_START_SECONDS, ``in_progress`` until RESULT_SECONDS, then
``completed`` with a grade (``needs_attention`` for a failed session, ``pass`` otherwise).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.context import Emulator, emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.routes_brain import page
from gumloop_mcp.emulator.seed import CREATOR
from gumloop_mcp.emulator.store import iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
RESULT_START_SECONDS = 0.5
RESULT_SECONDS = 2.0
MAX_RUN_SESSIONS = 200
TARGET_TYPES = ("organization", "team", "user", "agent")
GRADES = ("pass", "needs_review", "needs_attention")
STATUSES = ("queued", "in_progress", "completed", "failed")
RUBRIC = {
    "model_name",
    "frequency",
    "language",
    "include_auto_tags",
    "session_types",
    "criteria",
    "tags",
    "data_points",
    "sentiment",
    "notifications",
}
LIMITS = {
    "criteria": 20,
    "tags": 30,
    "data_points": 20,
    "tag_name_max_len": 50,
    "tag_description_max_len": 500,
    "notification_recipients": 20,
    "run_sessions": MAX_RUN_SESSIONS,
}
OPTIONS = {
    "scopes": ["agent", "organization"],
    "target_types": list(TARGET_TYPES),
    "session_types": ["api", "chat", "slack", "triggered", "scheduled"],
    "default_session_types": ["api", "chat"],
    "criterion_types": ["boolean", "scale"],
    "criterion_priorities": ["low", "medium", "high"],
    "data_point_types": ["string", "number", "boolean"],
    "frequencies": ["every", "debounced", "daily"],
    "grades": list(GRADES),
    "statuses": list(STATUSES),
    "skip_reasons": ["session_not_found", "agent_not_covered", "session_in_progress", "already_evaluated"],
    "limits": LIMITS,
}


def _organization(e: Emulator, org_id: Any) -> str:
    if org_id != e.settings.organization_id:
        raise ApiError(
            404, "organization_not_found", f"organization {org_id!r} not found", param="organization_id"
        )
    return str(org_id)


def _evaluation(e: Emulator, evaluation_id: str) -> dict[str, Any]:
    evaluation = e.store.org_evaluations.get(evaluation_id)
    if evaluation is None:
        raise ApiError(
            404, "evaluation_not_found", f"evaluation {evaluation_id!r} not found", param="evaluation_id"
        )
    for result in evaluation["_results"]:
        _settle(e, result)
    return evaluation


def _view(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The public fields; run_summary counts the results by status."""
    out = {k: v for k, v in evaluation.items() if not k.startswith("_")}
    statuses = [r["status"] for r in evaluation["_results"]]
    out["run_summary"] = {s: statuses.count(s) for s in STATUSES}
    return out


def _rubric(config: Any, base: dict[str, Any]) -> dict[str, Any]:
    if config is None:
        return base
    if not isinstance(config, dict):
        raise bad_request("config must be an object", param="config")
    unknown = set(config) - RUBRIC
    if unknown:
        raise bad_request(f"config has unknown fields {sorted(unknown)}", param="config")
    for name in ("criteria", "tags", "data_points"):
        value = config.get(name)
        if value is not None and (not isinstance(value, list) or len(value) > LIMITS[name]):
            raise bad_request(
                f"config.{name} must be a list of at most {LIMITS[name]}", param=f"config.{name}"
            )
    frequency = config.get("frequency")
    if frequency is not None and frequency not in OPTIONS["frequencies"]:
        raise bad_request(
            f"config.frequency must be one of {OPTIONS['frequencies']}", param="config.frequency"
        )
    return {**base, **config}


def _default_rubric() -> dict[str, Any]:
    return {
        "model_name": "anthropic/claude-sonnet-4",
        "frequency": "debounced",
        "language": "en",
        "include_auto_tags": True,
        "session_types": list(OPTIONS["default_session_types"]),
        "criteria": [],
        "tags": [],
        "data_points": [],
        "sentiment": {"enabled": False},
        "notifications": {"recipients": []},
    }


def _name(e: Emulator, value: Any, org_id: str, *, exclude: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise bad_request("name must be a non-blank string of at most 255 characters", param="name")
    for other in e.store.org_evaluations.values():
        if other["organization_id"] == org_id and other["name"] == value and other["id"] != exclude:
            raise ApiError(
                409, "evaluation_name_taken", f"an evaluation named {value!r} exists", param="name"
            )
    return value


def _covered(e: Emulator, targets: list[dict[str, Any]]) -> set[str]:
    agents = e.store.agents
    covered: set[str] = set()
    for target in targets:
        kind, ident = target["type"], target.get("id")
        if kind == "organization":
            covered |= set(agents)
        elif kind == "team":
            covered |= {a for a, v in agents.items() if v.get("team_id") == ident}
        elif kind == "user":
            covered |= {a for a, v in agents.items() if (v.get("creator") or {}).get("id") == ident}
        else:
            covered.add(str(ident))
    return covered


def _settle(e: Emulator, result: dict[str, Any]) -> None:
    start, due = result.get("_start"), result.get("_due")
    if start is None or due is None:
        return
    now = e.clock.now()
    if now >= due:
        session = e.store.sessions.get(result["session_id"])
        failed = session is not None and session.state == "failed"
        grade = "needs_attention" if failed else "pass"
        criteria = [
            {"criterion": c.get("name") if isinstance(c, dict) else str(c), "passed": not failed}
            for c in result["_criteria"]
        ]
        result.update(
            status="completed",
            grade=grade,
            call_successful="false" if failed else "true",
            sentiment="negative" if failed else "positive",
            summary="The session failed before answering." if failed else "The agent answered the request.",
            criteria_results=criteria,
            _start=None,
            _due=None,
        )
    elif now >= start:
        result["status"] = "in_progress"


@routes.get(API + "/organizations")
async def list_organizations(request: web.Request) -> web.Response:
    """The emulator's one organization."""
    e = emu(request)
    return web.json_response({"organizations": [{"id": e.settings.organization_id, "name": "Emulator org"}]})


@routes.get(API + "/evaluation-options")
async def evaluation_options(request: web.Request) -> web.Response:
    """The values organization evaluations accept."""
    emu(request)
    return web.json_response(OPTIONS)


@routes.get(API + "/evaluations")
async def list_evaluations(request: web.Request) -> web.Response:
    """An organization's evaluations, newest first."""
    e = emu(request)
    org_id = _organization(e, required(request.query, "organization_id"))
    items = [_evaluation(e, k) for k, v in e.store.org_evaluations.items() if v["organization_id"] == org_id]
    items.sort(key=lambda v: float(v["_ts"]), reverse=True)
    chunk, nxt = page(items, request.query, 100)
    return web.json_response({"evaluations": [_view(v) for v in chunk], "next_cursor": nxt})


@routes.post(API + "/evaluations")
async def create_evaluation(request: web.Request) -> web.Response:
    """201 with a new, disabled evaluation."""
    e, body = emu(request), await json_body(request)
    org_id = _organization(e, required(body, "organization_id"))
    name = _name(e, required(body, "name"), org_id)
    if body.get("enabled"):
        raise bad_request("a new evaluation cannot start enabled: set its targets first", param="enabled")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise bad_request("description must be a string", param="description")
    now = e.clock.now()
    evaluation_id = new_id("oeval_")
    evaluation: dict[str, Any] = {
        "id": evaluation_id,
        "scope": "organization",
        "agent_id": None,
        "organization_id": org_id,
        "name": name,
        "description": description or None,
        "enabled": False,
        "targets": [],
        "covered_agent_count": 0,
        "config": _rubric(body.get("config"), _default_rubric()),
        "run_summary": {},
        "creator": CREATOR,
        "created_at": iso(now),
        "updated_at": iso(now),
        "_ts": now,
        "_results": [],
    }
    e.store.org_evaluations[evaluation_id] = evaluation
    return web.json_response({"evaluation": _view(evaluation)}, status=201)


@routes.get(API + "/evaluations/{evaluation_id}")
async def get_evaluation(request: web.Request) -> web.Response:
    """One evaluation."""
    e = emu(request)
    return web.json_response({"evaluation": _view(_evaluation(e, request.match_info["evaluation_id"]))})


@routes.patch(API + "/evaluations/{evaluation_id}")
async def update_evaluation(request: web.Request) -> web.Response:
    """Change the fields sent; config lists replace whole; enabling needs targets."""
    e, body = emu(request), await json_body(request)
    evaluation = _evaluation(e, request.match_info["evaluation_id"])
    unknown = set(body) - {"name", "description", "enabled", "config"}
    if unknown:
        raise bad_request(f"unknown fields {sorted(unknown)}", param=sorted(unknown)[0])
    if "name" in body:
        evaluation["name"] = _name(e, body["name"], evaluation["organization_id"], exclude=evaluation["id"])
    if "description" in body:
        if body["description"] is not None and not isinstance(body["description"], str):
            raise bad_request("description must be a string", param="description")
        evaluation["description"] = body["description"] or None
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise bad_request("enabled must be a boolean", param="enabled")
        if body["enabled"] and not evaluation["targets"]:
            raise bad_request("set the evaluation's targets before enabling it", param="enabled")
        evaluation["enabled"] = body["enabled"]
    if "config" in body:
        evaluation["config"] = _rubric(body["config"], evaluation["config"])
    evaluation["updated_at"] = iso(e.clock.now())
    return web.json_response({"evaluation": _view(evaluation)})


@routes.delete(API + "/evaluations/{evaluation_id}")
async def delete_evaluation(request: web.Request) -> web.Response:
    """Remove the evaluation."""
    e = emu(request)
    evaluation = _evaluation(e, request.match_info["evaluation_id"])
    del e.store.org_evaluations[evaluation["id"]]
    return web.json_response({"deleted": True})


@routes.put(API + "/evaluations/{evaluation_id}/targets")
async def set_targets(request: web.Request) -> web.Response:
    """Replace the target set; an empty set pauses an enabled evaluation."""
    e, body = emu(request), await json_body(request)
    evaluation = _evaluation(e, request.match_info["evaluation_id"])
    targets = body.get("targets")
    if not isinstance(targets, list):
        raise bad_request("targets must be a list", param="targets")
    clean: list[dict[str, Any]] = []
    teams = {t["id"] for t in e.store.teams}
    for n, target in enumerate(targets):
        where = f"targets[{n}]"
        if not isinstance(target, dict) or target.get("type") not in TARGET_TYPES:
            raise bad_request(f"{where}.type must be one of {list(TARGET_TYPES)}", param=where)
        kind, ident = target["type"], target.get("id")
        if kind == "organization":
            clean.append({"type": kind, "id": None})
            continue
        if not isinstance(ident, str) or not ident:
            raise bad_request(f"{where}.id is required for a {kind} target", param=where)
        known = {"team": teams, "user": {e.store.user_id}, "agent": set(e.store.agents)}[kind]
        if ident not in known:
            raise ApiError(404, f"{kind}_not_found", f"{kind} {ident!r} not found", param=where)
        clean.append({"type": kind, "id": ident})
    evaluation["targets"] = clean
    evaluation["covered_agent_count"] = len(_covered(e, clean))
    if not clean:
        evaluation["enabled"] = False
    evaluation["updated_at"] = iso(e.clock.now())
    return web.json_response(
        {
            "targets": clean,
            "covered_agent_count": evaluation["covered_agent_count"],
            "enabled": evaluation["enabled"],
        }
    )


@routes.post(API + "/evaluations/{evaluation_id}/run")
async def run_evaluation(request: web.Request) -> web.Response:
    """Queue a result per gradable session (a credit each); dry_run only prices it."""
    e, body = emu(request), await json_body(request)
    evaluation = _evaluation(e, request.match_info["evaluation_id"])
    session_ids = body.get("session_ids")
    if (
        not isinstance(session_ids, list)
        or not session_ids
        or len(session_ids) > MAX_RUN_SESSIONS
        or not all(isinstance(s, str) and s for s in session_ids)
    ):
        raise bad_request(f"session_ids must list 1 to {MAX_RUN_SESSIONS} session ids", param="session_ids")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise bad_request("dry_run must be a boolean", param="dry_run")
    covered = _covered(e, evaluation["targets"])
    graded = {r["session_id"]: r["id"] for r in evaluation["_results"]}
    now = e.clock.now()
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for session_id in dict.fromkeys(session_ids):
        session = e.store.sessions.get(session_id)
        reason = None
        if session is None:
            reason = "session_not_found"
        elif session.agent_id not in covered:
            reason = "agent_not_covered"
        elif session.state in ("processing", "queued"):
            reason = "session_in_progress"
        elif session_id in graded:
            reason = "already_evaluated"
        if reason is not None:
            skipped.append({"session_id": session_id, "reason": reason, "result_id": graded.get(session_id)})
            continue
        assert session is not None
        if dry_run:
            results.append({"id": None, "session_id": session_id, "status": "queued"})
            continue
        result = {
            "id": new_id("oevr_"),
            "evaluation_id": evaluation["id"],
            "session_id": session_id,
            "agent_id": session.agent_id,
            "status": "queued",
            "grade": None,
            "error_code": None,
            "model_name": evaluation["config"].get("model_name"),
            "call_successful": None,
            "sentiment": None,
            "summary": None,
            "criteria_results": [],
            "data_results": [],
            "applied_tags": [],
            "created_at": iso(now),
            "_ts": now,
            "_start": now + e.store.delay(RESULT_START_SECONDS),
            "_due": now + e.store.delay(RESULT_SECONDS),
            "_criteria": list(evaluation["config"].get("criteria") or []),
        }
        evaluation["_results"].insert(0, result)
        results.append({"id": result["id"], "session_id": session_id, "status": "queued"})
    return web.json_response(
        {"dry_run": dry_run, "credit_cost": len(results), "results": results, "skipped": skipped}
    )


def _time(value: str, name: str) -> float:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"{name} must be an RFC 3339 time", param=name) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _result_view(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith("_")}


@routes.get(API + "/evaluations/{evaluation_id}/results")
async def list_results(request: web.Request) -> web.Response:
    """Results, newest first, filtered."""
    e, q = emu(request), request.query
    evaluation = _evaluation(e, request.match_info["evaluation_id"])
    items = list(evaluation["_results"])
    for name in ("agent_id", "session_id"):
        if value := q.get(name):
            items = [r for r in items if r[name] == value]
    if (grade := q.get("grade")) is not None:
        if grade not in GRADES:
            raise bad_request(f"grade must be one of {list(GRADES)}", param="grade")
        items = [r for r in items if r["grade"] == grade]
    if (status := q.get("status")) is not None:
        if status not in STATUSES:
            raise bad_request(f"status must be one of {list(STATUSES)}", param="status")
        items = [r for r in items if r["status"] == status]
    if after := q.get("created_after"):
        since = _time(after, "created_after")
        items = [r for r in items if r["_ts"] >= since]
    if before := q.get("created_before"):
        until = _time(before, "created_before")
        items = [r for r in items if r["_ts"] < until]
    chunk, nxt = page(items, q, 100)
    return web.json_response({"results": [_result_view(r) for r in chunk], "next_cursor": nxt})


@routes.get(API + "/evaluations/{evaluation_id}/results/{result_id}")
async def get_result(request: web.Request) -> web.Response:
    """One result."""
    e = emu(request)
    evaluation = _evaluation(e, request.match_info["evaluation_id"])
    result_id = request.match_info["result_id"]
    result = next((r for r in evaluation["_results"] if r["id"] == result_id), None)
    if result is None:
        raise ApiError(
            404, "evaluation_result_not_found", f"result {result_id!r} not found", param="result_id"
        )
    return web.json_response({"result": _result_view(result)})


@routes.get(API + "/evaluations/{evaluation_id}/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Completed results per grade over the last ``days`` (1-365, default 30)."""
    e = emu(request)
    evaluation = _evaluation(e, request.match_info["evaluation_id"])
    raw = request.query.get("days") or "30"
    try:
        days = int(raw)
    except ValueError as exc:
        raise bad_request("days must be an integer", param="days") from exc
    if not 1 <= days <= 365:
        raise bad_request("days must be between 1 and 365", param="days")
    since = e.clock.now() - days * 86400
    grades = dict.fromkeys(GRADES, 0)
    for result in evaluation["_results"]:
        if result["grade"] is not None and result["_ts"] >= since:
            grades[result["grade"]] += 1
    return web.json_response({"days": days, "grades": grades})
