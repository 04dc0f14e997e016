"""tools/call under the request deadline: a tool that never answers ends as a tool error, not a hang."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import SecretStr

from services.mcp_facade.contracts import CallContext, ServerScope
from services.mcp_facade.protocol.jsonrpc import parse_message
from services.mcp_facade.protocol.protocol import Exchange, Protocol
from services.mcp_facade.protocol.sessions import SessionCodec, SessionStore
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.state.state import MemoryState

SCOPE = ServerScope(server_id="srv_1", account_id="acc_1", name="test")


class _Toolbox:
    """A toolbox whose `hang` tool never returns and whose `echo` tool answers at once."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def list_tools(self, scope: ServerScope) -> list[dict[str, Any]]:
        return []

    async def tool_for(self, scope: ServerScope, name: str) -> dict[str, Any] | None:
        return None

    async def call_tool(
        self, scope: ServerScope, name: str, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        if name == "echo":
            return {"content": [{"type": "text", "text": str(arguments)}]}
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


def _protocol(toolbox: _Toolbox, deadline_s: float) -> Protocol:
    settings = FacadeSettings(request_deadline_s=deadline_s, session_secret=SecretStr("s" * 32))
    state = MemoryState()
    return Protocol(settings, toolbox, SessionStore(SessionCodec(b"s" * 32, 60), state), state)  # type: ignore[arg-type]


def _call(name: str) -> Any:
    return parse_message(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {"a": 1}}}
    )


async def test_a_tool_past_the_request_deadline_is_cancelled_and_answered_as_a_tool_error() -> None:
    """The call is cancelled after the deadline (plus slack) and the model reads why."""
    toolbox = _Toolbox()
    protocol = _protocol(toolbox, deadline_s=0.05)
    exchange = Exchange(scope=SCOPE, version="2026-07-28", modern=True, conn_key="c")
    result = await asyncio.wait_for(protocol.request(_call("hang"), exchange), 10)
    assert result["isError"] is True
    assert "did not finish within" in result["content"][0]["text"]
    assert toolbox.cancelled.is_set()
    assert protocol.inflight == 0


async def test_a_tool_within_the_deadline_answers_normally() -> None:
    """A quick tool's result passes through unchanged (with the modern resultType)."""
    protocol = _protocol(_Toolbox(), deadline_s=30)
    exchange = Exchange(scope=SCOPE, version="2026-07-28", modern=True, conn_key="c")
    result = await protocol.request(_call("echo"), exchange)
    assert result == {"content": [{"type": "text", "text": "{'a': 1}"}], "resultType": "complete"}
