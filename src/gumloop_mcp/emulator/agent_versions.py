"""Agent versions: every change to an agent's composition (PATCH /agents/{id}, skill attach/detach) records
a new version — major_version + 1, named ``v<n>``, deployed (the previous ones no longer are) — holding a
snapshot of the composition, so GET /agents/{id}/versions/{version_id} answers what that version was.

``changes`` (shape not documented by Gumloop; this is the emulator's): the composition fields that differ
from the previous version, ``{"previous_version_id", "previous_major_version", "fields": {name: {"before",
"after"}}}``; null for an agent's first version.
"""

from __future__ import annotations

import copy
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
    return version


def summary(version: dict[str, Any]) -> dict[str, Any]:
    """The version as listed (no composition)."""
    return {k: v for k, v in version.items() if not k.startswith("_")}


def detail(versions: list[dict[str, Any]], version: dict[str, Any]) -> dict[str, Any]:
    """``{version: {...summary, composition}, changes}`` for GET /agents/{id}/versions/{version_id}."""
    earlier = [v for v in versions if v["major_version"] < version["major_version"]]
    previous = max(earlier, key=lambda v: v["major_version"], default=None)
    changes = None
    if previous is not None:
        before, after = previous["_composition"], version["_composition"]
        changes = {
            "previous_version_id": previous["id"],
            "previous_major_version": previous["major_version"],
            "fields": {
                k: {"before": before[k], "after": after[k]} for k in COMPOSITION_KEYS if before[k] != after[k]
            },
        }
    return {"version": {**summary(version), "composition": version["_composition"]}, "changes": changes}
