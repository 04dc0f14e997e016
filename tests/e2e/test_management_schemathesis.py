"""The management API answers exactly what its OpenAPI document says (schemathesis, property-based).

The real stack (`gumloop-mcp up`: token service, proxy, façade, emulator) runs on loopback; the
document is loaded from the admin port's /openapi.json and every operation gets a bounded number
of generated requests, valid and invalid, each checked for: no server error, a documented status
code, a documented content type, and a body matching the documented schema. It must find nothing.
Deleting is harmless: generated ids name nothing, so DELETE answers the documented 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.mcp_facade.management.management import ROUTES

from .conftest import Stack, start_stack

# Per operation and mode: 19 operations x 2 modes x 40 examples, about 55 s on an idle 2-core machine.
MAX_EXAMPLES = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def management_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The running system (its own, so generated writes never meet other modules' tests)."""
    with start_stack(tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


@pytest.fixture(scope="module")
def management_schema(management_stack: Stack) -> Any:
    """The admin port's own document, sending the stack's management token with every request."""
    config = schemathesis.Config.from_dict(
        {
            "base-url": management_stack.admin,
            "headers": management_stack.auth,
            "generation": {"mode": "all"},
        }
    )
    return schemathesis.openapi.from_url(f"{management_stack.admin}/openapi.json", config=config)


def _run_operation(operation: Any, mode: GenerationMode, auth: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS, timeout=10)

    run()


# About 60 s on an idle 2-core machine; a loaded one (CI beside other work) needs more than the default 120 s.
@pytest.mark.timeout(420)
def test_the_management_api_conforms_to_its_openapi_document(
    management_schema: Any, management_stack: Stack
) -> None:
    """Every generated request gets a documented status, content type and body; never a 5xx."""
    failures: list[str] = []
    operations = [result.ok() for result in management_schema.get_all_operations()]
    assert len(operations) == len(ROUTES) == 22
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _run_operation(operation, mode, management_stack.auth)
            except Unsatisfiable:
                # No parameters and no body (GET /catalog): there is nothing to make invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # a check failed (schemathesis raises a
                # FailureGroup): collect every operation's, then report all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)


def test_the_document_is_served_to_schemathesis(management_stack: Stack) -> None:
    """The document loads and names every route (so the test above cannot pass by testing nothing)."""
    loaded = schemathesis.openapi.from_url(f"{management_stack.admin}/openapi.json")
    labels = {op.ok().label for op in loaded.get_all_operations()}
    assert "POST /integrated-account/{account_id}/mcp/{mcp_id}/rotate" in labels
    assert "GET /integrated-account/{account_id}/mcp/{mcp_id}/activity" in labels
    assert "POST /catalog/preview" in labels  # the console's live preview
    assert "GET /catalog" in labels and len(labels) == len(ROUTES) == 22
    assert "DELETE /integrated-account/{account_id}/mcp/{mcp_id}/oauth/grants/{grant_id}" in labels
