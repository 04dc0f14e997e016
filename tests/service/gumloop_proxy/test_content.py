"""Artifacts by media type, flow input schemas, streaming chat completions and session streams."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from gumloop_mcp.proxy.v1 import proxy_service_pb2_grpc as pb_grpc
from gumloop_mcp.runtime import field_violations

from .conftest import invoke
from .test_errors import inject

MARKDOWN_TYPES = {
    "text/plain": "txt",
    "application/json": "json",
    "text/csv": "csv",
    "text/markdown": "md",
    "text/html": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


async def _artifacts(stub: pb_grpc.ProxyServiceStub, account_id: str) -> dict[str, dict[str, Any]]:
    """One artifact per media type across the seeded agents (running a session first if none exist)."""
    _, agents = await invoke(stub, account_id, "list_agents", {})
    by_type: dict[str, dict[str, Any]] = {}
    for agent in agents["agents"]:
        _, body = await invoke(
            stub, account_id, "list_artifacts", {"agent_id": agent["id"], "page_size": 100}
        )
        for artifact in body["artifacts"]:
            media_type = (artifact.get("metadata") or {}).get("media_type") or ""
            by_type.setdefault(media_type.split(";")[0], artifact)
    return by_type


@pytest.fixture
async def artifacts(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> dict[str, dict[str, Any]]:
    found = await _artifacts(stub, account.id)
    assert found, "the emulator seeded no artifacts"
    return found


@pytest.mark.parametrize("media_type", sorted(MARKDOWN_TYPES))
async def test_document_artifacts_read_as_markdown(
    media_type: str,
    stub: pb_grpc.ProxyServiceStub,
    account: pb.IntegratedAccount,
    artifacts: dict[str, dict[str, Any]],
) -> None:
    """Text, JSON, CSV, Markdown, HTML, PDF, DOCX and XLSX become non-empty Markdown with a digest."""
    artifact = artifacts.get(media_type)
    assert artifact is not None, f"no {media_type} artifact seeded; have {sorted(artifacts)}"
    response = await stub.ReadArtifact(
        pb.ReadArtifactRequest(account_id=account.id, artifact_id=artifact["id"]), timeout=15
    )
    content = response.content
    assert content.WhichOneof("content") == "markdown", content
    assert content.markdown.text.strip() and content.markdown.total_chars >= len(content.markdown.text)
    assert len(content.sha256) == 64 and content.size_bytes > 0
    assert content.markdown.source_format


async def test_markdown_pages_with_offset_and_limit(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, artifacts: dict[str, dict[str, Any]]
) -> None:
    """A small limit truncates and says where to continue; the next window starts there."""
    artifact = artifacts["text/markdown"]
    first = await stub.ReadArtifact(
        pb.ReadArtifactRequest(account_id=account.id, artifact_id=artifact["id"], limit=10), timeout=15
    )
    markdown = first.content.markdown
    assert markdown.truncated and markdown.next_offset > 0
    second = await stub.ReadArtifact(
        pb.ReadArtifactRequest(
            account_id=account.id, artifact_id=artifact["id"], offset=markdown.next_offset, limit=10
        ),
        timeout=15,
    )
    assert second.content.markdown.offset == markdown.next_offset


async def test_png_artifacts_come_back_as_image_bytes(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, artifacts: dict[str, dict[str, Any]]
) -> None:
    """An image under the cap is returned as bytes with its media type; over the cap, metadata only."""
    artifact = artifacts["image/png"]
    response = await stub.ReadArtifact(
        pb.ReadArtifactRequest(account_id=account.id, artifact_id=artifact["id"]), timeout=15
    )
    assert response.content.image.data.startswith(b"\x89PNG")
    assert response.content.image.media_type == "image/png"
    capped = await stub.ReadArtifact(
        pb.ReadArtifactRequest(account_id=account.id, artifact_id=artifact["id"], max_image_bytes=10),
        timeout=15,
    )
    assert capped.content.WhichOneof("content") == "metadata_only"


async def test_zip_artifacts_read_as_their_listing_and_text_members(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount, artifacts: dict[str, dict[str, Any]]
) -> None:
    """A zipped artifact comes back as its file list and the text of its text members."""
    artifact = artifacts["application/zip"]
    response = await stub.ReadArtifact(
        pb.ReadArtifactRequest(account_id=account.id, artifact_id=artifact["id"]), timeout=15
    )
    content = response.content
    assert content.WhichOneof("content") == "markdown" and content.markdown.source_format == "zip"
    assert content.markdown.text.startswith("# Archive: 1 file, ")
    assert "| README.txt |" in content.markdown.text and "## README.txt\n\n```txt\nBundle for " in (
        content.markdown.text
    )
    assert len(content.sha256) == 64


async def test_a_refused_signed_link_is_failed_precondition(
    stub: pb_grpc.ProxyServiceStub,
    account: pb.IntegratedAccount,
    artifacts: dict[str, dict[str, Any]],
    emulator: Any,
) -> None:
    """When the storage host refuses the link (expired), the caller is told to fetch a fresh one."""
    artifact = artifacts["text/plain"]
    _, meta = await invoke(stub, account.id, "get_artifact", {"artifact_id": artifact["id"]})
    # The blob directory: the file name is percent-encoded in the link but decoded by the server.
    blob_dir = urlsplit(meta["download_url"]).path.rsplit("/", 1)[0]
    await inject(emulator, blob_dir, "status", absolute=True, status=403)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ReadArtifact(
            pb.ReadArtifactRequest(account_id=account.id, artifact_id=artifact["id"]), timeout=15
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_flow_input_schema_is_derived_and_enforced(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """The schema lists the declared inputs; a wrong or unknown input is refused naming the field."""
    _, items = await invoke(stub, account.id, "list_saved_items", {})
    saved_item_id = items["saved_items"][0]["saved_item_id"]
    response = await stub.GetFlowInputSchema(
        pb.GetFlowInputSchemaRequest(account_id=account.id, saved_item_id=saved_item_id), timeout=10
    )
    schema = json.loads(response.schema_json)
    names = [i.name for i in response.inputs]
    assert names and set(names) <= set(schema["properties"])
    assert "$ref" not in response.schema_json
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(
            stub,
            account.id,
            "start_pipeline",
            {"saved_item_id": saved_item_id, "pipeline_inputs": {"definitely_not_an_input": "x"}},
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [field for field, _ in field_violations(caught.value)]
    assert "pipeline_inputs.definitely_not_an_input" in fields
    ok, body = await invoke(
        stub,
        account.id,
        "start_pipeline",
        {"saved_item_id": saved_item_id, "pipeline_inputs": [{"input_name": n, "value": "v"} for n in names]},
    )
    assert ok.http_status == 200 and body["run_id"]


async def test_chat_completions_stream_event_by_event(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """start, then one event per SSE chunk, then end with the count."""
    call = stub.StreamOperation(
        pb.StreamOperationRequest(
            account_id=account.id,
            operation="create_chat_completion",
            arguments_json=json.dumps(
                {
                    "model": "anthropic/claude-sonnet-4",
                    "messages": [{"role": "user", "content": "Count to three"}],
                }
            ),
        ),
        timeout=15,
    )
    parts = [message async for message in call]
    assert parts[0].WhichOneof("part") == "start" and parts[0].start.http_status == 200
    events = [p.event for p in parts if p.WhichOneof("part") == "event"]
    assert len(events) >= 2
    chunks = [json.loads(e.data) for e in events if e.data != "[DONE]"]
    assert chunks and all(c.get("object") == "chat.completion.chunk" for c in chunks)
    assert parts[-1].WhichOneof("part") == "end" and parts[-1].end.event_count == len(events)


async def test_a_session_stream_relays_its_events(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """stream_session relays message/finish events until the stream ends."""
    _, agents = await invoke(stub, account.id, "list_agents", {})
    _, created = await invoke(
        stub, account.id, "create_session", {"agent_id": agents["agents"][0]["id"], "input": "hi"}
    )
    call = stub.StreamOperation(
        pb.StreamOperationRequest(
            account_id=account.id,
            operation="stream_session",
            arguments_json=json.dumps({"session_id": created["session"]["id"]}),
        ),
        timeout=20,
    )
    parts = [message async for message in call]
    names = {p.event.event for p in parts if p.WhichOneof("part") == "event"}
    assert "finish" in names or "message" in names
    assert parts[-1].WhichOneof("part") == "end"


async def test_streaming_is_refused_on_invoke_and_non_streams_on_stream(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """Each RPC says which one to use instead."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(
            stub, account.id, "create_chat_completion", {"model": "m", "messages": [{}], "stream": True}
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    call = stub.StreamOperation(
        pb.StreamOperationRequest(account_id=account.id, operation="list_teams", arguments_json="{}"),
        timeout=5,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [m async for m in call]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_cancelled_stream_does_not_hang_the_proxy(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """The client going away mid-stream cancels the upstream request; the proxy keeps answering."""
    call = stub.StreamOperation(
        pb.StreamOperationRequest(
            account_id=account.id,
            operation="create_chat_completion",
            arguments_json=json.dumps(
                {
                    "model": "anthropic/claude-sonnet-4",
                    "messages": [{"role": "user", "content": "long story"}],
                }
            ),
        ),
        timeout=15,
    )
    first = await call.read()
    assert first.WhichOneof("part") == "start"
    call.cancel()
    await asyncio.sleep(0)
    response, _ = await invoke(stub, account.id, "list_teams", {})
    assert response.http_status == 200


async def test_read_skill_returns_the_package_listing_and_skill_md(
    stub: pb_grpc.ProxyServiceStub, account: pb.IntegratedAccount
) -> None:
    """ReadSkill downloads the skill's package and decodes it; bad arguments and unknown skills are clear."""
    response = await stub.ReadSkill(
        pb.ReadSkillRequest(account_id=account.id, skill_id="skill_csv_cleaner"), timeout=15
    )
    assert (response.skill_id, response.version_id) == ("skill_csv_cleaner", "sv_csv_cleaner_1")
    content = response.content
    assert content.WhichOneof("content") == "markdown" and content.markdown.source_format == "zip"
    assert content.media_type == "application/zip" and content.download_url.startswith("http://127.0.0.1")
    text = content.markdown.text
    assert text.startswith("# Archive: 1 file, ") and "| SKILL.md |" in text
    assert "## SKILL.md\n\n---\nname: csv-cleaner" in text and text.rstrip().endswith("Steps...")
    window = await stub.ReadSkill(
        pb.ReadSkillRequest(account_id=account.id, skill_id="skill_csv_cleaner", offset=10, limit=5),
        timeout=15,
    )
    assert window.content.markdown.text.startswith(text[10:15]) and window.content.markdown.truncated
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.ReadSkill(pb.ReadSkillRequest(account_id=account.id, offset=-1), timeout=15)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {field for field, _ in field_violations(bad.value)} == {"skill_id", "offset"}
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.ReadSkill(pb.ReadSkillRequest(account_id=account.id, skill_id="skill_nope"), timeout=15)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
