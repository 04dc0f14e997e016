"""MCP method handling, independent of the HTTP transport that carried the message.

A transport builds an `Exchange` (scope, negotiated or per-request version, the
client's capabilities, and a sink for notifications on the response stream, if
any) and calls `Protocol.request()` or `Protocol.notification()`.

Capabilities: tools (plus logging and ping in the session era, and tasks for 2025-11-25 clients
that declare them); prompts, completions and resources when the toolbox maps catalog operations to
its tools (contracts.OperationTools): features.py serves them, scoped exactly as tools are, and
resources/subscribe only where sessions exist (not on 2026-07-28).

Elicitation: for a 2025-06-18 / 2025-11-25 session whose client declared `elicitation` (form mode),
a tools/call answered on an SSE stream gets `CallContext.elicit`: it sends `elicitation/create` on that
stream and awaits the client's response (POSTed back; `response` routes it by id, to this replica or,
through the shared state, to the one the id names (outgoing.py), until the call's deadline). The
toolbox uses it to ask about work paused for a human
(approvals.py). On 2026-07-28 the same question is an input-required result (below): every modern call
gets `CallContext.input_rounds`, and the toolbox raises InputRequired only when the request declared
form elicitation. Nothing is asked of a client that did not declare it.

Tasks (tasks.py) are the 2025-11-25 core feature: for a 2025-11-25 session whose client
declared `capabilities.tasks`, every tool in tools/list carries
`execution: {"taskSupport": "optional"}` (absent means forbidden, so a spec-following
client would never send `params.task` otherwise) and a tools/call with `params.task`
runs as a task. 2026-07-28 moved tasks to the `io.modelcontextprotocol/tasks` extension
(SEP-2663), advertised under `capabilities.extensions`: task creation is server-directed. A
request that declares the extension in its clientCapabilities and calls a tool the toolbox plans
as a task (contracts.TaskPlanner: the operations that start long Gumloop work) gets a flat
CreateTaskResult (`resultType: "task"`); tasks/get inlines the result, tasks/update answers a
task's input requests, tasks/cancel acknowledges; tasks/result and tasks/list do not exist there.
Without the extension, a task-only tool and the tasks/* methods get -32021 (HTTP 400).
In either era a task's call runs under the task's TTL, not the request deadline (`CallContext.in_task`):
the toolbox follows the Gumloop work it started until it ends, and a cancelled task stops that work
(in the call, or through contracts.WorkCanceller when it was parked on input).

Input-required results (input_required.py): a tool that needs client input raises InputRequired;
a 2026-07-28 request gets an InputRequiredResult and is retried with `inputResponses` /
`requestState`; an input request needing a capability the client did not declare is -32021.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from ..audit import AuditRecorder
from ..audit.recorder import client_name_of
from ..contracts import (
    LIST_LIMIT_MAX,
    CallContext,
    ElicitationFailed,
    OperationTools,
    ServerScope,
    TaskPlanner,
    TaskSupport,
    Toolbox,
    ToolsUnavailableError,
    UnknownToolError,
    WorkCanceller,
)
from ..metrics import FacadeMetrics
from ..settings import FacadeSettings
from ..state.state import FacadeState, StateUnavailable
from .features import CACHEABLE, FEATURE_METHODS, Features
from .input_required import (
    InputRequired,
    RequestStateCodec,
    missing_capability,
    read_round,
    required_capabilities,
)
from .jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    JsonRpcError,
    Message,
)
from .live import LiveWork, SecondFactor
from .outgoing import OutgoingRequests
from .over_budget import budget_exceeded_error, budget_exceeded_result
from .sessions import LOG_LEVELS, Session, SessionStore
from .stream_relay import SessionStreams
from .tasks import TaskStore, modern_wire

__all__ = [
    "LATEST_SESSION_VERSION",
    "LEGACY_SSE_VERSIONS",
    "MODERN_VERSIONS",
    "SESSION_VERSIONS",
    "TASKS_EXTENSION",
    "Exchange",
    "Protocol",
    "RequestCancelled",
]

logger = logging.getLogger(__name__)

MODERN_VERSIONS: Final = ("2026-07-28",)
SESSION_VERSIONS: Final = ("2025-11-25", "2025-06-18", "2025-03-26")
LEGACY_SSE_VERSIONS: Final = (*SESSION_VERSIONS, "2024-11-05")
LATEST_SESSION_VERSION: Final = "2025-11-25"

META_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES: Final = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO: Final = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL: Final = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO: Final = "io.modelcontextprotocol/serverInfo"
TASKS_EXTENSION: Final = "io.modelcontextprotocol/tasks"
# The extension's methods (tasks/result and tasks/list are 2025-11-25 only).
_MODERN_TASK_METHODS: Final = ("tasks/get", "tasks/update", "tasks/cancel")

SERVER_INFO: Final = {"name": "gumloop-mcp", "title": "Gumloop", "version": "0.1.0"}
INSTRUCTIONS: Final = (
    "Tools for one Gumloop workspace, limited to this URL's scope. List tools take `limit` "
    f"(1-{LIST_LIMIT_MAX} unless the tool gives another maximum) and `cursor`, and return `next_cursor`. "
    "Tools that start runs or sessions return at once; the matching get tool accepts `wait_seconds` to "
    "wait for completion."
)
# How long a client may reuse tools/list and server/discover results (2026-07-28 ttlMs).
LIST_TTL_MS: Final = 60_000
# Methods the stateless revision removed, with what a client should do instead.
_REMOVED_IN_MODERN: Final = {
    "initialize": "send it with params.protocolVersion and no 2026-07-28 _meta to open a 2025-11-25 session",
    "ping": "any request, e.g. server/discover, shows the server is up",
}
_TASKS_ONLY_IN_SESSIONS: Final = (
    "tasks are offered to 2025-11-25 sessions whose client declares the tasks capability, and to "
    f"2026-07-28 requests declaring the {TASKS_EXTENSION} extension (tasks/get, tasks/update, tasks/cancel)"
)
# Extra time a tool gets beyond the request deadline before the façade gives up on it.
_DEADLINE_SLACK_S: Final = 1.0
# Session versions whose clients may declare `elicitation` (2025-06-18 introduced it).
ELICITATION_VERSIONS: Final = ("2025-06-18", "2025-11-25")
# Time kept back from the call's deadline when waiting for the person's answer to an elicitation.
_ELICIT_MARGIN_S: Final = 5.0
# A session's notifications/cancelled for a request another replica runs (see `notification`).
_RELAYED_CANCEL: Final = "client-cancel"

Send = Callable[[dict[str, Any]], Awaitable[None]]


class RequestCancelled(Exception):
    """The client cancelled the request; no response is due."""


def _revoked(reason: str) -> JsonRpcError:
    """The answer to a call cut because its MCP server was revoked or expired (as the next request's 404)."""
    return JsonRpcError(INVALID_REQUEST, reason, http_status=404)


@dataclass(slots=True)
class Exchange:
    """Everything the protocol needs to know about one incoming message's context."""

    scope: ServerScope
    version: str
    modern: bool
    # Cancellation scope: session nonce, legacy SSE connection id, or one stateless request.
    conn_key: str
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    session: Session | None = None
    # Sink for notifications related to the request (SSE response stream); None drops them.
    send: Send | None = None
    # Logging level for notifications/message; None sends none.
    log_level: str | None = None
    # The URL token of the request (memory only): a revoked or expired token cuts its calls.
    token: str = field(default="", repr=False)
    # The second-factor API token (None when none was asked): revoking it cuts its calls.
    second_factor: SecondFactor | None = field(default=None, repr=False)
    # The message is one of a JSON-RPC batch: every request then takes from the call budget.
    batch: bool = False


@dataclass(slots=True)
class _Call:
    """One running tools/call: its task, context and why it was cut (None: not cut)."""

    task: asyncio.Task[dict[str, Any]]
    ctx: CallContext
    revoked: str | None = None

    def cancel(self) -> None:
        self.ctx.cancelled.set()
        self.task.cancel()

    def cut(self, reason: str) -> None:
        """The server was revoked or expired: cancel, and answer `reason` as an error."""
        self.revoked = reason
        self.cancel()


def tools_etag(tools: list[dict[str, Any]]) -> str:
    """A strong ETag of a tools list."""
    digest = hashlib.sha256(json.dumps(tools, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f'"{digest[:32]}"'


class Protocol:
    """Dispatches MCP requests and notifications to the toolbox and the utilities."""

    def __init__(
        self,
        settings: FacadeSettings,
        toolbox: Toolbox,
        sessions: SessionStore,
        state: FacadeState,
        *,
        metrics: FacadeMetrics | None = None,
        live: LiveWork | None = None,
    ) -> None:
        self._settings = settings
        self._toolbox = toolbox
        # Checked once: isinstance against a runtime-checkable Protocol costs ~7 us, every modern call asked.
        self._planner = toolbox if isinstance(toolbox, TaskPlanner) else None
        self.sessions = sessions
        self.state = state
        self._metrics = metrics
        self.live = live or LiveWork()
        self.tasks = TaskStore(state, self.live)
        self._request_state = RequestStateCodec(sessions.codec.derive("request-state"))
        self._inflight: dict[tuple[str, str], _Call] = {}
        # Server->client requests (elicitation/create) awaiting the client's response: see `response`.
        self.outgoing = OutgoingRequests(state)
        state.on_message(_RELAYED_CANCEL, self._on_relayed_cancel)
        # Where every finished tools/call is recorded (audit/; set by server.py). None: not recorded.
        self.audit: AuditRecorder | None = None
        # Prompts, completions and resources (features.py); None when the toolbox cannot name its tools.
        self.features: Features | None = None
        # Streamable HTTP sessions' GET streams and watches on other replicas (subscriptions).
        self.streams = SessionStreams(state)
        if isinstance(toolbox, OperationTools):
            self.features = Features(toolbox, self.live, poll_interval_s=settings.resource_poll_interval_s)
            self.streams.serve(self.features.subscriptions)

    # -- lifecycle results ---------------------------------------------------------------

    def capabilities(self, version: str, client_capabilities: dict[str, Any]) -> dict[str, Any]:
        """Server capabilities for a negotiated version."""
        caps: dict[str, Any] = {"tools": {"listChanged": False}}
        if version not in MODERN_VERSIONS:
            caps["logging"] = {}
        if version == "2025-11-25":
            caps["tasks"] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        if version in MODERN_VERSIONS:
            caps["extensions"] = {TASKS_EXTENSION: {}}
        if self.features is not None:
            caps.update(self.features.capabilities(version in MODERN_VERSIONS))
        return caps

    def negotiate(self, requested: Any, supported: tuple[str, ...]) -> str:
        """Echo a supported requested version, else offer the latest session version."""
        return requested if isinstance(requested, str) and requested in supported else LATEST_SESSION_VERSION

    def initialize_result(self, version: str, client_capabilities: dict[str, Any]) -> dict[str, Any]:
        """The InitializeResult."""
        return {
            "protocolVersion": version,
            "capabilities": self.capabilities(version, client_capabilities),
            "serverInfo": SERVER_INFO,
            "instructions": INSTRUCTIONS,
        }

    def discover_result(self) -> dict[str, Any]:
        """The server/discover result (2026-07-28), also naming the session versions."""
        return {
            "resultType": "complete",
            "supportedVersions": [*MODERN_VERSIONS, *SESSION_VERSIONS],
            "capabilities": self.capabilities(MODERN_VERSIONS[0], {}),
            "instructions": INSTRUCTIONS,
            "ttlMs": LIST_TTL_MS,
            "cacheScope": "private",
            "_meta": {META_SERVER_INFO: SERVER_INFO},
        }

    # -- dispatch ---------------------------------------------------------------------

    async def request(self, msg: Message, ex: Exchange) -> dict[str, Any]:
        """The result of a request, or JsonRpcError / RequestCancelled."""
        result = await self._dispatch(msg, ex)
        if ex.modern:
            result.setdefault("resultType", "complete")
        return result

    async def _charge(self, ex: Exchange) -> None:
        """Take one call from the server's budget, or raise the -32000 error saying when to retry."""
        per_minute = self._settings.calls_per_minute
        retry_after = await self.state.take_call(ex.scope.server_id, per_minute)
        if retry_after > 0:
            if self._metrics is not None:
                self._metrics.tripped("budget")
            raise budget_exceeded_error(retry_after, per_minute)

    async def _dispatch(self, msg: Message, ex: Exchange) -> dict[str, Any]:
        method, params = msg.method, msg.params
        # tools/call and tools/list take from the budget themselves; in a batch, so does every request.
        if ex.batch and method not in ("tools/call", "tools/list"):
            await self._charge(ex)
        if method == "ping" and not ex.modern:
            return {}  # 2026-07-28 removed ping: a modern ping falls through to 404 / -32601
        if method == "server/discover":
            return self.discover_result()
        if method == "tools/list":
            cursor = params.get("cursor")
            if cursor not in (None, ""):
                raise JsonRpcError(
                    INVALID_PARAMS, "Invalid cursor: tools/list returns every tool in one page"
                )
            await self._charge(ex)  # a whole catalog per request: not free to repeat without end
            try:
                tools = await self._toolbox.list_tools(ex.scope)
            except ToolsUnavailableError as exc:
                # No catalog yet and the proxy unreachable: a backend fault, said plainly, retryable.
                raise JsonRpcError(
                    INTERNAL_ERROR, f"Tools are unavailable right now: {exc}", http_status=503
                ) from exc
            if self._tasks_enabled(ex):
                tools = [{**tool, "execution": {"taskSupport": "optional"}} for tool in tools]
            result: dict[str, Any] = {"tools": tools}
            if ex.modern:
                result.update(ttlMs=LIST_TTL_MS, cacheScope="private")
            return result
        if method == "tools/call":
            return await self._call_tool(msg, ex)
        if method in FEATURE_METHODS and self.features is not None:
            result = await self.features.handle(method, params, ex, lambda: self._charge(ex))
            if ex.modern and method in CACHEABLE:
                result.update(ttlMs=LIST_TTL_MS, cacheScope="private")
            return result
        if method == "logging/setLevel" and not ex.modern:
            level = params.get("level")
            if level not in LOG_LEVELS:
                raise JsonRpcError(INVALID_PARAMS, f"Invalid level; use one of: {', '.join(LOG_LEVELS)}")
            if ex.session is not None:
                try:
                    await self.sessions.set_level(ex.session, str(level))
                except StateUnavailable:
                    raise JsonRpcError(
                        INTERNAL_ERROR, "The logging level could not be stored right now; retry later"
                    ) from None
            return {}
        if ex.modern and method in _MODERN_TASK_METHODS:
            return await self._modern_task_method(method, params, ex)
        if method.startswith("tasks/") and self._tasks_enabled(ex):
            return await self._task_method(method, params, ex)
        message = f"Method not found: {method}"
        if ex.modern and method in _REMOVED_IN_MODERN:
            message += f" ({method} was removed in {ex.version}; {_REMOVED_IN_MODERN[method]})"
        elif method.startswith("tasks/"):
            message += f" ({_TASKS_ONLY_IN_SESSIONS})"
        raise JsonRpcError(METHOD_NOT_FOUND, message, http_status=404 if ex.modern else None)

    async def notification(self, msg: Message, ex: Exchange) -> None:
        """Handle a notification (cancellation; the rest are acknowledged and ignored).

        A Streamable HTTP session's cancellation may reach a replica other than the one running the
        request (no session affinity): when nothing here runs it, it is broadcast to the replicas,
        and the one running it cancels it. (An HTTP+SSE POST is already relayed to its stream's
        replica.) Raises StateUnavailable when that broadcast cannot be sent."""
        if msg.method != "notifications/cancelled":
            return
        request_id = str(msg.params.get("requestId"))
        if self._cancel_inflight(ex.conn_key, request_id):
            return
        if ex.session is not None and ex.conn_key == ex.session.nonce:  # a Streamable HTTP session
            await self.state.broadcast({"kind": _RELAYED_CANCEL, "conn": ex.conn_key, "id": request_id})

    def _cancel_inflight(self, conn_key: str, request_id: str) -> bool:
        entry = self._inflight.get((conn_key, request_id))
        if entry is None:
            return False
        entry.cancel()
        logger.info("request cancelled by the client")
        return True

    def _on_relayed_cancel(self, message: dict[str, Any]) -> None:
        self._cancel_inflight(str(message.get("conn")), str(message.get("id")))

    def attach_stream(
        self, conn_key: str, send: Send, *, ends_watches: bool = False, announce_for: str | None = None
    ) -> Callable[[], None]:
        """A session's standing stream (Streamable HTTP GET, or the HTTP+SSE stream) opened: it carries
        the session's notifications/resources/updated. Returns the detach (see Subscriptions.attach).
        `announce_for` (the server id of a Streamable HTTP session's GET stream): other replicas send
        this session's updates here (stream_relay.py)."""
        if self.features is None:
            return lambda: None
        detach = self.features.subscriptions.attach(conn_key, send, ends_watches=ends_watches)
        if announce_for is None:
            return detach
        release = self.streams.announce(conn_key, announce_for)

        def detach_and_release() -> None:
            detach()
            release()

        return detach_and_release

    async def session_ended(self, conn_key: str) -> None:
        """A session was ended (DELETE): its resource watches end on every replica. Best effort: a
        watch the shared state could not reach ends when the session would have expired."""
        if self.features is None:
            return
        with contextlib.suppress(StateUnavailable):
            await self.features.subscriptions.end_session_anywhere(conn_key)

    async def response(self, msg: Message, conn_key: str) -> bool:
        """Route a client's JSON-RPC response to the server request awaiting it, on this replica or
        the one the request's id names (outgoing.py); False if none does. Raises StateUnavailable
        when it belongs to another replica and the shared state cannot carry it."""
        return await self.outgoing.deliver(conn_key, msg.id, msg.raw)

    def elicits(self, ex: Exchange) -> bool:
        """Whether calls of this exchange may ask the person (elicitation/create) when given a stream:
        the client declared form elicitation in a version that has it (never assumed otherwise)."""
        if ex.modern or ex.version not in ELICITATION_VERSIONS:
            return False
        declared = ex.client_capabilities.get("elicitation")
        if not isinstance(declared, dict):
            return False
        # 2025-11-25: {} means form only; a client listing modes must list form.
        return not declared or "form" in declared

    def _elicitor(
        self, ex: Exchange, ctx: CallContext
    ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        send = ex.send
        assert send is not None
        conn_key = ex.conn_key
        loop = asyncio.get_running_loop()

        async def elicit(params: dict[str, Any]) -> dict[str, Any]:
            request_id, future = self.outgoing.open(conn_key)
            timeout = ctx.deadline - _ELICIT_MARGIN_S - loop.time()
            try:
                if timeout <= 0:
                    raise ElicitationFailed("too little time was left in this call to ask")
                try:
                    await send(
                        {"jsonrpc": "2.0", "id": request_id, "method": "elicitation/create", "params": params}
                    )
                except (ConnectionResetError, OSError) as exc:
                    raise ElicitationFailed("the client's response stream is closed") from exc
                try:
                    async with asyncio.timeout(timeout):
                        reply = await future
                except TimeoutError:
                    raise ElicitationFailed(f"no answer within {timeout:.0f}s") from None
            finally:
                self.outgoing.close(conn_key, request_id)
            error = reply.get("error")
            if isinstance(error, dict):
                raise ElicitationFailed(
                    f"the client answered with an error: {str(error.get('message'))[:200]}"
                )
            result = reply.get("result")
            if not isinstance(result, dict) or result.get("action") not in ("accept", "decline", "cancel"):
                raise ElicitationFailed("the client's answer was not an elicitation result")
            return result

        return elicit

    def _tasks_enabled(self, ex: Exchange) -> bool:
        return ex.version == "2025-11-25" and bool(ex.client_capabilities.get("tasks") is not None)

    @staticmethod
    def _tasks_extension(ex: Exchange) -> bool:
        """The 2026-07-28 request declares io.modelcontextprotocol/tasks in its clientCapabilities."""
        extensions = ex.client_capabilities.get("extensions")
        return (
            ex.modern and isinstance(extensions, dict) and isinstance(extensions.get(TASKS_EXTENSION), dict)
        )

    async def _plan(
        self, ex: Exchange, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> TaskSupport:
        if not ex.modern or self._planner is None:
            return "forbidden"
        return await self._planner.plan_call(ex.scope, name, arguments, ctx)

    def _input_required(self, exc: InputRequired, ex: Exchange, target: str) -> dict[str, Any]:
        """The InputRequiredResult for a call that needs client input (-32021 without the capability)."""
        missing = required_capabilities(exc.requests, ex.client_capabilities)
        if missing:
            raise missing_capability(missing, f"this call needs the client's {', '.join(missing)}")
        if not ex.modern:
            raise JsonRpcError(
                INVALID_REQUEST,
                "This call needs input from the client, which this server asks for over protocol 2026-07-28",
            )
        return self._request_state.result(exc, target)

    # -- tools/call ----------------------------------------------------------------------

    async def _call_tool(self, msg: Message, ex: Exchange) -> dict[str, Any]:
        params = msg.params
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if not isinstance(name, str) or not name:
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: `name` must be a non-empty string")
        if not isinstance(arguments, dict):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: `arguments` must be an object")
        started = time.perf_counter()
        session = ex.session
        client = session.client_name if session else client_name_of(msg.meta.get(META_CLIENT_INFO))

        def observe(outcome: str, result: dict[str, Any] | None = None) -> None:
            self._observe(outcome, started)
            self._audit(ex, name, outcome, started, client, arguments, result)

        retry_after = await self.state.take_call(ex.scope.server_id, self._settings.calls_per_minute)
        if retry_after > 0:
            observe("budget")
            if self._metrics is not None:
                self._metrics.tripped("budget")
            return budget_exceeded_result(retry_after, self._settings.calls_per_minute)
        loop = asyncio.get_running_loop()
        ctx = CallContext(
            deadline=loop.time() + self._settings.request_deadline_s,
            request_id=str(msg.id),
            client_capabilities=ex.client_capabilities,
        )
        target = f"tools/call:{name}"
        if ex.modern:
            ctx.inputs = read_round(params, self._request_state, target)
            ctx.input_rounds = True
        try:
            support = await self._plan(ex, name, arguments, ctx)
        except InputRequired as exc:
            observe("input_required")
            return self._input_required(exc, ex, target)
        if support != "forbidden" and self._tasks_extension(ex):
            created = await self.tasks.start(
                ex.scope.server_id,
                None,
                ctx,
                lambda: self._run_tool(ex, name, arguments, ctx, in_task=True),
                second_factor=ex.second_factor,
                accepts_input=True,
                wire=lambda record: modern_wire(record, detailed=False),
                abandon=self._abandon(ex, name, arguments, ctx),
            )
            observe("task")
            return {**created, "resultType": "task"}
        if support == "required":
            raise missing_capability(
                {"extensions": {TASKS_EXTENSION: {}}},
                f"{name} runs only as a task; declare the {TASKS_EXTENSION} extension",
            )
        task_param = params.get("task")
        if isinstance(task_param, dict) and self._tasks_enabled(ex):
            task = await self.tasks.start(
                ex.scope.server_id,
                task_param.get("ttl"),
                ctx,
                lambda: self._run_tool(ex, name, arguments, ctx, in_task=True),
                second_factor=ex.second_factor,
            )
            observe("task")
            return {"task": task}
        self._wire_sinks(msg, ex, ctx)
        call = _Call(asyncio.create_task(self._run_tool(ex, name, arguments, ctx)), ctx)
        key = (ex.conn_key, str(msg.id))
        self._inflight[key] = call
        hold = self.live.hold(ex.scope.server_id, ex.token, call.cut, second_factor=ex.second_factor)
        try:
            result = await call.task
        except asyncio.CancelledError:
            if call.revoked is not None:
                observe("revoked")
                raise _revoked(call.revoked) from None
            if ctx.cancelled.is_set():
                observe("cancelled")
                raise RequestCancelled from None
            call.task.cancel()
            raise
        except UnknownToolError as exc:
            observe("unknown_tool")
            raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {exc.name}") from None
        except InputRequired as exc:
            observe("input_required")
            return self._input_required(exc, ex, target)
        except Exception:
            observe("error")
            raise
        finally:
            self._inflight.pop(key, None)
            self.live.release(hold)
        if call.revoked is not None:  # the tool finished anyway (it swallowed the cancellation)
            observe("revoked")
            raise _revoked(call.revoked)
        observe("tool_error" if result.get("isError") else "ok", result)
        return result

    async def _run_tool(
        self, ex: Exchange, name: str, arguments: dict[str, Any], ctx: CallContext, *, in_task: bool = False
    ) -> dict[str, Any]:
        if in_task:
            # A task outlives the request that created it: its call (and every input round of it)
            # runs until the task's expiry (TaskStore.start set ctx.deadline), not a request's deadline.
            ctx.in_task = True
            try:
                async with asyncio.timeout_at(ctx.deadline + _DEADLINE_SLACK_S):
                    return await self._toolbox.call_tool(ex.scope, name, arguments, ctx)
            except TimeoutError:
                text = "The task's time to live ran out before the call finished; start it again if needed."
                return {"content": [{"type": "text", "text": text}], "isError": True}
        timeout = self._settings.request_deadline_s + _DEADLINE_SLACK_S
        # asyncio.timeout rather than wait_for: the call already runs in its own task, and wait_for
        # (Python 3.11) would wrap it in a second one on every call.
        try:
            async with asyncio.timeout(timeout):
                return await self._toolbox.call_tool(ex.scope, name, arguments, ctx)
        except TimeoutError:
            limit = self._settings.request_deadline_s
            text = f"The call did not finish within {limit:.0f} seconds; try again later."
            return {"content": [{"type": "text", "text": text}], "isError": True}

    def _abandon(
        self, ex: Exchange, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> Callable[[], Awaitable[None]] | None:
        """What stops the Gumloop work of a task cancelled while parked on input (None: nothing can)."""
        toolbox = self._toolbox
        if not isinstance(toolbox, WorkCanceller):
            return None

        async def abandon() -> None:
            await toolbox.cancel_work(ex.scope, name, arguments, ctx)

        return abandon

    def _wire_sinks(self, msg: Message, ex: Exchange, ctx: CallContext) -> None:
        send = ex.send
        if send is None:
            return
        token = msg.meta.get("progressToken")
        if isinstance(token, (str, int)) and not isinstance(token, bool):
            last = [float("-inf")]

            async def progress(value: float, total: float | None = None, message: str | None = None) -> None:
                if value <= last[0]:
                    return  # progress must increase
                last[0] = value
                note: dict[str, Any] = {"progressToken": token, "progress": value}
                if total is not None:
                    note["total"] = total
                if message:
                    note["message"] = message
                await send({"jsonrpc": "2.0", "method": "notifications/progress", "params": note})

            ctx.progress = progress
        threshold = ex.log_level
        if threshold in LOG_LEVELS:
            floor = LOG_LEVELS.index(threshold)

            async def log(level: str, data: Any) -> None:
                if level in LOG_LEVELS and LOG_LEVELS.index(level) >= floor:
                    note = {"level": level, "logger": "gumloop", "data": data}
                    await send({"jsonrpc": "2.0", "method": "notifications/message", "params": note})

            ctx.log = log
        if self.elicits(ex):  # send is set: the call has a stream to carry the request
            ctx.elicit = self._elicitor(ex, ctx)
            ctx.elicit_form_mode = ex.version != "2025-06-18"

    def _observe(self, outcome: str, started: float) -> None:
        if self._metrics is not None:
            self._metrics.tool_calls.labels(outcome).observe(time.perf_counter() - started)

    def _audit(
        self,
        ex: Exchange,
        name: str,
        outcome: str,
        started: float,
        client: str,
        arguments: dict[str, Any],
        result: dict[str, Any] | None,
    ) -> None:
        """Queue the call's audit record (never waits; arguments/result only if the server opted in)."""
        if self.audit is not None:
            self.audit.tool_call(
                server_id=ex.scope.server_id,
                tool=name,
                outcome=outcome,
                latency_s=time.perf_counter() - started,
                client_name=client,
                protocol_version=ex.version,
                payloads=ex.scope.audit_payloads,
                arguments=arguments,
                result=result,
            )

    # -- tasks ---------------------------------------------------------------------------

    async def _modern_task_method(self, method: str, params: dict[str, Any], ex: Exchange) -> dict[str, Any]:
        """tasks/get, tasks/update and tasks/cancel of the io.modelcontextprotocol/tasks extension."""
        if not self._tasks_extension(ex):
            raise missing_capability(
                {"extensions": {TASKS_EXTENSION: {}}},
                f"{method} needs the {TASKS_EXTENSION} extension in the request's clientCapabilities",
            )
        server_id, task_id = ex.scope.server_id, params.get("taskId")
        if method == "tasks/get":
            return modern_wire(await self.tasks.record(server_id, task_id), detailed=True)
        if method == "tasks/update":
            responses = params.get("inputResponses")
            if not isinstance(responses, dict) or not all(isinstance(v, dict) for v in responses.values()):
                raise JsonRpcError(
                    INVALID_PARAMS,
                    "Invalid params: inputResponses must map input request ids to result objects",
                )
            await self.tasks.update(server_id, task_id, responses)
            return {}
        await self.tasks.cancel(server_id, task_id, ended_ok=True)
        return {}

    async def _task_method(self, method: str, params: dict[str, Any], ex: Exchange) -> dict[str, Any]:
        server_id = ex.scope.server_id
        if method == "tasks/get":
            return await self.tasks.get(server_id, params.get("taskId"))
        if method == "tasks/result":
            return await self.tasks.result(server_id, params.get("taskId"), self._settings.request_deadline_s)
        if method == "tasks/list":
            return {"tasks": await self.tasks.list(server_id)}
        if method == "tasks/cancel":
            return await self.tasks.cancel(server_id, params.get("taskId"))
        raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    async def close(self) -> None:
        """Cancel in-flight calls and tasks (after the shutdown grace)."""
        for call in list(self._inflight.values()):
            call.cancel()
        await self.tasks.close()
        if self.features is not None:
            await self.features.close()
        await self.streams.close()

    @property
    def inflight(self) -> int:
        """How many tools/call requests are running."""
        return len(self._inflight)
