"""The SDK-only operations (Company Brain sources, model routing, decisions, wiki, organizations and
organization evaluations, browser profiles) held to the official SDK's typed models (gumloop 0.5.9): every
body argument is a field of the request model the SDK sends, every promised answer field is a field of the
model it parses the answer into, and the enums are the SDK's."""

from __future__ import annotations

import pydantic
import pytest
from gumloop import spec
from gumloop import types as sdk

from services.gumloop_proxy.catalog import default_catalog

# operation -> (request model or None when the SDK sends no JSON body, response model)
MODELS: dict[str, tuple[type[pydantic.BaseModel] | None, type[pydantic.BaseModel]]] = {
    "list_brain_sources": (None, sdk.BrainSourceListResponse),
    "create_brain_source": (sdk.BrainSourceCreateRequest, sdk.BrainSourceResponse),
    "get_brain_source": (None, sdk.BrainSourceResponse),
    "delete_brain_source": (None, sdk.BrainSourceDeleteResponse),
    "sync_brain_source": (None, sdk.BrainSourceSyncResponse),
    "list_brain_sync_runs": (None, sdk.BrainSourceHistoryResponse),
    "list_brain_source_issues": (None, sdk.BrainSourceIssuesResponse),
    "list_brain_source_children": (None, sdk.BrainSourceChildrenResponse),
    "get_brain_source_estimate": (None, sdk.BrainSourceEstimateResponse),
    "approve_brain_source": (None, sdk.BrainSourceResponse),
    "list_brain_files": (None, sdk.BrainFileListResponse),
    "upload_brain_files": (None, sdk.BrainFileUploadResponse),
    "delete_brain_file": (None, sdk.BrainFileDeleteResponse),
    "route_model": (sdk.ModelRouteRequest, sdk.ModelRouteResponse),
    "create_decision": (spec.DecisionsRequest, spec.DecisionsResponse),
    "query_wiki": (sdk.WikiQueryRequest, sdk.WikiQueryResponse),
    "list_organizations": (None, sdk.OrganizationsResponse),
    "get_evaluation_options": (None, sdk.EvaluationOptionsResponse),
    "list_organization_evaluations": (None, sdk.EvaluationListResponse),
    "create_organization_evaluation": (sdk.EvaluationCreateRequest, sdk.EvaluationResponse),
    "get_organization_evaluation": (None, sdk.EvaluationResponse),
    "update_organization_evaluation": (sdk.EvaluationUpdateRequest, sdk.EvaluationResponse),
    "set_organization_evaluation_targets": (None, sdk.EvaluationTargetsResponse),
    "run_organization_evaluation": (sdk.EvaluationRunRequest, sdk.EvaluationRunResponse),
    "list_organization_evaluation_results": (None, sdk.EvaluationResultRecordListResponse),
    "get_organization_evaluation_result": (None, sdk.EvaluationResultRecordResponse),
    "get_organization_evaluation_metrics": (None, sdk.EvaluationMetricsResponse),
    "list_browser_profiles": (None, sdk.BrowserProfilesResponse),
    "create_browser_profile": (sdk.BrowserProfileCreateRequest, sdk.BrowserProfile),
    "get_browser_profile": (None, sdk.BrowserProfile),
    "update_browser_profile": (sdk.BrowserProfileUpdateRequest, sdk.BrowserProfile),
    "delete_browser_profile": (None, sdk.BrowserProfileDeleteResponse),
    "import_browser_profile_cookies": (None, sdk.BrowserProfileImportResponse),
}


def test_every_sdk_only_operation_of_these_families_is_mapped_to_its_sdk_models() -> None:
    """Each operation here comes from the SDK (upstream.source sdk) and names the SDK method it follows."""
    catalog = default_catalog()
    for name in MODELS:
        op = catalog.get(name)
        assert op is not None, name
        assert op.upstream.source == "sdk" and "gumloop 0.5.9" in op.upstream.reference, name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_body_arguments_and_answer_fields_are_the_sdks(name: str) -> None:
    """Body arguments are request-model fields (team_id comes from the account); `returns` are answer
    fields of the model the SDK validates the answer with."""
    op = default_catalog().get(name)
    assert op is not None
    request, response = MODELS[name]
    body = {p.wire_name for p in op.parameters if p.location == "body"}
    if request is None:
        assert body <= {"cookies", "url", "targets"}, (name, body)  # bodies the SDK builds by hand
    else:
        assert body <= set(request.model_fields), (name, body - set(request.model_fields))
    assert set(op.returns) <= set(response.model_fields), (name, set(op.returns) - set(response.model_fields))


def test_the_enums_are_the_sdks() -> None:
    """Wiki card types, evaluation target types, and the cookie fields browsers export."""
    catalog = default_catalog()
    wiki = catalog.get("query_wiki")
    assert wiki is not None
    assert set(wiki.input_schema["properties"]["type"]["enum"]) == {t.value for t in sdk.WikiCardType}
    targets = catalog.get("set_organization_evaluation_targets")
    assert targets is not None
    item = targets.input_schema["properties"]["targets"]["items"]
    assert set(item["properties"]) == set(sdk.EvaluationTarget.model_fields)
    assert set(item["properties"]["type"]["enum"]) == {"organization", "team", "user", "agent"}
    update = catalog.get("update_browser_profile")
    assert update is not None
    assert update.input_schema["properties"]["is_default"]["enum"] == [True]  # Literal[True] in the SDK
