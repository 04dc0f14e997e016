"""The operation catalog as the façade sees it: fetched from the proxy, cached, turned into tools.

`ListOperations` is called once and the result cached for `ttl_s`; after that the next caller
refreshes it (one refresh at a time). When the proxy cannot be reached, a stale catalog keeps
serving; with none at all, `CatalogUnavailableError` says so plainly and the next call retries
(after a short back-off, so a dead proxy is not hammered).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import grpc

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from ..contracts import ToolsUnavailableError
from .artifacts import READERS
from .compact import published
from .naming import kind_name, tool_names
from .schemas import input_schema, list_output_schema, output_schema

__all__ = ["CatalogCache", "CatalogUnavailableError", "Tool", "build_tools"]

logger = logging.getLogger(__name__)

DEFAULT_TTL_S: Final = 60.0
_RETRY_AFTER_FAILURE_S: Final = 2.0
_FETCH_TIMEOUT_S: Final = 10.0


class CatalogUnavailableError(ToolsUnavailableError):
    """The proxy's operation catalog could not be fetched and no earlier copy exists."""


@dataclass(frozen=True)
class Tool:
    """One MCP tool and the operation behind it."""

    name: str
    operation: pb.Operation
    kind: str
    definition: dict[str, Any] = field(repr=False)
    # The status tool follows async work: it takes wait_seconds.
    waits: bool = False
    # The AsyncWork describing the states of the work this status tool reads.
    work: pb.AsyncWork | None = field(default=None, repr=False)
    # What tools/list shows (compact.published of `definition`); `definition` stays the full form
    # the façade validates arguments and shapes structuredContent with.
    listed: dict[str, Any] = field(default_factory=dict, repr=False)


def _own_words(text: str, name_of: dict[str, str]) -> str:
    """The catalog's description with operation names replaced by tool names ("the artifact reader"
    named too). The catalog describes what an operation does and returns; how to wait and how to
    page are not in its prose but in its structured fields (`async_work`, `pagination`), which
    `_description` turns into the tool's own guidance, so rewording a description changes no
    behaviour."""
    text = _rename(text, name_of)
    if "get_artifact" in name_of:
        text = text.replace("the artifact reader", name_of["get_artifact"])
    return text


