"""What an MCP server's scope admits: shared by the token service (validation) and the façade (filtering).

A scope has two parts, both optional:

- ``methods``: method groups (``read`` = get and list, ``write`` = create, update and delete, ``custom``)
  or exact operation names. Empty admits every operation.
- ``tags``: an operation is admitted only when its tags intersect these. Empty means no tag filter.

An operation is in scope when it passes both parts. Keeping the rule in one module means the token service
refuses exactly the scopes that would expose nothing, and the façade exposes exactly what was granted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_CONTEXT_BUDGET_TOKENS",
    "MAX_CONTEXT_BUDGET_TOKENS",
    "METHOD_GROUPS",
    "MIN_CONTEXT_BUDGET_TOKENS",
    "TOOL_EXPOSURES",
    "OperationRef",
    "in_scope",
    "matching_operations",
    "tool_list_tokens",
    "unknown_methods",
    "unknown_tags",
]

#: Method group -> operation kinds (lower-case names of the proxy's OperationKind).
METHOD_GROUPS: dict[str, frozenset[str]] = {
    "read": frozenset({"get", "list"}),
    "write": frozenset({"create", "update", "delete"}),
    "custom": frozenset({"custom"}),
}


@dataclass(frozen=True, slots=True)
class OperationRef:
    """The parts of a catalog operation that scope decisions look at."""

    name: str
    kind: str  # "list", "get", "create", "update", "delete" or "custom"
    tags: tuple[str, ...] = ()


def in_scope(operation: OperationRef, methods: Iterable[str], tags: Iterable[str]) -> bool:
    """Whether ``operation`` is admitted by a scope of ``methods`` and ``tags``."""
    method_list = [m.strip().lower() for m in methods if m.strip()]
    tag_set = {t.strip().lower() for t in tags if t.strip()}
    if method_list:
        admitted = False
        for method in method_list:
            group = METHOD_GROUPS.get(method)
            if (group is not None and operation.kind in group) or method == operation.name:
                admitted = True
                break
        if not admitted:
            return False
    return not tag_set or bool(tag_set.intersection(t.lower() for t in operation.tags))


def matching_operations(
    operations: Sequence[OperationRef], methods: Iterable[str], tags: Iterable[str]
) -> list[OperationRef]:
    """The operations a scope admits, in catalog order."""
    method_list = list(methods)
    tag_list = list(tags)
    return [op for op in operations if in_scope(op, method_list, tag_list)]


def unknown_methods(methods: Iterable[str], operations: Sequence[OperationRef]) -> list[str]:
    """Entries of ``methods`` that are neither a group nor an operation name (in input order)."""
    names = {op.name for op in operations}
    return [m for m in methods if m.strip().lower() not in METHOD_GROUPS and m.strip() not in names]


def unknown_tags(tags: Iterable[str], operations: Sequence[OperationRef]) -> list[str]:
    """Entries of ``tags`` that no operation carries (in input order)."""
    known = {t.lower() for op in operations for t in op.tags}
    return [t for t in tags if t.strip().lower() not in known]


# -- how a scope's tools are listed (the server record's config.tool_exposure) ----------------------

#: "full": one tool per operation; "discovery": three meta tools; "auto": full while the full list's
#: estimated model tokens fit the server's budget, discovery above it. "" = the façade's default.
TOOL_EXPOSURES: tuple[str, ...] = ("full", "discovery", "auto")
#: The budget "auto" uses when the record sets none (0), in model tokens (tools/list JSON bytes / 4).
DEFAULT_CONTEXT_BUDGET_TOKENS = 12_000
MIN_CONTEXT_BUDGET_TOKENS = 500
MAX_CONTEXT_BUDGET_TOKENS = 1_000_000


def tool_list_tokens(tools: Iterable[Any]) -> int:
    """Model tokens a tools/list costs, by the bench's estimate (bench/scenarios.py `_cost`): its
    compact JSON, about four characters per token. An estimate, not a tokenizer."""
    return -(-len(json.dumps(list(tools), separators=(",", ":"))) // 4)
