"""`gumloop-mcp catalog diff`: drift between the catalog and Gumloop's OpenAPI documents / official SDK.

The committed documents (../shared/gumloop-openapi beside the repository) must show no drift;
planted changes in a copy of them (a moved path, a new enum value, a new parameter, a dropped
response field, an added and a removed operation) must each be named, with exit status 1.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gumloop_mcp.cli import main as cli_main
from gumloop_mcp.contract.diff import DEFAULT_EXCLUDED, DiffError, load_exclusions
from gumloop_mcp.contract.sdk import sdk_calls
from services.gumloop_proxy.catalog import CATALOG_PATH

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = ROOT.parent / "shared" / "gumloop-openapi"
needs_documents = pytest.mark.skipif(
    not DOCUMENTS.is_dir(), reason=f"Gumloop's OpenAPI documents are not at {DOCUMENTS}"
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli_main(["catalog", "diff", *argv])
    out, err = capsys.readouterr()
    assert isinstance(exited.value.code, int)
    return exited.value.code, out, err


def test_the_exclusions_file_exists_and_is_valid() -> None:
    """excluded_operations.json is committed beside the catalog and every entry has a reason."""
    assert CATALOG_PATH.with_name("excluded_operations.json") == DEFAULT_EXCLUDED
    assert DEFAULT_EXCLUDED.exists()
    for exclusion in load_exclusions(DEFAULT_EXCLUDED):
        assert exclusion.reason.strip()


@needs_documents
def test_no_drift_from_the_committed_documents(capsys: pytest.CaptureFixture[str]) -> None:
    """Every documented operation is in the catalog (or excluded) and agrees on every fact."""
    code, out, _ = _run(capsys, "--openapi", str(DOCUMENTS))
    assert code == 0, out
    assert out.startswith("no drift")


def test_no_drift_from_the_installed_sdk(capsys: pytest.CaptureFixture[str]) -> None:
    """Every HTTP call of the official SDK is a catalog operation (or excluded), and back."""
    code, out, _ = _run(capsys, "--sdk")
    assert code == 0, out


def _deref(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _plant(folder: Path) -> None:
    """Change a copy of the documents: one change of each kind the diff must name."""

    def edit(documented_path: str, change: Any) -> None:
        """Apply `change` to the document describing `documented_path`."""
        for path in sorted(folder.glob("*.yml")):
            document = yaml.safe_load(path.read_text())
            if documented_path in document["paths"]:
                change(document)
                path.write_text(yaml.safe_dump(document, sort_keys=False))
                return
        raise AssertionError(f"no document describes {documented_path}")

    def legacy(document: dict[str, Any]) -> None:
        paths = document["paths"]
        paths["/list_workbooks_v2"] = paths.pop("/list_workbooks")  # a moved path
        params = paths["/list_saved_items"]["get"].setdefault("parameters", [])  # a new parameter
        params.append({"name": "folder_id", "in": "query", "required": True, "schema": {"type": "string"}})
        answer = paths["/get_pl_run"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        del _deref(document, answer)["properties"]["log"]  # a dropped response field

    def agents(document: dict[str, Any]) -> None:
        paths = document["paths"]
        grade = next(
            p for p in paths["/agents/{agent_id}/evaluations"]["get"]["parameters"] if p["name"] == "grade"
        )
        _deref(document, grade["schema"])["enum"].append("excellent")  # a new enum value
        paths["/agents/{agent_id}/clone"] = {  # an added operation
            "post": {
                "operationId": "cloneAgent",
                "parameters": [
                    {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "the copy"}},
            }
        }

    def skills(document: dict[str, Any]) -> None:
        del document["paths"]["/skills/{skill_id}"]["delete"]  # a removed operation

    edit("/list_workbooks", legacy)
    edit("/agents/{agent_id}/evaluations", agents)
    edit("/skills/{skill_id}", skills)


@needs_documents
def test_planted_changes_are_each_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A moved path, a new enum value and parameter, a dropped response field, an added and a
    removed operation: each is a line of the diff, and the exit status is 1."""
    folder = tmp_path / "openapi"
    shutil.copytree(DOCUMENTS, folder)
    _plant(folder)
    code, out, _ = _run(capsys, "--openapi", str(folder))
    assert code == 1
    lines = out.splitlines()

    def line(kind: str, operation: str, detail: str) -> None:
        assert any(ln.split()[0] == kind and f" {operation}: " in ln and detail in ln for ln in lines), (
            f"no {kind} {operation} ({detail}) in:\n{out}"
        )

    line("added", "GET /list_workbooks_v2", "not in the catalog")
    line("removed", "list_workbooks", "GET /list_workbooks is no longer documented")
    line("added", "POST /agents/{agent_id}/clone", "documented in gumloop-")
    line("removed", "delete_skill", "DELETE /skills/{skill_id} is no longer documented")
    line("changed", "list_evaluations", "query.grade.enum")
    assert "excellent" in next(ln for ln in lines if "query.grade.enum" in ln)
    line("changed", "list_saved_items", "query.folder_id: documented; missing from the catalog")
    line("changed", "get_pl_run", "returns.log: declared by the catalog; not a documented response field")
    assert lines[-1].startswith("drift: 2 added, 2 removed, 3 changed")

    # the same drift as JSON
    code, out, _ = _run(capsys, "--openapi", str(folder), "--json")
    report = json.loads(out)
    assert code == 1 and report["drift"] is True
    assert report["counts"] == {"added": 2, "removed": 2, "changed": 3, "sdk-added": 0, "sdk-removed": 0}

    # an operation left out on purpose is not drift
    excluded = tmp_path / "excluded.json"
    excluded.write_text(
        json.dumps(
            {
                "operations": [
                    {
                        "method": "POST",
                        "host": "API",
                        "path": "/agents/{id}/clone",
                        "sdk": None,
                        "reason": "test",
                    }
                ]
            }
        )
    )
    code, out, _ = _run(capsys, "--openapi", str(folder), "--excluded", str(excluded))
    assert code == 1
    assert "/clone" not in out and "(1 excluded on purpose)" in out


