"""A service started from the development environment imports what the image has.

See src/gumloop_mcp/runtime/_deployed_imports.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gumloop_mcp.runtime import DEPLOYED_WITHOUT

ROOT = Path(__file__).resolve().parents[3]
# What each marked module stands for in requirements/runtime.txt (the image's packages).
DISTRIBUTIONS = {name: [name.replace("_", "-")] for name in DEPLOYED_WITHOUT}
DISTRIBUTIONS["httpx._main"] = ["click", "rich", "pygments"]


def _runtime_requirements() -> set[str]:
    lines = (ROOT / "requirements" / "runtime.txt").read_text().splitlines()
    return {
        line.split("==")[0].strip().lower() for line in lines if "==" in line and not line.startswith(" ")
    }


def test_every_marked_module_is_outside_the_image_and_installed_here() -> None:
    """Both halves of the list's claim: the image does not have them, the development environment does
    (else marking them would change nothing and the list is stale)."""
    runtime = _runtime_requirements()
    assert "jsonschema" in runtime and "httpx" in runtime  # the file was read
    for name, distributions in DISTRIBUTIONS.items():
        assert not runtime.intersection(distributions), f"{name} is in the image after all"
        assert importlib.util.find_spec(name.split(".")[0]) is not None, f"{name} is not installed here"


@pytest.mark.parametrize("service", ["services.gumloop_proxy", "services.mcp_facade", "services.tokens"])
def test_a_service_entry_point_imports_none_of_them(service: str) -> None:
    """Up to serving: the entry point's main() with run_entry_point replaced by a report of sys.modules."""
    code = f"""
import json, sys
import gumloop_mcp.runtime, {service}.__main__ as entry
def report(service, settings, serve, **_):
    print(json.dumps(sorted(name for name, module in sys.modules.items() if module is not None)))
entry.run_entry_point = report
entry.main()
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True, timeout=60
    ).stdout
    modules = set(json.loads(out.strip().splitlines()[-1]))
    assert f"{service}.server" in modules  # the service's own modules were imported
    unwanted = (*DEPLOYED_WITHOUT, "lark", "click", "rich", "pygments")
    assert sorted(m for m in modules if m in unwanted or m.split(".")[0] in unwanted) == []
