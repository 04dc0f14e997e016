"""The JSON Schema checks both services share: field-level violations and the compiled-validator cache."""

from __future__ import annotations

from typing import Any

from gumloop_mcp.runtime import compiled_validator, schema_violations

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer"},
        "state": {"enum": ["RUNNING", "DONE"]},
        "items": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}},
    },
    "required": ["limit", "state"],
    "additionalProperties": False,
}


def test_each_violation_names_its_field_and_what_was_expected() -> None:
    violations = schema_violations(SCHEMA, {"colour": 1, "items": [{"id": 7}]})
    # Each once, though jsonschema reports `required` once per missing name.
    assert violations == [
        ("limit", "is required"),
        ("state", "is required"),
        ("colour", "is not a known argument; expected one of: items, limit, state"),
        ("items[0].id", "must be of type string, got integer"),
    ]


def test_prefix_enum_and_limit() -> None:
    violations = schema_violations(SCHEMA, {"limit": "ten", "state": "GONE"}, prefix="args")
    assert violations == [
        ("args.limit", "must be of type integer, got string"),
        ("args.state", 'must be one of "RUNNING", "DONE"'),
    ]
    assert len(schema_violations(SCHEMA, {"limit": "x", "state": 1}, limit=1)) == 1
    assert schema_violations(SCHEMA, {"limit": 1, "state": "DONE"}) == []


def test_a_schema_is_compiled_once_per_object() -> None:
    assert compiled_validator(SCHEMA) is compiled_validator(SCHEMA)
    twin = dict(SCHEMA)
    assert compiled_validator(twin) is not compiled_validator(SCHEMA)
