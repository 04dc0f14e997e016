"""GumloopToolbox against a fake proxy stub serving the real operation catalog."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.gumloop_proxy.catalog import default_catalog
from services.mcp_facade.contracts import CallContext, ServerScope, UnknownToolError
from services.mcp_facade.settings import FacadeSettings
from services.mcp_facade.tools.catalog import CatalogUnavailableError
from services.mcp_facade.tools.toolbox import GumloopToolbox

ALL = ServerScope(server_id="mcp_1", account_id="acct_1", name="all")


def rpc_error(
    code: grpc.StatusCode, message: str, *details: Any, trailing: tuple[tuple[str, str], ...] = ()
) -> grpc.aio.AioRpcError:
    """An AioRpcError as the proxy sends it: rich details plus trailing metadata."""
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    meta = grpc.aio.Metadata(*trailing, ("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), meta, message, None)


class FakeProxy:
    """Stands in for ProxyServiceStub: async methods returning pb messages; records requests."""

    def __init__(self) -> None:
        self.catalog = default_catalog()
        self.requests: list[tuple[str, Any, float | None]] = []
        self.bodies: dict[str, Any] = {}
        self.sequence: dict[str, list[Any]] = {}
        self.errors: dict[str, grpc.aio.AioRpcError] = {}
        self.down = False
        self.flow_schema: dict[str, Any] | None = None
        self.artifact = pb.ReadArtifactResponse()
        self.skill = pb.ReadSkillResponse()
        self.events: list[pb.StreamOperationResponse] = []
        self.stream_error: grpc.aio.AioRpcError | None = None

    async def ListOperations(self, request: Any, timeout: float | None = None) -> pb.ListOperationsResponse:  # noqa: N802
        self.requests.append(("ListOperations", request, timeout))
        if self.down:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused")
        return pb.ListOperationsResponse(
            operations=self.catalog.select(), catalog_version=self.catalog.version
        )

    async def InvokeOperation(self, request: Any, timeout: float | None = None) -> pb.InvokeOperationResponse:  # noqa: N802
        self.requests.append(("InvokeOperation", request, timeout))
        if request.operation in self.errors:
            raise self.errors[request.operation]
        if self.sequence.get(request.operation):
            body = self.sequence[request.operation].pop(0)
        else:
            body = self.bodies.get(request.operation, {})
        return pb.InvokeOperationResponse(http_status=200, body_json=json.dumps(body))

    async def GetFlowInputSchema(
        self, request: Any, timeout: float | None = None
    ) -> pb.GetFlowInputSchemaResponse:  # noqa: N802
        self.requests.append(("GetFlowInputSchema", request, timeout))
        return pb.GetFlowInputSchemaResponse(schema_json=json.dumps(self.flow_schema or {}))

    async def ReadArtifact(self, request: Any, timeout: float | None = None) -> pb.ReadArtifactResponse:  # noqa: N802
        self.requests.append(("ReadArtifact", request, timeout))
        return self.artifact

    async def ReadSkill(self, request: Any, timeout: float | None = None) -> pb.ReadSkillResponse:  # noqa: N802
        self.requests.append(("ReadSkill", request, timeout))
        if "get_skill_download" in self.errors:
            raise self.errors["get_skill_download"]
        return self.skill

    def StreamOperation(self, request: Any, timeout: float | None = None) -> Any:  # noqa: N802
        self.requests.append(("StreamOperation", request, timeout))
        events = list(self.events)
        stream_error = self.stream_error

        class Call:
            def cancel(self) -> bool:
                return True

            def __aiter__(self) -> AsyncIterator[pb.StreamOperationResponse]:
                async def gen() -> AsyncIterator[pb.StreamOperationResponse]:
                    for event in events:
                        yield event
                    if stream_error is not None:
                        raise stream_error

                return gen()

        return Call()

    def invoked(self, operation: str) -> list[dict[str, Any]]:
        """Arguments of every InvokeOperation of `operation`."""
        return [
            json.loads(r.arguments_json)
            for m, r, _ in self.requests
            if m == "InvokeOperation" and r.operation == operation
        ]


def make(proxy: FakeProxy, **settings: Any) -> GumloopToolbox:
    return GumloopToolbox(proxy, FacadeSettings(**settings))  # type: ignore[arg-type]


def ctx(seconds: float = 60.0) -> CallContext:
    return CallContext(deadline=asyncio.get_running_loop().time() + seconds)


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in result["content"])


async def test_list_tools_names_every_operation_by_the_rule() -> None:
    """The full catalog yields the issue's example names, all unique, short and well-formed."""
    tools = await make(FakeProxy()).list_tools(ALL)
    names = [t["name"] for t in tools]
    for expected in (
        "list_all_gumloop_artifacts",
        "get_single_gumloop_run_by_id",
        "create_a_gumloop_session",
        "create_a_gumloop_skill",
        "create_a_gumloop_chat_completion",
        "list_all_gumloop_mcp_servers",
        "list_all_gumloop_automation_runs",
        "get_single_gumloop_session_by_id",
        "gumloop_start_pipeline",
    ):
        assert expected in names
    assert len(names) == len(set(names)) == len(default_catalog().operations)
    assert all(len(n) <= 64 and n.replace("_", "").isalnum() and n == n.lower() for n in names)


