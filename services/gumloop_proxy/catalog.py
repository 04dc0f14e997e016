"""The operation catalog: a declarative data file (catalog.json) and the loader that checks it.

Each operation in the file declares its route (method, host, path), its arguments with their
placement (path, query, body, multipart field or file) and JSON Schema, and facts a caller needs
(kind, resource, tags, async work, pagination, streaming). The loader turns the argument list
into a flat, `$ref`-free input schema plus the lossless `Parameter` list, validates the whole
file at startup (a broken catalog stops the service, it never serves half a catalog), and
computes `catalog_version` as a digest of the file.

Account-derived fields (`user_id`, `project_id`, `team_id`) are never arguments: the request
builder fills them from the account (`account_fields`, `team_id_in_body`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

__all__ = [
    "ACCOUNT_FIELDS",
    "Catalog",
    "CatalogError",
    "OperationSpec",
    "ParameterSpec",
    "default_catalog",
    "load_catalog",
]

CATALOG_PATH: Final = Path(__file__).with_name("catalog.json")
ACCOUNT_FIELDS: Final = frozenset({"user_id", "project_id", "team_id"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_PATH_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
_KINDS: Final = {
    "list": pb.OPERATION_KIND_LIST,
    "get": pb.OPERATION_KIND_GET,
    "create": pb.OPERATION_KIND_CREATE,
    "update": pb.OPERATION_KIND_UPDATE,
    "delete": pb.OPERATION_KIND_DELETE,
    "custom": pb.OPERATION_KIND_CUSTOM,
}
_HOSTS: Final = {"API": pb.HOST_API, "STREAM": pb.HOST_STREAM}
_LOCATIONS: Final = {
    "path": pb.PARAMETER_LOCATION_PATH,
    "query": pb.PARAMETER_LOCATION_QUERY,
    "body": pb.PARAMETER_LOCATION_BODY,
    "multipart_field": pb.PARAMETER_LOCATION_MULTIPART_FIELD,
    "multipart_file": pb.PARAMETER_LOCATION_MULTIPART_FILE,
}
_PAGINATION: Final = {
    "NONE": pb.PAGINATION_STYLE_NONE,
    "CURSOR": pb.PAGINATION_STYLE_CURSOR,
    "PAGE_NUMBER": pb.PAGINATION_STYLE_PAGE_NUMBER,
}
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_RETURN_TYPES: Final = frozenset({"string", "array", "object", "boolean", "integer", "number"})
_OP_KEYS: Final = frozenset(
    {
        "name", "kind", "resource", "resource_plural", "method", "host", "path", "title", "description",
        "tags", "params", "account_fields", "team_id_in_body", "read_only", "destructive", "idempotent",
        "async_work", "streams", "pagination", "has_dynamic_inputs", "returns", "fixed_query", "upstream",
    }
)  # fmt: skip
# The body argument whose wire name is "*" is sent as the whole JSON body (free-form configs).
WHOLE_BODY: Final = "*"


class CatalogError(ValueError):
    """The catalog file is inconsistent; the message lists every problem found."""


@dataclass(frozen=True)
class ParameterSpec:
    """Where one argument goes upstream."""

    name: str
    location: str  # a key of _LOCATIONS
    wire_name: str
    required: bool


@dataclass(frozen=True)
class OperationSpec:
    """One validated catalog operation, ready for the request builder and the servicer."""

    name: str
    kind: str
    method: str
    host: str
    path: str
    parameters: tuple[ParameterSpec, ...]
    input_schema: Mapping[str, Any]
    account_fields: tuple[str, ...]
    team_id_in_body: bool
    fixed_query: Mapping[str, str]
    streams: bool
    idempotent: bool
    read_only: bool
    has_dynamic_inputs: bool
    returns: Mapping[str, str]
    proto: pb.Operation = field(repr=False, compare=False)

    def parameter(self, name: str) -> ParameterSpec | None:
        """The parameter called `name`, if the operation has one."""
        return next((p for p in self.parameters if p.name == name), None)


@dataclass(frozen=True)
class Catalog:
    """All operations by name, and the digest of the file they came from."""

    operations: Mapping[str, OperationSpec]
    version: str

    def get(self, name: str) -> OperationSpec | None:
        """The operation called `name`, or None."""
        return self.operations.get(name)

    def select(
        self, kinds: Iterable[int] = (), tags: Iterable[str] = (), names: Iterable[str] = ()
    ) -> list[pb.Operation]:
        """Operations matching every given filter (empty filters match all), ordered by name."""
        kind_set, tag_set, name_set = set(kinds), set(tags), set(names)
        out = []
        for name in sorted(self.operations):
            op = self.operations[name].proto
            if kind_set and op.kind not in kind_set:
                continue
            if tag_set and not tag_set.intersection(op.tags):
                continue
            if name_set and name not in name_set:
                continue
            out.append(op)
        return out


def default_catalog() -> Catalog:
    """The catalog shipped next to this module."""
    return load_catalog(CATALOG_PATH)


def load_catalog(path: Path) -> Catalog:
    """Read and validate a catalog file; raise CatalogError naming every problem."""
    raw = path.read_bytes()
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise CatalogError(f"{path}: not JSON: {exc}") from exc
    return parse_catalog(document, version=hashlib.sha256(raw).hexdigest()[:16])


def parse_catalog(document: Any, *, version: str) -> Catalog:
    """Validate a parsed catalog document and build its operations."""
    problems: list[str] = []
    if not isinstance(document, dict) or not isinstance(document.get("operations"), list):
        raise CatalogError("catalog must be an object with an `operations` list")
    shared = document.get("shared") or {}
    specs: dict[str, OperationSpec] = {}
    seen_kind_resource: dict[tuple[str, str], str] = {}
    for index, entry in enumerate(document["operations"]):
        where = f"operations[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not an object")
            continue
        name = entry.get("name")
        where = f"{where} ({name})"
        before = len(problems)
        spec = _build_operation(entry, shared, where, problems)
        if spec is None or len(problems) > before:
            continue
        if spec.name in specs:
            problems.append(f"{where}: duplicate name {spec.name!r}")
            continue
        if spec.kind != "custom":
            key = (spec.kind, spec.proto.resource)
            if key in seen_kind_resource:
                problems.append(
                    f"{where}: kind {spec.kind!r} and resource {spec.proto.resource!r} "
                    f"already used by {seen_kind_resource[key]!r}"
                )
                continue
            seen_kind_resource[key] = spec.name
        specs[spec.name] = spec
    for spec in specs.values():
        work = spec.proto.async_work
        if spec.proto.starts_async_work:
            status = specs.get(work.status_operation)
            if status is None:
                problems.append(f"{spec.name}: async status_operation {work.status_operation!r} is unknown")
            elif status.parameter(work.status_id_parameter) is None:
                problems.append(
                    f"{spec.name}: {work.status_operation} has no parameter {work.status_id_parameter!r}"
                )
    if problems:
        raise CatalogError("invalid catalog:\n  " + "\n  ".join(problems))
    return Catalog(operations=specs, version=version)


def _resolve(schema: Any, shared: Mapping[str, Any], where: str, problems: list[str]) -> Any:
    """Inline `{"$shared": name}` references so that the published schema has no references."""
    if isinstance(schema, dict):
        if "$shared" in schema:
            target = shared.get(schema["$shared"])
            if target is None:
                problems.append(f"{where}: unknown $shared {schema['$shared']!r}")
                return {}
            merged = {**copy.deepcopy(target), **{k: v for k, v in schema.items() if k != "$shared"}}
            return _resolve(merged, shared, where, problems)
        if "$ref" in schema:
            problems.append(f"{where}: $ref is not allowed, inline the schema")
        return {k: _resolve(v, shared, where, problems) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolve(v, shared, where, problems) for v in schema]
    return schema


def _build_operation(
    entry: Mapping[str, Any], shared: Mapping[str, Any], where: str, problems: list[str]
) -> OperationSpec | None:
    unknown = set(entry) - _OP_KEYS
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}: name must be snake_case, at most 48 characters")
        return None
    kind = str(entry.get("kind"))
    method, host, path = str(entry.get("method")), str(entry.get("host")), entry.get("path")
    if kind not in _KINDS:
        problems.append(f"{where}: kind must be one of {sorted(_KINDS)}")
    if method not in _METHODS:
        problems.append(f"{where}: method must be one of {sorted(_METHODS)}")
    if host not in _HOSTS:
        problems.append(f"{where}: host must be API or STREAM")
    if not isinstance(path, str) or not path.startswith("/"):
        problems.append(f"{where}: path must start with /")
        path = "/"
    problems.extend(
        f"{where}: {key} is required"
        for key in ("resource", "title", "description")
        if not isinstance(entry.get(key), str) or not entry[key].strip()
    )
    resource = str(entry.get("resource", ""))
    if kind == "list" and not entry.get("resource_plural"):
        problems.append(f"{where}: list operations need resource_plural")
    tags = entry.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and _NAME.match(t) for t in tags):
        problems.append(f"{where}: tags must be a non-empty list of snake_case words")
        tags = []

    params: list[ParameterSpec] = []
    properties: dict[str, Any] = {}
    required: list[str] = []
    raw_params = entry.get("params")
    if not isinstance(raw_params, list):
        problems.append(f"{where}: params must be a list")
        raw_params = []
    for raw in raw_params:
        param = _build_parameter(raw, shared, where, problems, properties)
        if param is None:
            continue
        if param.name in {p.name for p in params}:
            problems.append(f"{where}: duplicate parameter {param.name!r}")
        params.append(param)
        if param.required:
            required.append(param.name)

    declared_path = set(_PATH_PARAM.findall(path))
    path_params = {p.wire_name for p in params if p.location == "path"}
    problems.extend(
        f"{where}: path parameter {{{m}}} is not declared" for m in sorted(declared_path - path_params)
    )
    problems.extend(
        f"{where}: parameter {extra!r} is in the path but the path has no {{{extra}}}"
        for extra in sorted(path_params - declared_path)
    )
    for p in params:
        if p.location == "path" and not p.required:
            problems.append(f"{where}: path parameter {p.name!r} must be required")
        if method == "GET" and p.location in ("body", "multipart_field", "multipart_file"):
            problems.append(f"{where}: GET cannot carry {p.location} parameter {p.name!r}")
    locations = {p.location for p in params}
    if {"body"} & locations and {"multipart_field", "multipart_file"} & locations:
        problems.append(f"{where}: cannot mix JSON body and multipart parameters")
    whole = [p for p in params if p.location == "body" and p.wire_name == WHOLE_BODY]
    if len(whole) > 1 or (whole and len([p for p in params if p.location == "body"]) > 1):
        problems.append(f"{where}: a whole-body parameter must be the only body parameter")

    account_fields = entry.get("account_fields", [])
    if not isinstance(account_fields, list) or not set(account_fields) <= ACCOUNT_FIELDS:
        problems.append(f"{where}: account_fields must be a subset of {sorted(ACCOUNT_FIELDS)}")
        account_fields = []

    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    try:
        Draft202012Validator.check_schema(input_schema)
    except SchemaError as exc:
        problems.append(f"{where}: input schema invalid: {exc.message}")

    streams = bool(entry.get("streams", False))
    proto = pb.Operation(
        name=name,
        kind=_KINDS.get(kind, pb.OPERATION_KIND_UNSPECIFIED),
        resource=resource,
        resource_plural=str(entry.get("resource_plural", "")),
        http_method=str(method),
        host=_HOSTS.get(host, pb.HOST_UNSPECIFIED),
        path=path,
        title=str(entry.get("title", "")),
        description=str(entry.get("description", "")),
        tags=tags,
        input_schema_json=json.dumps(input_schema, sort_keys=True),
        parameters=[
            pb.Parameter(
                name=p.name,
                location=_LOCATIONS[p.location],
                wire_name=p.wire_name if p.wire_name != p.name else "",
                required=p.required,
            )
            for p in params
        ],
        read_only=bool(entry.get("read_only", False)),
        destructive=bool(entry.get("destructive", False)),
        idempotent=bool(entry.get("idempotent", False)),
        streams=streams,
        has_dynamic_inputs=bool(entry.get("has_dynamic_inputs", False)),
    )
    if proto.read_only and proto.destructive:
        problems.append(f"{where}: an operation cannot be both read_only and destructive")
    returns = entry.get("returns", {})
    if not isinstance(returns, dict) or not set(returns.values()) <= _RETURN_TYPES:
        problems.append(f"{where}: returns maps body fields to one of {sorted(_RETURN_TYPES)}")
        returns = {}
    if returns:
        proto.output_schema_json = json.dumps(
            {"type": "object", "properties": {k: {"type": v} for k, v in returns.items()}}, sort_keys=True
        )
    _apply_async(entry.get("async_work"), proto, where, problems)
    _apply_pagination(entry.get("pagination"), proto, kind, params, where, problems)
    fixed_query = entry.get("fixed_query", {})
    if not isinstance(fixed_query, dict) or not all(isinstance(v, str) for v in fixed_query.values()):
        problems.append(f"{where}: fixed_query maps names to strings")
        fixed_query = {}
    return OperationSpec(
        name=name,
        kind=str(kind),
        method=str(method),
        host=str(host),
        path=path,
        parameters=tuple(params),
        input_schema=input_schema,
        account_fields=tuple(account_fields),
        team_id_in_body=bool(entry.get("team_id_in_body", False)),
        fixed_query=fixed_query,
        streams=streams,
        idempotent=proto.idempotent,
        read_only=proto.read_only,
        has_dynamic_inputs=proto.has_dynamic_inputs,
        returns=returns,
        proto=proto,
    )


def _build_parameter(
    raw: Any, shared: Mapping[str, Any], where: str, problems: list[str], properties: dict[str, Any]
) -> ParameterSpec | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        problems.append(f"{where}: every parameter needs a name")
        return None
    pname = raw["name"]
    if pname in ACCOUNT_FIELDS:
        problems.append(f"{where}: {pname!r} comes from the account and cannot be an argument")
        return None
    location = raw.get("in")
    if location not in _LOCATIONS:
        problems.append(
            f"{where}: parameter {pname!r} has location {location!r}, not one of {sorted(_LOCATIONS)}"
        )
        return None
    schema = _resolve(raw.get("schema"), shared, f"{where}.{pname}", problems)
    if not isinstance(schema, dict) or not schema:
        problems.append(f"{where}: parameter {pname!r} needs a schema")
        return None
    if not schema.get("description"):
        problems.append(f"{where}: parameter {pname!r} needs a description")
    properties[pname] = schema
    return ParameterSpec(
        name=pname,
        location=location,
        wire_name=str(raw.get("wire_name") or pname),
        required=bool(raw.get("required")),
    )


def _apply_async(raw: Any, proto: pb.Operation, where: str, problems: list[str]) -> None:
    if raw is None:
        return
    keys = ("status_operation", "id_field", "status_id_parameter", "state_field")
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) and raw[k] for k in keys):
        problems.append(f"{where}: async_work needs {', '.join(keys)}")
        return
    states = raw.get("terminal_states")
    if not isinstance(states, list) or not states:
        problems.append(f"{where}: async_work needs terminal_states")
        return
    proto.starts_async_work = True
    proto.async_work.CopyFrom(pb.AsyncWork(**{k: raw[k] for k in keys}, terminal_states=states))


def _apply_pagination(
    raw: Any, proto: pb.Operation, kind: Any, params: Sequence[ParameterSpec], where: str, problems: list[str]
) -> None:
    if raw is None:
        if kind == "list":
            problems.append(f"{where}: list operations need pagination")
        return
    if not isinstance(raw, dict) or raw.get("style") not in _PAGINATION:
        problems.append(f"{where}: pagination.style must be one of {sorted(_PAGINATION)}")
        return
    names = {p.name for p in params}
    problems.extend(
        f"{where}: pagination.{key} {raw[key]!r} is not a parameter"
        for key in ("limit_parameter", "cursor_parameter")
        if raw.get(key) and raw[key] not in names
    )
    if raw["style"] != "NONE" and not raw.get("cursor_parameter"):
        problems.append(f"{where}: paged operations need pagination.cursor_parameter")
    proto.pagination.CopyFrom(
        pb.Pagination(
            style=_PAGINATION[raw["style"]],
            items_field=str(raw.get("items_field", "")),
            limit_parameter=str(raw.get("limit_parameter", "")),
            cursor_parameter=str(raw.get("cursor_parameter", "")),
            next_cursor_field=str(raw.get("next_cursor_field", "")),
            max_page_size=int(raw.get("max_page_size", 0)),
        )
    )
