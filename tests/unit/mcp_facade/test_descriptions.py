"""Tool descriptions say what the tool does, not what the upstream endpoint does."""

from __future__ import annotations

import re

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy.catalog import default_catalog
from services.mcp_facade.tools.artifacts import READERS
from services.mcp_facade.tools.catalog import build_tools

POLLING = re.compile(r"\bpoll", re.IGNORECASE)
# How to page (limit, cursor -> {items, next_cursor}) is stated once, in the server instructions, and
# in the note of a page that has more; a list tool's description says only what it lists.


def _real_tools() -> dict[str, dict[str, object]]:
    return {name: t.definition for name, t in build_tools(default_catalog().select(), 120).items()}


def _descriptions(definition: dict[str, object]) -> list[str]:
    props = definition["inputSchema"].get("properties") or {}  # type: ignore[attr-defined]
    return [str(definition["description"]), *(str(p.get("description", "")) for p in props.values())]


def test_no_description_sends_the_model_into_a_polling_loop() -> None:
    """Status tools wait server-side (wait_seconds): neither a tool nor a parameter says to poll."""
    for name, definition in _real_tools().items():
        for text in _descriptions(definition):
            assert not POLLING.search(text), (name, text)


def test_the_artifact_tool_says_it_returns_the_content() -> None:
    """get_single_gumloop_artifact_by_id IS the reader: not titled a download link, no "use the reader"."""
    tools = _real_tools()
    artifact = tools["get_single_gumloop_artifact_by_id"]
    assert artifact["title"] == "Read an artifact" == artifact["annotations"]["title"]  # type: ignore[index]
    description = str(artifact["description"])
    assert "content" in description and "Markdown" in description
    assert "instead" not in description and "download link" not in str(artifact["title"])
    for name, definition in tools.items():
        assert "artifact reader" not in str(definition["description"]), name
    assert "get_single_gumloop_artifact_by_id" in str(tools["list_all_gumloop_artifacts"]["description"])


def test_list_tools_describe_neither_the_envelope_nor_paging() -> None:
    """No list tool describes the upstream envelope or its paging: the façade's {items, next_cursor}
    and limit/cursor are explained once for all list tools."""
    tools = build_tools(default_catalog().select(), 120)
    lists = [t for t in tools.values() if t.kind == "list"]
    assert lists
    for tool in lists:
        rest = str(tool.definition["description"])
        assert not re.search(r"cursor|\bpages?\b|total_pages|at once", rest, re.IGNORECASE), (tool.name, rest)
        field = tool.operation.pagination.items_field
        if field:
            assert f"{{{field}" not in rest and f"{field} [" not in rest, (tool.name, rest)


def _op(name: str, kind: int, description: str, **extra: object) -> pb.Operation:
    resource = name.split("_", 1)[1]
    return pb.Operation(name=name, kind=kind, resource=resource, description=description, **extra)


def _synthetic(description: str) -> list[pb.Operation]:
    listing = _op(
        "list_widgets",
        pb.OPERATION_KIND_LIST,
        f"Lists widgets. {description}",
        resource_plural="widgets",
        pagination=pb.Pagination(
            style=pb.PAGINATION_STYLE_CURSOR, items_field="widgets", cursor_parameter="c"
        ),
    )
    start = _op(
        "create_job",
        pb.OPERATION_KIND_CREATE,
        f"Starts a job (HTTP 202, state queued). {description}",
        starts_async_work=True,
        async_work=pb.AsyncWork(
            status_operation="get_job", state_field="job.state", terminal_states=["done", "failed"]
        ),
    )
    status = _op("get_job", pb.OPERATION_KIND_GET, f"Returns a job. {description}")
    return [listing, start, status]


def test_waiting_and_paging_guidance_comes_from_the_structured_fields() -> None:
    """The catalog's prose is kept (names renamed); the guidance is built from async_work (status
    tool, state field, final states) and pagination, not read out of the prose."""
    tools = {t.operation.name: t.definition for t in build_tools(_synthetic("See get_job."), 60).values()}
    assert tools["list_widgets"]["description"] == "Lists widgets. See get_single_gumloop_job_by_id."
    assert tools["create_job"]["description"] == (
        "Starts a job (HTTP 202, state queued). See get_single_gumloop_job_by_id. Async: wait with "
        "get_single_gumloop_job_by_id wait_seconds."
    )
    assert tools["get_job"]["description"] == (
        "Returns a job. See get_single_gumloop_job_by_id. wait_seconds waits for done or failed."
    )


def test_rewording_a_description_changes_no_behaviour() -> None:
    """Every real operation with its description replaced (even by text about polling and cursors)
    gives the same tool: same schemas, annotations, waiting, and the same guidance after the prose."""
    operations = default_catalog().select()
    before = build_tools(operations, 120)
    reworded = []
    for op in operations:
        copy = pb.Operation()
        copy.CopyFrom(op)
        copy.description = "Reworded: poll it until done; pass next_cursor as cursor; all at once."
        reworded.append(copy)
    after = build_tools(reworded, 120)
    assert list(before) == list(after)
    for name, tool in before.items():
        other = after[name]
        assert (tool.kind, tool.waits, tool.work) == (other.kind, other.waits, other.work), name
        for key in ("title", "inputSchema", "outputSchema", "annotations"):
            assert tool.definition.get(key) == other.definition.get(key), (name, key)
        if tool.operation.name in READERS:
            continue
        guidance = str(other.definition["description"]).split("all at once.", 1)[1]
        assert str(tool.definition["description"]).endswith(guidance), name


def test_catalog_descriptions_leave_waiting_and_paging_to_the_structured_fields() -> None:
    """No catalog description tells the caller to poll or how the upstream pages: async_work and
    pagination say that, once, for every consumer."""
    for op in default_catalog().select():
        assert not POLLING.search(op.description), op.name
        if op.kind == pb.OPERATION_KIND_LIST:
            assert not re.search(r"next_cursor|\bcursor\b|total_pages|\bpages?\b|at once", op.description), (
                op.name
            )
