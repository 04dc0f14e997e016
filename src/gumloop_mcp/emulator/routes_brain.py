"""Company Brain sources (official SDK 0.5.9 ``Brain``): list, create, get, delete, sync and its runs,
issues, the indexed documents (children), a draft's credit estimate and approval, and the files of a
file-upload source (multipart upload, list, delete).

A source is ``draft`` (created with require_approval: files wait, an estimate is made), ``syncing`` while
a sync run works, then ``ready`` (or ``failed``). Runs move lazily when read: ``queued`` until
RUN_START_SECONDS, ``running`` until RUN_SECONDS, then ``succeeded``, the source ``ready`` and its pending
files ``indexed`` (binary files of a type Gumloop cannot read become ``failed`` and an issue).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from gumloop_mcp.emulator.context import Emulator, emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request
from gumloop_mcp.emulator.pagination import decode_cursor, encode_cursor
from gumloop_mcp.emulator.store import iso, new_id

routes = web.RouteTableDef()
API = "/api/v1"
T = TypeVar("T")
FILE_UPLOADS = "direct_file_uploads"
SCOPES = {"personal", "team", "organization"}
MAX_FILES = 25
MAX_FILE_BYTES = 50 * 1024 * 1024
RUN_START_SECONDS = 0.5
RUN_SECONDS = 3.0
SEARCHABLE_BYTES = 64 * 1024
READABLE = (".txt", ".md", ".csv", ".json", ".html", ".pdf", ".docx", ".xlsx", ".pptx")


def page(
    items: Sequence[T], query: Mapping[str, str], maximum: int, default: int = 20
) -> tuple[list[T], str | None]:
    """One page of ``items`` (page_size 1..maximum) and the next cursor."""
    raw = query.get("page_size")
    try:
        size = default if raw in (None, "") else int(str(raw))
    except ValueError as exc:
        raise bad_request("page_size must be an integer", param="page_size") from exc
    if not 1 <= size <= maximum:
        raise bad_request(f"page_size must be between 1 and {maximum}", param="page_size")
    cursor = query.get("cursor")
    offset = decode_cursor(cursor) if cursor else 0
    nxt = encode_cursor(offset + size) if offset + size < len(items) else None
    return list(items[offset : offset + size]), nxt


def view(source: dict[str, Any]) -> dict[str, Any]:
    """The public fields of a source."""
    return {k: v for k, v in source.items() if not k.startswith("_")}


def settle(e: Emulator, source: dict[str, Any]) -> None:
    """Move the source's latest sync run (and the source and its files) along to now."""
    now = e.clock.now()
    for run in source["_runs"]:
        start, due = run.get("_start"), run.get("_due")
        if start is None or due is None:
            continue
        if now >= due:
            _finish(e, source, run, due)
        elif now >= start and run["status"] == "queued":
            run["status"] = "running"
            run["started_at"] = iso(start)


def _finish(e: Emulator, source: dict[str, Any], run: dict[str, Any], due: float) -> None:
    pending = [f for f in source["_files"].values() if f["status"] == "processing"]
    for item in pending:
        if item["file_name"].lower().endswith(READABLE) or item.get("_text"):
            item.update(status="indexed", indexed_at=iso(due), document_id=new_id("doc_"))
            source["_docs"].append(_document(item, due))
            e.store.brain_docs.append(_searchable(source, item, due))
        else:
            item.update(status="failed", error="unsupported file type")
            source["_issues"].append(
                {
                    "source_item_key": item["id"],
                    "title": item["file_name"],
                    "url": None,
                    "status": "failed",
                    "error": "unsupported file type",
                    "skip_reason": None,
                    "verdict": None,
                    "hidden_from_search": True,
                    "updated_ts": iso(due),
                    "details_hidden": False,
                }
            )
    indexed = sum(1 for f in pending if f["status"] == "indexed")
    run.update(
        status="succeeded",
        started_at=run["started_at"] or iso(run["_start"]),
        finished_at=iso(due),
        docs_seen=len(source["_docs"]),
        docs_changed=indexed,
        docs_skipped=len(pending) - indexed,
        chunks_indexed=indexed * 4,
        total_units=len(pending),
        units_processed=len(pending),
        credit_cost=float(indexed),
        _start=None,
        _due=None,
    )
    source["status"] = "ready"


