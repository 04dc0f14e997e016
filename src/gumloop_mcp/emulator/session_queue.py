"""A session's user messages: posting one (shared by send, create and the queue) and the message queue.

Queued messages (``Store.session_queues``, the SDK's ``Sessions.list_queue`` / ``queue_message`` ...) wait
while the session works; when its turn ends (completed or failed, not a pause for approval) the oldest is
sent (``drain``, called by ``Store.advance``). Queueing to a session that is not working sends at once.
"""

from __future__ import annotations

from typing import Any

from gumloop_mcp.emulator.errors import ApiError
from gumloop_mcp.emulator.ids import iso, new_id
from gumloop_mcp.emulator.session_ports import SessionHost, SessionLike

WORKING = {"processing", "queued"}
# A session waiting for a human keeps its queue until the approvals are answered and the turn ends.
DRAINS_IN = {"idle", "completed", "failed"}


def post_user_message(store: SessionHost, s: SessionLike, text: str, now: float, *, admitted: bool) -> None:
    """Add the user's message and start processing it (or queue the session when not ``admitted``)."""
    s.pending_approvals, s.approved, s.decisions = None, False, []  # a new message supersedes them
    s.messages.append(
        {
            "id": new_id("msg_"),
            "role": "user",
            "content": text,
            "created_at": iso(now),
            "creator_id": store.user_id,
            "parts": None,
        }
    )
    s.events.append({"type": "user-message", "data": {"content": text}, "final": False})
    store.start("session", s, now, admitted=admitted)


def queue_of(store: SessionHost, session_id: str) -> list[dict[str, Any]]:
    """The session's queued messages, oldest first (created on first use)."""
    return store.session_queues.setdefault(session_id, [])


def renumber(queue: list[dict[str, Any]]) -> None:
    """Positions 1..n in queue order."""
    for position, item in enumerate(queue, 1):
        item["position"] = position


def drain(store: SessionHost, s: SessionLike, now: float) -> dict[str, Any] | None:
    """Send the oldest queued message when the session is not working; the message sent, if any.

    At a Free/Pro concurrency limit (429) the message stays queued until a later call finds a slot."""
    queue = store.session_queues.get(s.id)
    if not queue or s.state not in DRAINS_IN or s.due is not None:
        return None
    try:
        admitted = store.admit("session", now)
    except ApiError:
        return None
    item = queue.pop(0)
    renumber(queue)
    post_user_message(store, s, str(item["input"]), now, admitted=admitted)
    return {**item, "state": "sent"}


def interrupt(store: SessionHost, s: SessionLike, now: float) -> None:
    """Stop the session's current turn (it leaves the queue or frees its slot) so a message can go now."""
    if s.state not in WORKING and s.state != "approval_required":
        return
    store.dequeue("session", s.id)
    s.state, s.due, s.pending_approvals = "idle", None, None
    s.events.append({"type": "finish", "data": {"state": "idle", "reason": "interrupted"}, "final": True})
    store.release(now)
