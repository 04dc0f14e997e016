"""The operation catalog: a declarative data file (catalog.json) and the typed models that check it.

Each operation in the file declares its route (method, host, path), its arguments with their
placement (path, query, body, multipart field or file) and JSON Schema, facts a caller needs
(kind, resource, tags, async work, pagination, streaming) and where those facts come from
(`upstream`: Gumloop's OpenAPI documents, its official SDK, or our notes; deviations and inferred
facts named). The pydantic models below (strict, unknown keys refused) validate the whole file at
startup: a broken catalog stops the service with every problem named by operation and field, it
never serves half a catalog. The loader then turns the argument list into a flat, `$ref`-free
input schema plus the lossless `Parameter` list, and computes `catalog_version` as a digest of the
file.

Account-derived fields (`user_id`, `project_id`, `team_id`) are never arguments: the request
builder fills them from the account (`account_fields`, `team_id_in_body`; `team_unscoped` operations,
which Gumloop's SDK sends without the account's team, get no team_id at all).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

__all__ = [
    "ACCOUNT_FIELDS",
    "Catalog",
    "CatalogDocument",
    "CatalogError",
    "OperationEntry",
    "OperationSpec",
    "ParameterSpec",
    "default_catalog",
    "load_catalog",
    "parse_catalog",
]

CATALOG_PATH: Final = Path(__file__).with_name("catalog.json")
ACCOUNT_FIELDS: Final = frozenset({"user_id", "project_id", "team_id"})
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
# The body argument whose wire name is "*" is sent as the whole JSON body (free-form configs).
WHOLE_BODY: Final = "*"

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
Kind = Literal["list", "get", "create", "update", "delete", "custom"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Location = Literal["path", "query", "body", "multipart_field", "multipart_file"]
JsonType = Literal["string", "array", "object", "boolean", "integer", "number"]
AccountField = Literal["user_id", "project_id", "team_id"]


class CatalogError(ValueError):
    """The catalog file is inconsistent; the message lists every problem found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class ParamEntry(_Strict):
    """One argument: its name, where it goes upstream, and its JSON Schema."""

    name: Name
    location: Location = Field(alias="in")
    wire_name: str | None = Field(default=None, min_length=1)
    required: bool = False
    json_schema: dict[str, Any] = Field(alias="schema", min_length=1)

    @property
    def wire(self) -> str:
        return self.wire_name or self.name


class AsyncWorkEntry(_Strict):
    """The operation starts work that `status_operation` reports on."""

    status_operation: Name
    id_field: Text
    status_id_parameter: Name
    state_field: Text
    terminal_states: list[Text] = Field(min_length=1)
    # A work that may pause for a human: the states it pauses in, where its status answer lists what
    # waits, and the operation (and its argument) that answers. All four or none.
    paused_states: list[Text] = Field(default_factory=list)
    pending_field: str = ""
    answer_operation: str = ""
    answer_parameter: str = ""
    # Optional with a pause: the operation whose new input resumes the paused work instead.
    resume_operation: str = ""
    # Optional: the operation that stops the work (it takes the id in `status_id_parameter`).
    cancel_operation: str = ""

    @model_validator(mode="after")
    def _pausing(self) -> AsyncWorkEntry:
        given = [bool(self.paused_states), bool(self.pending_field), bool(self.answer_operation),
                 bool(self.answer_parameter)]  # fmt: skip
        if any(given) and not all(given):
            raise ValueError(
                "paused_states, pending_field, answer_operation and answer_parameter go together"
            )
        if self.resume_operation and not self.paused_states:
            raise ValueError("resume_operation needs paused_states")
        both = {s.lower() for s in self.paused_states} & {s.lower() for s in self.terminal_states}
        if both:
            raise ValueError(f"states both paused and terminal: {sorted(both)}")
        return self


class PaginationEntry(_Strict):
    """How a list operation pages upstream."""

    style: Literal["NONE", "CURSOR", "PAGE_NUMBER"]
    items_field: str = ""
    limit_parameter: str = ""
    cursor_parameter: str = ""
    next_cursor_field: str = ""
    max_page_size: int = Field(default=0, ge=0)


class UpstreamEntry(_Strict):
    """Where the operation's facts come from.

    `source`: `openapi` (Gumloop's published OpenAPI documents; held to them by the contract test),
    `sdk` (only Gumloop's official SDK calls it) or `notes` (neither; our research notes).
    `reference` names the SDK method or note. `deviations` maps a fact the catalog knowingly states
    differently from the documents to the reason; `inferred` maps a fact Gumloop does not document
    at all (for example the fields of an answer) to how we know it.
    """

    source: Literal["openapi", "sdk", "notes"]
    reference: str = ""
    deviations: dict[str, Text] = Field(default_factory=dict)
    inferred: dict[str, Text] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _referenced(self) -> UpstreamEntry:
        if self.source != "openapi" and not self.reference.strip():
            raise ValueError(f"source {self.source!r} needs a reference (the SDK method or note)")
        return self