def _searchable(source: dict[str, Any], item: dict[str, Any], ts: float) -> dict[str, Any]:
    """An indexed file as search_brain finds it (the start of its text)."""
    return {
        "document_id": item["document_id"],
        "source": source["source_type"],
        "title": item["file_name"],
        "content": item.get("_content", ""),
        "url": None,
        "updated_at": iso(ts),
        "owner_name": None,
        "owner_email": None,
        "parent_title": source["name"],
        "metadata": {"source_id": source["id"]},
    }


def _unsearchable(e: Emulator, document_ids: set[Any]) -> None:
    e.store.brain_docs[:] = [d for d in e.store.brain_docs if d["document_id"] not in document_ids]


def _document(item: dict[str, Any], ts: float) -> dict[str, Any]:
    return {
        "document_id": item["document_id"],
        "title": item["file_name"],
        "kind": "file",
        "is_document": True,
        "child_count": None,
        "descendant_doc_count": None,
        "retrieval_count": 0,
        "url": None,
        "updated_at": iso(ts),
        "status": "indexed",
        "error": None,
        "ancestors": [],
    }


def _source(e: Emulator, source_id: str) -> dict[str, Any]:
    source = e.store.brain_sources.get(source_id)
    if source is None:
        raise ApiError(
            404, "brain_source_not_found", f"Brain source {source_id!r} not found", param="source_id"
        )
    settle(e, source)
    return source


def _new_run(e: Emulator, source: dict[str, Any], trigger: str) -> dict[str, Any]:
    now = e.clock.now()
    run = {
        "sync_run_id": new_id("bsr_"),
        "source_id": source["id"],
        "connector_id": source["id"],
        "status": "queued",
        "trigger": trigger,
        "sync_mode": "incremental",
        "coverage_status": "complete",
        "budget_status": "within_budget",
        "docs_seen": 0,
        "docs_changed": 0,
        "docs_deleted": 0,
        "docs_skipped": 0,
        "chunks_indexed": 0,
        "total_units": None,
        "units_processed": 0,
        "progress_unit": "documents",
        "error_code": None,
        "created_ts": iso(now),
        "started_at": None,
        "finished_at": None,
        "credit_cost": 0.0,
        "require_approval": False,
        "estimated_credits": None,
        "estimated_tokens": None,
        "estimate_is_sampled": None,
        "estimated_documents_sampled": None,
        "estimated_documents_total": None,
        "_start": now + e.store.delay(RUN_START_SECONDS),
        "_due": now + e.store.delay(RUN_SECONDS),
    }
    source["_runs"].insert(0, run)
    source["status"] = "syncing"
    return run


