"""POST /sessions/{session_id}/approvals: answer what a session in ``approval_required`` waits for
(approvals.py says when a session pauses and what answering does)."""

from __future__ import annotations

from aiohttp import web

from gumloop_mcp.emulator import approvals
from gumloop_mcp.emulator.context import emu, json_body
from gumloop_mcp.emulator.routes_sessions import session_or_404, session_view

routes = web.RouteTableDef()
API = "/api/v1"


@routes.post(API + "/sessions/{session_id}/approvals")
async def resolve_approvals(request: web.Request) -> web.Response:
    """``{approval_responses: [{action_request_id, action: accept|reject, reason?, response?: {values}}]}``
    -> ``{session, results: [{action_request_id, action, outcome}], stream_cursor}`` (the cursor resumes the
    session's stream after the pause); 409 no_pending_approvals when the session is not waiting."""
    e, body = emu(request), await json_body(request)
    s = session_or_404(e, request.match_info["session_id"])
    results = approvals.resolve(e.store, s, body.get("approval_responses"), e.now())
    return web.json_response(
        {"session": session_view(e, s), "results": results, "stream_cursor": f"{s.id}:{len(s.events)}"}
    )
