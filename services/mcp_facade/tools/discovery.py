"""Discovery mode: three meta tools for clients whose context cannot hold the full tool list.

`search_tools` finds tools in scope by words, `get_tool_schema` returns one full definition,
`call_tool` runs a tool by name under the same scope rules as a direct call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["META_TOOLS", "search"]

_READ: Final = {
    "readOnlyHint": True,
    "destructiveHint": False,
    "idempotentHint": True,
    "openWorldHint": False,
}

META_TOOLS: Final[list[dict[str, Any]]] = [
    {
        "name": "search_tools",
        "title": "Search Gumloop tools",
        "description": (
            "Find Gumloop tools by what they do (e.g. 'list runs', 'artifact', 'start flow'). "
            "Returns tool names "
            "with one-line descriptions; then call get_tool_schema for the arguments "
            "and call_tool to run one."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "Words describing the task; empty lists every tool.",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 20,
                    "description": "Most tools to return.",
                },
            },
        },
        "annotations": {"title": "Search Gumloop tools", **_READ},
    },
    {
        "name": "get_tool_schema",
        "title": "Get a Gumloop tool's definition",
        "description": "The full definition of one tool (description, inputSchema, annotations) by its name.",
        "inputSchema": {
            "type": "object",
            "properties": {"name": {"type": "string", "minLength": 1, "description": "The tool name."}},
            "required": ["name"],
        },
        "annotations": {"title": "Get a Gumloop tool's definition", **_READ},
    },
    {
        "name": "call_tool",
        "title": "Call a Gumloop tool",
        "description": (
            "Run one Gumloop tool by name with its arguments (see get_tool_schema); "
            "returns exactly what that "
            "tool returns."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "description": "The tool name."},
                "arguments": {"type": "object", "description": "The tool's arguments.", "default": {}},
            },
            "required": ["name"],
        },
        "annotations": {
            "title": "Call a Gumloop tool",
            "readOnlyHint": False,
            "destructiveHint": True,
            "idempotentHint": False,
            "openWorldHint": True,
        },
    },
]

_WORD = re.compile(r"[a-z0-9]+")


def _first_sentence(text: str) -> str:
    sentence = text.split(". ")[0].strip()
    return sentence if sentence.endswith(".") else sentence + "."


def search(tools: Iterable[dict[str, Any]], query: str, limit: int) -> list[dict[str, str]]:
    """Tools ranked by how many query words their name, title and description contain."""
    words = {w.rstrip("s") for w in _WORD.findall(query.lower())}
    ranked: list[tuple[int, int, dict[str, Any]]] = []
    for index, tool in enumerate(tools):
        haystack = " ".join(
            (tool["name"].replace("_", " "), tool.get("title", ""), tool.get("description", ""))
        )
        found = {w.rstrip("s") for w in _WORD.findall(haystack.lower())}
        name_words = {w.rstrip("s") for w in _WORD.findall(tool["name"].replace("_", " "))}
        score = sum(2 if w in name_words else 1 for w in words if w in found) if words else 1
        if score:
            ranked.append((-score, index, tool))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [
        {"name": t["name"], "description": _first_sentence(t.get("description", ""))}
        for _, _, t in ranked[:limit]
    ]