async def test_tool_definitions_are_flat_annotated_and_described() -> None:
    """Every tool has annotations, a description, and no $ref anywhere in its schemas."""
    tools = await make(FakeProxy()).list_tools(ALL)
    for tool in tools:
        assert "$ref" not in json.dumps(tool["inputSchema"])
        assert tool["inputSchema"]["type"] == "object"
        assert tool["description"]
        # the published form keeps only hints that differ from MCP's defaults, and no outputSchema
        # (the description says what comes back); the façade keeps the full form for its own checks
        assert "outputSchema" not in tool and "title" not in tool.get("annotations", {})
        assert set(tool.get("annotations", {})) <= {"readOnlyHint", "destructiveHint", "idempotentHint"}
    by_name = {t["name"]: t for t in tools}
    listing = by_name["list_all_gumloop_agents"]
    assert {"limit", "cursor"} <= set(listing["inputSchema"]["properties"])
    assert "page_size" not in listing["inputSchema"]["properties"]
    assert listing["annotations"] == {"readOnlyHint": True}
    assert "next_cursor" not in listing["description"]  # paging is explained once, not per tool
    assert "title" not in listing  # a display name for people; the name and description say it
    full = make(FakeProxy())
    await full.list_tools(ALL)
    internal = (await full._catalog.tools())["list_all_gumloop_agents"].definition
    assert internal["outputSchema"]["required"] == ["items", "next_cursor"]
    assert internal["annotations"]["openWorldHint"] is True
    assert "wait_seconds" in by_name["get_single_gumloop_session_by_id"]["inputSchema"]["properties"]
    assert "wait_seconds" in by_name["get_single_gumloop_run_by_id"]["inputSchema"]["properties"]
    assert "wait_seconds" not in by_name["get_single_gumloop_agent_by_id"]["inputSchema"]["properties"]
    # destructive is MCP's default for a tool that is not read-only: nothing to publish
    assert "destructiveHint" not in by_name["delete_a_gumloop_skill_by_id"].get("annotations", {})
    assert by_name["update_a_gumloop_skill_by_id"]["annotations"]["destructiveHint"] is False
    # ids keep their name and type; the pattern and bounds are enforced by the façade, not published
    agent_id = by_name["get_single_gumloop_agent_by_id"]["inputSchema"]["properties"]["agent_id"]
    assert agent_id == {}  # an id is a string by convention; the façade still enforces the type
    assert by_name["get_single_gumloop_agent_by_id"]["inputSchema"]["required"] == ["agent_id"]


async def test_scope_hides_tools_and_calls_to_them_fail_like_unknown_tools() -> None:
    """A read-only, tag-limited scope lists only its tools; others are unknown."""
    proxy = FakeProxy()
    box = make(proxy)
    scope = ServerScope(server_id="s", account_id="acct_1", name="n", methods=("read",), tags=("skills",))
    names = {t["name"] for t in await box.list_tools(scope)}
    assert names == {
        "list_all_gumloop_skills",
        "get_single_gumloop_skill_download_by_id",
        "get_single_gumloop_skill_access_by_id",
        "get_single_gumloop_skill_sync_plan_by_id",
    }
    with pytest.raises(UnknownToolError) as hidden:
        await box.call_tool(scope, "create_a_gumloop_skill", {}, ctx())
    with pytest.raises(UnknownToolError) as missing:
        await box.call_tool(scope, "no_such_tool", {}, ctx())
    assert str(hidden.value) == "Unknown tool: create_a_gumloop_skill"
    assert type(hidden.value) is type(missing.value)
    assert await box.tool_for(scope, "create_a_gumloop_skill") is None
    assert (await box.tool_for(scope, "list_all_gumloop_skills") or {})["name"] == "list_all_gumloop_skills"
    assert not [r for r in proxy.requests if r[0] == "InvokeOperation"]


async def test_catalog_is_fetched_once_and_its_version_exposed() -> None:
    """Listing twice calls ListOperations once; catalog_version is the proxy's."""
    proxy = FakeProxy()
    box = make(proxy)
    assert box.catalog_version == ""
    await box.list_tools(ALL)
    await box.list_tools(ALL)
    assert [r[0] for r in proxy.requests].count("ListOperations") == 1
    assert box.catalog_version == proxy.catalog.version