def test_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No source, a missing folder or a malformed exclusions file: a clear message, exit 2."""
    code, _, err = _run(capsys)
    assert code == 2 and "give --openapi DIR and/or --sdk" in err
    code, _, err = _run(capsys, "--openapi", str(tmp_path / "absent"))
    assert code == 2 and "not a folder of OpenAPI documents" in err
    bad = tmp_path / "excluded.json"
    bad.write_text(json.dumps({"operations": [{"method": "GET", "path": "/x"}]}))
    with pytest.raises(DiffError, match="needs a reason"):
        load_exclusions(bad)
    code, _, err = _run(capsys, "--sdk", "--excluded", str(bad))
    assert code == 2 and "needs a reason" in err


def _fake_sdk(folder: Path) -> Path:
    resources = folder / "resources"
    resources.mkdir()
    (resources / "things.py").write_text(
        textwrap.dedent(
            """
            from urllib.parse import quote
            _PATH = "chat/completions"

            class Things:
                def list(self):
                    return self._client.get("agents", params={})

                def versions(self, agent_id):
                    return self._client.get(f"agents/{quote(agent_id, safe='')}/versions")

                def talk(self, session_id):
                    return self._client.stream("POST", f"sessions/{session_id}/messages", json={})

                def chat(self):
                    return self._client.post_to_stream_host(_PATH, json={})

            class AsyncThings:
                async def list(self):
                    return await self._client.get("agents")

                async def brand_new(self, thing_id):
                    return await self._client.delete(f"things/{thing_id}")
            """
        )
    )
    return resources


def test_sdk_calls_are_read_from_the_source(tmp_path: Path) -> None:
    """Literal, f-string and module-constant paths; stream-host helpers; async twins merged."""
    calls = sdk_calls(_fake_sdk(tmp_path), "9.9.9")
    found = {(c.method, c.host, c.path): owners for c, owners in calls.calls.items()}
    assert found == {
        ("GET", "API", "/agents"): ["Things.list"],
        ("GET", "API", "/agents/{agent_id}/versions"): ["Things.versions"],
        ("POST", "STREAM", "/sessions/{session_id}/messages"): ["Things.talk"],
        ("POST", "STREAM", "/chat/completions"): ["Things.chat"],
        ("DELETE", "API", "/things/{thing_id}"): ["Things.brand_new"],
    }
    assert calls.unresolved == []


def test_sdk_diff_names_calls_the_catalog_lacks_and_operations_the_sdk_dropped(tmp_path: Path) -> None:
    """A new SDK call is `sdk-added`; a catalog operation sourced from the SDK it no longer makes
    is `sdk-removed`; an exclusion naming the SDK method silences its call."""
    from gumloop_mcp.contract.diff import Exclusion, diff_against_sdk

    catalog = json.loads(CATALOG_PATH.read_text())
    calls = sdk_calls(_fake_sdk(tmp_path), "9.9.9")
    report = diff_against_sdk(catalog, calls)
    kinds = {(d.kind, d.operation) for d in report.drifts}
    assert ("sdk-added", "DELETE /things/{thing_id}") in kinds
    assert ("sdk-added", "GET /agents") not in kinds  # list_agents
    assert ("sdk-added", "GET /agents/{agent_id}/versions") not in kinds  # list_agent_versions
    sdk_sourced = {o["name"] for o in catalog["operations"] if o["upstream"]["source"] == "sdk"}
    # The fake SDK still makes these two SDK-sourced calls (Things.versions, Things.talk).
    still_called = {"list_agent_versions", "stream_session_message"}
    assert not {("sdk-removed", name) for name in still_called} & kinds
    assert {name for kind, name in kinds if kind == "sdk-removed"} == sdk_sourced - still_called
    silenced = diff_against_sdk(
        catalog, calls, [Exclusion("DELETE", None, "/other", "Things.brand_new", "not ours")]
    )
    assert ("sdk-added", "DELETE /things/{thing_id}") not in {(d.kind, d.operation) for d in silenced.drifts}
    assert silenced.excluded == 1
