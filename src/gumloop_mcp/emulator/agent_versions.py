"""Agent versions: every change to an agent's composition (PATCH /agents/{id}, skill attach/detach) records
a new version — major_version + 1, named ``v<n>``, deployed (the previous ones no longer are) — holding a
snapshot of the composition, so GET /agents/{id}/versions/{version_id} answers what that version was.

``changes`` has the official SDK's ``AgentVersionChanges`` shape (gumloop.types), null for an agent's first
version: ``{base_version_id, attachment_changes_complete, field_changes, tool_changes, skill_changes,
knowledge_source_changes}``. Text fields (``description``, ``system_prompt``) change as line hunks
``{field, status, text_hunks: [{old_start, old_end, new_start, new_end, old_text, new_text}]}``; other scalar
fields as ``{field, status, old_value, new_value}``; each ``tools`` entry (identified by type + server_id,
or type + name) as ``{identity, status, old_position, new_position, old_value, new_value, field_changes}``;
skills as ``{skill_id, status}``. Statuses: ``added``, ``removed``, ``modified``.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

from gumloop_mcp.emulator.store import Store, iso, new_id

COMPOSITION_KEYS = (
    "name",
    "description",
    "model_name",
    "system_prompt",
    "tools",
    "resources",
    "metadata",
    "skill_ids",
)


def composition(agent: dict[str, Any]) -> dict[str, Any]:
    """A snapshot of what makes up the agent (deep-copied: later edits do not change it)."""
    return {
        "complete": True,
        "schema_version": 1,
        **{k: copy.deepcopy(agent.get(k)) for k in COMPOSITION_KEYS},
        "knowledge_sources": [],
    }


def record(
    store: Store, agent: dict[str, Any], ts: float, creator: dict[str, Any], ident: str | None = None
) -> dict[str, Any] | None:
    """Add a deployed version when the composition differs from the latest one; the new version or None."""
    versions = store.agent_versions.setdefault(agent["id"], [])
    snapshot = composition(agent)
    if versions and versions[0].get("_composition") == snapshot:
        return None
    major = max((v["major_version"] for v in versions), default=0) + 1
    for version in versions:
        version["is_deployed"] = False
    version = {
        "id": ident or new_id("ver_"),
        "agent_id": agent["id"],
        "major_version": major,
        "name": f"v{major}",
        "is_deployed": True,
        "created_at": iso(ts),
        "creator": creator,
        "_composition": snapshot,
    }
    versions.insert(0, version)
    agent["version"] = major  # what Agent.version reports and update_abilities' version checks
    return version


def summary(version: dict[str, Any]) -> dict[str, Any]:
    """The version as listed (no composition)."""
    return {k: v for k, v in version.items() if not k.startswith("_")}


TEXT_FIELDS = ("description", "system_prompt")
SCALAR_FIELDS = ("name", "model_name", "resources", "metadata")


def _text_change(field: str, before: str | None, after: str | None) -> dict[str, Any]:
    old, new = (before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True)
    hunks = [
        {
            "old_start": i1,
            "old_end": i2,
            "new_start": j1,
            "new_end": j2,
            "old_text": "".join(old[i1:i2]),
            "new_text": "".join(new[j1:j2]),
        }
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
        if tag != "equal"
    ]
    return {"field": field, "status": "modified", "text_hunks": hunks}


def _identity(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict):
        return {"value": tool}
    key = "server_id" if tool.get("server_id") else "name"
    return {"type": tool.get("type"), key: tool.get(key)}


def _tool_changes(before: list[Any], after: list[Any]) -> list[dict[str, Any]]:
    old = {repr(sorted(_identity(t).items())): (i, t) for i, t in enumerate(before or [])}
    new = {repr(sorted(_identity(t).items())): (i, t) for i, t in enumerate(after or [])}
    out: list[dict[str, Any]] = []
    for key, (j, tool) in new.items():
        if key not in old:
            out.append(
                {
                    "identity": _identity(tool),
                    "status": "added",
                    "old_position": None,
                    "new_position": j,
                    "old_value": None,
                    "new_value": tool,
                    "field_changes": [],
                }
            )
            continue
        i, previous = old[key]
        if previous != tool:
            fields = sorted(set(previous) | set(tool)) if isinstance(tool, dict) else []
            out.append(
                {
                    "identity": _identity(tool),
                    "status": "modified",
                    "old_position": i,
                    "new_position": j,
                    "old_value": previous,
                    "new_value": tool,
                    "field_changes": [
                        {
                            "field": f,
                            "status": "modified",
                            "old_value": previous.get(f),
                            "new_value": tool.get(f),
                        }
                        for f in fields
                        if previous.get(f) != tool.get(f)
                    ],
                }
            )
    for key, (i, tool) in old.items():
        if key not in new:
            out.append(
                {
                    "identity": _identity(tool),
                    "status": "removed",
                    "old_position": i,
                    "new_position": None,
                    "old_value": tool,
                    "new_value": None,
                    "field_changes": [],
                }
            )
    return out  # fmt: skip


def changes(previous: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    """What changed from ``previous`` to ``version`` (the SDK's AgentVersionChanges)."""
    before, after = previous["_composition"], version["_composition"]
    field_changes: list[dict[str, Any]] = []
    for field in (*SCALAR_FIELDS[:2], *TEXT_FIELDS, *SCALAR_FIELDS[2:]):
        if before.get(field) == after.get(field):
            continue
        if field in TEXT_FIELDS:
            field_changes.append(_text_change(field, before.get(field), after.get(field)))
        else:
            field_changes.append(
                {"field": field, "status": "modified", "old_value": before.get(field),
                 "new_value": after.get(field)}
            )  # fmt: skip
    old_skills, new_skills = before.get("skill_ids") or [], after.get("skill_ids") or []
    skill_changes = [{"skill_id": s, "status": "added"} for s in new_skills if s not in old_skills] + [
        {"skill_id": s, "status": "removed"} for s in old_skills if s not in new_skills
    ]
    return {
        "base_version_id": previous["id"],
        "attachment_changes_complete": True,
        "field_changes": field_changes,
        "tool_changes": _tool_changes(before.get("tools") or [], after.get("tools") or []),
        "skill_changes": skill_changes,
        "knowledge_source_changes": [],
    }


def detail(versions: list[dict[str, Any]], version: dict[str, Any]) -> dict[str, Any]:
    """``{version: {...summary, composition}, changes}`` for GET /agents/{id}/versions/{version_id}."""
    earlier = [v for v in versions if v["major_version"] < version["major_version"]]
    previous = max(earlier, key=lambda v: v["major_version"], default=None)
    return {
        "version": {**summary(version), "composition": version["_composition"]},
        "changes": changes(previous, version) if previous is not None else None,
    }
