"""What the session helpers (approvals.py, session_queue.py) use of a session and of the store.

Narrow protocols in a leaf module, so the helpers need not import store.py, which imports them: the
store's `Session` and `Store` satisfy these structurally.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

__all__ = ["SessionHost", "SessionLike"]


class SessionLike(Protocol):
    """The fields of an agent session the helpers read and change."""

    id: str
    state: str
    messages: list[dict[str, Any]]
    due: float | None
    events: list[dict[str, Any]]
    pending_approvals: list[dict[str, Any]] | None
    approved: bool
    decisions: list[str]


class SessionHost(Protocol):
    """The store as the helpers see it: its owner, session queues and the concurrency plan's slots."""

    user_id: str
    session_queues: dict[str, list[dict[str, Any]]]

    def admit(self, kind: Literal["session"], now: float) -> bool: ...

    def start(self, kind: Literal["session"], item: Any, now: float, *, admitted: bool) -> int | None: ...

    def dequeue(self, kind: Literal["session"], ident: str) -> bool: ...

    def release(self, now: float) -> None: ...
