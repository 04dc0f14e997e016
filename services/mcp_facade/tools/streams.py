"""Relayed upstream streams (chat completions, session event streams) folded into one bounded result."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

__all__ = ["StreamFold"]

_MAX_EVENTS_KEPT: Final = 200


class StreamFold:
    """Accumulates server-sent events: assistant text, finish reason, usage, and the last events."""

    def __init__(self, progress: Callable[[float, float | None, str | None], Awaitable[None]]) -> None:
        self._progress = progress
        self.http_status = 0
        self.count = 0
        self.text: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.model: str | None = None
        self.events: list[Any] = []
        self.final = False

    async def event(self, name: str, data: str) -> None:
        """Fold one event in and report progress."""
        self.count += 1
        if data.strip() == "[DONE]":
            self.final = True
            return
        try:
            value: Any = json.loads(data)
        except ValueError:
            value = data
        if isinstance(value, dict):
            self._chat_chunk(value)
            if value.get("final") is True or name == "finish":
                self.final = True
        self.events.append({"event": name, "data": value})
        if len(self.events) > _MAX_EVENTS_KEPT:
            del self.events[0]
        await self._progress(float(self.count), None, f"{self.count} events received")

    def _chat_chunk(self, chunk: dict[str, Any]) -> None:
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                self.text.append(delta["content"])
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])

    def chat_result(self) -> dict[str, Any]:
        """A chat completion summary: the assistant text, finish reason, usage."""
        return {
            "model": self.model,
            "content": "".join(self.text),
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "event_count": self.count,
        }

    def events_result(self) -> dict[str, Any]:
        """The last events of a stream (oldest dropped first when there are many)."""
        return {"events": self.events, "event_count": self.count, "ended": self.final}
