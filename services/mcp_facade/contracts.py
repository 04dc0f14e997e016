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
from typing import Any, Final, Literal, Protocol, runtime_checkable

__all__ = [
    "CallContext",
    "Elicit",
    "InputRound",
    "ElicitationFailed",
    "InputRequired",
    "LIST_LIMIT_MAX",
    "OperationTools",
    "ServerScope",
    "TaskPlanner",
    "TaskSupport",
    "Toolbox",
    "ToolsUnavailableError",
    "UnknownToolError",
    "WorkCanceller",
    "noop_log",
    "noop_progress",
]


@dataclass(frozen=True, slots=True)
class InputRound:
    """What a retried request brought back: the client's responses and the verified state
    (protocol/input_required.py reads and verifies it)."""

    responses: dict[str, Any] = field(default_factory=dict)
    state: Any = None


# The largest `limit` of a list tool whose operation names no page size of its own: the server
# instructions state it once (protocol.INSTRUCTIONS), so tools/list shows only other maxima.
LIST_LIMIT_MAX: Final = 100

# The client capability each kind of input request needs (2026-07-28 input-required results).
INPUT_REQUEST_CAPABILITY: Final = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}


class InputRequired(Exception):
    """Raised by a handler that needs client input: `requests` maps ids to InputRequest objects.

    Only where `CallContext.input_rounds` is true (protocol/input_required.py turns it into an
    InputRequiredResult, or parks a task until tasks/update answers); `state` comes back, verified,
    in `CallContext.inputs.state` on the next round.
    """

    def __init__(self, requests: dict[str, dict[str, Any]], state: Any = None) -> None:
        if not requests and state is None:
            raise ValueError("an input-required result needs input requests or state")
        for key, request in requests.items():
            if not isinstance(request, dict) or request.get("method") not in INPUT_REQUEST_CAPABILITY:
                raise ValueError(f"input request {key!r} must be one of {sorted(INPUT_REQUEST_CAPABILITY)}")
        super().__init__(f"input required: {', '.join(requests) or 'state only'}")
        self.requests = requests
        self.state = state


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
    # The audit trail keeps this server's tool-call arguments and results (config.audit_payloads).
    audit_payloads: bool = False
    # Who may consent to an OAuth server through the identity provider (config.oauth_allowed_*).
    oauth_allowed_emails: tuple[str, ...] = ()
    oauth_allowed_domains: tuple[str, ...] = ()
    oauth_allowed_groups: tuple[str, ...] = ()


async def noop_progress(progress: float, total: float | None = None, message: str | None = None) -> None:
    """A progress sink for clients that gave no progress token."""


async def noop_log(level: str, data: Any) -> None:
    """A log sink for clients that set no logging level."""


class ElicitationFailed(Exception):
    """An elicitation/create request got no usable answer (timeout, client error, stream closed)."""


# Sends elicitation/create with these params to the client and returns its ElicitResult
# ({action: accept|decline|cancel, content?}); raises ElicitationFailed.
Elicit = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


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
    # The client's capabilities (the session's, or this 2026-07-28 request's).
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    # 2026-07-28 input-required rounds: the responses and state a retried request (or, in a task,
    # tasks/update) brought back; raise InputRequired to ask for more.
    inputs: InputRound = field(default_factory=InputRound)
    # Whether this call may raise InputRequired (a 2026-07-28 request, or a task of one); a tool asks
    # only for what the client declared in `client_capabilities`.
    input_rounds: bool = False
    # The call runs as a task (either era): its deadline is the task's expiry, not a request's, so a
    # tool may follow the Gumloop work it started or waits on until it ends.
    in_task: bool = False
    # Asks the person at the client (elicitation/create on the call's response stream); None when the
    # client did not declare the elicitation capability or the call has no stream to carry it.
    elicit: Elicit | None = None
    # Whether elicitation requests carry `mode: "form"` (2025-11-25 and later).
    elicit_form_mode: bool = False


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


# How a tools/call may run under the 2026-07-28 tasks extension (SEP-2663 taskSupport).
TaskSupport = Literal["forbidden", "optional", "required"]


@runtime_checkable
class TaskPlanner(Protocol):
    """Optional part of a Toolbox: which calls run as tasks (io.modelcontextprotocol/tasks)."""

    async def plan_call(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> TaskSupport:
        """Whether the call may ("optional") or must ("required") become a task, or never does.

        Runs before any task exists: it may raise input_required.InputRequired for input the
        call needs up front (answered inline; the task is created on the round that has it).
        Unknown tools are "forbidden" (call_tool then raises UnknownToolError).
        """
        ...


@runtime_checkable
class WorkCanceller(Protocol):
    """Optional part of a Toolbox: stop the Gumloop work a cancelled task held while it was parked on
    input (a running call is cancelled inside `call_tool` and stops its work there)."""

    async def cancel_work(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> None:
        """Stop the work this task's call started (found in `ctx.inputs.state`), where the catalog can;
        never raises."""
        ...


@runtime_checkable
class OperationTools(Protocol):
    """Optional part of a Toolbox: the tools behind catalog operations (prompts/ and resources/ use it
    to name tools and to read Gumloop through `Toolbox.call_tool`, with the same scope)."""

    async def operation_tools(self, scope: ServerScope) -> dict[str, str]:
        """Catalog operation name -> tool name, for every operation `scope` admits (whatever the
        exposure: a discovery-mode scope still calls them, through `call_tool`).

        Raises:
            ToolsUnavailableError: no catalog yet and the proxy unreachable.
        """
        ...

    async def exposure(self, scope: ServerScope) -> str:
        """How tools/list shows `scope`: "full" or "discovery" (search_tools, get_tool_schema, call_tool)."""
        ...


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