class OperationEntry(_Strict):
    """One catalog operation as written in the file."""

    name: Name
    kind: Kind
    resource: Text
    resource_plural: str = ""
    method: Method
    host: Literal["API", "STREAM"]
    path: Annotated[str, Field(pattern=r"^/")]
    title: Text
    description: Text
    tags: list[Name] = Field(min_length=1)
    params: list[ParamEntry]
    account_fields: list[AccountField] = Field(default_factory=list)
    team_id_in_body: bool = False
    team_unscoped: bool = False
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    async_work: AsyncWorkEntry | None = None
    streams: bool = False
    pagination: PaginationEntry | None = None
    has_dynamic_inputs: bool = False
    returns: dict[str, JsonType] = Field(default_factory=dict)
    fixed_query: dict[str, str] = Field(default_factory=dict)
    # Constant JSON body fields sent on every call (e.g. {"stream": true} on a stream-host POST).
    fixed_body: dict[str, str | bool] = Field(default_factory=dict)
    upstream: UpstreamEntry

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> OperationEntry:
        problems: list[str] = []
        shared = (info.context or {}).get("shared") or {}
        _input_schema(self, shared if isinstance(shared, dict) else {}, problems)
        names = [p.name for p in self.params]
        problems.extend(
            f"duplicate parameter {n!r}" for n in sorted({n for n in names if names.count(n) > 1})
        )
        problems.extend(
            f"{n!r} comes from the account and cannot be an argument" for n in names if n in ACCOUNT_FIELDS
        )
        declared = set(_PATH_PARAM.findall(self.path))
        in_path = {p.wire for p in self.params if p.location == "path"}
        problems.extend(f"path parameter {{{m}}} is not declared" for m in sorted(declared - in_path))
        problems.extend(
            f"parameter {extra!r} is in the path but the path has no {{{extra}}}"
            for extra in sorted(in_path - declared)
        )
        for p in self.params:
            if p.location == "path" and not p.required:
                problems.append(f"path parameter {p.name!r} must be required")
            if p.location == "body" and p.wire in self.fixed_body:
                problems.append(f"body parameter {p.name!r} is also a fixed_body field")
            if self.method == "GET" and p.location in ("body", "multipart_field", "multipart_file"):
                problems.append(f"GET cannot carry {p.location} parameter {p.name!r}")
        locations = {p.location for p in self.params}
        if self.fixed_body and (
            self.method in ("GET", "DELETE") or {"multipart_field", "multipart_file"} & locations
        ):
            problems.append("fixed_body needs a JSON body (not GET, DELETE or multipart)")
        if "body" in locations and {"multipart_field", "multipart_file"} & locations:
            problems.append("cannot mix JSON body and multipart parameters")
        body = [p for p in self.params if p.location == "body"]
        if any(p.wire == WHOLE_BODY for p in body) and len(body) > 1:
            problems.append("a whole-body parameter must be the only body parameter")
        if self.read_only and self.destructive:
            problems.append("an operation cannot be both read_only and destructive")
        if self.kind == "list":
            if not self.resource_plural:
                problems.append("list operations need resource_plural")
            if self.pagination is None:
                problems.append("list operations need pagination")
        if self.pagination is not None:
            page = self.pagination
            problems.extend(
                f"pagination.{key} {value!r} is not a parameter"
                for key, value in (
                    ("limit_parameter", page.limit_parameter),
                    ("cursor_parameter", page.cursor_parameter),
                )
                if value and value not in names
            )
            if page.style != "NONE" and not page.cursor_parameter:
                problems.append("paged operations need pagination.cursor_parameter")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CatalogDocument(_Strict):
    """The whole catalog file."""

    format: Literal[1]
    shared: dict[Name, dict[str, Any]] = Field(default_factory=dict)
    operations: list[OperationEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _coherent(self) -> CatalogDocument:
        problems: list[str] = []
        by_name: dict[str, OperationEntry] = {}
        seen_kind_resource: dict[tuple[str, str], str] = {}
        for op in self.operations:
            if op.name in by_name:
                problems.append(f"{op.name}: duplicate name {op.name!r}")
                continue
            by_name[op.name] = op
            if op.kind != "custom":
                key = (op.kind, op.resource)
                if key in seen_kind_resource:
                    problems.append(
                        f"{op.name}: kind {op.kind!r} and resource {op.resource!r} "
                        f"already used by {seen_kind_resource[key]!r}"
                    )
                seen_kind_resource[key] = op.name
        for op in self.operations:
            work = op.async_work
            if work is None:
                continue
            status = by_name.get(work.status_operation)
            if status is None:
                problems.append(f"{op.name}: async status_operation {work.status_operation!r} is unknown")
            elif work.status_id_parameter not in {p.name for p in status.params}:
                problems.append(f"{op.name}: {status.name} has no parameter {work.status_id_parameter!r}")
            if work.answer_operation:
                answer = by_name.get(work.answer_operation)
                if answer is None:
                    problems.append(f"{op.name}: async answer_operation {work.answer_operation!r} is unknown")
                else:
                    wanted = {work.status_id_parameter, work.answer_parameter}
                    missing = sorted(wanted - {p.name for p in answer.params})
                    if missing:
                        problems.append(f"{op.name}: {answer.name} has no parameter {missing}")
            if work.resume_operation:
                resume = by_name.get(work.resume_operation)
                if resume is None:
                    problems.append(f"{op.name}: async resume_operation {work.resume_operation!r} is unknown")
                elif work.status_id_parameter not in {p.name for p in resume.params}:
                    problems.append(f"{op.name}: {resume.name} has no parameter {work.status_id_parameter!r}")
            if work.cancel_operation:
                stop = by_name.get(work.cancel_operation)
                if stop is None:
                    problems.append(f"{op.name}: async cancel_operation {work.cancel_operation!r} is unknown")
                elif work.status_id_parameter not in {p.name for p in stop.params}:
                    problems.append(f"{op.name}: {stop.name} has no parameter {work.status_id_parameter!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


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
    team_unscoped: bool
    fixed_query: Mapping[str, str]
    fixed_body: Mapping[str, str | bool]
    streams: bool
    idempotent: bool
    read_only: bool
    has_dynamic_inputs: bool
    returns: Mapping[str, str]
    upstream: UpstreamEntry
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
    try:
        shared = document.get("shared") if isinstance(document, dict) else None
        checked = CatalogDocument.model_validate(document, context={"shared": shared})
    except ValidationError as exc:
        raise CatalogError("invalid catalog:\n  " + "\n  ".join(_explain(exc, document))) from None
    return Catalog(
        operations={op.name: _build_operation(op, checked.shared) for op in checked.operations},
        version=version,
    )


def _explain(exc: ValidationError, document: Any) -> list[str]:
    """One line per problem: the operation (by index and name), the field path and what is wrong."""
    lines = []
    operations = document.get("operations") if isinstance(document, dict) else None
    for error in exc.errors():
        loc = list(error["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "operations" and isinstance(loc[1], int):
            entry = operations[loc[1]] if isinstance(operations, list) and loc[1] < len(operations) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"operations[{loc[1]}] ({name})"
            loc = loc[2:]
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] in ("literal_error", "string_pattern_mismatch", "missing", "extra_forbidden"):
            message += f" (got {error['input']!r})" if error["type"] != "missing" else ""
        lines.append(": ".join(x for x in (where, path, message) if x))
    return lines


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


def _input_schema(op: OperationEntry, shared: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The flat input schema of `op` (every `$shared` inlined); problems found are appended."""
    properties = {
        p.name: _resolve(p.json_schema, shared, f"parameter {p.name!r}", problems) for p in op.params
    }
    problems.extend(
        f"parameter {name!r} needs a description"
        for name, schema in properties.items()
        if not (isinstance(schema, dict) and schema.get("description"))
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": [p.name for p in op.params if p.required],
        "additionalProperties": False,
    }
    try:
        Draft202012Validator.check_schema(input_schema)
    except SchemaError as exc:
        problems.append(f"input schema invalid: {exc.message}")
    return input_schema


def _build_operation(op: OperationEntry, shared: Mapping[str, Any]) -> OperationSpec:
    problems: list[str] = []
    input_schema = _input_schema(op, shared, problems)
    if problems:  # validated already: only a changed `shared` could get here
        raise CatalogError(f"{op.name}: " + "; ".join(problems))
    params = tuple(ParameterSpec(p.name, p.location, p.wire, p.required) for p in op.params)
    proto = pb.Operation(
        name=op.name,
        kind=_KINDS[op.kind],
        resource=op.resource,
        resource_plural=op.resource_plural,
        http_method=op.method,
        host=_HOSTS[op.host],
        path=op.path,
        title=op.title,
        description=op.description,
        tags=op.tags,
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
        read_only=op.read_only,
        destructive=op.destructive,
        idempotent=op.idempotent,
        streams=op.streams,
        has_dynamic_inputs=op.has_dynamic_inputs,
    )
    if op.returns:
        proto.output_schema_json = json.dumps(
            {"type": "object", "properties": {k: {"type": v} for k, v in op.returns.items()}}, sort_keys=True
        )
    if op.async_work is not None:
        proto.starts_async_work = True
        proto.async_work.CopyFrom(pb.AsyncWork(**op.async_work.model_dump()))
    if op.pagination is not None:
        page = op.pagination
        proto.pagination.CopyFrom(pb.Pagination(**{**page.model_dump(), "style": _PAGINATION[page.style]}))
    return OperationSpec(
        name=op.name,
        kind=op.kind,
        method=op.method,
        host=op.host,
        path=op.path,
        parameters=params,
        input_schema=input_schema,
        account_fields=tuple(op.account_fields),
        team_id_in_body=op.team_id_in_body,
        team_unscoped=op.team_unscoped,
        fixed_query=dict(op.fixed_query),
        fixed_body=dict(op.fixed_body),
        streams=op.streams,
        idempotent=op.idempotent,
        read_only=op.read_only,
        has_dynamic_inputs=op.has_dynamic_inputs,
        returns=dict(op.returns),
        upstream=op.upstream,
        proto=proto,
    )
