"""The catalog held to Gumloop's published contract (services/gumloop_proxy/gumloop_contract.json).

The committed contract is regenerated from Gumloop's OpenAPI documents (../shared/gumloop-openapi
beside the repository) and must be current; every catalog operation those documents describe
must agree with them on every fact; the others say where they come from (`upstream.source`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gumloop_mcp.contract.compare import compare_catalog, fidelity_table
from gumloop_mcp.contract.openapi import ContractError, build_contract, dump_contract, load_documents
from services.gumloop_proxy.catalog import CATALOG_PATH

ROOT = Path(__file__).resolve().parents[3]
CONTRACT_PATH = ROOT / "services" / "gumloop_proxy" / "gumloop_contract.json"
DOCUMENTS = ROOT.parent / "shared" / "gumloop-openapi"


def _catalog() -> dict[str, Any]:
    return json.loads(CATALOG_PATH.read_text())


def _contract() -> dict[str, Any]:
    return json.loads(CONTRACT_PATH.read_text())


def _op(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in document["operations"] if o["name"] == name)


def _facts(catalog: dict[str, Any]) -> list[str]:
    return [str(d) for d in compare_catalog(catalog, _contract()).disagreements]


@pytest.mark.skipif(not DOCUMENTS.is_dir(), reason=f"Gumloop's OpenAPI documents are not at {DOCUMENTS}")
def test_the_committed_contract_is_regenerated_from_gumloops_documents() -> None:
    """scripts/gumloop-contract output equals the committed file byte for byte."""
    fresh = dump_contract(build_contract(load_documents(DOCUMENTS)))
    assert fresh == CONTRACT_PATH.read_text(), "gumloop_contract.json is stale: run scripts/gumloop-contract"


def test_the_contract_holds_facts_and_no_prose() -> None:
    """Every documented operation is there with its host; no description, summary or example survives."""
    contract = _contract()
    assert len(contract["operations"]) == 49
    op = contract["operations"]["GET /agents/{agent_id}/sessions"]
    assert op["host"] == "https://api.gumloop.com/api/v1"
    assert op["parameters"]["agent_id"] == {"in": "path", "required": True, "schema": {"type": "string"}}
    assert op["parameters"]["state"]["schema"]["enum"] == [
        "processing",
        "completed",
        "failed",
        "queued",
        "idle",
    ]
    assert contract["operations"]["POST /chat/completions"]["host"] == "https://ws.gumloop.com/api/v1"

    def walk(node: Any, schema_level: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if schema_level:
                    assert key not in ("description", "summary", "example", "examples", "title"), key
                walk(value, schema_level=key != "properties")
        elif isinstance(node, list):
            for value in node:
                walk(value, schema_level=True)

    walk(contract, schema_level=True)


def test_refs_are_resolved_and_the_output_is_deterministic() -> None:
    """A $ref'd schema is inlined; prose keys are dropped; the dump is sorted JSON."""
    document = {
        "servers": [{"url": "https://api.gumloop.com/api/v1/"}],
        "components": {"schemas": {"Mode": {"type": "string", "enum": ["a", "b"], "description": "prose"}}},
        "paths": {
            "/x/{id}": {
                "patch": {
                    "summary": "prose",
                    "parameters": [{"in": "path", "name": "id", "schema": {"type": "string"}}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"mode": {"$ref": "#/components/schemas/Mode"}},
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    contract = build_contract({"d.yml": document})
    op = contract["operations"]["PATCH /x/{id}"]
    assert op["host"] == "https://api.gumloop.com/api/v1"
    assert op["parameters"]["id"]["required"] is True  # path parameters are always required
    assert op["request_body"]["content"]["application/json"]["properties"]["mode"] == {
        "type": "string",
        "enum": ["a", "b"],
    }
    text = dump_contract(contract)
    assert text == dump_contract(json.loads(text)) and "prose" not in text

    document["paths"]["/x/{id}"]["patch"]["parameters"] = [{"$ref": "#/components/parameters/nope"}]
    with pytest.raises(ContractError, match=r"d\.yml: PATCH /x/\{id\}: \$ref #/components/parameters/nope"):
        build_contract({"d.yml": document})


def test_every_described_catalog_operation_agrees_with_gumloops_documents() -> None:
    """No disagreement on any documented fact (SDK-sourced facts are listed, with a reason)."""
    report = compare_catalog(_catalog(), _contract())
    assert [str(d) for d in report.disagreements] == []
    assert [str(d) for d in report.stale_exemptions] == []


def test_operations_the_documents_do_not_describe_say_where_they_come_from() -> None:
    """`upstream.source` is `openapi` exactly for the operations the contract describes; the others
    name their reference (the SDK method, or our notes)."""
    catalog = _catalog()
    report = compare_catalog(catalog, _contract())
    for op in catalog["operations"]:
        upstream = op["upstream"]
        if op["name"] in report.described:
            assert upstream["source"] == "openapi", op["name"]
        else:
            assert upstream["source"] in ("sdk", "notes"), op["name"]
            assert upstream["reference"].strip(), op["name"]
    assert sorted(report.undescribed) == [
        "approve_brain_source",
        "attach_agent_knowledge_source",
        "attach_agent_subagent",
        "create_agent_trigger",
        "create_brain_source",
        "create_browser_profile",
        "create_decision",
        "create_organization_evaluation",
        "delete_agent",
        "delete_agent_trigger",
        "delete_artifact",
        "delete_brain_file",
        "delete_brain_source",
        "delete_browser_profile",
        "delete_organization_evaluation",
        "delete_queued_session_message",
        "detach_agent_knowledge_source",
        "detach_agent_subagent",
        "edit_queued_session_message",
        "get_agent_evaluation_options",
        "get_agent_status",
        "get_agent_trigger",
        "get_agent_trigger_stats",
        "get_agent_trigger_webhook_url",
        "get_agent_version",
        "get_artifact_access",
        "get_brain_source",
        "get_brain_source_estimate",
        "get_browser_profile",
        "get_evaluation_options",
        "get_mcp_server_prompt",
        "get_organization_evaluation",
        "get_organization_evaluation_metrics",
        "get_organization_evaluation_result",
        "get_session_access",
        "get_skill_access",
        "get_skill_sync_plan",
        "import_browser_profile_cookies",
        "list_agent_app_rules",
        "list_agent_knowledge_sources",
        "list_agent_trigger_operators",
        "list_agent_trigger_runs",
        "list_agent_triggers",
        "list_agent_versions",
        "list_artifact_versions",
        "list_brain_files",
        "list_brain_source_children",
        "list_brain_source_issues",
        "list_brain_sources",
        "list_brain_sync_runs",
        "list_browser_profiles",
        "list_mcp_server_accounts",
        "list_mcp_server_prompts",
        "list_mcp_server_resources",
        "list_organization_evaluation_results",
        "list_organization_evaluations",
        "list_organizations",
        "list_session_queue",
        "query_wiki",
        "queue_session_message",
        "read_mcp_server_resource",
        "rename_artifact",
        "rename_session",
        "resolve_session_approvals",
        "route_model",
        "run_agent_evaluations",
        "run_organization_evaluation",
        "send_queued_session_message",
        "set_agent_incognito",
        "set_artifact_password",
        "set_organization_evaluation_targets",
        "start_agent",
        "stream_new_session",
        "stream_session",
        "stream_session_message",
        "sync_brain_source",
        "update_agent_abilities",
        "update_agent_trigger",
        "update_artifact_access",
        "update_browser_profile",
        "update_organization_evaluation",
        "update_session_access",
        "update_skill_access",
        "upload_brain_files",
        "upload_session_file",
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: _op(c, "list_sessions")["params"][-1]["schema"].update(enum=["processing"]),
            "list_sessions: query.",
        ),
        (
            lambda c: _op(c, "get_agent")["params"][0].update(required=False),
            "get_agent: path.agent_id.required: catalog False, documents True",
        ),
        (
            lambda c: _op(c, "list_models").update(host="STREAM"),
            "list_models: host: catalog STREAM",
        ),
        (
            lambda c: _op(c, "kill_pipeline")["params"][0].update(name="run", wire_name="run"),
            "kill_pipeline: body.run_id: documented; missing from the catalog",
        ),
        (
            lambda c: _op(c, "get_pl_run")["returns"].update(state="integer"),
            "get_pl_run: returns.state: catalog type integer",
        ),
        (
            lambda c: _op(c, "get_pl_run")["returns"].update(colour="string"),
            "get_pl_run: returns.colour: declared by the catalog; not a documented response field",
        ),
    ],
)
def test_a_changed_fact_is_a_named_disagreement(mutate: Any, expected: str) -> None:
    """Each kind of fact is compared: enum, required, host, field presence, response field type."""
    catalog = copy.deepcopy(_catalog())
    mutate(catalog)
    assert any(fact.startswith(expected) for fact in _facts(catalog)), _facts(catalog)


def test_a_deviation_that_agrees_with_the_documents_is_a_stale_exemption() -> None:
    """upstream.deviations lists only facts that really differ, so it cannot rot."""
    catalog = copy.deepcopy(_catalog())
    _op(catalog, "get_agent")["upstream"]["deviations"] = {"path.agent_id.required": "made up"}
    stale = compare_catalog(catalog, _contract()).stale_exemptions
    assert [str(d) for d in stale] == [
        "get_agent: path.agent_id.required: listed in upstream.deviations but agrees with the documents"
    ]


def test_the_readme_fidelity_table_matches_the_catalog_and_the_contract() -> None:
    """README.md's "Upstream fidelity" table is the generated one (regenerate it with
    `python -m gumloop_mcp.contract.compare --table CATALOG CONTRACT`)."""
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- fidelity-table:start -->\n", "<!-- fidelity-table:end -->"
    assert start in readme and end in readme
    shown = readme.split(start, 1)[1].split(end, 1)[0]
    assert shown == fidelity_table(_catalog(), _contract())


def test_inferred_facts_are_ones_gumloop_does_not_document() -> None:
    """An `upstream.inferred` answer fact is one the documents leave open; once Gumloop documents it,
    this fails so the marker (and the warning in the description) can go."""
    contract = _contract()
    report = compare_catalog(_catalog(), contract)
    marked = 0
    for op in _catalog()["operations"]:
        inferred = op["upstream"].get("inferred") or {}
        if not inferred:
            continue
        documented = contract["operations"][report.described[op["name"]]]
        answers = [
            r["content"].get("application/json")
            for s, r in documented["responses"].items()
            if s.startswith("2")
        ]
        body = ((documented.get("request_body") or {}).get("content") or {}).get("application/json") or {}
        for fact in inferred:
            marked += 1
            if fact.startswith("returns."):
                assert all(a is None or "properties" not in a for a in answers), (op["name"], fact)
            elif fact == "response":
                assert all(a is None for a in answers), (op["name"], fact)
            else:
                assert fact.startswith("body.") and "properties" not in body, (op["name"], fact)
    assert marked >= 3
    runs = _op(_catalog(), "list_automation_runs")
    assert "does not document" in runs["description"] and "get_pl_run" in runs["description"]
