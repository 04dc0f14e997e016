"""The seam between the MCP protocol layer and the tool layer of the façade.

The protocol layer (transports, JSON-RPC, sessions, token resolution) hands a
resolved server scope and a call context to a `Toolbox`; the tool layer turns
the proxy's operation catalog into MCP tools and runs them. Neither side knows
the other's internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "CallContext",
    "ServerScope",
    "Toolbox",
    "ToolsUnavailableError",
    "UnknownToolError",
    "noop_log",
    "noop_progress",
]


@dataclass(frozen=True, slots=True)
class ServerScope:
    """What one MCP URL may do: resolved from its token by the protocol layer."""

    server_id: str
    account_id: str
    name: str
    # Method groups ("read", "write", "custom") or exact operation names; empty means all.
    methods: tuple[str, ...] = ()
    # Only operations carrying one of these tags; empty means no tag filter.
    tags: tuple[str, ...] = ()
    # How tools/list shows the scope: "full", "discovery", "auto"; "" = the façade's default.
    tool_exposure: str = ""
    # The model-token budget "auto" holds the full list to; 0 = the façade's default.
    context_budget_tokens: int = 0


async def noop_progress(progress: float, total: float | None = None, message: str | None = None) -> None:
    """A progress sink for clients that gave no progress token."""


async def noop_log(level: str, data: Any) -> None:
    """A log sink for clients that set no logging level."""


@dataclass(slots=True)
class CallContext:
    """Per-call facilities the protocol layer provides to a tool."""

    # Absolute deadline on the event loop's clock (loop.time()); waits must end before it.
    deadline: float
    # Sends notifications/progress when the client supplied a progressToken (progress must increase).
    progress: Callable[[float, float | None, str | None], Awaitable[None]] = noop_progress
    # Sends notifications/message at or above the session's logging level.
    log: Callable[[str, Any], Awaitable[None]] = noop_log
    # Set when the client sent notifications/cancelled for this request or went away.
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    request_id: str = ""


class UnknownToolError(Exception):
    """The tool does not exist or is outside the server's scope; the caller cannot tell which.

    The protocol layer answers it with JSON-RPC -32602, exactly as for a misspelled name.
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown tool: {name}")
        self.name = name


class ToolsUnavailableError(Exception):
    """The tool list cannot be built right now (the proxy is unreachable and nothing is cached).

    The protocol layer answers it with a retryable JSON-RPC error (HTTP 503), never a crash.
    """


class Toolbox(Protocol):
    """What the protocol layer needs from the tool layer."""

    async def list_tools(self, scope: ServerScope) -> list[dict[str, Any]]:
        """MCP Tool objects (name, title, description, inputSchema, outputSchema?, annotations),
        only those in scope, in a deterministic order."""
        ...

    async def call_tool(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        """An MCP CallToolResult object ({content, structuredContent?, isError?}).

        Upstream, validation and budget failures come back as results with isError true.
        Raises:
            UnknownToolError: the name is unknown or out of scope.
        """
        ...
