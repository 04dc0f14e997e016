"""Decoded content as MCP content: Markdown, images, metadata with download links."""

from __future__ import annotations

import json

from google.protobuf import timestamp_pb2

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb
from services.mcp_facade.tools.artifacts import content_result


def test_markdown_beyond_the_cap_is_cut_with_the_next_offset() -> None:
    """A window larger than the cap is cut and says where to read on."""
    content = pb.DecodedContent(markdown=pb.MarkdownContent(text="a" * 30_000, total_chars=30_000))
    result = content_result(content, max_result_chars=10_000, next_call="call t with offset={offset}")
    assert len(json.dumps(result)) < 10_000 + 1_000
    assert result["structuredContent"]["next_offset"] == 8_000
    assert "offset=8000" in result["content"][1]["text"]


def test_an_untruncated_markdown_has_no_hint() -> None:
    """Complete text comes back alone with its metadata."""
    content = pb.DecodedContent(
        filename="t.csv",
        markdown=pb.MarkdownContent(text="| a |", total_chars=5, source_format="csv"),
    )
    result = content_result(content, max_result_chars=100_000, next_call="x")
    assert result["content"][0]["text"] == "| a |"
    assert result["structuredContent"]["truncated"] is False
    assert result["structuredContent"]["source_format"] == "csv"


def test_an_image_over_the_cap_becomes_metadata() -> None:
    """Images too large for the result are described, not inlined."""
    content = pb.DecodedContent(media_type="image/png", image=pb.ImageContent(data=b"x" * 20_000))
    result = content_result(content, max_result_chars=10_000, next_call="x")
    assert all(block["type"] == "text" for block in result["content"])
    assert result["structuredContent"]["kind"] == "metadata_only"


def test_metadata_only_gives_the_download_link_and_expiry() -> None:
    """Binary files: filename, type, size, digest, reason, link and expiry; no bytes."""
    content = pb.DecodedContent(
        filename="a.zip",
        media_type="application/zip",
        size_bytes=9,
        sha256="00" * 32,
        download_url="http://127.0.0.1/f?sig=abc",
        download_url_expire_time=timestamp_pb2.Timestamp(seconds=1_800_000_000),
        metadata_only=pb.MetadataOnly(reason="binary file (application/zip) is not rendered"),
    )
    result = content_result(content, max_result_chars=100_000, next_call="x")
    sc = result["structuredContent"]
    assert sc["download_url_expires_at"].startswith("2027-")
    assert sc["filename"] == "a.zip" and sc["sha256"] == "00" * 32
    assert "download_url" in result["content"][-1]["text"]
