"""The README's coverage table: every Gumloop operation, its tool, its tags and what it was checked against.

Built from the catalog (services/gumloop_proxy/catalog.json), the operations left out on purpose
(services/gumloop_proxy/excluded_operations.json) and the façade's tool names (passed in, so this module
needs nothing from the services). `scripts/readme-tables` writes it between the README's
``coverage-table`` markers; tests/unit/mcp_facade/test_coverage_table.py fails when it is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["coverage_table"]

_CHECKED: Final = {
    "openapi": "OpenAPI documents",
    "sdk": "official SDK",
    "notes": "our notes",
}


def coverage_table(
    catalog: Mapping[str, Any], excluded: Mapping[str, Any], tool_names: Mapping[str, str]
) -> str:
    """Markdown: one row per catalog operation (by tool name), then one per excluded operation."""
    lines = [
        "| Operation | Route | Tool | Tags | Checked against |",
        "|---|---|---|---|---|",
    ]
    for entry in sorted(catalog["operations"], key=lambda e: tool_names[e["name"]]):
        upstream = entry.get("upstream") or {}
        checked = _CHECKED.get(str(upstream.get("source")), str(upstream.get("source")))
        if upstream.get("deviations"):
            checked += " (deviations noted)"
        route = f"`{entry['method']} {entry['path']}`"
        tags = ", ".join(entry.get("tags") or [])
        lines.append(f"| {entry['name']} | {route} | `{tool_names[entry['name']]}` | {tags} | {checked} |")
    for item in excluded.get("operations") or []:
        route = f"`{item['method']} {item['path']}`"
        lines.append(f"| {item['sdk']} | {route} | excluded: {item['reason']} | | official SDK |")
    return "\n".join(lines) + "\n"
