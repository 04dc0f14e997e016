"""The stream host: session event streams and chat completions (SSE in OpenAI shape when ``stream``)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.context import emu, json_body
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.routes_sessions import (
    continue_session,
    create,
    queue_position,
    session_or_404,
    session_view,
)
from gumloop_mcp.emulator.store import Session, new_id

routes = web.RouteTableDef()
WS = "/ws/api/v1"
POLL_S = 0.02
MAX_STREAM_S = 3600.0


async def _sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    return response


async def _send(response: web.StreamResponse, event: str | None, data: str) -> None:
    prefix = f"event: {event}\n" if event else ""
    await response.write(f"{prefix}data: {data}\n\n".encode())


def _resume_index(cursor: str, session_id: str, count: int) -> int | None:
    """The event index after ``<session_id>:<n>``; None (not resumable) unless the cursor names this
    session and 0 <= n <= the number of events so far."""
    sid, _, n = cursor.rpartition(":")
    if sid != session_id or not (n.isascii() and n.isdigit()) or int(n) > count:
        return None
    return int(n)


def _not_resumable(session_id: str, state: str, index: int, reason: str) -> str:
    """The one event a stream that cannot resume sends: ``finish`` with ``finishReason: not_resumable``."""
    return json.dumps(
        {
            "type": "finish",
            "data": {"state": state, "reason": reason},
            "final": True,
            "stream_cursor": f"{session_id}:{index}",
            "finishReason": "not_resumable",
        }
    )


@routes.get(WS + "/sessions/{session_id}")
async def stream_session(request: web.Request) -> web.StreamResponse:
    """SSE of a session's events until a final one (resumable with ``last_cursor``); JSON without stream."""
    e = emu(request)
    s = session_or_404(e, request.match_info["session_id"])
    if request.query.get("stream", "").lower() != "true":
        return web.json_response({"session": session_view(e, s), "queue_position": queue_position(e, s)})
    start: int | None = 0
    if last := request.query.get("last_cursor"):
        start = _resume_index(last, s.id, len(s.events))
    response = await _sse(request)
    if start is None:
        # A stale or foreign cursor: Gumloop ends the stream at once rather than answering 400.
        reason = f"last_cursor {last!r} is not a current cursor of session {s.id!r}"
        await _send(response, "finish", _not_resumable(s.id, s.state, len(s.events), reason))
        return response
    return await _events(request, response, s, start)


@routes.post(WS + "/agents/{agent_id}/sessions")
async def stream_new_session(request: web.Request) -> web.StreamResponse:
    """POST with ``stream: true`` on the stream host (the SDK's sessions.create(stream=True) / .stream):
    the session is created as on the API host, then its events stream until the turn ends."""
    e, body = emu(request), await json_body(request)
    s, _started = create(e, request.match_info["agent_id"], body)
    return await _events(request, await _sse(request), s, 0)


@routes.post(WS + "/sessions/{session_id}/messages")
async def stream_message(request: web.Request) -> web.StreamResponse:
    """A message (or approval_responses) sent with ``stream: true`` on the stream host: the events that
    follow it stream until the turn ends (or pauses again)."""
    e, body = emu(request), await json_body(request)
    s = session_or_404(e, request.match_info["session_id"])
    start = len(s.events)
    continue_session(e, s, body)
    return await _events(request, await _sse(request), s, start)


async def _events(
    request: web.Request, response: web.StreamResponse, s: Session, start: int
) -> web.StreamResponse:
    """Send ``s``'s events from ``start`` until a final one ends the turn."""
    e = emu(request)
    deadline = time.monotonic() + MAX_STREAM_S
    index = start
    while time.monotonic() < deadline:
        if request.transport is None or request.transport.is_closing():
            return response  # the client went away; stop polling for it
        e.now()
        while index < len(s.events):
            ev = s.events[index]
            index += 1
            data = {**ev, "stream_cursor": f"{s.id}:{index}"}
            await _send(response, "finish" if ev["final"] else "message", json.dumps(data))
            # A pause for approval is final too, but the session may have gone on since: only the last
            # final event of a session no longer working ends the stream.
            if ev["final"] and index == len(s.events) and s.state not in {"processing", "queued"}:
                return response
        if s.state in {"idle", "completed", "failed", "approval_required"} and s.due is None:
            reason = f"session is {s.state} and has no further events"
            await _send(response, "finish", _not_resumable(s.id, s.state, index, reason))
            return response
        await asyncio.sleep(POLL_S)
    return response


def _reply(messages: list[Any]) -> str:
    last = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    content = last.get("content") if last else ""
    if isinstance(content, list):
        content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return f"Emulated answer to: {str(content)[:500]}"


@routes.post(WS + "/chat/completions")
async def chat_completions(request: web.Request) -> web.StreamResponse:
    """OpenAI-shaped chat completion; SSE chunks then ``data: [DONE]`` when ``stream``; 502 upstream_error
    when the last user message contains ``[fail]`` (the model provider failing)."""
    e, body = emu(request), await json_body(request)
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required", param="model")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list", param="messages")
    known = {m["id"] for g in e.store.models for m in g["models"]}
    if model not in known:
        raise ApiError(
            404, "model_not_found", f"model {model!r} is not available; see GET /models", param="model"
        )
    text = _reply(messages)
    if "[fail]" in text:
        # The emulator's failure switch (as for runs and sessions): the model provider fails upstream.
        raise ApiError(
            502,
            "upstream_error",
            f"The model provider for {model!r} failed to answer",
            type_="api_error",
            param="model",
        )
    cid, created = new_id("chatcmpl-"), int(e.now())
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": len(text.split()),
        "total_tokens": 12 + len(text.split()),
        "cost": 0.0,
        "is_byok": False,
    }
    if body.get("stream") is not True:
        return web.json_response(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                ],
                "usage": usage,
            }
        )
    response = await _sse(request)
    words = text.split(" ")
    for n, word in enumerate(words):
        delta: dict[str, Any] = {"content": word if n == 0 else " " + word}
        if n == 0:
            delta["role"] = "assistant"
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        await _send(response, None, json.dumps(chunk))
    final = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": usage,
    }
    await _send(response, None, json.dumps(final))
    await _send(response, None, "[DONE]")
    return response
