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

from .contracts import ToolsUnavailableError
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


_ARTIFACT_TITLE: Final = "Read an artifact"
_ARTIFACT_DESCRIPTION: Final = (
    "Reads an artifact's content by id: text, CSV, JSON, Markdown, HTML, office and PDF files come "
    "back as Markdown (page with offset/limit), images inline, other files as metadata (filename, "
    "media type, size, digest) with a short-lived download link."
)
_POLL: Final = re.compile(r"\bpoll(?:s|ed|ing)?\b", re.IGNORECASE)
# "..., and you poll X until a.b is done" up to the end of its clause (";" or a sentence's ".").
_POLL_CLAUSE: Final = re.compile(
    r"[,;]?\s*(?:and\s+|then\s+)*(?:you\s+)?(?:should\s+|can\s+|must\s+|may\s+)?"
    r"poll(?:s|ing)?\b(?:(?!;|\.(?:\s|$)).)*",
    re.IGNORECASE,
)
# Clauses about the upstream's own paging, which the façade replaces with limit/cursor/next_cursor.
_PAGING: Final = re.compile(
    r"next_cursor|\bcursor\b|total_pages|\bpages?\b|comes back at once|all at once", re.IGNORECASE
)


def _sentences(text: str) -> list[str]:
    return [x for x in re.split(r"(?<=\.)\s+", text) if x.strip()]


def _end(sentence: str) -> str:
    sentence = sentence.rstrip(" ,;")
    return sentence if not sentence or sentence.endswith(".") else sentence + "."


def _without_polling(text: str) -> str:
    """The text without telling the model to poll: the façade waits server-side (wait_seconds)."""
    kept = []
    for sentence in _sentences(text):
        if _POLL.search(sentence):
            sentence = _end(_POLL_CLAUSE.sub("", sentence).strip())
            if _POLL.search(sentence) or len(sentence) < 3:
                continue
        kept.append(sentence)
    return " ".join(kept)


def _balanced(text: str, start: int) -> int:
    """The index just past the bracket group opening at `start` ("{" or "["), or -1."""
    closing = {"{": "}", "[": "]"}
    stack: list[str] = []
    for index in range(start, len(text)):
        char = text[index]
        if char in closing:
            stack.append(closing[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                return index + 1
    return -1


def _item_shape(group: str) -> str:
    """The `{...}` of the first `[{...}]` inside a bracket group ("" when there is none)."""
    at = group.find("[{")
    end = _balanced(group, at) if at >= 0 else -1
    return group[at + 1 : end - 1] if end > 0 else ""


def _without_envelopes(text: str, items_field: str) -> str:
    """Upstream list envelopes (`{agents [{...}], next_cursor}`, `as teams [{...}]`) replaced by the
    shape of one item, since the tool answers {items, next_cursor} whatever the upstream sends."""
    out = ""
    index = 0
    while index < len(text):
        char = text[index]
        named = bool(items_field) and text.startswith(f"{items_field} [{{", index)
        named = named and (index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_"))
        start = index + len(items_field) + 1 if named else index
        if named or char in "{[":
            end = _balanced(text, start)
            group = text[start:end] if end > 0 else ""
            inner = group[1:-1].strip()
            head = out.rstrip()
            envelope = named or (
                char == "{"
                and (
                    (items_field and re.match(rf"{re.escape(items_field)}\b", inner) is not None)
                    or "next_cursor" in inner
                    or "total_pages" in inner
                )
            )
            envelope = envelope or (group.startswith("[{") and head.endswith((",", " as")))
            if end > 0 and envelope:
                shape = _item_shape(group)
                returns = False
                for word in ("as", "Returns", "returns"):
                    if head == word or head.endswith(" " + word):
                        head, returns = head[: -len(word)].rstrip(), word != "as"
                        break
                out = head.rstrip(",")
                if shape:
                    out += f" Returns items {shape}" if returns or not out else f", each item {shape}"
                index = end
                continue
        out += char
        index += 1
    return out


def _without_paging(text: str) -> str:
    """The text without the upstream's paging instructions (clause by clause)."""
    kept = []
    for sentence in _sentences(text):
        clauses = [c for c in re.split(r";\s+", sentence) if not _PAGING.search(c)]
        sentence = _end("; ".join(c.rstrip(".") for c in clauses).strip())
        if len(sentence) > 2:
            kept.append(sentence)
    return " ".join(kept)


def _own_words(text: str, op: pb.Operation, kind: str, name_of: dict[str, str]) -> str:
    """The catalog's description, made true of the tool rather than of the upstream endpoint.

    Operation names become tool names; no sentence tells the model to poll (status tools wait
    server-side); list tools lose the upstream's envelope and paging (they answer {items,
    next_cursor}); "the artifact reader" is named.
    """
    text = _without_polling(text)
    if kind == "list":
        text = _without_paging(_without_envelopes(text, op.pagination.items_field))
    text = _rename(text, name_of)
    if "get_artifact" in name_of:
        text = text.replace("the artifact reader", name_of["get_artifact"])
    return text


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


def _description(op: pb.Operation, kind: str, waits: bool, name_of: dict[str, str]) -> str:
    if op.name == "get_artifact":  # upstream: a download link; the tool: the decoded content
        return _ARTIFACT_DESCRIPTION
    parts = [_own_words(op.description.strip(), op, kind, name_of) or op.title or op.name.replace("_", " ")]
    if kind == "list":
        parts.append(
            "Returns {items, next_cursor}; pass next_cursor back as cursor for the next page "
            "(limit sets the page size)."
        )
        if not op.pagination.items_field:
            parts.append("The groups are flattened into items, each carrying its group key as `group`.")
    if op.starts_async_work and op.async_work.status_operation in name_of:
        status = name_of[op.async_work.status_operation]
        parts.append(
            f"Returns at once with the id and state of the started work; call {status} with "
            "wait_seconds to wait for it to finish."
        )
    if waits:
        parts.append(
            "Set wait_seconds to wait (server-side, with progress) until the work reaches a final state."
        )
    return " ".join(parts)


def _title(op: pb.Operation) -> str:
    if op.name == "get_artifact":
        return _ARTIFACT_TITLE
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
            "description": _description(op, kind, waits, names),
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
        if out is None and not op.streams and op.name != "get_artifact":
            out = output_schema(op)
        if out is not None:
            definition["outputSchema"] = out
        tools[names[op.name]] = Tool(names[op.name], op, kind, definition, waits, work)
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
