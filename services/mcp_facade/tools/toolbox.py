"""The tool layer: Gumloop operations as MCP tools, run through the proxy.

`GumloopToolbox` implements `contracts.Toolbox`. It lists the tools a scope admits (or the three
discovery tools), validates arguments against the tool's schema before any RPC, and runs a call
by its shape: list tools page (`pagination`), status tools may wait (`waits`), the artifact tool
reads decoded content (`artifacts`), streaming operations are folded (`streams`), everything
else is one InvokeOperation. Every RPC carries the time left until the call's deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Final

import grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.runtime import json_dumps, json_loads
from gumloop_mcp.scope import tool_list_tokens

from ..contracts import CallContext, ElicitationFailed, ServerScope, TaskSupport, UnknownToolError
from ..settings import FacadeSettings
from .approvals import (
    PauseHelp,
    answer_from,
    answered_before,
    asks_inline,
    elicitation_request,
    inline_replies,
    paused_report,
    pending_items,
    round_state,
    started_work,
)
from .artifacts import READERS, Reader, content_result
from .catalog import CatalogCache, CatalogUnavailableError, Tool
from .discovery import META_TOOLS, search
from .pagination import page_request, page_result
from .results import conform, json_result
from .scope_filter import admits
from .streams import StreamFold
from .tool_errors import ToolFailure, error_result, failure_result, rpc_error_result
from .validation import validate
from .waits import DEADLINE_MARGIN_S, FIRST_INTERVAL_S, dotted, is_paused, wait_for_work

__all__ = ["GumloopToolbox"]

logger = logging.getLogger(__name__)

_MIN_RPC_TIMEOUT_S: Final = 0.5
_STREAM_MARGIN_S: Final = 2.0
_META_NAMES: Final = frozenset(t["name"] for t in META_TOOLS)
# Distinct (methods, tags) scopes whose tool sets are kept per catalog.
_MAX_SCOPES_CACHED: Final = 256
# Pending items asked about in one elicitation round (each is one question to the person).
_MAX_ASKED: Final = 5
# How long cancelling the Gumloop work of a cancelled task may take.
_CANCEL_TIMEOUT_S: Final = 10.0


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


class GumloopToolbox:
    """MCP tools generated from the proxy's operation catalog (implements contracts.Toolbox)."""

    def __init__(
        self,
        proxy: ProxyServiceStub,
        settings: FacadeSettings,
        *,
        clock: Callable[[], float] | None = None,
        catalog_ttl_s: float = 60.0,
        first_poll_interval_s: float = FIRST_INTERVAL_S,
    ) -> None:
        self._proxy = proxy
        self._settings = settings
        self._loop_clock = clock
        self._first_poll = first_poll_interval_s
        # Every call ends at request_deadline_s, so a longer wait could never be honoured: advertise
        # (and use) the wait that fits, keeping a margin for the answer to travel back.
        self._max_wait = max(
            1.0, min(settings.max_wait_seconds, settings.request_deadline_s - DEADLINE_MARGIN_S)
        )
        self._catalog = CatalogCache(proxy, self._max_wait, ttl_s=catalog_ttl_s)
        self._scoped_from: dict[str, Tool] | None = None
        self._scoped_cache: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, Tool]] = {}
        # the estimated model tokens of each cached scope's full tool list (same keys)
        self._scoped_tokens: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}

    @property
    def catalog_version(self) -> str:
        """The version of the catalog the tools were built from ("" before the first fetch)."""
        return self._catalog.version

    def _now(self) -> float:
        return self._loop_clock() if self._loop_clock is not None else asyncio.get_running_loop().time()

    async def _scoped(self, scope: ServerScope) -> dict[str, Tool]:
        """The tools `scope` admits; read-only (shared between calls of the same scope)."""
        tools = await self._catalog.tools()
        # Filtering the whole catalog per call was the façade's largest own cost on a tool call; the
        # answer depends only on the catalog (replaced, never mutated, when it changes) and the scope's
        # methods and tags.
        if tools is not self._scoped_from:
            self._scoped_from = tools
            self._scoped_cache = {}
            self._scoped_tokens = {}
        key = (tuple(scope.methods), tuple(scope.tags))
        found = self._scoped_cache.get(key)
        if found is None:
            found = {name: tool for name, tool in tools.items() if admits(scope, tool.operation)}
            if len(self._scoped_cache) >= _MAX_SCOPES_CACHED:
                self._scoped_cache.clear()
                self._scoped_tokens.clear()
            self._scoped_cache[key] = found
            self._scoped_tokens[key] = tool_list_tokens(t.listed for t in found.values())
        return found

    async def exposure(self, scope: ServerScope) -> str:
        """ "full" or "discovery": the record's choice, else the façade's default; "auto" is full while
        the scope's full tool list (estimated model tokens) fits the budget, discovery above it.

        Raises:
            CatalogUnavailableError: "auto" must size the list and no catalog was fetched yet.
        """
        mode = scope.tool_exposure or self._settings.tool_exposure
        if mode in ("full", "all"):
            return "full"
        if mode == "discovery":
            return "discovery"
        budget = scope.context_budget_tokens or self._settings.context_budget_tokens
        await self._scoped(scope)
        cost = self._scoped_tokens.get((tuple(scope.methods), tuple(scope.tags)), 0)
        return "discovery" if cost > budget else "full"

    async def _discovery(self, scope: ServerScope, name: str | None = None) -> bool:
        """Whether the meta tools serve `scope` (and, given a name, whether it is one of them)."""
        if name is not None and name not in _META_NAMES:
            return False
        try:
            return await self.exposure(scope) == "discovery"
        except CatalogUnavailableError:
            return False

    async def list_tools(self, scope: ServerScope) -> list[dict[str, Any]]:
        """The tools `scope` admits, in catalog order (or the discovery tools).

        Raises:
            CatalogUnavailableError: the proxy is unreachable and no catalog was fetched yet.
        """
        if await self.exposure(scope) == "discovery":
            return [json.loads(json.dumps(t)) for t in META_TOOLS]
        return [json.loads(json.dumps(t.listed)) for t in (await self._scoped(scope)).values()]

    async def operation_tools(self, scope: ServerScope) -> dict[str, str]:
        """contracts.OperationTools: operation name -> tool name for what `scope` admits.

        Raises:
            CatalogUnavailableError: the proxy is unreachable and no catalog was fetched yet.
        """
        return {tool.operation.name: name for name, tool in (await self._scoped(scope)).items()}

    async def tool_for(self, scope: ServerScope, name: str) -> dict[str, Any] | None:
        """The definition of tool `name` if `scope` admits it, else None."""
        if await self._discovery(scope, name):
            return next(dict(t) for t in META_TOOLS if t["name"] == name)
        try:
            tool = (await self._scoped(scope)).get(name)
        except CatalogUnavailableError:
            return None
        return json.loads(json.dumps(tool.listed)) if tool is not None else None

    async def plan_call(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> TaskSupport:
        """contracts.TaskPlanner: calls that start Gumloop work (catalog `async_work`), and status calls
        that wait (`wait_seconds` > 0), may run as 2026-07-28 tasks; every other call answers directly."""
        try:
            tool = (await self._scoped(scope)).get(name)
        except CatalogUnavailableError:
            return "forbidden"
        if tool is None:
            return "forbidden"
        waits = tool.waits and tool.work is not None and _positive(arguments.get("wait_seconds"))
        return "optional" if tool.operation.starts_async_work or waits else "forbidden"

    async def call_tool(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        """Run tool `name` for `scope`; failures other than an unknown tool come back as isError results.

        Raises:
            UnknownToolError: the name is unknown or outside the scope.
        """
        if await self._discovery(scope, name):
            return await self._call_meta(scope, name, arguments or {}, ctx)
        try:
            tools = await self._scoped(scope)
        except CatalogUnavailableError as exc:
            return error_result(str(exc))
        tool = tools.get(name)
        if tool is None:
            raise UnknownToolError(name)
        arguments = dict(arguments or {})
        try:
            validate(tool.definition["inputSchema"], arguments)
            return await self._run(scope, tool, arguments, ctx)
        except ToolFailure as failure:
            return failure_result(failure)
        except grpc.aio.AioRpcError as err:
            logger.info("tool %s failed upstream: %s", name, err.code())
            return rpc_error_result(err, tool=name, arguments=arguments)

    async def _call_meta(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        meta = next(t for t in META_TOOLS if t["name"] == name)
        try:
            validate(meta["inputSchema"], arguments)
            tools = await self._scoped(scope)
        except ToolFailure as failure:
            return failure_result(failure)
        except CatalogUnavailableError as exc:
            return error_result(str(exc))
        if name == "search_tools":
            found = search(
                # the full definitions: their titles are words to match, though tools/list omits them
                (t.definition for t in tools.values()),
                str(arguments.get("query", "")),
                int(arguments.get("limit", 20)),
            )
            return json_result(
                {"tools": found}, max_result_chars=self._settings.max_result_chars, structured=True
            )
        target = str(arguments["name"])
        if name == "get_tool_schema":
            if target not in tools:
                return error_result(f"No tool named {target!r}; use search_tools to find one.")
            return json_result(
                tools[target].listed, max_result_chars=self._settings.max_result_chars, structured=True
            )
        if target not in tools:
            return error_result(f"No tool named {target!r}; use search_tools to find one.")
        inner = arguments.get("arguments") or {}
        return await self.call_tool(scope, target, inner if isinstance(inner, dict) else {}, ctx)

    # -- running one call -------------------------------------------------------------------------

    def _timeout(self, ctx: CallContext) -> float:
        remaining = ctx.deadline - self._now()
        if remaining <= _MIN_RPC_TIMEOUT_S:
            raise ToolFailure("The call ran out of time before reaching Gumloop; try again.")
        # A task's deadline is its expiry (hours away): one RPC still gets no more than a request would.
        return min(remaining, self._settings.request_deadline_s)

    async def _invoke(
        self, scope: ServerScope, operation: str, args: dict[str, Any], ctx: CallContext
    ) -> Any:
        """InvokeOperation; the decoded JSON body (or the response when the body is not JSON)."""
        response = await self._proxy.InvokeOperation(
            pb.InvokeOperationRequest(
                account_id=scope.account_id, operation=operation, arguments_json=json_dumps(args)
            ),
            timeout=self._timeout(ctx),
        )
        if response.body_json:
            try:
                return json_loads(response.body_json)
            except ValueError:
                return response.body_json
        if response.HasField("content"):
            return response
        return {}

    async def _run(
        self, scope: ServerScope, tool: Tool, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        op = tool.operation
        cap = self._settings.max_result_chars
        reader = READERS.get(op.name)
        if reader is not None:
            return await self._read_content(scope, tool, reader, args, ctx)
        if op.streams and (op.name != "create_chat_completion" or args.get("stream") is True):
            return await self._stream(scope, tool, args, ctx)
        if tool.kind == "list":
            request = page_request(op, args)
            body = await self._invoke(scope, op.name, request.upstream_arguments, ctx)
            page, shrunk = page_result(op, request, body, cap)
            note = ""
            if shrunk:
                note = (
                    "The page was shortened to fit the size limit; pass next_cursor as cursor for the rest."
                )
            elif page["next_cursor"]:
                note = "More items exist: pass next_cursor as cursor to get the next page."
            schema = tool.definition.get("outputSchema")
            return json_result(page, max_result_chars=cap, structured=True, note=note, schema=schema)
        if tool.waits and tool.work is not None:
            return await self._status(scope, tool, args, ctx)
        if op.starts_async_work and ctx.in_task:
            return await self._follow(scope, tool, args, ctx)
        if op.has_dynamic_inputs and isinstance(args.get("saved_item_id"), str):
            await self._check_flow_inputs(scope, args, ctx)
        body = await self._invoke(scope, op.name, args, ctx)
        note = self._async_note(tool, body) if op.starts_async_work else ""
        return self._body_result(tool, body, note)

    def _body_result(self, tool: Tool, body: Any, note: str = "") -> dict[str, Any]:
        """JSON bodies as bounded JSON results; decoded non-JSON bodies (CSV, files) as content."""
        cap = self._settings.max_result_chars
        if isinstance(body, pb.InvokeOperationResponse):
            result = content_result(
                body.content,
                max_result_chars=cap,
                next_call="use the download link or a narrower request for the rest (from {offset})",
            )
            if note:
                result["content"].append({"type": "text", "text": note})
            # A tool documented as JSON may answer with a file (e.g. a CSV export): its summary must
            # still satisfy the declared outputSchema.
            schema = tool.definition.get("outputSchema")
            if schema is not None:
                result["structuredContent"] = conform(result["structuredContent"], schema)
            return result
        structured = "outputSchema" in tool.definition
        schema = tool.definition.get("outputSchema")
        return json_result(body, max_result_chars=cap, structured=structured, note=note, schema=schema)

    def _async_note(self, tool: Tool, body: Any) -> str:
        work = tool.operation.async_work
        work_id = dotted(body, work.id_field)
        # The start answer often carries the state at the same path as the status answer.
        state = dotted(body, work.state_field) or "started"
        tools = self._catalog.cached()
        status = next((t.name for t in tools.values() if t.operation.name == work.status_operation), None)
        if status is None or work_id is None:
            return "The work was started and finishes later."
        return (
            f"Started ({work.id_field}={work_id!s}, state={state}). It finishes later: call {status} with "
            f"{work.status_id_parameter}={work_id!s} and wait_seconds "
            f"(up to {self._max_wait:g}) to wait for the result."
        )

    async def _follow(
        self, scope: ServerScope, tool: Tool, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        """A call that starts Gumloop work, run as a task: start it (once: a later input round finds
        its id in the sealed state), then follow it with the status tool until it ends, pauses
        unanswered, or the task expires; a cancelled task cancels the work where the catalog can."""
        work = tool.operation.async_work
        scoped = await self._scoped(scope)
        status = next((t for t in scoped.values() if t.operation.name == work.status_operation), None)
        work_id: Any = started_work(ctx.inputs.state)
        body: Any = {work.id_field: work_id} if "." not in work.id_field else {}
        if work_id is None:
            if tool.operation.has_dynamic_inputs and isinstance(args.get("saved_item_id"), str):
                await self._check_flow_inputs(scope, args, ctx)
            body = await self._invoke(scope, tool.operation.name, args, ctx)
            work_id = dotted(body, work.id_field)
            if status is None or status.work is None or work_id is None:
                return self._body_result(tool, body, self._async_note(tool, body))
        elif status is None or status.work is None:
            raise ToolFailure("The status tool of this work is no longer in this server's scope.")
        follow = {work.status_id_parameter: work_id}
        try:
            result = await self._status(scope, status, follow, ctx, started=True)
        except asyncio.CancelledError:
            if ctx.cancelled.is_set():  # the task was cancelled (not the server shutting down)
                await self._cancel_work(scope, work, work_id)
            raise
        if ctx.cancelled.is_set():  # the wait saw the cancellation first and returned
            await self._cancel_work(scope, work, work_id)
            raise asyncio.CancelledError
        # The task is this tool's call: its structuredContent keeps to this tool's outputSchema (the
        # start answer's members, updated by the last status answer).
        schema = tool.definition.get("outputSchema")
        structured = result.get("structuredContent")
        if schema is not None and isinstance(structured, dict):
            start = body if isinstance(body, dict) else {}
            result["structuredContent"] = conform({**start, **structured}, schema)
        return result

    async def cancel_work(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> None:
        """contracts.WorkCanceller: a task of a call that started Gumloop work was cancelled while parked
        on input; stop that work (its id is in the sealed state). A status wait's task stops only the
        wait: the work it watched was not its own."""
        try:
            tool = (await self._scoped(scope)).get(name)
        except CatalogUnavailableError:
            return
        work_id = started_work(ctx.inputs.state)
        if tool is not None and tool.operation.starts_async_work and work_id is not None:
            await self._cancel_work(scope, tool.operation.async_work, work_id)

    async def _cancel_work(self, scope: ServerScope, work: pb.AsyncWork, work_id: Any) -> None:
        """Cancel the Gumloop work a cancelled task held, when the catalog names a cancel operation the
        scope admits (logged, never raised: the task ends cancelled either way)."""
        if not work.cancel_operation:
            return
        scoped = await self._scoped(scope)
        if not any(t.operation.name == work.cancel_operation for t in scoped.values()):
            return
        request = pb.InvokeOperationRequest(
            account_id=scope.account_id,
            operation=work.cancel_operation,
            arguments_json=json.dumps({work.status_id_parameter: work_id}),
        )
        try:
            await self._proxy.InvokeOperation(request, timeout=_CANCEL_TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            logger.warning("cancelling the work of a cancelled task failed: %s", err.code())

    async def _status(
        self,
        scope: ServerScope,
        tool: Tool,
        args: dict[str, Any],
        ctx: CallContext,
        *,
        started: bool = False,
    ) -> dict[str, Any]:
        """A status call; with wait_seconds (or in a task: until the work ends) it waits.

        `started`: this call started the work (its id goes into the sealed state of an input round)."""
        assert tool.work is not None
        work = tool.work
        wait = min(float(args.pop("wait_seconds", 0) or 0), self._max_wait)
        if ctx.in_task:  # a task holds the work until it ends or the task expires
            wait = max(0.0, ctx.deadline - self._now())

        async def poll() -> Any:
            return await self._invoke(scope, tool.operation.name, args, ctx)

        if wait <= 0:
            body = await poll()
            state = dotted(body, work.state_field)
            if is_paused(work, state):
                return await self._paused_result(scope, tool, args, body, state)
            return self._body_result(tool, body)
        began = self._now()
        said: list[str] = []
        answered = answered_before(ctx.inputs.state)
        while True:
            left = max(0.01, wait - (self._now() - began))
            outcome = await wait_for_work(
                poll, work, left, ctx, clock=self._now, first_interval=self._first_poll
            )
            if outcome.reason != "paused":
                break
            asked = await self._ask_person(scope, tool, args, outcome.body, ctx, answered, started=started)
            if asked is None:
                break
            resolved, sentence = asked
            said.append(sentence)
            if not resolved:
                break
        waited = self._now() - began
        if outcome.reason == "paused":
            return await self._paused_result(scope, tool, args, outcome.body, outcome.state, " ".join(said))
        if outcome.reason == "terminal":
            note = f"The work finished with state {outcome.state}."
        else:
            why = {"cancelled": "the call was cancelled", "deadline": "the call's time limit was near"}.get(
                outcome.reason, "the wait was up"
            )
            note = (
                f"Still running (state {outcome.state}) after waiting {waited:.0f}s; "
                f"stopped because {why}. "
                f"Call {tool.name} again with wait_seconds to keep waiting."
            )
        return self._body_result(tool, outcome.body, " ".join([*said, note]))

    # -- work paused for a human ------------------------------------------------------------------

    async def _pause_help(self, scope: ServerScope, tool: Tool) -> PauseHelp:
        """The tools of `scope` that answer or resume the work `tool` reads (from the cached catalog)."""
        assert tool.work is not None
        work = tool.work
        scoped = await self._scoped(scope)
        answer = next((t.name for t in scoped.values() if t.operation.name == work.answer_operation), None)
        resume = next(
            (t.name for t in scoped.values() if t.operation.name == (work.resume_operation or None)),
            None,
        )
        return PauseHelp(status_tool=tool.name, answer_tool=answer, resume_tool=resume)

    async def _paused_result(
        self, scope: ServerScope, tool: Tool, args: dict[str, Any], body: Any, state: Any, outcome: str = ""
    ) -> dict[str, Any]:
        assert tool.work is not None
        work_id = args.get(tool.work.status_id_parameter)
        note, waiting = paused_report(
            tool.work, body, state, work_id, await self._pause_help(scope, tool), outcome=outcome
        )
        if isinstance(body, dict):
            body = {**body, "waiting_for_human": waiting}
        return self._body_result(tool, body, note)

    async def _ask_person(
        self,
        scope: ServerScope,
        tool: Tool,
        args: dict[str, Any],
        body: Any,
        ctx: CallContext,
        answered: set[str],
        *,
        started: bool = False,
    ) -> tuple[bool, str] | None:
        """Ask the person at the client about a paused work and resolve it with their answer.

        Asked through `ctx.elicit` (a server request on a session's stream) or, where the call may carry
        input rounds (2026-07-28), through an input-required round (raises InputRequired until this
        round's input responses hold the replies). None when nobody can be asked (no elicitation
        declared, the answer tool is out of scope, nothing new is pending); else (resolved, a sentence
        saying what happened). A declined or cancelled question resolves nothing: the work stays paused.
        """
        assert tool.work is not None
        work = tool.work
        help_ = await self._pause_help(scope, tool)
        elicit = ctx.elicit
        if help_.answer_tool is None or (elicit is None and not asks_inline(ctx)):
            return None
        items = [i for i in pending_items(work, body) if str(i.get("action_request_id")) not in answered]
        if not items:
            return None
        items = items[:_MAX_ASKED]
        work_id = args.get(work.status_id_parameter)
        label = f"Gumloop {tool.operation.resource.replace('_', ' ')} {work_id}"
        inline: list[Any] = []
        if elicit is None:
            state = round_state(work_id, answered, started=started)
            inline = inline_replies(items, label, ctx.inputs.responses, state)
        answers: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                if elicit is None:
                    reply = inline[index]
                else:
                    reply = await elicit(elicitation_request(item, label, form_mode=ctx.elicit_form_mode))
                answer = answer_from(item, reply)
            except ElicitationFailed as exc:
                return False, f"The person could not be asked ({exc}); nothing was answered."
            except ValueError as exc:
                return False, f"The person's answer could not be used ({exc}); nothing was answered."
            if answer is None:
                action = reply.get("action") if isinstance(reply, dict) else None
                verb = "cancelled" if action == "cancel" else "declined"
                return (
                    False,
                    f"The person {verb} the question; nothing was answered, so the work stays paused.",
                )
            answers.append(answer)
        arguments = {work.status_id_parameter: work_id, work.answer_parameter: answers}
        answer_tool = (await self._scoped(scope))[help_.answer_tool]
        try:
            validate(answer_tool.definition["inputSchema"], arguments)
            await self._invoke(scope, work.answer_operation, arguments, ctx)
        except ToolFailure as failure:
            return False, f"Sending the person's answer failed: {failure.message}"
        except grpc.aio.AioRpcError as err:
            return False, f"Sending the person's answer failed upstream ({err.code().name}: {err.details()})."
        answered.update(str(a["action_request_id"]) for a in answers)
        decided = ", ".join(f"{a['action_request_id']} {a['action']}" for a in answers)
        return True, f"The person answered through the client ({decided}) with {help_.answer_tool}."

    async def _check_flow_inputs(self, scope: ServerScope, args: dict[str, Any], ctx: CallContext) -> None:
        inputs = args.get("pipeline_inputs")
        response = await self._proxy.GetFlowInputSchema(
            pb.GetFlowInputSchemaRequest(
                account_id=scope.account_id, saved_item_id=str(args["saved_item_id"])
            ),
            timeout=self._timeout(ctx),
        )
        try:
            schema = json.loads(response.schema_json) if response.schema_json else None
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            return
        if isinstance(inputs, list):
            as_object = {
                str(i.get("input_name")): i.get("value")
                for i in inputs
                if isinstance(i, dict) and "input_name" in i
            }
        elif inputs is None:
            as_object = {}
        else:
            as_object = inputs
        validate(schema, as_object, prefix="pipeline_inputs")

    async def _read_content(
        self, scope: ServerScope, tool: Tool, reader: Reader, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        """A reader tool (artifacts.READERS): the proxy downloads the signed link and decodes it."""
        cap = self._settings.max_result_chars
        ident = str(args[reader.id_param])
        request = reader.request(
            account_id=scope.account_id,
            version_id=str(args.get("version_id") or ""),
            offset=int(args.get("offset") or 0),
            limit=min(int(args.get("limit") or 20_000), cap - 2_000),
        )
        setattr(request, reader.id_param, ident)
        response = await getattr(self._proxy, reader.rpc)(request, timeout=self._timeout(ctx))
        return content_result(
            response.content,
            max_result_chars=cap,
            next_call=f"call {tool.name} with {reader.id_param}={ident!r} and offset={{offset}}",
            extra={
                reader.id_param: getattr(response, reader.id_param) or ident,
                "version_id": response.version_id or None,
            },
        )

    async def _stream(
        self, scope: ServerScope, tool: Tool, args: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        fold = StreamFold(ctx.progress)
        call = self._proxy.StreamOperation(
            pb.StreamOperationRequest(
                account_id=scope.account_id, operation=tool.operation.name, arguments_json=json_dumps(args)
            ),
            # End the relay a little before the caller's deadline so the partial result still gets back.
            timeout=max(_MIN_RPC_TIMEOUT_S, self._timeout(ctx) - _STREAM_MARGIN_S),
        )
        stopped = False
        try:
            async for message in call:
                part = message.WhichOneof("part")
                if part == "start":
                    fold.http_status = message.start.http_status
                elif part == "event":
                    await fold.event(message.event.event, message.event.data)
                if ctx.cancelled.is_set() or self._now() > ctx.deadline - _STREAM_MARGIN_S:
                    call.cancel()
                    stopped = True
                    break
        except grpc.aio.AioRpcError as err:
            # Out of time mid-stream: what arrived is still worth returning; no events is a plain failure.
            if fold.count == 0 or err.code() not in (
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED,
            ):
                raise
            stopped = True
        cap = self._settings.max_result_chars
        chat = tool.operation.name == "create_chat_completion"
        body = fold.chat_result() if chat else fold.events_result()
        note = (
            "The stream was stopped early (cancelled or out of time); the result is partial."
            if stopped
            else ""
        )
        if chat:
            text = body["content"] or "(no content)"
            result = json_result(body, max_result_chars=cap, structured=False, note=note)
            result["content"].insert(0, {"type": "text", "text": text[: cap // 3]})
            return result
        return json_result(body, max_result_chars=cap, structured=False, note=note)
