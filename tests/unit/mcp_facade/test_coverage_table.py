"""README.md's coverage table is the generated one: every catalog operation with its tool name, tags and
source, and every excluded operation with its reason (regenerate it with scripts/readme-tables)."""

from __future__ import annotations

import json
from pathlib import Path

from gumloop_mcp.contract.coverage import coverage_table
from services.gumloop_proxy.catalog import default_catalog
from services.mcp_facade.tools.naming import tool_names

ROOT = Path(__file__).resolve().parents[3]
PROXY = ROOT / "services" / "gumloop_proxy"


def _table() -> str:
    catalog = json.loads((PROXY / "catalog.json").read_text())
    excluded = json.loads((PROXY / "excluded_operations.json").read_text())
    return coverage_table(catalog, excluded, tool_names(default_catalog().select()))


def test_the_readme_coverage_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- coverage-table:start -->\n", "<!-- coverage-table:end -->"
    assert start in readme and end in readme
    assert readme.split(start, 1)[1].split(end, 1)[0] == _table()


def test_every_operation_and_every_exclusion_has_a_row() -> None:
    table = _table()
    rows = table.splitlines()[2:]
    catalog = default_catalog().select()
    excluded = json.loads((PROXY / "excluded_operations.json").read_text())["operations"]
    assert len(rows) == len(catalog) + len(excluded)
    names = tool_names(catalog)
    for op in catalog:
        row = next(r for r in rows if r.startswith(f"| {op.name} |"))
        assert f"`{names[op.name]}`" in row and all(tag in row for tag in op.tags)
        assert "OpenAPI documents" in row or "official SDK" in row or "our notes" in row
    for item in excluded:
        assert any(item["reason"] in r and item["path"] in r for r in rows)
