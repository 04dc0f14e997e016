"""Dynamic input schemas of saved flows: derive a JSON Schema from declared inputs and validate against it.

Gumloop's `get_inputs` lists a flow's input nodes (`string` or `file`). `start_pipeline` takes
`pipeline_inputs` as `[{"input_name": ..., "value": ...}]`; callers may also pass `{name: value}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from .errors import InvalidArguments

__all__ = [
    "derive_schema",
    "inputs_from_get_inputs",
    "normalize_pipeline_inputs",
    "to_upstream",
    "validate_pipeline_inputs",
]

_FILE_HINT = "A file: the name of a file uploaded with upload_file, or an http(s) URL to fetch it from."


def derive_schema(inputs: Sequence[pb.FlowInput]) -> dict[str, Any]:
    """A JSON Schema object for a flow's `pipeline_inputs` given as {input name: value}."""
    properties: dict[str, Any] = {}
    for item in inputs:
        if item.data_type == "file":
            description = f"{item.description} ({_FILE_HINT})" if item.description else _FILE_HINT
            prop: dict[str, Any] = {"type": "string", "description": description, "x-gumloop-input": "file"}
        else:
            prop = {"type": "string", "x-gumloop-input": "string"}
            if item.description:
                prop["description"] = item.description
        properties[item.name] = prop
    return {
        "type": "object",
        "properties": properties,
        # get_inputs declares no optionality, so every input is required.
        "required": [item.name for item in inputs],
        "additionalProperties": False,
    }


def normalize_pipeline_inputs(value: Any) -> dict[str, Any]:
    """{name: value} from either {name: value} or [{"input_name", "value"}]; other shapes are refused."""
    if value is None:
        return {}
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str) or not k]
        if bad:
            raise InvalidArguments([("pipeline_inputs", "input names must be non-empty strings")])
        return dict(value)
    if isinstance(value, list):
        result: dict[str, Any] = {}
        violations: list[tuple[str, str]] = []
        for index, entry in enumerate(value):
            path = f"pipeline_inputs[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("input_name"), str):
                violations.append((path, 'expected an object {"input_name": <string>, "value": ...}'))
                continue
            extra = sorted(set(entry) - {"input_name", "value"})
            if extra:
                violations.append(
                    (path, f"unexpected keys {', '.join(extra)}; expected input_name and value")
                )
                continue
            name = entry["input_name"]
            if not name:
                violations.append((f"{path}.input_name", "must not be empty"))
            elif name in result:
                violations.append((f"{path}.input_name", f'input "{name}" is given twice'))
            else:
                result[name] = entry.get("value")
        if violations:
            raise InvalidArguments(violations)
        return result
    raise InvalidArguments(
        [("pipeline_inputs", 'expected an object {name: value} or a list of {"input_name", "value"}')]
    )


def validate_pipeline_inputs(schema: dict[str, Any], inputs: dict[str, Any]) -> None:
    """Raise InvalidArguments with one violation per bad, missing or unknown input."""
    properties: dict[str, Any] = schema.get("properties", {})
    known = ", ".join(properties) or "(no inputs)"
    violations: list[tuple[str, str]] = []
    for name, value in inputs.items():
        field = f"pipeline_inputs.{name}"
        prop = properties.get(name)
        if prop is None:
            violations.append((field, f'unknown input "{name}"; this flow takes: {known}'))
        elif not isinstance(value, str):
            what = "a string"
            if prop.get("x-gumloop-input") == "file":
                what = "a string: a file name uploaded with upload_file or a URL"
            violations.append((field, f"expected {what}, got {_json_type(value)}"))
    violations.extend(
        (f"pipeline_inputs.{name}", "is required")
        for name in schema.get("required", [])
        if name not in inputs
    )
    if violations:
        raise InvalidArguments(violations, "invalid pipeline_inputs")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def to_upstream(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The `pipeline_inputs` list start_pipeline expects."""
    return [{"input_name": name, "value": value} for name, value in inputs.items()]


def inputs_from_get_inputs(body: dict[str, Any]) -> list[pb.FlowInput]:
    """FlowInputs from Gumloop's get_inputs answer (a list under `inputs`, or the body being a list)."""
    raw: Any = body.get("inputs", body.get("input_list", [])) if isinstance(body, dict) else body
    if not isinstance(raw, list):
        return []
    result: list[pb.FlowInput] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        name = item.get("name") or item.get("input_name")
        if not isinstance(name, str) or not name:
            continue
        data_type = str(item.get("data_type") or item.get("type") or "string").lower()
        result.append(
            pb.FlowInput(
                name=name,
                data_type="file" if data_type == "file" else "string",
                description=str(item.get("description") or ""),
            )
        )
    return result
