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


def test_subschemas_that_accept_everything_are_not_descended_into() -> None:
    """A list tool's output schema (`"items": {}`) is checked without visiting each element: the
    validator's schema drops that `items`, keeps a property that happens to be called `items`, and the
    verdicts and errors stay the same."""
    from gumloop_mcp.runtime._jsonschema import _without_no_op_subschemas

    page_schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {}},
            "meta": {"type": "object", "additionalProperties": {"description": "anything"}},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["items"],
    }
    pruned = _without_no_op_subschemas(page_schema)
    assert pruned["properties"]["items"] == {"type": "array"}
    assert pruned["properties"]["meta"] == {"type": "object"}
    assert pruned["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert page_schema["properties"]["items"] == {"type": "array", "items": {}}  # the original is untouched

    validator = compiled_validator(page_schema)
    assert validator.is_valid({"items": [1, "a", {"b": None}], "meta": {"x": [1]}, "tags": ["t"]})
    assert schema_violations(page_schema, {"items": "no", "tags": [1]}) == [
        ("items", "must be of type array, got string"),
        ("tags[0]", "must be of type string, got integer"),
    ]
    assert schema_violations(page_schema, {}) == [("items", "is required")]


def test_subschemas_are_kept_where_dropping_them_could_change_a_verdict() -> None:
    from gumloop_mcp.runtime._jsonschema import _without_no_op_subschemas

    # unevaluatedItems/Properties see what items/additionalProperties evaluated.
    tail = {"type": "array", "prefixItems": [{"type": "integer"}], "items": {}, "unevaluatedItems": False}
    assert _without_no_op_subschemas(tail) == tail
    assert compiled_validator(tail).is_valid([1, "x"])
    closed = {"type": "object", "additionalProperties": {}, "unevaluatedProperties": False}
    assert _without_no_op_subschemas(closed) == closed
    # false and real schemas are not "accepts everything".
    strict = {"type": "object", "additionalProperties": False, "items": {"minimum": 1}}
    assert _without_no_op_subschemas(strict) == strict
    # A $ref could point into a dropped part: such a schema is left as it is.
    referring = {"$defs": {"any": {"type": "array", "items": {}}}, "$ref": "#/$defs/any/items"}
    assert _without_no_op_subschemas(referring) is referring
