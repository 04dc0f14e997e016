"""Tool names derived from catalog operations, by this rule (the README's "Tools" section shows it too):

list -> ``list_all_gumloop_{resource_plural}``, get -> ``get_single_gumloop_{resource}_by_id``,
create -> ``create_a_gumloop_{resource}``, update -> ``update_a_gumloop_{resource}_by_id``,
delete -> ``delete_a_gumloop_{resource}_by_id``, custom -> ``gumloop_{name}``.

Names hold only ``[a-z0-9_]`` and at most 64 characters; a longer name is shortened
deterministically (a prefix plus a digest of the full name), so the same catalog always yields
the same names and two long names never collide.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Final

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

__all__ = ["MAX_NAME_LENGTH", "kind_name", "tool_name", "tool_names"]

MAX_NAME_LENGTH: Final = 64
_INVALID = re.compile(r"[^a-z0-9_]+")
_KIND_NAMES: Final = {
    pb.OPERATION_KIND_LIST: "list",
    pb.OPERATION_KIND_GET: "get",
    pb.OPERATION_KIND_CREATE: "create",
    pb.OPERATION_KIND_UPDATE: "update",
    pb.OPERATION_KIND_DELETE: "delete",
    pb.OPERATION_KIND_CUSTOM: "custom",
}


def kind_name(operation: pb.Operation) -> str:
    """The lower-case kind of an operation ("list" ... "custom"); unspecified counts as custom."""
    return _KIND_NAMES.get(operation.kind, "custom")


def _clean(text: str) -> str:
    return _INVALID.sub("_", text.lower()).strip("_")


def _shorten(name: str) -> str:
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name[: MAX_NAME_LENGTH - len(digest) - 1].rstrip("_")
    return f"{head}_{digest}"


def tool_name(operation: pb.Operation) -> str:
    """The MCP tool name of one operation."""
    kind = kind_name(operation)
    resource = _clean(operation.resource) or _clean(operation.name)
    plural = _clean(operation.resource_plural) or f"{resource}s"
    if kind == "list":
        name = f"list_all_gumloop_{plural}"
    elif kind == "get":
        name = f"get_single_gumloop_{resource}_by_id"
    elif kind == "create":
        name = f"create_a_gumloop_{resource}"
    elif kind == "update":
        name = f"update_a_gumloop_{resource}_by_id"
    elif kind == "delete":
        name = f"delete_a_gumloop_{resource}_by_id"
    else:
        name = f"gumloop_{_clean(operation.name)}"
    return _shorten(name)


def tool_names(operations: Iterable[pb.Operation]) -> dict[str, str]:
    """Operation name -> unique tool name for a whole catalog.

    Two operations that the rule maps to the same name (same kind and resource) both fall back
    to ``gumloop_{operation name}``, so neither silently hides the other.
    """
    ops = list(operations)
    first = {op.name: tool_name(op) for op in ops}
    counts: dict[str, int] = {}
    for name in first.values():
        counts[name] = counts.get(name, 0) + 1
    out: dict[str, str] = {}
    taken: set[str] = set()
    for op in ops:
        name = first[op.name]
        if counts[name] > 1:
            name = _shorten(f"gumloop_{_clean(op.name)}")
        while name in taken:  # pathological catalogs only; keeps names unique and deterministic
            name = _shorten(f"{name}_x")
        taken.add(name)
        out[op.name] = name
    return out
