"""Context cost of tools/list per scope preset, for the committed catalog, without a running stack.

`python -m bench.context` prints it; `make bench` adds it to its report (section 5b). Each preset is a
scope (methods, tags) as a server record sets it; the figure is what that server's tools/list costs in
model tokens by `gumloop_mcp.scope.tool_list_tokens` (compact JSON / 4 characters), the estimate the
façade's `auto` exposure and the management API's catalog preview use. The tools are built exactly as
the façade builds them (services.mcp_facade.tools.catalog.build_tools, published form), so the numbers
follow any change to the catalog or to the compact form.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Final, TextIO

from gumloop_mcp.scope import DEFAULT_CONTEXT_BUDGET_TOKENS, tool_list_tokens
from services.gumloop_proxy.catalog import default_catalog
from services.mcp_facade.contracts import ServerScope
from services.mcp_facade.tools.catalog import build_tools
from services.mcp_facade.tools.discovery import META_TOOLS
from services.mcp_facade.tools.scope_filter import admits

__all__ = ["PRESETS", "context_per_preset", "print_context"]

#: The façade's default longest wait, which sets wait_seconds' advertised maximum.
_MAX_WAIT_S: Final = 120.0
#: Scope presets: (methods, tags). "all" is the full list the issue's budget is about.
PRESETS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "all": ((), ()),
    "read_only": (("read",), ()),
    "read_write": (("read", "write"), ()),
    "custom_only": (("custom",), ()),
}


def _scope(name: str, methods: tuple[str, ...], tags: tuple[str, ...]) -> ServerScope:
    return ServerScope(server_id=f"bench_{name}", account_id="bench", name=name, methods=methods, tags=tags)


def context_per_preset() -> dict[str, dict[str, Any]]:
    """Tools and estimated model tokens of tools/list for each preset and each single tag."""
    catalog = default_catalog()
    tools = list(build_tools(catalog.select(), _MAX_WAIT_S).values())
    presets = dict(PRESETS)
    for tag in sorted({t for op in catalog.select() for t in op.tags}):
        presets[f"tag:{tag}"] = ((), (tag,))
    out: dict[str, dict[str, Any]] = {}
    for name, (methods, tags) in presets.items():
        scope = _scope(name, methods, tags)
        listed = [t.listed for t in tools if admits(scope, t.operation)]
        tokens = tool_list_tokens(listed)
        out[name] = {
            "tools": len(listed),
            "est_tokens": tokens,
            "per_tool": round(tokens / len(listed), 1) if listed else 0.0,
            "auto_exposure": "discovery" if tokens > DEFAULT_CONTEXT_BUDGET_TOKENS else "full",
        }
    out["discovery"] = {
        "tools": len(META_TOOLS),
        "est_tokens": tool_list_tokens(META_TOOLS),
        "per_tool": round(tool_list_tokens(META_TOOLS) / len(META_TOOLS), 1),
        "auto_exposure": "discovery",
    }
    return out


def print_context(figures: dict[str, dict[str, Any]], out: TextIO) -> None:
    """A plain table of `context_per_preset`."""
    rows = [["preset", "tools", "~tokens", "tokens/tool", f"auto ({DEFAULT_CONTEXT_BUDGET_TOKENS})"]]
    rows += [
        [k, str(v["tools"]), str(v["est_tokens"]), str(v["per_tool"]), v["auto_exposure"]]
        for k, v in figures.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if index == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    figures = context_per_preset()
    if args.json:
        sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    else:
        print_context(figures, sys.stdout)


if __name__ == "__main__":
    main()