async def test_proxy_down_raises_catalog_unavailable_for_lists_and_tool_error_for_calls() -> None:
    """No catalog: list_tools raises a clear error, call_tool answers isError; it recovers later."""
    proxy = FakeProxy()
    proxy.down = True
    box = make(proxy)
    with pytest.raises(CatalogUnavailableError, match="unavailable"):
        await box.list_tools(ALL)
    result = await box.call_tool(ALL, "list_all_gumloop_agents", {}, ctx())
    assert result["isError"] is True and "unavailable" in text_of(result)


async def test_arguments_are_validated_before_any_rpc() -> None:
    """A bad argument is a tool error naming the field; nothing goes to the proxy."""
    proxy = FakeProxy()
    result = await make(proxy).call_tool(ALL, "list_all_gumloop_agents", {"limit": 0}, ctx())
    assert result["isError"] is True
    assert result["structuredContent"]["field_violations"][0]["field"] == "limit"
    missing = await make(proxy).call_tool(ALL, "get_single_gumloop_session_by_id", {}, ctx())
    assert missing["structuredContent"]["field_violations"][0]["field"] == "session_id"
    assert not proxy.invoked("list_agents") and not proxy.invoked("get_session")


async def test_cursor_list_maps_limit_and_cursor_and_returns_next_cursor() -> None:
    """CURSOR paging: limit -> page_size, next_cursor round-trips to the upstream cursor."""
    proxy = FakeProxy()
    proxy.sequence["list_skills"] = [
        {"skills": [{"id": "a1"}, {"id": "a2"}], "next_cursor": "up_2"},
        {"skills": [{"id": "a3"}], "next_cursor": None},
    ]
    box = make(proxy)
    first = await box.call_tool(ALL, "list_all_gumloop_skills", {"limit": 2, "search_query": "x"}, ctx())
    assert [a["id"] for a in first["structuredContent"]["items"]] == ["a1", "a2"]
    cursor = first["structuredContent"]["next_cursor"]
    assert cursor and json.loads(first["content"][0]["text"]) == first["structuredContent"]
    second = await box.call_tool(ALL, "list_all_gumloop_skills", {"limit": 2, "cursor": cursor}, ctx())
    assert [a["id"] for a in second["structuredContent"]["items"]] == ["a3"]
    assert second["structuredContent"]["next_cursor"] is None
    calls = proxy.invoked("list_skills")
    assert calls[0] == {"page_size": 2, "search_query": "x"}
    assert calls[1] == {"page_size": 2, "cursor": "up_2"}


async def test_unpaged_list_is_paged_locally() -> None:
    """NONE paging: the façade slices the returned array and its cursor walks it."""
    proxy = FakeProxy()
    proxy.bodies["list_mcp_servers"] = {"servers": [{"id": f"s{i}"} for i in range(5)]}
    box = make(proxy)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        args: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await box.call_tool(ALL, "list_all_gumloop_mcp_servers", args, ctx()))["structuredContent"]
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["s0", "s1", "s2", "s3", "s4"]
    assert all(call == {} for call in proxy.invoked("list_mcp_servers"))


async def test_page_number_list_maps_cursor_to_pages() -> None:
    """PAGE_NUMBER paging: the cursor carries the next page while pages remain."""
    proxy = FakeProxy()
    proxy.sequence["list_audit_logs"] = [
        {"audit_logs": [{"id": 1}], "total_pages": 2},
        {"audit_logs": [{"id": 2}], "total_pages": 2},
    ]
    box = make(proxy)
    args = {"organization_id": "o", "start_time": "2026-01-01", "end_time": "2026-01-02", "limit": 5}
    first = (await box.call_tool(ALL, "list_all_gumloop_audit_logs", args, ctx()))["structuredContent"]
    second = (
        await box.call_tool(
            ALL, "list_all_gumloop_audit_logs", args | {"cursor": first["next_cursor"]}, ctx()
        )
    )["structuredContent"]
    assert [c["page"] for c in proxy.invoked("list_audit_logs")] == [1, 2]
    assert second["items"] == [{"id": 2}] and second["next_cursor"] is None


async def test_map_shaped_list_flattens_groups() -> None:
    """A map of id -> runs becomes one item per run with its group key."""
    proxy = FakeProxy()
    proxy.bodies["list_automation_runs"] = {"si_1": [{"run_id": "r1", "state": "FAILED"}], "si_2": []}
    result = await make(proxy).call_tool(
        ALL, "list_all_gumloop_automation_runs", {"saved_item_id": "si_1"}, ctx()
    )
    assert result["structuredContent"]["items"] == [{"group": "si_1", "run_id": "r1", "state": "FAILED"}]


