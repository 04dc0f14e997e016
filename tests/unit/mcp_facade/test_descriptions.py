"""Tool descriptions say what the tool does, not what the upstream endpoint does."""

from __future__ import annotations

import re

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy.catalog import default_catalog
from services.mcp_facade.catalog import build_tools

POLLING = re.compile(r"\bpoll", re.IGNORECASE)
LIST_SENTENCE = (
    "Returns {items, next_cursor}; pass next_cursor back as cursor for the next page "
    "(limit sets the page size)."
)


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


def test_list_tools_describe_items_and_next_cursor_only() -> None:
    """No list tool describes the upstream envelope or its paging next to {items, next_cursor}."""
    tools = build_tools(default_catalog().select(), 120)
    lists = [t for t in tools.values() if t.kind == "list"]
    assert lists
    for tool in lists:
        description = str(tool.definition["description"])
        assert description.count(LIST_SENTENCE) == 1, tool.name
        rest = description.replace(LIST_SENTENCE, "")
        assert not re.search(r"cursor|\bpages?\b|total_pages|at once", rest, re.IGNORECASE), (tool.name, rest)
        field = tool.operation.pagination.items_field
        if field:
            assert f"{{{field}" not in rest and f"{field} [" not in rest, (tool.name, rest)


def _op(name: str, kind: int, description: str, **extra: object) -> pb.Operation:
    resource = name.split("_", 1)[1]
    return pb.Operation(name=name, kind=kind, resource=resource, description=description, **extra)


def test_upstream_envelopes_become_the_item_shape_and_poll_clauses_are_cut() -> None:
    """A synthetic catalog: the envelope turns into "each item {...}", paging clauses and the polling
    clause go, and the rest of each sentence stays."""
    listing = _op(
        "list_widgets",
        pb.OPERATION_KIND_LIST,
        "Lists widgets, newest first, as {widgets [{id, meta {a, b}}], next_cursor}; pass next_cursor "
        "as cursor until it is null. Everything comes back at once.",
        resource_plural="widgets",
        pagination=pb.Pagination(items_field="widgets"),
    )
    start = _op(
        "create_job",
        pb.OPERATION_KIND_CREATE,
        "Starts a job (HTTP 202, state queued) and you poll get_job until job.state is done. "
        "Poll get_job every second.",
        starts_async_work=True,
        async_work=pb.AsyncWork(
            status_operation="get_job", state_field="job.state", terminal_states=["done"]
        ),
    )
    status = _op("get_job", pb.OPERATION_KIND_GET, "Returns a job.")
    tools = {t.operation.name: t.definition for t in build_tools([listing, start, status], 60).values()}
    assert tools["list_widgets"]["description"] == (
        f"Lists widgets, newest first, each item {{id, meta {{a, b}}}}. {LIST_SENTENCE}"
    )
    started = str(tools["create_job"]["description"])
    assert started.startswith("Starts a job (HTTP 202, state queued). Returns at once")
    assert not POLLING.search(started)
