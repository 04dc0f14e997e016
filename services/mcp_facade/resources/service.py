"""resources/list, resources/templates/list and resources/read for one server scope.

A kind is offered (template, listed items, reads) only when the scope admits the operation that
reads it; listing skills also needs list_skills, listing artifacts list_agents and list_artifacts.
Every read goes through `OperationCaller` (the tool-calling path, with the scope's own limits).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Final

from ..contracts import ServerScope
from .errors import ResourceNotFound
from .operations import OperationCaller
from .uris import KINDS, Kind, Parsed, parse, uri_of

__all__ = ["ResourceService"]

# resources/list stays one bounded page: the newest skills, and the newest artifacts of the first agents.
_LIST_SKILLS: Final = 50
_LIST_AGENTS: Final = 10
_ARTIFACTS_PER_AGENT: Final = 20
_KIND: Final = {kind.segment: kind for kind in KINDS}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class ResourceService:
    """Gumloop artifacts, skills, sessions and runs as MCP resources."""

    def __init__(self, caller: OperationCaller) -> None:
        self._caller = caller

    async def _kinds(self, scope: ServerScope) -> list[Kind]:
        tools = await self._caller.tools(scope)
        return [kind for kind in KINDS if kind.read_operation in tools]

    async def templates(self, scope: ServerScope) -> list[dict[str, Any]]:
        """The ResourceTemplate objects of the kinds `scope` can read."""
        return [
            {
                "uriTemplate": kind.template,
                "name": kind.name,
                "title": kind.title,
                "description": kind.description,
                "mimeType": kind.mime_type,
            }
            for kind in await self._kinds(scope)
        ]

    async def subscribable(self, scope: ServerScope) -> bool:
        """Whether `scope` can read any kind that may be subscribed to."""
        return any(kind.subscribable for kind in await self._kinds(scope))

    async def list_resources(self, scope: ServerScope) -> list[dict[str, Any]]:
        """Resource objects for the account's skills and recent artifacts (those the scope reads)."""
        tools = await self._caller.tools(scope)
        found: list[dict[str, Any]] = []
        if {"list_skills", "get_skill_download"} <= tools.keys():
            for skill in await self._caller.items(scope, "list_skills", {}, _LIST_SKILLS):
                if not isinstance(skill.get("id"), str) or not skill["id"]:
                    continue
                entry = {
                    "uri": uri_of(_KIND["skills"], skill["id"]),
                    "name": str(skill.get("name") or skill["id"]),
                    "title": f"Skill {skill.get('name') or skill['id']}",
                    "mimeType": "application/json",
                }
                if skill.get("description"):
                    entry["description"] = str(skill["description"])
                found.append(entry)
        if {"list_agents", "list_artifacts", "get_artifact"} <= tools.keys():
            agents = await self._caller.items(scope, "list_agents", {}, _LIST_AGENTS)
            named = [a for a in agents if isinstance(a.get("id"), str) and a["id"]]
            pages = await asyncio.gather(
                *(
                    self._caller.items(scope, "list_artifacts", {"agent_id": a["id"]}, _ARTIFACTS_PER_AGENT)
                    for a in named
                )
            )
            for agent, artifacts in zip(named, pages, strict=True):
                found.extend(
                    self._artifact_entry(agent, a)
                    for a in artifacts
                    if isinstance(a.get("id"), str) and a["id"]
                )
        return found

    @staticmethod
    def _artifact_entry(agent: dict[str, Any], artifact: dict[str, Any]) -> dict[str, Any]:
        found = artifact.get("metadata")
        meta: dict[str, Any] = found if isinstance(found, dict) else {}
        entry: dict[str, Any] = {
            "uri": uri_of(_KIND["artifacts"], artifact["id"]),
            "name": str(artifact.get("filename") or artifact["id"]),
            "description": f"Produced by agent {agent.get('name') or agent['id']}"
            + (f" in session {artifact['session_id']}" if artifact.get("session_id") else ""),
        }
        if isinstance(meta.get("media_type"), str):
            entry["mimeType"] = meta["media_type"]
        if isinstance(meta.get("size"), int):
            entry["size"] = meta["size"]
        return entry

    async def resolve(self, scope: ServerScope, uri: str) -> Parsed:
        """The kind and id of a URI `scope` may read (else ResourceNotFound, whatever the reason)."""
        parsed = parse(uri) if isinstance(uri, str) else None
        if parsed is None or parsed.kind.read_operation not in await self._caller.tools(scope):
            raise ResourceNotFound(str(uri))
        return parsed

    async def read(self, scope: ServerScope, uri: str) -> list[dict[str, Any]]:
        """The `contents` of resources/read.

        Raises:
            ResourceNotFound: unknown, malformed, gone or out of scope.
            UpstreamFailed: Gumloop failed to answer.
        """
        parsed = await self.resolve(scope, uri)
        kind, arguments = parsed.kind, {parsed.kind.parameter: parsed.ident}
        if kind.segment in ("artifacts", "skills"):  # reader tools: the decoded content (tools/artifacts.py)
            result = await self._caller.call_raw(scope, kind.read_operation, arguments, uri)
            return _decoded_contents(uri, result)
        body = await self._caller.call(scope, kind.read_operation, arguments, uri)
        return [{"uri": uri, "mimeType": "application/json", "text": _dumps(body)}]

    async def fingerprint(self, scope: ServerScope, uri: str) -> str:
        """A digest of what resources/read returns now (a change means an update)."""
        contents = await self.read(scope, uri)
        return hashlib.sha256(_dumps(contents).encode()).hexdigest()


def _decoded_contents(uri: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Decoded content of an artifact or a skill package (tools/artifacts.content_result) as resource
    contents."""
    found = result.get("structuredContent")
    summary: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = summary.get("kind")
    blocks = [b for b in result.get("content") or [] if isinstance(b, dict)]
    if kind == "image":
        image = next((b for b in blocks if b.get("type") == "image"), None)
        if image is not None:
            return [{"uri": uri, "mimeType": str(image.get("mimeType")), "blob": str(image.get("data"))}]
    if kind == "markdown":
        # The Markdown, the paging hint when more follows (it names the reader tool and the offset
        # to read on with), and last the summary JSON, which the resource leaves out.
        texts = [str(b.get("text")) for b in blocks if b.get("type") == "text"]
        return [{"uri": uri, "mimeType": "text/markdown", "text": "\n\n".join(texts[:-1])}]
    return [{"uri": uri, "mimeType": "application/json", "text": _dumps(summary)}]
