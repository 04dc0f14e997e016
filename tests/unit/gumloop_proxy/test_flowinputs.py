"""Unit tests: flow input schemas, normalization and validation messages."""

from __future__ import annotations

import jsonschema
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy import errors
from services.gumloop_proxy.flowinputs import (
    derive_schema,
    inputs_from_get_inputs,
    normalize_pipeline_inputs,
    to_upstream,
    validate_pipeline_inputs,
)

INPUTS = [
    pb.FlowInput(name="topic", data_type="string", description="What to write about"),
    pb.FlowInput(name="report", data_type="file"),
]


def test_schema_has_string_and_file_inputs_all_required_and_no_extras():
    """The derived schema is a valid strict JSON Schema describing string and file inputs."""
    schema = derive_schema(INPUTS)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["topic", "report"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["topic"]["description"] == "What to write about"
    assert schema["properties"]["report"]["type"] == "string"
    assert "upload_file" in schema["properties"]["report"]["description"]


def test_both_input_shapes_normalize_to_a_mapping():
    """{name: value} and [{input_name, value}] give the same mapping."""
    assert normalize_pipeline_inputs({"a": "1"}) == {"a": "1"}
    assert normalize_pipeline_inputs([{"input_name": "a", "value": "1"}]) == {"a": "1"}
    assert normalize_pipeline_inputs(None) == {}


def test_other_shapes_are_refused_naming_the_path():
    """Wrong shapes raise InvalidArguments naming where."""
    with pytest.raises(errors.InvalidArguments) as caught:
        normalize_pipeline_inputs("x")
    assert caught.value.violations[0][0] == "pipeline_inputs"
    with pytest.raises(errors.InvalidArguments) as caught:
        normalize_pipeline_inputs([{"input_name": "a", "value": "1"}, {"name": "b"}, {"input_name": "a"}])
    fields = [f for f, _ in caught.value.violations]
    assert fields == ["pipeline_inputs[1]", "pipeline_inputs[2].input_name"]


def test_validation_reports_one_violation_per_bad_field():
    """Unknown, wrongly typed and missing inputs each get their own violation."""
    schema = derive_schema(INPUTS)
    with pytest.raises(errors.InvalidArguments) as caught:
        validate_pipeline_inputs(schema, {"x": "1", "report": 5})
    violations = dict(caught.value.violations)
    assert violations["pipeline_inputs.x"] == 'unknown input "x"; this flow takes: topic, report'
    assert violations["pipeline_inputs.report"].startswith("expected a string")
    assert "got a number" in violations["pipeline_inputs.report"]
    assert violations["pipeline_inputs.topic"] == "is required"
    assert len(violations) == 3


def test_valid_inputs_pass_and_go_upstream_as_a_list():
    """Valid inputs pass and are sent as Gumloop's input_name/value list."""
    values = {"topic": "cats", "report": "r.pdf"}
    validate_pipeline_inputs(derive_schema(INPUTS), values)
    assert to_upstream(values) == [
        {"input_name": "topic", "value": "cats"},
        {"input_name": "report", "value": "r.pdf"},
    ]


def test_get_inputs_answer_is_parsed_skipping_junk():
    """get_inputs bodies become FlowInputs; nameless entries are skipped."""
    body = {
        "inputs": [{"name": "a", "data_type": "file", "description": "d"}, {"name": ""}, 3, {"name": "b"}]
    }
    parsed = inputs_from_get_inputs(body)
    assert [(i.name, i.data_type, i.description) for i in parsed] == [("a", "file", "d"), ("b", "string", "")]
    assert inputs_from_get_inputs({"inputs": "nope"}) == []
