"""Agent sessions: list, create (idle/processing), get, send message (409 when busy), cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import approvals, session_queue
from gumloop_mcp.emulator.context import Emulator, emu, json_body
from gumloop_mcp.emulator.errors import ApiError, bad_request, not_found
from gumloop_mcp.emulator.pagination import paginate
from gumloop_mcp.emulator.routes_agents import agent_or_404
from gumloop_mcp.emulator.store import Session, iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
STATES = {"idle", "queued", "processing", "approval_required", "completed", "failed"}


def session_view(e: Emulator, s: Session, *, messages: bool = True) -> dict[str, Any]:
    """A Session object as Gumloop answers it."""
    agent = e.store.agents.get(s.agent_id, {})
    return {
        "id": s.id,
        "agent_id": s.agent_id,
        "name": s.name,
        "type": s.type,
        "state": s.state,
        "messages": list(s.messages) if messages else [],
        "created_at": iso(s.created_at),
        "agent_name": agent.get("name"),
        "agent_team_id": agent.get("team_id"),
        "agent_creator_user_id": e.settings.user_id,
        "agent_icon_url": None,
        "agent_tools": agent.get("tools", []),
        "participants": {e.settings.user_id: {"first_name": "Ada", "last_name": "Lovelace"}},
        "creator": {"id": e.settings.user_id},
        "metadata": s.metadata,
        "pending_approvals": s.pending_approvals if s.state == "approval_required" else None,
        "usage": {
            "credit_cost": 2 if s.state == "completed" else 0,
            "tool_credit_cost": 0,
            "flow_credit_cost": 0,
            "input_tokens": 120 if s.messages else 0,
            "output_tokens": 80 if s.state == "completed" else 0,
        },
    }


def session_or_404(e: Emulator, session_id: str) -> Session:
    """The session or 404."""
    s = e.store.sessions.get(session_id)
    if s is None:
        raise not_found("session", session_id)
    return s


def _input(body: dict[str, Any]) -> str | None:
    value = body.get("input", body.get("message"))
    if value is None:
        return None
    if isinstance(value, list):
        value = " ".join(str(v.get("text", v)) if isinstance(v, dict) else str(v) for v in value)
    if not isinstance(value, str) or not value.strip():
        raise bad_request("input must be a non-empty string", param="input")
    return value


def queue_position(e: Emulator, s: Session) -> int | None:
    """Where a queued session waits (1 = next to start); None unless queued."""
    return e.store.queue_position("session", s.id) if s.state == "queued" else None


def _start(e: Emulator, s: Session, text: str) -> None:
    """Add the user's message and start processing it, or queue it (Enterprise at the limit); 429 first
    (nothing recorded) at a Free/Pro limit."""
    now = e.now()
    admitted = e.store.admit("session", now)
    session_queue.post_user_message(e.store, s, text, now, admitted=admitted)


def _no_stream(body: dict[str, Any], request: web.Request) -> None:
    if body.get("stream") is True:
        raise bad_request(
            f"stream: true is only served by the streaming host; use {request.scheme}://{request.host}/ws/api/v1",
            param="stream",
        )


@routes.get(API + "/agents/{agent_id}/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    """Sessions of an agent without messages."""
    e, q = emu(request), request.query
    aid = request.match_info["agent_id"]
    agent_or_404(e, aid)
    items = [s for s in e.store.sessions.values() if s.agent_id == aid]
    if search := q.get("search") or q.get("search_query"):
        items = [s for s in items if search.lower() in s.name.lower()]
    if state := q.get("state"):
        if state not in STATES:
            raise bad_request(f"state must be one of {sorted(STATES)}", param="state")
        items = [s for s in items if s.state == state]
    if kind := q.get("type"):
        items = [s for s in items if s.type == kind]
    order = q.get("sort_order", "newest")
    if order not in {"newest", "oldest"}:
        raise bad_request("sort_order must be newest or oldest", param="sort_order")
    items.sort(key=lambda s: s.created_at, reverse=order == "newest")
    page, nxt = paginate(items, q)
    return web.json_response(
        {"sessions": [session_view(e, s, messages=False) for s in page], "next_cursor": nxt}
    )


def create(e: Emulator, aid: str, body: dict[str, Any]) -> tuple[Session, bool]:
    """A new session (started when the body has input: then True); 409 on a taken session_id; 429 at a
    Free/Pro limit, leaving no session behind. Shared by both hosts."""
    agent_or_404(e, aid)
    text = _input(body)
    sid = body.get("session_id") or new_id("sess_")
    if sid in e.store.sessions:
        raise ApiError(409, "session_already_exists", f"session {sid!r} already exists", param="session_id")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be an object", param="metadata")
    name = body.get("name") or (text[:60] if text else "New session")
    session = Session(sid, aid, str(name), "idle", e.now(), metadata={"client": metadata} if metadata else {})
    if text is not None:
        _start(e, session, text)
    e.store.sessions[sid] = session
    return session, text is not None


@routes.post(API + "/agents/{agent_id}/sessions")
async def create_session(request: web.Request) -> web.Response:
    """201 idle without input; 202 processing (or queued with queue_position on Enterprise at the limit)
    with input; 409 on a taken session_id; 429 at a Free/Pro limit."""
    e, body = emu(request), await json_body(request)
    _no_stream(body, request)
    session, started = create(e, request.match_info["agent_id"], body)
    return web.json_response(
        {"session": session_view(e, session), "queue_position": queue_position(e, session)},
        status=202 if started else 201,
    )


@routes.get(API + "/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    """A session with its messages."""
    e = emu(request)
    return web.json_response(
        {
            "session": session_view(e, s := session_or_404(e, request.match_info["session_id"])),
            "queue_position": queue_position(e, s),
        }
    )


def _check_attachments(e: Emulator, s: Session, attachments: Any) -> None:
    """Attachments name files uploaded into this session (POST /sessions/{id}/files); 400 otherwise."""
    if attachments is None:
        return
    if not isinstance(attachments, list):
        raise bad_request("attachments must be a list", param="attachments")
    uploaded = e.store.session_files.get(s.id, {})
    for item in attachments:
        name = item.get("file_name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in uploaded:
            raise bad_request(f"attachment {name!r} was not uploaded to session {s.id}", param="attachments")


def continue_session(e: Emulator, s: Session, body: dict[str, Any]) -> bool:
    """Send the body's input (True), or, with ``approval_responses`` and no input, answer the pending
    approvals (False). 409 while the previous interaction is not terminal. Shared by both hosts."""
    text = _input(body)
    if text is None and body.get("approval_responses") is not None:
        approvals.resolve(e.store, s, body.get("approval_responses"), e.now())
        return False
    if text is None:
        raise bad_request("input is required", param="input")
    _check_attachments(e, s, body.get("attachments"))
    if s.state in {"processing", "queued"}:
        raise ApiError(
            409,
            "interaction_not_in_terminal_state",
            f"Session {s.id} is {s.state}; wait until it is idle, completed or failed "
            "before sending another message",
        )
    _start(e, s, text)
    return True


@routes.post(API + "/sessions/{session_id}/messages")
async def send_message(request: web.Request) -> web.Response:
    """202 processing; 409 while the previous interaction is not terminal. A session waiting in
    approval_required takes a new message (its pending approvals are superseded), or, with
    ``approval_responses`` and no input, answers them as POST /sessions/{id}/approvals does (200)."""
    e, body = emu(request), await json_body(request)
    s = session_or_404(e, request.match_info["session_id"])
    _no_stream(body, request)
    sent = continue_session(e, s, body)
    return web.json_response(
        {"session": session_view(e, s), "queue_position": queue_position(e, s)}, status=202 if sent else 200
    )


@routes.post(API + "/sessions/{session_id}/cancel")
async def cancel_session(request: web.Request) -> web.Response:
    """processing/queued/approval_required -> failed; a queued session leaves the queue, a processing one
    frees its slot for the next queued work at once."""
    e = emu(request)
    s = session_or_404(e, request.match_info["session_id"])
    if s.state in {"processing", "queued", "approval_required"}:
        s.pending_approvals = None
        e.store.dequeue("session", s.id)
        s.state = "failed"
        s.due = None
        s.events.append({"type": "finish", "data": {"state": "failed", "reason": "cancelled"}, "final": True})
        e.store.release(e.clock.now())
    view: dict[str, Any] = {
        "id": s.id,
        "agent_id": s.agent_id,
        "state": s.state,
        "messages": [],
        "created_at": None,
        "agent_name": None,
        "agent_team_id": None,
        "agent_creator_user_id": None,
        "agent_icon_url": None,
        "agent_tools": [],
        "participants": {},
        "creator": None,
    }
    return web.json_response({"session": view, "queue_position": None})
