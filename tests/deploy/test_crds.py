"""The components' custom resources validate against their published CRD schemas (tests/deploy/crds)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .components import render_with
from .conftest import OVERLAYS
from .test_components import COMPONENT_NAMES, CUSTOM_GROUPS

CRDS = Path(__file__).resolve().parent / "crds"


def _strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its properties and
    says nothing else about extra fields (the API server prunes unknown fields; here they fail)."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _load() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> its strict JSON Schema."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert {"repo", "path", "commit"} <= set(data["source"]), (
            f"{path.name} does not say where it came from"
        )
        assert len(data["source"]["commit"]) == 40
        schemas[(f"{data['group']}/{data['version']}", data["kind"])] = _strict(data["openAPIV3Schema"])
    return schemas


SCHEMAS = _load()


@pytest.fixture(scope="module")
def custom_objects(kubectl: str) -> list[tuple[str, dict[str, Any]]]:
    """Every object of a CRD kind that dev or prod renders with all components on."""
    return [
        (overlay, obj)
        for overlay in ("dev", "prod")
        for obj in render_with(kubectl, OVERLAYS[overlay], COMPONENT_NAMES)
        if obj["apiVersion"].startswith(CUSTOM_GROUPS)
    ]


def test_every_custom_resource_has_a_schema_and_validates(custom_objects):
    """Every object of a CRD kind the components render (PodMonitor, PrometheusRule, HTTPRoute,
    ExternalSecret) has its published CRD schema here and is valid for it (every service is scraped by
    a PodMonitor on its own metrics port: there is no ServiceMonitor; the ExternalSecrets name a
    ClusterSecretStore the team already has, so the component makes no store)."""
    validated = set()
    errors = []
    for overlay, obj in custom_objects:
        key = (obj["apiVersion"], obj["kind"])
        assert key in SCHEMAS, f"no CRD schema in tests/deploy/crds for {key}"
        validator = jsonschema.Draft7Validator(SCHEMAS[key])
        errors += [
            f"{overlay} {obj['kind']}/{obj['metadata']['name']}: {e.message} at {list(e.path)}"
            for e in validator.iter_errors(obj)
        ]
        validated.add(obj["kind"])
    assert errors == []
    assert validated == {"PodMonitor", "PrometheusRule", "HTTPRoute", "ExternalSecret"}


def _one(custom_objects: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(obj for _, obj in custom_objects if obj["kind"] == kind))


@pytest.mark.parametrize(
    ("kind", "mutate", "complaint"),
    [
        (
            "PodMonitor",
            lambda o: o["spec"].update(podMetricsEndpoint=o["spec"].pop("podMetricsEndpoints")),
            "podMetricsEndpoint",
        ),
        (
            "PodMonitor",
            lambda o: o["spec"]["podMetricsEndpoints"][0].update(interval="30 seconds"),
            "does not match",
        ),
        ("PodMonitor", lambda o: o["spec"].pop("selector"), "'selector' is a required property"),
        ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].update(scheme="ftp"), "is not one of"),
        (
            "PrometheusRule",
            lambda o: o["spec"]["groups"][0]["rules"][0].pop("expr"),
            "'expr' is a required property",
        ),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].update(four="10m"), "four"),
        ("HTTPRoute", lambda o: o["spec"]["rules"][0]["timeouts"].update(request="1 hour"), "does not match"),
        ("HTTPRoute", lambda o: o["spec"]["rules"][0]["timeouts"].update(idle="1h"), "idle"),
        ("HTTPRoute", lambda o: o["spec"]["parentRefs"][0].pop("name"), "'name' is a required property"),
        (
            "HTTPRoute",
            lambda o: o["spec"]["rules"][0]["matches"][0]["path"].update(type="Prefix"),
            "is not one of",
        ),
        ("HTTPRoute", lambda o: o["spec"]["rules"][0]["backendRefs"][0].update(port=80800), "greater"),
        ("ExternalSecret", lambda o: o["spec"]["target"].update(deletionPolicy="Keep"), "is not one of"),
        ("ExternalSecret", lambda o: o["spec"]["data"][0].pop("remoteRef"), "'remoteRef' is a required"),
        ("ExternalSecret", lambda o: o["spec"]["data"][0].update(secretKey="not/ok"), "does not match"),
        ("ExternalSecret", lambda o: o["spec"]["secretStoreRef"].update(kind="Vault"), "is not one of"),
        ("ExternalSecret", lambda o: o["spec"].update(refresh="1h"), "refresh"),
    ],
)
def test_the_schemas_reject_typical_mistakes(custom_objects, kind, mutate, complaint):
    """The checks can fail: a misspelt field, a bad duration, a missing required field, a bad enum."""
    obj = _one(custom_objects, kind)
    mutate(obj)
    messages = [
        e.message for e in jsonschema.Draft7Validator(SCHEMAS[(obj["apiVersion"], kind)]).iter_errors(obj)
    ]
    assert any(complaint in m for m in messages), messages
