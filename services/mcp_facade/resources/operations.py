"""Reading Gumloop for prompts, completions and resources: through `Toolbox.call_tool`, the same path
(argument checks, proxy RPC, deadlines, result shaping) and the same server scope as a model's tool call.

Operations are named by their catalog name (`get_pl_run`); `OperationTools` says which tool serves it
in a scope, so an operation outside the scope is simply absent, never called.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any, Final, Protocol

from ..contracts import CallContext, OperationTools, ServerScope, Toolbox, UnknownToolError
from .errors import ResourceNotFound, UpstreamFailed

__all__ = ["OperationCaller", "OperationToolbox", "result_json"]

# Deadline of one read made for a prompt, completion or resource (never a wait).
DEFAULT_TIMEOUT_S: Final = 20.0


class OperationToolbox(Toolbox, OperationTools, Protocol):
    """A Toolbox that also maps catalog operations to its tools (tools/toolbox.GumloopToolbox)."""


def result_json(result: dict[str, Any]) -> Any:
    """The JSON body of a CallToolResult: structuredContent, else its first text block parsed."""
    structured = result.get("structuredContent")
    if structured is not None:
        return structured
    for block in result.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            try:
                return json.loads(str(block.get("text")))
            except ValueError:
                return block.get("text")
    return None


def _error_text(result: dict[str, Any]) -> str:
    texts = [str(b.get("text")) for b in result.get("content") or [] if isinstance(b, dict) and "text" in b]
    return " ".join(texts)[:500] or "the call failed"


class OperationCaller:
    """Calls catalog operations as tools of one scope."""

    def __init__(self, toolbox: OperationToolbox, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._toolbox = toolbox
        self._timeout_s = timeout_s

    async def tools(self, scope: ServerScope) -> dict[str, str]:
        """Operation -> tool name for `scope` (raises contracts.ToolsUnavailableError)."""
        return await self._toolbox.operation_tools(scope)

    async def in_scope(self, scope: ServerScope, operations: Iterable[str]) -> bool:
        """Whether `scope` admits every one of `operations`."""
        tools = await self.tools(scope)
        return all(op in tools for op in operations)

    async def exposure(self, scope: ServerScope) -> str:
        return await self._toolbox.exposure(scope)

    async def call(self, scope: ServerScope, operation: str, arguments: dict[str, Any], uri: str = "") -> Any:
        """The JSON answer of `operation` (structuredContent, else its JSON text).

        Raises:
            ResourceNotFound: the operation is outside the scope, or Gumloop has no such item.
            UpstreamFailed: any other failure of the call.
        """
        result = await self.call_raw(scope, operation, arguments, uri)
        return result_json(result)

    async def call_raw(
        self, scope: ServerScope, operation: str, arguments: dict[str, Any], uri: str = ""
    ) -> dict[str, Any]:
        """The CallToolResult of `operation` (see `call` for what it raises)."""
        name = (await self.tools(scope)).get(operation)
        if name is None:
            raise ResourceNotFound(uri or operation)
        ctx = CallContext(deadline=asyncio.get_running_loop().time() + self._timeout_s)
        try:
            async with asyncio.timeout(self._timeout_s + 1.0):
                result = await self._toolbox.call_tool(scope, name, arguments, ctx)
        except UnknownToolError:
            raise ResourceNotFound(uri or operation) from None
        except TimeoutError:
            raise UpstreamFailed(f"Gumloop did not answer {name} within {self._timeout_s:.0f}s") from None
        if result.get("isError"):
            structured = result.get("structuredContent")
            error = structured.get("error") if isinstance(structured, dict) else None
            if uri and (
                error == "not_found" or (isinstance(structured, dict) and "field_violations" in structured)
            ):
                raise ResourceNotFound(uri, _error_text(result))
            raise UpstreamFailed(f"{name} failed: {_error_text(result)}")
        return result

    async def items(
        self, scope: ServerScope, operation: str, arguments: dict[str, Any], limit: int
    ) -> list[dict[str, Any]]:
        """The first page (at most `limit` items) of a list operation; [] when it is out of scope."""
        if operation not in await self.tools(scope):
            return []
        body = await self.call(scope, operation, {**arguments, "limit": limit})
        found = body.get("items") if isinstance(body, dict) else None
        return [item for item in found or [] if isinstance(item, dict)]
