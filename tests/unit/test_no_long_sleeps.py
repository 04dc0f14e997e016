"""Unit and service tests wait on events, not on the clock: no fixed sleep longer than 0.2 s.

Every call of `asyncio.sleep`, `time.sleep` or a bare `sleep` in tests/unit and tests/service is read
with `ast` (nothing is imported); one whose duration is a number literal (or a name bound to one at
module level) above MAX_SLEEP_S fails this test. Move time with an injected clock
(gumloop_mcp.runtime.Clock, tests/fakes/clock.py) or wait for the event itself instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (ROOT / "tests" / "unit", ROOT / "tests" / "service")
MAX_SLEEP_S = 0.2


def _is_sleep(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return (
            func.attr == "sleep" and isinstance(func.value, ast.Name) and func.value.id in ("asyncio", "time")
        )
    return isinstance(func, ast.Name) and func.id == "sleep"


def _constants(tree: ast.Module) -> dict[str, float]:
    """Module-level `NAME = <number>` (and annotated) bindings."""
    found: dict[str, float] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, int | float):
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = float(value.value)
    return found


def long_sleeps(source: str, filename: str = "<test>") -> list[tuple[int, float]]:
    """(line, seconds) of every sleep in `source` longer than MAX_SLEEP_S."""
    tree = ast.parse(source, filename)
    constants = _constants(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _is_sleep(node.func) and node.args):
            continue
        arg = node.args[0]
        seconds: float | None = None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, int | float):
            seconds = float(arg.value)
        elif isinstance(arg, ast.Name):
            seconds = constants.get(arg.id)
        if seconds is not None and seconds > MAX_SLEEP_S:
            found.append((node.lineno, seconds))
    return sorted(found)


def test_the_scanner_finds_long_sleeps_and_passes_short_ones() -> None:
    source = (
        "import asyncio, time\nfrom asyncio import sleep\nWAIT = 2.2\n"
        "async def f():\n"
        "    await asyncio.sleep(2.2)\n    time.sleep(1)\n    await sleep(WAIT)\n"
        "    await asyncio.sleep(0.2)\n    await asyncio.sleep(0)\n    await asyncio.sleep(delay)\n"
        "    s = '''time.sleep(60)'''\n"
    )
    assert long_sleeps(source) == [(5, 2.2), (6, 1.0), (7, 2.2)]


def test_no_unit_or_service_test_sleeps_longer_than_0_2_s() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: sleeps {seconds:g} s"
        for base in SCANNED
        for path in sorted(base.rglob("*.py"))
        for line, seconds in long_sleeps(path.read_text(), str(path))
    ]
    assert offenders == [], "wait on an event or move an injected clock instead:\n" + "\n".join(offenders)