async def test_big_list_page_shrinks_under_the_cap_with_a_cursor_for_the_rest() -> None:
    """Items too large for one result are split across pages, never dropped."""
    proxy = FakeProxy()
    proxy.bodies["list_teams"] = {"teams": [{"id": i, "blob": "x" * 3000} for i in range(40)]}
    box = make(proxy, max_result_chars=20_000)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        args: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        result = await box.call_tool(ALL, "list_all_gumloop_teams", args, ctx())
        assert len(json.dumps(result)) < 20_000
        seen += [t["id"] for t in result["structuredContent"]["items"]]
        cursor = result["structuredContent"]["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(40))


async def test_start_returns_at_once_and_says_how_to_wait() -> None:
    """Starting async work answers immediately with the id and the status tool to wait with."""
    proxy = FakeProxy()
    proxy.bodies["create_session"] = {"session": {"id": "ses_1", "state": "processing"}}
    result = await make(proxy).call_tool(
        ALL, "create_a_gumloop_session", {"agent_id": "ag_1", "input": "hi"}, ctx()
    )
    text = text_of(result)
    assert "ses_1" in text and "get_single_gumloop_session_by_id" in text and "wait_seconds" in text
    assert "processing" in text


async def test_an_organization_evaluation_run_says_how_to_wait_for_its_first_result() -> None:
    """The run answers a list of queued results; the note names the first result id (results.0.id) and
    the result tool, whose wait_seconds polls until the grade is in."""
    proxy = FakeProxy()
    queued = [{"id": "oevr_1", "session_id": "s1", "status": "queued"}]
    proxy.bodies["run_organization_evaluation"] = {"dry_run": False, "credit_cost": 1, "results": queued}
    run = await make(proxy).call_tool(
        ALL, "gumloop_run_organization_evaluation", {"evaluation_id": "ev_1", "session_ids": ["s1"]}, ctx()
    )
    text = text_of(run)
    assert "result_id=oevr_1" in text and "get_single_gumloop_organization_evaluation_result_by_id" in text
    proxy.sequence["get_organization_evaluation_result"] = [
        {"result": {"id": "oevr_1", "status": "in_progress"}},
        {"result": {"id": "oevr_1", "status": "completed", "grade": "pass"}},
    ]
    box = GumloopToolbox(proxy, FacadeSettings(), first_poll_interval_s=0.01)  # type: ignore[arg-type]
    arguments = {"evaluation_id": "ev_1", "result_id": "oevr_1", "wait_seconds": 30}
    result = await box.call_tool(
        ALL, "get_single_gumloop_organization_evaluation_result_by_id", arguments, ctx()
    )
    assert result["structuredContent"]["result"]["grade"] == "pass"
    assert len(proxy.invoked("get_organization_evaluation_result")) == 2


async def test_plan_call_offers_tasks_for_starting_work_and_waiting_status_calls() -> None:
    """2026-07-28 tasks: calls that start Gumloop work or wait on it may be tasks; others never are."""
    box = make(FakeProxy())
    start = await box.plan_call(ALL, "create_a_gumloop_session", {"agent_id": "ag_1"}, ctx())
    assert start == "optional"
    status = "get_single_gumloop_session_by_id"
    assert await box.plan_call(ALL, status, {"session_id": "s", "wait_seconds": 30}, ctx()) == "optional"
    assert await box.plan_call(ALL, status, {"session_id": "s"}, ctx()) == "forbidden"
    assert await box.plan_call(ALL, "list_all_gumloop_teams", {}, ctx()) == "forbidden"
    assert await box.plan_call(ALL, "no_such_tool", {}, ctx()) == "forbidden"


async def test_wait_polls_until_terminal_with_increasing_progress() -> None:
    """wait_seconds polls the status op until a terminal state, reporting progress."""
    proxy = FakeProxy()
    proxy.sequence["get_session"] = [
        {"session": {"id": "ses_1", "state": "processing"}},
        {"session": {"id": "ses_1", "state": "processing"}},
        {"session": {"id": "ses_1", "state": "completed", "messages": [{"role": "assistant"}]}},
    ]
    progress: list[tuple[float, str | None]] = []

    async def sink(value: float, total: float | None = None, message: str | None = None) -> None:
        progress.append((value, message))

    context = ctx()
    context.progress = sink
    box = GumloopToolbox(proxy, FacadeSettings(), first_poll_interval_s=0.01)  # type: ignore[arg-type]
    result = await box.call_tool(
        ALL, "get_single_gumloop_session_by_id", {"session_id": "ses_1", "wait_seconds": 30}, context
    )
    assert result["structuredContent"]["session"]["state"] == "completed"
    assert "finished" in text_of(result)
    assert len(proxy.invoked("get_session")) == 3
    assert proxy.invoked("get_session")[0] == {"session_id": "ses_1"}
    values = [v for v, _ in progress]
    assert values == sorted(values) and len(set(values)) == len(values) == 2
    assert "processing" in (progress[0][1] or "")


async def test_wait_stops_at_the_deadline_and_says_it_is_still_running() -> None:
    """A wait cut short by the call's deadline returns the state and how to keep waiting."""
    proxy = FakeProxy()
    proxy.bodies["get_pl_run"] = {"state": "RUNNING", "log": []}
    result = await make(proxy).call_tool(
        ALL, "get_single_gumloop_run_by_id", {"run_id": "r1", "wait_seconds": 50}, ctx(seconds=3.2)
    )
    text = text_of(result)
    assert "Still running" in text and "RUNNING" in text and "wait_seconds" in text
    assert result.get("isError") is not True


async def test_every_rpc_carries_the_remaining_time_as_timeout() -> None:
    """The gRPC timeout is the time left until the call's deadline."""
    proxy = FakeProxy()
    await make(proxy).call_tool(ALL, "get_single_gumloop_agent_by_id", {"agent_id": "a"}, ctx(seconds=30))
    timeout = next(t for m, _, t in proxy.requests if m == "InvokeOperation")
    assert timeout is not None and 25 < timeout <= 30


async def test_rate_limit_becomes_a_tool_error_with_retry_after() -> None:
    """RESOURCE_EXHAUSTED carries normalized rate-limit fields and retry_after_seconds."""
    proxy = FakeProxy()
    upstream = pb.UpstreamError(
        http_status=429, code="rate_limited", message="Too many requests", rate_limit=pb.RateLimit(limit=100)
    )
    proxy.errors["list_agents"] = rpc_error(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "rate limited",
        upstream,
        trailing=(("ratelimit-remaining", "0"), ("ratelimit-reset", "30"), ("retry-after", "30")),
    )
    result = await make(proxy).call_tool(ALL, "list_all_gumloop_agents", {}, ctx())
    assert result["isError"] is True
    sc = result["structuredContent"]
    assert sc["retry_after_seconds"] == 30 and sc["remaining"] == 0 and sc["limit"] == 100
    assert sc["error"] == "rate_limited" and "retry after 30 seconds" in text_of(result)


async def test_invalid_argument_from_the_proxy_lists_field_violations() -> None:
    """The proxy's BadRequest violations reach the model by field."""
    proxy = FakeProxy()
    bad = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="messages", description="empty")]
    )
    proxy.errors["get_agent"] = rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad", bad)
    proxy.errors["get_skill_download"] = rpc_error(grpc.StatusCode.NOT_FOUND, "no such skill")
    proxy.errors["get_session"] = rpc_error(grpc.StatusCode.UNAUTHENTICATED, "401")
    box = make(proxy)
    result = await box.call_tool(ALL, "get_single_gumloop_agent_by_id", {"agent_id": "a"}, ctx())
    assert "messages: empty" in text_of(result)
    missing = await box.call_tool(ALL, "get_single_gumloop_skill_download_by_id", {"skill_id": "sk_9"}, ctx())
    assert "sk_9" in text_of(missing) and missing["isError"] is True
    denied = await box.call_tool(ALL, "get_single_gumloop_session_by_id", {"session_id": "s"}, ctx())
    assert "credentials" in text_of(denied)


