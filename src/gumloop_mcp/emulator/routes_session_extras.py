"""Sessions beyond the documented routes (the SDK's Sessions.update, upload_file and the message queue):
rename, files uploaded into a session, and queued messages (list, add, edit, delete, send now)."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator import session_queue
from gumloop_mcp.emulator.context import Emulator, emu, json_body
from gumloop_mcp.emulator.errors import ApiError, bad_request, not_found
from gumloop_mcp.emulator.routes_sessions import (
    continue_session,
    queue_position,
    session_or_404,
    session_view,
)
from gumloop_mcp.emulator.store import Session, iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
MAX_NAME = 256


def _answer(e: Emulator, s: Session) -> web.Response:
    return web.json_response({"session": session_view(e, s), "queue_position": queue_position(e, s)})


def _text(body: dict[str, Any], name: str, limit: int | None = None) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{name} must be a non-empty string", param=name)
    if limit is not None and len(value) > limit:
        raise bad_request(f"{name} must be at most {limit} characters", param=name)
    return value


@routes.patch(API + "/sessions/{session_id}")
async def rename_session(request: web.Request) -> web.Response:
    """Set the session's name (1-256 characters)."""
    e, body = emu(request), await json_body(request)
    s = session_or_404(e, request.match_info["session_id"])
    s.name = _text(body, "name", MAX_NAME)
    return _answer(e, s)


@routes.post(API + "/sessions/{session_id}/files")
async def upload_file(request: web.Request) -> web.Response:
    """Store a base64 file in the session under its name (a later upload of the same name replaces it);
    messages attach it by file_name."""
    e, body = emu(request), await json_body(request)
    s = session_or_404(e, request.match_info["session_id"])
    name = _text(body, "file_name", 255)
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise bad_request("file_name must be a plain file name", param="file_name")
    try:
        data = base64.b64decode(str(body.get("file_content") or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request("file_content must be base64", param="file_content") from exc
    if not data:
        raise bad_request("file_content is empty", param="file_content")
    if len(data) > (limit := e.settings.max_skill_bytes):
        raise ApiError(413, "file_too_large", f"files are limited to {limit} bytes", param="file_content")
    media_type = body.get("media_type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if not isinstance(media_type, str):
        raise bad_request("media_type must be a string", param="media_type")
    e.store.session_files.setdefault(s.id, {})[name] = e.store.add_blob(name, media_type, data)
    return web.json_response({"file_name": name, "media_type": media_type, "size": len(data)})


def _queue_answer(e: Emulator, s: Session, item: dict[str, Any] | None = None) -> web.Response:
    out: dict[str, Any] = {"queue": list(session_queue.queue_of(e.store, s.id))}
    if item is not None:
        out["queued_message"] = item
    return web.json_response(out)


def _queued_or_404(e: Emulator, s: Session, qid: str) -> dict[str, Any]:
    item = next((m for m in session_queue.queue_of(e.store, s.id) if m["id"] == qid), None)
    if item is None:
        raise not_found("queued message", qid)
    return item


@routes.get(API + "/sessions/{session_id}/queue")
async def list_queue(request: web.Request) -> web.Response:
    """The messages waiting, oldest (position 1) first."""
    e = emu(request)
    s = session_or_404(e, request.match_info["session_id"])
    session_queue.drain(e.store, s, e.now())
    return _queue_answer(e, s)


@routes.post(API + "/sessions/{session_id}/queue")
async def queue_message(request: web.Request) -> web.Response:
    """Add a message at the end of the queue; a session that is not working sends it at once (the answer's
    queued_message then has state sent)."""
    e, body = emu(request), await json_body(request)
    s = session_or_404(e, request.match_info["session_id"])
    text = _text(body, "input")
    now = e.now()
    queue = session_queue.queue_of(e.store, s.id)
    item = {
        "id": new_id("qm_"),
        "input": text,
        "state": "queued",
        "position": len(queue) + 1,
        "created_at": iso(now),
        "updated_at": iso(now),
    }
    queue.append(item)
    sent = session_queue.drain(e.store, s, now) if len(queue) == 1 else None
    return _queue_answer(e, s, sent if sent is not None and sent["id"] == item["id"] else item)


@routes.patch(API + "/sessions/{session_id}/queue/{queued_message_id}")
async def edit_queued(request: web.Request) -> web.Response:
    """Replace a waiting message's text."""
    e, body = emu(request), await json_body(request)
    s = session_or_404(e, request.match_info["session_id"])
    item = _queued_or_404(e, s, request.match_info["queued_message_id"])
    item["input"] = _text(body, "input")
    item["updated_at"] = iso(e.now())
    return _queue_answer(e, s, item)


@routes.delete(API + "/sessions/{session_id}/queue/{queued_message_id}")
async def delete_queued(request: web.Request) -> web.Response:
    """Take a waiting message out of the queue."""
    e = emu(request)
    s = session_or_404(e, request.match_info["session_id"])
    queue = session_queue.queue_of(e.store, s.id)
    queue.remove(_queued_or_404(e, s, request.match_info["queued_message_id"]))
    session_queue.renumber(queue)
    return _queue_answer(e, s)


@routes.post(API + "/sessions/{session_id}/queue/{queued_message_id}/send")
async def send_queued(request: web.Request) -> web.Response:
    """Send a waiting message now, interrupting the session's current turn (202, processing)."""
    e = emu(request)
    s = session_or_404(e, request.match_info["session_id"])
    queue = session_queue.queue_of(e.store, s.id)
    item = _queued_or_404(e, s, request.match_info["queued_message_id"])
    session_queue.interrupt(e.store, s, e.now())
    continue_session(e, s, {"input": item["input"]})
    queue.remove(item)
    session_queue.renumber(queue)
    return web.json_response(
        {"session": session_view(e, s), "queue_position": queue_position(e, s)}, status=202
    )
