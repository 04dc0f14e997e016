"""The first-party import graph of services/ and src/gumloop_mcp has no cycles, and the façade's
subpackages import each other only as their READMEs say (services/mcp_facade/README.md).

The graph is read from the source with `ast`, without importing anything: an edge for every
`import x`, `from x import y` and `from . import y` (a `y` that is a module is the target, else the
package), at any depth (function-local imports are runtime imports too). Imports under
`if TYPE_CHECKING:` never run: the runtime graph leaves them out and must have no cycle at all; the
full graph (with them) may only have the type-only cycles listed in TYPE_ONLY_CYCLES, each a known
debt with its reason, so that no new one appears and a fixed one must leave the list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACADE = "services.mcp_facade"


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every first-party module (packages by their __init__.py)."""
    found: dict[str, Path] = {}
    for base, prefix in ((ROOT / "services", "services"), (ROOT / "src" / "gumloop_mcp", "gumloop_mcp")):
        for path in base.rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            if "_pb2" in path.stem:
                continue  # generated stubs
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((prefix, *parts))] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement; those in `if TYPE_CHECKING:` blocks only when `type_checking`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not type_checking:
            for child in node.orelse:
                yield from _imports(child, type_checking=type_checking)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node, type_checking=type_checking)


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest first-party module that `name` is or lies in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (at runtime; also for type checking if asked)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path)), type_checking=type_checking):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                    for alias in node.names
                ]
            for target in targets:
                owner = _owner(target, modules)
                if owner is not None and owner != name:
                    graph[name].add(owner)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            pushed = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    pushed = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if pushed:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_finder_sees_a_cycle_and_relative_imports() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
    graph = import_graph(type_checking=True)
    # `from .transport.app import ...` in server.py and `from . import ...`-style package imports resolve
    assert f"{FACADE}.transport.app" in graph[f"{FACADE}.server"]
    assert "gumloop_mcp.runtime" in graph[f"{FACADE}.server"]
    assert f"{FACADE}.transport.gate" in graph[f"{FACADE}.transport.streamable_http"]  # `from . import gate`
    # an `if TYPE_CHECKING:` import is an edge of the full graph only
    assert f"{FACADE}.settings" in graph[f"{FACADE}.oauth"]
    assert f"{FACADE}.settings" not in import_graph()[f"{FACADE}.oauth"]


def test_first_party_imports_have_no_cycles() -> None:
    assert strongly_connected(import_graph()) == []


# Cycles closed only by `if TYPE_CHECKING:` imports (a module annotating with its caller's type).
TYPE_ONLY_CYCLES: list[list[str]] = []  # none left: keep it so


def test_type_only_cycles_are_the_known_ones() -> None:
    assert strongly_connected(import_graph(type_checking=True)) == TYPE_ONLY_CYCLES


# What each façade subpackage may import of the others (services/mcp_facade/*/README.md). Top-level
# modules (server, settings, contracts, metrics) are not subpackages: any subpackage may use
# settings, contracts and metrics; only the composition root (server.py) imports everything.
ALLOWED: dict[str, set[str]] = {
    "state": set(),
    "tools": set(),
    "audit": set(),
    # the protocol records every tool call in the audit trail and serves prompts and resources
    "protocol": {"state", "audit", "prompts", "resources"},
    # prompts read Gumloop (completion) through resources' operation caller and raise its errors
    "prompts": {"resources"},
    "resources": set(),
    "transport": {"protocol", "state", "oauth"},
    # the admin HTTP app reuses the tool naming (tool names of an operation) and the Host/Origin policy,
    # serves the audit trail and mounts the console
    "management": {"state", "tools", "transport", "audit", "console", "oauth"},
    # the OAuth authorization server: discovery and consent on the public app (it resolves URL tokens
    # like the transports do), connect codes and grants on the admin app (models from management/)
    "oauth": {"transport", "management", "tools", "state"},
    # the console previews a scope's tools as the toolbox builds them and reads the management models;
    # everything it does goes through the management API over HTTP; its identity-provider sign-in
    # uses oauth/'s OIDC client, allowed-set rule and grant store
    "console": {"tools", "management", "oauth"},
}
TOP_SHARED = {"settings", "contracts", "metrics"}


def _part(module: str) -> str | None:
    """The façade subpackage (or top-level module) a module belongs to; None outside the façade."""
    if not module.startswith(f"{FACADE}."):
        return None
    return module.removeprefix(f"{FACADE}.").split(".")[0]


def test_facade_subpackages_import_only_what_their_readme_allows() -> None:
    graph = import_graph()
    assert set(ALLOWED) <= {_part(m) for m in graph}, "a subpackage named in ALLOWED is gone"
    breaches = []
    for module, targets in sorted(graph.items()):
        part = _part(module)
        if part not in ALLOWED:
            continue
        for target in sorted(targets):
            other = _part(target)
            if other is None or other == part or other in TOP_SHARED or other in ALLOWED[part]:
                continue
            breaches.append(f"{module} -> {target}")
    assert breaches == []


def test_top_level_contracts_settings_and_metrics_import_no_subpackage() -> None:
    graph = import_graph()
    for name in sorted(TOP_SHARED):
        assert {_part(t) for t in graph[f"{FACADE}.{name}"]} <= TOP_SHARED | {None}, name
