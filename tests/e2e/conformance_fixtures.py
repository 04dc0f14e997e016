"""The conformance suite's own fixture tools, served by the real façade (protocol layer and transport).

Many scenarios of `@modelcontextprotocol/conformance` call tools every SDK's test server defines
(`greet`, `slow_compute`, `confirm_delete`, `test_missing_capability`, ...). A Gumloop server has
none of them, so against the demo stack those checks cannot run. `fixture_server()` starts the
façade exactly as production does (`create_server`: Streamable HTTP, the protocol, the task store,
input-required results) with `ConformanceToolbox` as its tool layer and a minimal token service
on 127.0.0.1, so the suite exercises our 2026-07-28 tasks extension, input-required results and
capability checks end to end. Only the tools are stand-ins; everything the suite judges is ours.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from gumloop_mcp.proxy.v1.proxy_service_pb2_grpc import ProxyServiceStub
from gumloop_mcp.tokens.v1.tokens_service_pb2_grpc import TokenServiceStub
from services.mcp_facade.contracts import CallContext, ServerScope, TaskSupport, UnknownToolError
from services.mcp_facade.protocol.input_required import InputRequired, elicitation
from services.mcp_facade.server import create_server
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.backends import Backends
from tests.fakes.token_service import FakeTokens

_CONFIRM = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}
_NAME = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
# name -> (task support, description)
TOOLS: dict[str, tuple[TaskSupport, str]] = {
    "greet": ("forbidden", "Returns Hello, {name}!"),
    "slow_compute": ("optional", "Sleeps `seconds` then answers."),
    "failing_job": ("required", "Ends with a tool execution error after about a second."),
    "protocol_error_job": ("optional", "Fails with a protocol error."),
    "confirm_delete": ("optional", "Asks for confirmation (elicitation) before deleting `filename`."),
    "multi_input": ("optional", "Asks two questions at once."),
    "test_tool_with_task": ("required", "Asks for user_name inline, then runs as a task."),
    "test_missing_capability": ("forbidden", "Needs sampling, which the client must declare."),
    "test_streaming_elicitation": ("forbidden", "Asks the user a question (elicitation)."),
    "test_logging_tool": ("forbidden", "Logs three messages, then answers."),
    "test_input_required_result_elicitation": ("forbidden", "Asks the user's name, then greets."),
    "test_input_required_result_sampling": ("forbidden", "Asks the client's model a question."),
    "test_input_required_result_list_roots": ("forbidden", "Asks for the client's roots."),
    "test_input_required_result_request_state": ("forbidden", "Asks to confirm, checking its state."),
    "test_input_required_result_multiple_inputs": ("forbidden", "Asks three things at once."),
    "test_input_required_result_multi_round": ("forbidden", "Asks two questions, one round each."),
    "test_input_required_result_capabilities": ("forbidden", "Asks only what the client declared."),
    "test_input_required_result_tampered_state": ("forbidden", "Asks to confirm with a sealed state."),
}
_OK = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
_SAMPLE = {
    "method": "sampling/createMessage",
    "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": "What is the capital of France?"}}],
        "maxTokens": 100,
    },
}
_GREETING = {
    "method": "sampling/createMessage",
    "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}],
        "maxTokens": 50,
    },
}
_ROOTS = {"method": "roots/list", "params": {}}


def _text(text: str, *, error: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if error:
        result["isError"] = True
    return result


def _answer(ctx: CallContext, key: str) -> dict[str, Any] | None:
    response = ctx.inputs.responses.get(key)
    return response if isinstance(response, dict) else None


class ConformanceToolbox:
    """The fixture tools (contracts.Toolbox and contracts.TaskPlanner)."""

    async def list_tools(self, scope: ServerScope) -> list[dict[str, Any]]:
        return [
            {"name": name, "description": description, "inputSchema": {"type": "object"}}
            for name, (_, description) in TOOLS.items()
        ]

    async def plan_call(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> TaskSupport:
        if name == "test_tool_with_task" and _answer(ctx, "user_name") is None:
            raise InputRequired({"user_name": elicitation("What is your name?", _NAME)}, state={"round": 1})
        return TOOLS[name][0] if name in TOOLS else "forbidden"

    async def call_tool(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        if name == "greet":
            return _text(f"Hello, {arguments.get('name', 'World')}!")
        if name == "slow_compute":
            await asyncio.sleep(float(arguments.get("seconds", 1)))
            return _text(f"computed {arguments.get('label', '')}")
        if name == "failing_job":
            await asyncio.sleep(1)
            return _text("the job failed", error=True)
        if name == "protocol_error_job":
            raise RuntimeError("the job crashed")
        if name == "confirm_delete":
            if _answer(ctx, "confirm") is None:
                raise InputRequired(
                    {"confirm": elicitation(f"Delete {arguments.get('filename')}?", _CONFIRM)}
                )
            return _text(f"deleted {arguments.get('filename')}")
        if name == "multi_input":
            missing = {
                key: elicitation(f"Question {key}", _NAME)
                for key in ("first", "second")
                if _answer(ctx, key) is None
            }
            if missing:
                raise InputRequired(missing)
            return _text("both answered")
        if name == "test_tool_with_task":
            answer = _answer(ctx, "user_name") or {}
            content = answer.get("content") if isinstance(answer.get("content"), dict) else {}
            return _text(f"Hello, {content.get('name') if content else 'nobody'}!")
        if name == "test_missing_capability":
            sampling = {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 10}}
            raise InputRequired({"sample": sampling})
        if name == "test_streaming_elicitation":
            if _answer(ctx, "question") is None:
                raise InputRequired({"question": elicitation("Continue?", _CONFIRM)})
            return _text("answered")
        if name.startswith("test_input_required_result_"):
            return self._input_required_result(name.removeprefix("test_input_required_result_"), ctx)
        if name == "test_logging_tool":
            for step in range(3):
                await ctx.log("info", f"step {step}")
            return _text("logged")
        raise UnknownToolError(name)

    @staticmethod
    def _input_required_result(kind: str, ctx: CallContext) -> dict[str, Any]:
        """The suite's input-required-result-* tools (SEP-2322), each as its scenario describes."""
        state = ctx.inputs.state if isinstance(ctx.inputs.state, dict) else {}
        if kind == "elicitation":
            answer = _answer(ctx, "user_name")
            if answer is None:
                raise InputRequired({"user_name": elicitation("What is your name?", _NAME)})
            return _text(f"Hello, {(answer.get('content') or {}).get('name')}!")
        if kind == "sampling":
            answer = _answer(ctx, "capital_question")
            if answer is None:
                raise InputRequired({"capital_question": _SAMPLE})
            return _text(f"The model said: {(answer.get('content') or {}).get('text')}")
        if kind == "list_roots":
            answer = _answer(ctx, "client_roots")
            if answer is None:
                raise InputRequired({"client_roots": _ROOTS})
            uris = [str(r.get("uri")) for r in answer.get("roots") or [] if isinstance(r, dict)]
            return _text(f"Roots: {', '.join(uris) or 'none'}")
        if kind in ("request_state", "tampered_state"):
            if _answer(ctx, "confirm") is None or state.get("asked") != kind:
                raise InputRequired({"confirm": elicitation("Please confirm", _OK)}, state={"asked": kind})
            return _text("state-ok: confirmed")
        if kind == "multiple_inputs":
            keys = {"user_name": elicitation("What is your name?", _NAME), "greeting": _GREETING}
            wanted = {**keys, "client_roots": _ROOTS}
            if any(_answer(ctx, key) is None for key in wanted) or state.get("asked") != kind:
                raise InputRequired(wanted, state={"asked": kind})
            return _text("all three answered")
        if kind == "multi_round":
            if state.get("round") == 2 and _answer(ctx, "step2") is not None:
                return _text(f"Both steps done for {state.get('name')}")
            step1 = _answer(ctx, "step1")
            if step1 is None:
                ask = elicitation("Step 1: What is your name?", _NAME)
                raise InputRequired({"step1": ask}, state={"round": 1})
            name = (step1.get("content") or {}).get("name")
            ask = elicitation(f"Step 2: {name}, confirm?", _OK)
            raise InputRequired({"step2": ask}, state={"round": 2, "name": name})
        if kind == "capabilities":
            declared = ctx.client_capabilities
            offered = {
                "user_name": (declared.get("elicitation"), elicitation("What is your name?", _NAME)),
                "capital_question": (declared.get("sampling"), _SAMPLE),
                "client_roots": (declared.get("roots"), _ROOTS),
            }
            wanted = {k: r for k, (capability, r) in offered.items() if isinstance(capability, dict)}
            if wanted and any(_answer(ctx, key) is None for key in wanted):
                raise InputRequired(wanted)
            return _text(f"answered: {', '.join(sorted(wanted)) or 'nothing could be asked'}")
        raise UnknownToolError(f"test_input_required_result_{kind}")


@contextmanager
def fixture_server() -> Iterator[str]:
    """The façade with the fixture tools on a loopback port, in a thread of its own; its MCP URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    tokens = FakeTokens()
    token = tokens.add_server("mcp_conformance", name="conformance fixtures")

    async def start() -> tuple[Any, ...]:
        grpc_server, port = await tokens.serve()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        backends = Backends(TokenServiceStub(channel), ProxyServiceStub(channel), {"tokens": channel})
        settings = FacadeSettings(port=0, admin_port=0, session_secret="conformance-fixtures")
        server = await create_server(settings, backends=backends, toolbox=ConformanceToolbox())
        await asyncio.wait_for(server.resolver.watch_live.wait(), 10)
        return server, channel, grpc_server

    server, channel, grpc_server = asyncio.run_coroutine_threadsafe(start(), loop).result(30)

    async def stop() -> None:
        await server.close()
        await channel.close()
        await grpc_server.stop(None)

    try:
        yield f"http://127.0.0.1:{server.public_port}/mcp/{token}"
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
