"""Decoded content (artifacts, skill packages, file downloads, CSV exports) as MCP content blocks.

Markdown becomes text (with a paging hint when more follows), an image under the cap becomes an
MCP image block, anything else a metadata summary with the short-lived download link when
upstream gave one. Raw bytes never go into text.

`READERS`: the get operations whose upstream answer is only a signed link (an artifact's, a skill
package's); their tools download and decode it through the proxy's Read* RPC instead, so a model
reads the content, with offset/limit to page and the link in the result.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final

from gumloop_mcp.proxy.v1 import proxy_service_pb2 as pb

from .results import TRUNCATION_MARKER, dumps

__all__ = ["READERS", "Reader", "content_result", "metadata"]


@dataclass(frozen=True)
class Reader:
    """A link-returning get operation whose tool returns the decoded content."""

    # The id argument, which is also the Read*Response field naming the item.
    id_param: str
    # The proxy RPC (ReadArtifact, ReadSkill) and its request message.
    rpc: str
    request: type[pb.ReadArtifactRequest] | type[pb.ReadSkillRequest]
    title: str
    description: str


READERS: Final[dict[str, Reader]] = {
    "get_artifact": Reader(
        "artifact_id",
        "ReadArtifact",
        pb.ReadArtifactRequest,
        "Read an artifact",
        "Reads an artifact's content: text, CSV, JSON, HTML, office and PDF files as Markdown (paged by "
        "offset/limit), images inline, other files as metadata with a short-lived download link.",
    ),
    "get_skill_download": Reader(
        "skill_id",
        "ReadSkill",
        pb.ReadSkillRequest,
        "Read a skill's package",
        "Reads a deployed skill's package: its file list, SKILL.md and other text files as Markdown "
        "(paged by offset/limit), plus a short-lived zip link.",
    ),
}


def metadata(content: pb.DecodedContent) -> dict[str, Any]:
    """Filename, media type, size, digest and download link of decoded content."""
    meta: dict[str, Any] = {
        "filename": content.filename or None,
        "media_type": content.media_type or None,
        "size_bytes": int(content.size_bytes),
        "sha256": content.sha256 or None,
    }
    if content.download_url:
        meta["download_url"] = content.download_url
        if content.HasField("download_url_expire_time"):
            meta["download_url_expires_at"] = content.download_url_expire_time.ToJsonString()
    return meta


def content_result(
    content: pb.DecodedContent, *, max_result_chars: int, next_call: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The CallToolResult for decoded content.

    `next_call` names how to continue reading (e.g. "call get_single_gumloop_artifact_by_id with
    offset=N"); `{offset}` in it is replaced by the next offset.
    """
    meta = {**(extra or {}), **metadata(content)}
    which = content.WhichOneof("content")
    blocks: list[dict[str, Any]] = []
    if which == "markdown":
        md = content.markdown
        text = md.text
        room = max_result_chars - 2_000
        cut_here: int | None = None
        if len(text) > room:
            text = text[:room]
            cut_here = int(md.offset) + room
        next_offset = cut_here if cut_here is not None else (int(md.next_offset) if md.truncated else None)
        meta.update(
            kind="markdown",
            source_format=md.source_format or None,
            offset=int(md.offset),
            total_chars=int(md.total_chars),
            truncated=next_offset is not None,
            next_offset=next_offset,
        )
        blocks.append({"type": "text", "text": text})
        if next_offset is not None:
            blocks.append(
                {
                    "type": "text",
                    "text": f"{TRUNCATION_MARKER} Showing characters {md.offset}-{next_offset} of "
                    f"{md.total_chars}; {next_call.format(offset=next_offset)} to read on.",
                }
            )
    elif which == "image":
        data = base64.b64encode(content.image.data).decode()
        media_type = content.image.media_type or content.media_type or "application/octet-stream"
        if len(data) <= max_result_chars - 2_000:
            meta.update(kind="image")
            blocks.append({"type": "image", "data": data, "mimeType": media_type})
        else:
            meta.update(kind="metadata_only", reason="image too large to return inline")
    else:
        reason = content.metadata_only.reason if which == "metadata_only" else "content not rendered"
        meta.update(kind="metadata_only", reason=reason)
    summary = {k: v for k, v in meta.items() if v is not None}
    blocks.insert(
        0 if meta["kind"] == "metadata_only" else len(blocks), {"type": "text", "text": dumps(summary)}
    )
    if meta["kind"] == "metadata_only":
        hint = (
            "The file is not shown inline; fetch it from download_url before it expires."
            if content.download_url
            else "The file is not shown inline."
        )
        blocks.append({"type": "text", "text": hint})
    return {"content": blocks, "structuredContent": summary}