def _estimate(e: Emulator, source: dict[str, Any]) -> None:
    """A draft's estimate over its waiting files: tokens ~ bytes / 4, a credit per 1000 tokens."""
    waiting = [f for f in source["_files"].values() if f["status"] == "pending_approval"]
    tokens = sum(f["size_bytes"] for f in waiting) // 4
    credits = max(1, -(-tokens // 1000)) if waiting else 0
    runs = [r for r in source["_runs"] if r["trigger"] == "estimate"]
    run = runs[0] if runs else None
    if run is None:
        run = _new_run(e, source, "estimate")
        source["status"] = "draft"
    run.update(
        status="estimated",
        require_approval=True,
        estimated_tokens=tokens,
        estimated_credits=float(credits),
        estimate_is_sampled=False,
        estimated_documents_sampled=len(waiting),
        estimated_documents_total=len(waiting),
        _start=None,
        _due=None,
    )


@routes.get(API + "/brain/sources")
async def list_sources(request: web.Request) -> web.Response:
    """Sources, optionally filtered by source_type and scope, cursor-paginated."""
    e, q = emu(request), request.query
    scope = q.get("scope")
    if scope is not None and scope not in SCOPES:
        raise bad_request(f"scope must be one of {sorted(SCOPES)}", param="scope")
    items = list(e.store.brain_sources.values())
    if kind := q.get("source_type"):
        items = [s for s in items if s["source_type"] == kind]
    if scope:
        items = [s for s in items if s["scope"] == scope]
    for source in items:
        settle(e, source)
    items.sort(key=lambda s: str(s["created_at"]), reverse=True)
    chunk, nxt = page(items, q, 100)
    return web.json_response({"sources": [view(s) for s in chunk], "next_cursor": nxt})


@routes.post(API + "/brain/sources")
async def create_source(request: web.Request) -> web.Response:
    """201 with a new file-upload source, a draft when require_approval."""
    e, body = emu(request), await json_body(request)
    name = required(body, "name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise bad_request("name must be a non-blank string of at most 255 characters", param="name")
    kind = body.get("source_type") or FILE_UPLOADS
    if kind != FILE_UPLOADS:
        raise bad_request(
            f"only {FILE_UPLOADS} sources are created through the API; connect {kind} in Gumloop",
            param="source_type",
        )
    scope = body.get("scope") or "personal"
    if scope not in SCOPES:
        raise bad_request(f"scope must be one of {sorted(SCOPES)}", param="scope")
    team_id = body.get("team_id") or request.query.get("team_id")
    if scope == "team" and not team_id:
        raise bad_request("a team source needs team_id", param="team_id")
    approval = body.get("require_approval", False)
    if not isinstance(approval, bool):
        raise bad_request("require_approval must be a boolean", param="require_approval")
    source_id = new_id("bsrc_")
    source: dict[str, Any] = {
        "id": source_id,
        "name": name,
        "source_type": kind,
        "status": "draft" if approval else "ready",
        "scope": scope,
        "team_id": team_id if scope == "team" else None,
        "created_by_user_id": e.store.user_id,
        "created_at": iso(e.clock.now()),
        "_docs": [],
        "_files": {},
        "_runs": [],
        "_issues": [],
        "_approval": approval,
    }
    e.store.brain_sources[source_id] = source
    return web.json_response({"source": view(source)}, status=201)


@routes.get(API + "/brain/sources/{source_id}")
async def get_source(request: web.Request) -> web.Response:
    """One source."""
    return web.json_response({"source": view(_source(emu(request), request.match_info["source_id"]))})


@routes.delete(API + "/brain/sources/{source_id}")
async def delete_source(request: web.Request) -> web.Response:
    """Remove the source and its documents."""
    e = emu(request)
    source = _source(e, request.match_info["source_id"])
    del e.store.brain_sources[source["id"]]
    _unsearchable(e, {d["document_id"] for d in source["_docs"]})
    return web.json_response({"deleted": True})


@routes.post(API + "/brain/sources/{source_id}/sync")
async def sync_source(request: web.Request) -> web.Response:
    """Queue a sync of a ready source: 409 for a draft or one already syncing."""
    e = emu(request)
    source = _source(e, request.match_info["source_id"])
    if source["status"] == "draft":
        raise ApiError(409, "source_not_approved", "approve the draft source before syncing it")
    if source["status"] == "syncing":
        raise ApiError(409, "sync_in_progress", "the source is already syncing")
    run = _new_run(e, source, "manual")
    return web.json_response(
        {"source_id": source["id"], "status": "queued", "sync_run_id": run["sync_run_id"]}
    )


@routes.get(API + "/brain/sources/{source_id}/sync-runs")
async def list_sync_runs(request: web.Request) -> web.Response:
    """The source's sync history, newest first."""
    source = _source(emu(request), request.match_info["source_id"])
    chunk, nxt = page(source["_runs"], request.query, 100)
    return web.json_response({"items": [view(r) for r in chunk], "next_cursor": nxt})


@routes.get(API + "/brain/sources/{source_id}/issues")
async def list_issues(request: web.Request) -> web.Response:
    """Documents that failed or were skipped."""
    source = _source(emu(request), request.match_info["source_id"])
    chunk, nxt = page(source["_issues"], request.query, 200)
    return web.json_response({"items": chunk, "next_cursor": nxt})


@routes.get(API + "/brain/sources/{source_id}/children")
async def list_children(request: web.Request) -> web.Response:
    """The indexed documents under parent_id (the top level when absent), filtered by title."""
    source, q = _source(emu(request), request.match_info["source_id"]), request.query
    parent = q.get("parent_id") or None
    items = [d for d in source["_docs"] if (d["ancestors"][-1] if d["ancestors"] else None) == parent]
    if text := q.get("query"):
        items = [d for d in items if text.lower() in d["title"].lower()]
    chunk, nxt = page(items, q, 1000, default=100)
    body = {
        "source_id": source["id"],
        "connector_id": source["id"],
        "parent_id": parent,
        "items": chunk,
        "total_count": len(items),
        "next_cursor": nxt,
        "has_more": nxt is not None,
    }
    return web.json_response(body)


@routes.get(API + "/brain/sources/{source_id}/estimate")
async def get_estimate(request: web.Request) -> web.Response:
    """The latest estimate of a source (null until a draft has files)."""
    source = _source(emu(request), request.match_info["source_id"])
    runs = [r for r in source["_runs"] if r["estimated_credits"] is not None]
    estimate = None
    if runs:
        run = runs[0]
        estimate = {
            "sync_run_id": run["sync_run_id"],
            "status": run["status"],
            "estimated_tokens": run["estimated_tokens"],
            "estimated_credits": int(run["estimated_credits"]),
            "document_count": run["estimated_documents_total"],
        }
    return web.json_response({"source_id": source["id"], "status": source["status"], "estimate": estimate})


@routes.post(API + "/brain/sources/{source_id}/approve")
async def approve_source(request: web.Request) -> web.Response:
    """Index a draft's waiting files: 409 when the source is not a draft."""
    e = emu(request)
    source = _source(e, request.match_info["source_id"])
    if source["status"] != "draft":
        raise ApiError(409, "source_not_draft", f"the source is {source['status']}, not a draft")
    for item in source["_files"].values():
        if item["status"] == "pending_approval":
            item["status"] = "processing"
    source["_approval"] = False
    run = _new_run(e, source, "approval")
    estimates = [r for r in source["_runs"] if r["trigger"] == "estimate"]
    if estimates:
        run.update(require_approval=True, estimated_credits=estimates[0]["estimated_credits"])
    return web.json_response({"source": view(source)})


@routes.get(API + "/brain/sources/{source_id}/files")
async def list_files(request: web.Request) -> web.Response:
    """The files of a file-upload source, newest first."""
    source = _source(emu(request), request.match_info["source_id"])
    items = sorted(source["_files"].values(), key=lambda f: str(f["created_at"]), reverse=True)
    chunk, nxt = page(items, request.query, 100)
    return web.json_response({"files": [view(f) for f in chunk], "next_cursor": nxt})


async def _uploads(request: web.Request) -> list[tuple[str, str, bytes]]:
    if not request.content_type.startswith("multipart/"):
        raise bad_request("files are uploaded as multipart/form-data with a 'files' field", param="files")
    uploads: list[tuple[str, str, bytes]] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name != "files":
            await part.read()
            continue
        if len(uploads) == MAX_FILES:
            raise bad_request(f"at most {MAX_FILES} files per upload", param="files")
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > MAX_FILE_BYTES:
                raise ApiError(413, "payload_too_large", f"{part.filename} exceeds {MAX_FILE_BYTES} bytes")
        media_type = part.headers.get("Content-Type", "application/octet-stream")
        uploads.append((part.filename or "file", media_type, bytes(data)))
    if not uploads:
        raise bad_request("no files in the 'files' field", param="files")
    return uploads


@routes.post(API + "/brain/sources/{source_id}/files")
async def upload_files(request: web.Request) -> web.Response:
    """Add files: a draft keeps them for its estimate, a ready source starts a sync run."""
    e = emu(request)
    source = _source(e, request.match_info["source_id"])
    if source["source_type"] != FILE_UPLOADS:
        raise bad_request(f"files can only be added to a {FILE_UPLOADS} source", param="source_id")
    if source["status"] == "syncing":
        raise ApiError(409, "sync_in_progress", "the source is syncing; upload again when it is ready")
    draft = source["status"] == "draft"
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    for name, media_type, data in await _uploads(request):
        if not data:
            rejected.append({"file_name": name, "error": "empty file"})
            continue
        item = {
            "id": new_id("bfile_"),
            "file_name": name,
            "mime_type": media_type,
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "status": "pending_approval" if draft else "processing",
            "error": None,
            "document_id": None,
            "created_at": iso(e.clock.now()),
            "indexed_at": None,
            "_text": b"\x00" not in data,
            "_content": data[:SEARCHABLE_BYTES].decode("utf-8", "replace") if b"\x00" not in data else "",
        }
        source["_files"][item["id"]] = item
        accepted.append(item)
    sync_run_id = None
    if accepted:
        if draft:
            _estimate(e, source)
        else:
            sync_run_id = _new_run(e, source, "upload")["sync_run_id"]
    body = {"files": [view(f) for f in accepted], "rejected": rejected, "sync_run_id": sync_run_id}
    return web.json_response(body)


@routes.delete(API + "/brain/sources/{source_id}/files/{file_id}")
async def delete_file(request: web.Request) -> web.Response:
    """Remove one file and its document."""
    e = emu(request)
    source = _source(e, request.match_info["source_id"])
    item = source["_files"].pop(request.match_info["file_id"], None)
    if item is None:
        raise ApiError(404, "brain_file_not_found", "file not found in this source", param="file_id")
    source["_docs"] = [d for d in source["_docs"] if d["document_id"] != item["document_id"]]
    _unsearchable(e, {item["document_id"]})
    if source["status"] == "draft":
        _estimate(e, source)
    return web.json_response({"deleted": True})
