"""Gumloop's OpenAPI documents reduced to a facts-only contract (deterministic JSON).

Every operation is keyed `"METHOD /path"` and keeps its server URL, the document it came from,
its parameters (location, required, schema facts), its request body (content type, required,
schema facts) and its responses (status -> content type and schema facts). `$ref`s are resolved
inline. Descriptions, summaries, examples and code samples are dropped, so rewording Gumloop's
prose never changes the contract; only a changed fact does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["CONTRACT_FORMAT", "ContractError", "build_contract", "dump_contract", "load_documents"]

CONTRACT_FORMAT: Final = 1
_METHODS: Final = ("get", "post", "put", "patch", "delete")
# The schema keywords that are facts; everything else (description, example, title...) is prose.
_SCHEMA_FACTS: Final = frozenset(
    {
        "type", "format", "nullable", "enum", "required", "default", "pattern",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
    }
)  # fmt: skip
_SCHEMA_NESTED: Final = ("items", "additionalProperties", "not")
_SCHEMA_LISTS: Final = ("oneOf", "anyOf", "allOf")


class ContractError(ValueError):
    """An OpenAPI document cannot be read as a contract (bad YAML, unresolvable $ref...)."""


def load_documents(folder: Path) -> dict[str, Mapping[str, Any]]:
    """Every `*.yml`/`*.yaml`/`*.json` OpenAPI document in `folder`, by file name."""
    import yaml  # a runtime dependency for `catalog diff`; imported here so the checks need not load it

    if not folder.is_dir():
        raise ContractError(f"{folder}: not a folder of OpenAPI documents")
    documents: dict[str, Mapping[str, Any]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yml", ".yaml", ".json"):
            continue
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ContractError(f"{path.name}: not YAML: {exc}") from exc
        if not isinstance(document, dict) or "paths" not in document:
            raise ContractError(f"{path.name}: not an OpenAPI document (no paths)")
        documents[path.name] = document
    if not documents:
        raise ContractError(f"{folder}: no OpenAPI documents")
    return documents


def build_contract(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The facts of every operation of `documents` (file name -> parsed OpenAPI document)."""
    operations: dict[str, Any] = {}
    for file_name in sorted(documents):
        document = documents[file_name]
        resolver = _Resolver(document, file_name)
        servers = _server_urls(document.get("servers"))
        for path, item in sorted((document.get("paths") or {}).items()):
            if not isinstance(item, dict):
                raise ContractError(f"{file_name}: paths.{path} is not an object")
            shared_params = item.get("parameters") or []
            for method in _METHODS:
                raw = item.get(method)
                if raw is None:
                    continue
                key = f"{method.upper()} {path}"
                if key in operations:
                    raise ContractError(
                        f"{file_name}: {key} is also described by {operations[key]['document']}"
                    )
                where = f"{file_name}: {key}"
                op_servers = _server_urls(raw.get("servers") or item.get("servers")) or servers
                if len(op_servers) != 1:
                    raise ContractError(f"{where}: expected one server URL, found {op_servers}")
                operations[key] = {
                    "document": file_name,
                    "operation_id": raw.get("operationId", ""),
                    "method": method.upper(),
                    "host": op_servers[0],
                    "path": path,
                    "parameters": _parameters(
                        [*shared_params, *(raw.get("parameters") or [])], resolver, where
                    ),
                    "request_body": _request_body(raw.get("requestBody"), resolver, where),
                    "responses": _responses(raw.get("responses") or {}, resolver, where),
                }
    return {"format": CONTRACT_FORMAT, "operations": operations}


def dump_contract(contract: Mapping[str, Any]) -> str:
    """The contract as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(contract, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _server_urls(servers: Any) -> list[str]:
    return [str(s["url"]).rstrip("/") for s in servers or [] if isinstance(s, dict) and "url" in s]


class _Resolver:
    """Local `$ref` resolution (`#/components/...`), with a guard against reference cycles."""

    def __init__(self, document: Mapping[str, Any], file_name: str) -> None:
        self._document = document
        self._file = file_name

    def deref(self, node: Any, where: str, seen: tuple[str, ...] = ()) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise ContractError(f"{self._file}: {where}: only local $refs are supported, got {ref!r}")
            if ref in seen:
                raise ContractError(f"{self._file}: {where}: $ref cycle through {ref}")
            seen = (*seen, ref)
            target: Any = self._document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise ContractError(f"{self._file}: {where}: $ref {ref} does not resolve")
                target = target[part]
            node = target
        return node

    def schema(self, node: Any, where: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        """The facts of a schema, every `$ref` inlined."""
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise ContractError(f"{self._file}: {where}: recursive schema through {ref}")
            return self.schema(self.deref(node, where, seen), where, (*seen, ref))
        if not isinstance(node, dict):
            raise ContractError(f"{self._file}: {where}: a schema must be an object")
        facts: dict[str, Any] = {k: v for k, v in node.items() if k in _SCHEMA_FACTS}
        if "properties" in node:
            facts["properties"] = {
                name: self.schema(sub, f"{where}.{name}", seen)
                for name, sub in (node["properties"] or {}).items()
            }
        for key in _SCHEMA_NESTED:
            if isinstance(node.get(key), dict):
                facts[key] = self.schema(node[key], f"{where}.{key}", seen)
            elif isinstance(node.get(key), bool):
                facts[key] = node[key]
        for key in _SCHEMA_LISTS:
            if isinstance(node.get(key), list):
                facts[key] = [
                    self.schema(sub, f"{where}.{key}[{i}]", seen) for i, sub in enumerate(node[key])
                ]
        return facts


def _parameters(raw: list[Any], resolver: _Resolver, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in raw:
        param = resolver.deref(entry, where)
        if not isinstance(param, dict) or "name" not in param or "in" not in param:
            raise ContractError(f"{where}: a parameter needs name and in")
        name = str(param["name"])
        out[name] = {
            "in": param["in"],
            "required": bool(param.get("required", param["in"] == "path")),
            "schema": resolver.schema(param.get("schema") or {}, f"{where} parameter {name}"),
        }
    return out


def _content(raw: Any, resolver: _Resolver, where: str) -> dict[str, Any]:
    content = raw or {}
    out: dict[str, Any] = {}
    for media_type in sorted(content):
        body = content[media_type] or {}
        out[media_type] = resolver.schema(body["schema"], f"{where} {media_type}") if "schema" in body else {}
    return out


def _request_body(raw: Any, resolver: _Resolver, where: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    body = resolver.deref(raw, where)
    return {
        "required": bool(body.get("required", False)),
        "content": _content(body.get("content"), resolver, where),
    }


def _responses(raw: Mapping[str, Any], resolver: _Resolver, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in sorted(raw, key=str):
        response = resolver.deref(raw[status], f"{where} response {status}")
        out[str(status)] = {
            "content": _content(response.get("content"), resolver, f"{where} response {status}")
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m gumloop_mcp.contract.openapi FOLDER OUT`: write the contract of FOLDER's documents."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder", type=Path, help="the folder of Gumloop's OpenAPI documents")
    parser.add_argument("out", type=Path, help="the contract JSON file to write")
    parser.add_argument(
        "--check", action="store_true", help="fail when OUT is not up to date instead of writing"
    )
    args = parser.parse_args(argv)
    try:
        text = dump_contract(build_contract(load_documents(args.folder)))
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run scripts/gumloop-contract", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(json.loads(text)['operations'])} operations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
