"""Demo Company Brain sources (one connected source per seeded document's source type, indexed, one with a
skipped document) and the user's default browser profile, shaped like the official SDK's types."""

from __future__ import annotations

from typing import Any

from gumloop_mcp.emulator.store import Store, iso

DAY = 86400.0
NAMES = {
    "notion": "Notion workspace",
    "google_drive": "Shared drive",
    "slack": "Slack workspace",
    "github": "GitHub repositories",
    "confluence": "Confluence space",
}


def seed(store: Store, now: float) -> None:
    """Brain sources over ``store.brain_docs`` and a default browser profile."""
    for n, kind in enumerate(sorted({d["source"] for d in store.brain_docs}), start=1):
        source_id = f"bsrc_{kind}"
        docs = [d for d in store.brain_docs if d["source"] == kind]
        run = _finished_run(source_id, now - n * DAY, len(docs))
        store.brain_sources[source_id] = {
            "id": source_id,
            "name": NAMES.get(kind, kind),
            "source_type": kind,
            "status": "ready",
            "scope": "organization",
            "team_id": None,
            "created_by_user_id": store.user_id,
            "created_at": iso(now - 30 * DAY),
            "_docs": [_child(d) for d in docs],
            "_files": {},
            "_runs": [run],
            "_issues": _issues(kind, now),
        }
    store.browser_profiles["bp_default"] = {
        "profile_id": "bp_default",
        "owner_id": store.user_id,
        "owner_scope": "user",
        "name": "Default",
        "is_default": True,
        "version": 0,
        "sites": [],
        "size_bytes": 0,
        "has_storage": False,
        "created_by_user_id": store.user_id,
        "created_ts": iso(now - 10 * DAY),
        "updated_ts": iso(now - 10 * DAY),
        "last_used_ts": None,
    }


def _child(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "document_id": doc["document_id"],
        "title": doc["title"],
        "kind": "page",
        "is_document": True,
        "child_count": None,
        "descendant_doc_count": None,
        "retrieval_count": 3,
        "url": doc["url"],
        "updated_at": doc["updated_at"],
        "status": "indexed",
        "error": None,
        "ancestors": [],
    }


def _finished_run(source_id: str, ts: float, docs: int) -> dict[str, Any]:
    return {
        "sync_run_id": f"bsr_{source_id[5:]}_1",
        "source_id": source_id,
        "connector_id": source_id,
        "status": "succeeded",
        "trigger": "schedule",
        "sync_mode": "incremental",
        "coverage_status": "complete",
        "budget_status": "within_budget",
        "docs_seen": docs,
        "docs_changed": docs,
        "docs_deleted": 0,
        "docs_skipped": 0,
        "chunks_indexed": docs * 4,
        "total_units": docs,
        "units_processed": docs,
        "progress_unit": "documents",
        "error_code": None,
        "created_ts": iso(ts),
        "started_at": iso(ts),
        "finished_at": iso(ts + 60),
        "credit_cost": float(docs),
        "require_approval": False,
        "estimated_credits": None,
        "estimated_tokens": None,
        "estimate_is_sampled": None,
        "estimated_documents_sampled": None,
        "estimated_documents_total": None,
    }


def _issues(kind: str, now: float) -> list[dict[str, Any]]:
    if kind != "google_drive":
        return []
    return [
        {
            "source_item_key": "gdrive_file_scan_0042",
            "title": "Scanned contract.pdf",
            "url": "https://example.com/google_drive/scan",
            "status": "skipped",
            "error": None,
            "skip_reason": "too_large",
            "verdict": None,
            "hidden_from_search": True,
            "updated_ts": iso(now - DAY),
            "details_hidden": False,
        }
    ]