async def test_pipeline_inputs_are_checked_against_the_flow_schema() -> None:
    """start_pipeline with a bad input is refused naming pipeline_inputs.<field>; a good one runs."""
    proxy = FakeProxy()
    proxy.flow_schema = {
        "type": "object",
        "properties": {"topic": {"type": "string"}},
        "required": ["topic"],
        "additionalProperties": False,
    }
    proxy.bodies["start_pipeline"] = {"run_id": "run_1"}
    box = make(proxy)
    bad = await box.call_tool(
        ALL, "gumloop_start_pipeline", {"saved_item_id": "si", "pipeline_inputs": {"topik": "x"}}, ctx()
    )
    assert bad["isError"] is True
    fields = {v["field"] for v in bad["structuredContent"]["field_violations"]}
    assert fields == {"pipeline_inputs.topic", "pipeline_inputs.topik"}
    assert not proxy.invoked("start_pipeline")
    good = await box.call_tool(
        ALL,
        "gumloop_start_pipeline",
        {"saved_item_id": "si", "pipeline_inputs": [{"input_name": "topic", "value": "x"}]},
        ctx(),
    )
    assert good.get("isError") is not True and "get_single_gumloop_run_by_id" in text_of(good)


async def test_artifact_markdown_image_and_metadata() -> None:
    """ReadArtifact content maps to text with a paging hint, image blocks, or a metadata summary."""
    proxy = FakeProxy()
    box = make(proxy)
    proxy.artifact = pb.ReadArtifactResponse(
        artifact_id="art_1",
        content=pb.DecodedContent(
            filename="r.md",
            media_type="text/markdown",
            size_bytes=10,
            markdown=pb.MarkdownContent(text="# Hi", offset=0, total_chars=9, truncated=True, next_offset=4),
        ),
    )
    md = await box.call_tool(
        ALL, "get_single_gumloop_artifact_by_id", {"artifact_id": "art_1", "limit": 4}, ctx()
    )
    assert md["content"][0]["text"] == "# Hi" and "offset=4" in text_of(md)
    request = next(r for m, r, _ in proxy.requests if m == "ReadArtifact")
    assert request.limit == 4 and request.artifact_id == "art_1"
    proxy.artifact = pb.ReadArtifactResponse(
        content=pb.DecodedContent(
            media_type="image/png", image=pb.ImageContent(data=b"\x89PNG", media_type="image/png")
        )
    )
    img = await box.call_tool(ALL, "get_single_gumloop_artifact_by_id", {"artifact_id": "art_2"}, ctx())
    image = next(b for b in img["content"] if b["type"] == "image")
    assert base64.b64decode(image["data"]) == b"\x89PNG" and image["mimeType"] == "image/png"
    proxy.artifact = pb.ReadArtifactResponse(
        content=pb.DecodedContent(
            filename="a.zip",
            media_type="application/zip",
            size_bytes=2048,
            sha256="ab" * 32,
            download_url="http://127.0.0.1/x?sig=1",
            metadata_only=pb.MetadataOnly(reason="binary file (application/zip) is not rendered"),
        )
    )
    meta = await box.call_tool(ALL, "get_single_gumloop_artifact_by_id", {"artifact_id": "art_3"}, ctx())
    sc = meta["structuredContent"]
    assert sc["kind"] == "metadata_only" and sc["size_bytes"] == 2048 and sc["download_url"].endswith("sig=1")
    assert "binary file" in sc["reason"] and all(b["type"] == "text" for b in meta["content"])