def _either(values: list[str]) -> str:
    """ "a", "a or b", "a, b or c"."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _rename(text: str, name_of: dict[str, str]) -> str:
    """`text` with every operation name replaced by its tool name."""
    names = sorted(name_of, key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    return pattern.sub(lambda m: name_of[m.group(1)], text)


def _rename_descriptions(schema: dict[str, Any], name_of: dict[str, str]) -> dict[str, Any]:
    """The input schema with operation names in property descriptions replaced by tool names."""
    for prop in (schema.get("properties") or {}).values():
        if isinstance(prop, dict) and isinstance(prop.get("description"), str):
            prop["description"] = _rename(prop["description"], name_of)
    return schema


def _description(
    op: pb.Operation, kind: str, waits: bool, name_of: dict[str, str], work_of: pb.AsyncWork | None = None
) -> str:
    if op.name in READERS:  # upstream: a download link; the tool: the decoded content
        return READERS[op.name].description
    parts = [_own_words(op.description.strip(), name_of) or op.title or op.name.replace("_", " ")]
    # How to page (limit, cursor -> {items, next_cursor}) is stated once, in the server instructions.
    if kind == "list" and not op.pagination.items_field:
        parts.append("Items carry their group key as `group`.")
    if op.starts_async_work and op.async_work.status_operation in name_of:
        # the status tool's own description names the final states its wait_seconds waits for
        status = name_of[op.async_work.status_operation]
        parts.append(f"Async: wait with {status} wait_seconds.")
    if waits:
        final = (
            _either(list(work_of.terminal_states)) if work_of and work_of.terminal_states else "a final state"
        )
        parts.append(f"wait_seconds waits for {final}.")
        if work_of is not None and work_of.paused_states:
            parts.append(f"It also returns at {_either(list(work_of.paused_states))}, saying how to answer.")
    return " ".join(parts)


def _title(op: pb.Operation) -> str:
    if op.name in READERS:
        return READERS[op.name].title
    return op.title or op.name.replace("_", " ").capitalize()


def build_tools(operations: list[pb.Operation], max_wait_seconds: float) -> dict[str, Tool]:
    """Tools for every operation, by tool name, in catalog order."""
    names = tool_names(operations)
    works: dict[str, pb.AsyncWork] = {}
    for op in operations:
        if op.starts_async_work and op.async_work.status_operation:
            works.setdefault(op.async_work.status_operation, op.async_work)
    tools: dict[str, Tool] = {}
    for op in operations:
        kind = kind_name(op)
        work = works.get(op.name)
        waits = work is not None
        definition: dict[str, Any] = {
            "name": names[op.name],
            "title": _title(op),
            "description": _description(op, kind, waits, names, work),
            "inputSchema": _rename_descriptions(
                input_schema(op, kind=kind, waits=waits, max_wait_seconds=max_wait_seconds), names
            ),
            "annotations": {
                "title": _title(op),
                "readOnlyHint": bool(op.read_only),
                "destructiveHint": bool(op.destructive) and not op.read_only,
                "idempotentHint": bool(op.idempotent or op.read_only),
                "openWorldHint": True,
            },
        }
        out = list_output_schema(op) if kind == "list" else None
        if out is None and not op.streams and op.name not in READERS:
            out = output_schema(op)
        if out is not None:
            definition["outputSchema"] = out
        tools[names[op.name]] = Tool(
            names[op.name], op, kind, definition, waits, work, published(definition, paged=kind == "list")
        )
    return tools


class CatalogCache:
    """The proxy's catalog, fetched lazily and refreshed every `ttl_s` seconds."""

    def __init__(
        self,
        proxy: Any,
        max_wait_seconds: float,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._proxy = proxy
        self._max_wait = max_wait_seconds
        self._ttl = ttl_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tools: dict[str, Tool] | None = None
        self._version = ""
        self._fetched_at = float("-inf")
        self._failed_at = float("-inf")

    @property
    def version(self) -> str:
        """The catalog version last fetched ("" before the first fetch)."""
        return self._version

    def cached(self) -> dict[str, Tool]:
        """The tools last fetched, without fetching (empty before the first fetch)."""
        return self._tools or {}

    def _fresh(self) -> bool:
        return self._tools is not None and self._clock() - self._fetched_at < self._ttl

    async def tools(self) -> dict[str, Tool]:
        """All tools by name (unscoped).

        Raises:
            CatalogUnavailableError: the proxy cannot be reached and nothing is cached.
        """
        if self._fresh():
            assert self._tools is not None
            return self._tools
        async with self._lock:
            if self._fresh():
                assert self._tools is not None
                return self._tools
            if self._tools is None and self._clock() - self._failed_at < _RETRY_AFTER_FAILURE_S:
                raise CatalogUnavailableError("The Gumloop proxy is unavailable; try again in a few seconds.")
            try:
                response = await self._proxy.ListOperations(
                    pb.ListOperationsRequest(), timeout=_FETCH_TIMEOUT_S
                )
            except grpc.RpcError as exc:
                self._failed_at = self._clock()
                code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
                logger.warning("fetching the operation catalog failed: %s", code)
                if self._tools is not None:
                    self._fetched_at = self._clock() - self._ttl + _RETRY_AFTER_FAILURE_S
                    return self._tools  # serve the stale catalog rather than nothing
                raise CatalogUnavailableError(
                    "The Gumloop proxy is unavailable, so no tools can be listed; try again in a few seconds."
                ) from exc
            ops = list(response.operations)
            if response.catalog_version != self._version or self._tools is None:
                self._tools = build_tools(ops, self._max_wait)
                self._version = response.catalog_version
                logger.info("operation catalog %s loaded: %d tools", self._version, len(self._tools))
            self._fetched_at = self._clock()
            return self._tools
