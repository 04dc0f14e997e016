"""The HTTP calls of Gumloop's official Python SDK (`gumloop`), read from its source with `ast`.

Each resource method (`gumloop/resources/*.py`, e.g. `Agents.list`) calls its HTTP client
(`self._client.get("agents", ...)`, `self._client.stream("POST", f"sessions/{session_id}/messages")`).
`sdk_calls()` parses those modules without importing them and returns every distinct call as
method, host (`API`, or `STREAM` for the stream-host helpers) and path template (`/agents/{agent_id}`),
with the SDK methods that make it. A path built some other way (a variable the module does not
assign a literal to) is reported in `SdkCalls.unresolved` rather than guessed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = ["SdkCall", "SdkCalls", "SdkError", "normalise_path", "sdk_calls", "sdk_resources_dir"]

# client helper -> (HTTP method or None when the method is the first argument, host)
_HELPERS: Final[dict[str, tuple[str | None, str]]] = {
    "get": ("GET", "API"),
    "post": ("POST", "API"),
    "put": ("PUT", "API"),
    "patch": ("PATCH", "API"),
    "delete": ("DELETE", "API"),
    "post_bytes": ("POST", "API"),
    "post_to_stream_host": ("POST", "STREAM"),
    "stream": (None, "STREAM"),
    "stream_typed": (None, "STREAM"),
}
_PLACEHOLDER: Final = re.compile(r"\{[^}]*\}")


class SdkError(RuntimeError):
    """The SDK is not installed or its resources cannot be read."""


@dataclass(frozen=True, order=True)
class SdkCall:
    """One HTTP call the SDK makes."""

    method: str
    host: str
    path: str


@dataclass
class SdkCalls:
    """Every call of the SDK's resources, with the `Class.method`s that make it."""

    version: str
    calls: dict[SdkCall, list[str]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)


def normalise_path(path: str) -> str:
    """A path template with its placeholders unnamed, so `{id}` and `{agent_id}` compare equal."""
    return "/" + _PLACEHOLDER.sub("{}", path).strip("/")


def sdk_resources_dir() -> tuple[Path, str]:
    """The installed SDK's `resources` folder and its version."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("gumloop")
    if spec is None or not spec.submodule_search_locations:
        raise SdkError("the official SDK (`pip install gumloop`) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "resources"
    if not folder.is_dir():
        raise SdkError(f"{folder}: the installed `gumloop` package has no resources folder")
    try:
        version = importlib.metadata.version("gumloop")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return folder, version


def sdk_calls(folder: Path | None = None, version: str | None = None) -> SdkCalls:
    """The HTTP calls of every resource module in `folder` (default: the installed SDK's)."""
    if folder is None:
        folder, found_version = sdk_resources_dir()
        version = version or found_version
    result = SdkCalls(version=version or "unknown")
    modules = sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")
    if not modules:
        raise SdkError(f"{folder}: no resource modules")
    for module in modules:
        try:
            tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        except SyntaxError as exc:
            raise SdkError(f"{module.name}: not Python: {exc}") from exc
        constants = _module_strings(tree)
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            for fn in cls.body:
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                owner = f"{cls.name.removeprefix('Async')}.{fn.name}"
                for node in ast.walk(fn):
                    _record(result, node, constants, owner, module.name)
    for owners in result.calls.values():
        owners.sort()
    return result


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "literal"` assignments (`_PATH = "chat/completions"`)."""
    out: dict[str, str] = {}
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            for target in node.targets if isinstance(node, ast.Assign) else []:
                if isinstance(target, ast.Name):
                    out[target.id] = value.value
    return out


def _record(result: SdkCalls, node: ast.AST, constants: dict[str, str], owner: str, module: str) -> None:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return
    target = node.func.value
    is_client = (
        isinstance(target, ast.Attribute)
        and target.attr == "_client"
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    )
    helper = _HELPERS.get(node.func.attr)
    if not is_client or helper is None:
        return
    method, host = helper
    args = list(node.args)
    if method is None:
        first = args.pop(0) if args else None
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            result.unresolved.append(f"{module}: {owner}: HTTP method is not a literal")
            return
        method = first.value.upper()
    path = _path(args[0], constants) if args else None
    if path is None:
        result.unresolved.append(f"{module}: {owner}: path is not a literal or f-string")
        return
    if any(k.arg == "origin" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords):
        host = "STREAM_ORIGIN"  # relative to the stream host's origin, not its /api/v1
    owners = result.calls.setdefault(SdkCall(method, host, "/" + path.strip("/")), [])
    if owner not in owners:
        owners.append(owner)


def _path(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + _placeholder_name(value.value) + "}")
            else:
                return None
        return "".join(parts)
    return None


def _placeholder_name(node: ast.expr) -> str:
    """`{agent_id}` for `agent_id`, `quote(agent_id)`, `self._id`..."""
    names: Iterable[str] = (
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
        and not (isinstance(n, ast.Name) and n.id in {"quote", "str"})
    )
    return next(iter(names), "value")