async def test_streamed_chat_completion_is_folded_into_text_finish_and_usage() -> None:
    """stream=true goes through StreamOperation and comes back as one assistant answer."""
    proxy = FakeProxy()
    chunks = [
        {"model": "m", "choices": [{"delta": {"content": "Hel"}}]},
        {"model": "m", "choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"model": "m", "choices": [], "usage": {"total_tokens": 7}},
    ]
    proxy.events = [pb.StreamOperationResponse(start=pb.StreamStart(http_status=200))]
    proxy.events += [
        pb.StreamOperationResponse(event=pb.StreamEvent(event="message", data=json.dumps(c))) for c in chunks
    ]
    proxy.events += [pb.StreamOperationResponse(event=pb.StreamEvent(event="message", data="[DONE]"))]
    result = await make(proxy).call_tool(
        ALL,
        "create_a_gumloop_chat_completion",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        ctx(),
    )
    assert result["content"][0]["text"] == "Hello"
    body = json.loads(result["content"][1]["text"])
    assert body["finish_reason"] == "stop" and body["usage"] == {"total_tokens": 7}


async def test_discovery_mode_lists_three_meta_tools_that_respect_scope() -> None:
    """search_tools/get_tool_schema/call_tool expose only in-scope tools."""
    proxy = FakeProxy()
    proxy.bodies["list_skills"] = {"skills": [{"id": "sk_1"}]}
    box = make(proxy, tool_exposure="discovery")
    scope = ServerScope(server_id="s", account_id="acct_1", name="n", methods=("read",))
    assert [t["name"] for t in await box.list_tools(scope)] == [
        "search_tools",
        "get_tool_schema",
        "call_tool",
    ]
    found = await box.call_tool(scope, "search_tools", {"query": "list skills"}, ctx())
    names = [t["name"] for t in found["structuredContent"]["tools"]]
    assert names[0] == "list_all_gumloop_skills" and "create_a_gumloop_skill" not in names
    schema = await box.call_tool(scope, "get_tool_schema", {"name": "list_all_gumloop_skills"}, ctx())
    assert "cursor" in schema["structuredContent"]["inputSchema"]["properties"]
    hidden = await box.call_tool(scope, "get_tool_schema", {"name": "create_a_gumloop_skill"}, ctx())
    assert hidden["isError"] is True
    called = await box.call_tool(
        scope, "call_tool", {"name": "list_all_gumloop_skills", "arguments": {}}, ctx()
    )
    assert called["structuredContent"]["items"] == [{"id": "sk_1"}]
    refused = await box.call_tool(
        scope, "call_tool", {"name": "create_a_gumloop_skill", "arguments": {}}, ctx()
    )
    assert refused["isError"] is True and not proxy.invoked("create_skill")


async def test_a_servers_own_exposure_overrides_the_default_and_auto_follows_its_budget() -> None:
    """The record's full/discovery wins over GMCP_FACADE_TOOL_EXPOSURE; auto lists the discovery
    tools when the scope's full list costs more model tokens than the budget, full tools below it."""
    from gumloop_mcp.scope import tool_list_tokens

    box = make(FakeProxy(), tool_exposure="discovery")
    meta = ["search_tools", "get_tool_schema", "call_tool"]
    full_scope = ServerScope(server_id="s", account_id="acct_1", name="n", tool_exposure="full")
    full = await box.list_tools(full_scope)
    assert [t["name"] for t in full] != meta and len(full) > 20
    assert [t["name"] for t in await box.list_tools(ServerScope("s", "acct_1", "n"))] == meta

    box = make(FakeProxy())  # default: full
    cost = tool_list_tokens(await box.list_tools(ALL))
    over = ServerScope("s", "acct_1", "n", tool_exposure="auto", context_budget_tokens=cost - 1)
    fits = ServerScope("s", "acct_1", "n", tool_exposure="auto", context_budget_tokens=cost)
    assert [t["name"] for t in await box.list_tools(over)] == meta
    assert await box.exposure(over) == "discovery"
    assert len(await box.list_tools(fits)) == len(await box.list_tools(ALL))
    found = await box.call_tool(over, "search_tools", {"query": "skills"}, ctx())
    assert found["structuredContent"]["tools"]
    # a narrow scope under the same budget fits: auto judges the scope's own list
    narrow = ServerScope(
        "s",
        "acct_1",
        "n",
        methods=("read",),
        tags=("skills",),
        tool_exposure="auto",
        context_budget_tokens=cost - 1,
    )
    assert [t["name"] for t in await box.list_tools(narrow)] != meta
    # without a budget of its own, auto uses the façade's (GMCP_FACADE_CONTEXT_BUDGET_TOKENS)
    small = make(FakeProxy(), context_budget_tokens=500)
    assert await small.exposure(ServerScope("s", "acct_1", "n", tool_exposure="auto")) == "discovery"
    big = make(FakeProxy(), context_budget_tokens=1_000_000)
    assert await big.exposure(ServerScope("s", "acct_1", "n", tool_exposure="auto")) == "full"


async def test_every_schema_is_a_valid_json_schema_with_an_object_root() -> None:
    """inputSchema and outputSchema of every tool pass Draft 2020-12 meta-validation."""
    from jsonschema import Draft202012Validator

    for tool in await make(FakeProxy()).list_tools(ALL):
        Draft202012Validator.check_schema(tool["inputSchema"])
        if "outputSchema" in tool:
            Draft202012Validator.check_schema(tool["outputSchema"])
            assert tool["outputSchema"]["type"] == "object"


async def test_a_session_stream_cut_by_the_deadline_returns_the_events_so_far() -> None:
    """stream_session relays events; running out of time mid-stream gives a partial result."""
    proxy = FakeProxy()
    proxy.events = [
        pb.StreamOperationResponse(
            event=pb.StreamEvent(event="message", data=json.dumps({"type": "text", "data": "step 1"}))
        )
    ]
    proxy.stream_error = rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline")
    result = await make(proxy).call_tool(ALL, "gumloop_stream_session", {"session_id": "ses_1"}, ctx())
    assert result.get("isError") is not True
    body = json.loads(result["content"][0]["text"])
    assert body["events"][0]["data"] == {"type": "text", "data": "step 1"} and body["ended"] is False
    assert "partial" in text_of(result)
    proxy.events = []
    failed = await make(proxy).call_tool(ALL, "gumloop_stream_session", {"session_id": "ses_1"}, ctx())
    assert failed["isError"] is True


async def test_descriptions_name_tools_not_operations_and_say_how_to_wait() -> None:
    """Catalog operation names in descriptions become tool names; start tools point at the wait."""
    tools = {t["name"]: t for t in await make(FakeProxy()).list_tools(ALL)}
    start = tools["gumloop_start_pipeline"]["description"]
    assert "get_pl_run" not in start and "wait with get_single_gumloop_run_by_id wait_seconds" in start
    assert "next_cursor" not in tools["list_all_gumloop_agents"]["description"]  # stated once, not per tool
    assert "wait_seconds" in tools["get_single_gumloop_run_by_id"]["description"]
    export_id = tools["get_single_gumloop_data_export_by_id"]["inputSchema"]["properties"]["data_export_id"]
    assert export_id["description"] == "From create_a_gumloop_data_export."


async def test_advertised_wait_fits_inside_the_request_deadline() -> None:
    """wait_seconds never exceeds what the per-call deadline allows."""
    box = make(FakeProxy(), max_wait_seconds=120, request_deadline_s=60)
    tool = await box.tool_for(ALL, "get_single_gumloop_session_by_id")
    assert tool is not None
    assert tool["inputSchema"]["properties"]["wait_seconds"]["maximum"] == 57
    longer = make(FakeProxy(), max_wait_seconds=120, request_deadline_s=200)
    tool = await longer.tool_for(ALL, "get_single_gumloop_session_by_id")
    assert tool is not None and tool["inputSchema"]["properties"]["wait_seconds"]["maximum"] == 120


async def test_a_file_answer_from_a_json_documented_tool_still_fits_its_output_schema() -> None:
    """A CSV export comes back as Markdown content; structuredContent validates against outputSchema."""
    from jsonschema import Draft202012Validator

    proxy = FakeProxy()
    csv = pb.DecodedContent(
        filename="export.csv",
        media_type="text/csv",
        markdown=pb.MarkdownContent(text="| a |\n|---|", total_chars=11, source_format="csv"),
    )

    async def invoke(request: Any, timeout: float | None = None) -> pb.InvokeOperationResponse:
        proxy.requests.append(("InvokeOperation", request, timeout))
        return pb.InvokeOperationResponse(http_status=200, content=csv)

    proxy.InvokeOperation = invoke  # type: ignore[method-assign]
    box = make(proxy)
    tool = await box.tool_for(ALL, "get_single_gumloop_data_export_by_id")
    assert tool is not None
    result = await box.call_tool(
        ALL, "get_single_gumloop_data_export_by_id", {"data_export_id": "ex_1", "download": True}, ctx()
    )
    assert result["content"][0]["text"].startswith("| a |")
    if "outputSchema" in tool:
        assert not list(Draft202012Validator(tool["outputSchema"]).iter_errors(result["structuredContent"]))


async def test_the_stream_host_session_tools_fold_their_events_into_one_result() -> None:
    """gumloop_stream_new_session goes through StreamOperation (never InvokeOperation) and answers the turn's
    events with ended true once the finish event arrived."""
    proxy = FakeProxy()
    proxy.events = [
        pb.StreamOperationResponse(
            event=pb.StreamEvent(event=name, data=json.dumps({"type": kind, "final": name == "finish"}))
        )
        for name, kind in (("message", "user-message"), ("message", "text-delta"), ("finish", "finish"))
    ]
    box = make(proxy)
    tools = {t["name"]: t for t in await box.list_tools(ALL)}
    assert {"gumloop_stream_new_session", "gumloop_stream_session_message"} <= set(tools)
    assert "outputSchema" not in tools["gumloop_stream_new_session"]
    result = await box.call_tool(
        ALL, "gumloop_stream_new_session", {"agent_id": "ag_1", "input": "hi"}, ctx()
    )
    body = json.loads(result["content"][0]["text"])
    assert [e["data"]["type"] for e in body["events"]] == ["user-message", "text-delta", "finish"]
    assert body["ended"] is True and body["event_count"] == 3
    calls = [r for r in proxy.requests if r[0] != "ListOperations"]
    assert [(r[0], r[1].operation) for r in calls] == [("StreamOperation", "stream_new_session")]


async def test_the_skill_package_tool_reads_the_package_through_read_skill() -> None:
    """get_skill_download's tool returns the decoded package (ReadSkill), pages with offset, and keeps
    the short-lived link in the structured result; no InvokeOperation for the bare link."""
    proxy = FakeProxy()
    box = make(proxy)
    proxy.skill = pb.ReadSkillResponse(
        skill_id="sk_1",
        version_id="sv_2",
        content=pb.DecodedContent(
            filename="triage.skill",
            media_type="application/zip",
            size_bytes=300,
            download_url="http://127.0.0.1/blob?sig=1",
            markdown=pb.MarkdownContent(
                text="# Archive: 1 file", offset=0, total_chars=40, truncated=True, next_offset=17,
                source_format="zip",
            ),
        ),
    )  # fmt: skip
    result = await box.call_tool(
        ALL, "get_single_gumloop_skill_download_by_id", {"skill_id": "sk_1", "version_id": "sv_2"}, ctx()
    )
    assert result["content"][0]["text"] == "# Archive: 1 file"
    assert "skill_id='sk_1' and offset=17" in text_of(result)
    structured = result["structuredContent"]
    assert (structured["skill_id"], structured["version_id"], structured["source_format"]) == (
        "sk_1",
        "sv_2",
        "zip",
    )
    assert structured["download_url"] == "http://127.0.0.1/blob?sig=1"
    request = next(r for m, r, _ in proxy.requests if m == "ReadSkill")
    assert (request.skill_id, request.version_id, request.offset) == ("sk_1", "sv_2", 0)
    assert not proxy.invoked("get_skill_download")
