"""Legacy RPC-style flow endpoints (start_pipeline, get_pl_run, ...) and legacy agent runs."""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from typing import Any

from aiohttp import web

from gumloop_mcp.emulator.auth import legacy_owner
from gumloop_mcp.emulator.context import emu, json_body, required
from gumloop_mcp.emulator.errors import ApiError, bad_request, not_found
from gumloop_mcp.emulator.store import (
    KILL_SECONDS,
    Job,
    Run,
    iso,
    legacy_message,
    legacy_timestamp,
    new_id,
)

routes = web.RouteTableDef()
API = "/api/v1"


async def _params(request: web.Request) -> dict[str, Any]:
    """Query (GET) or query + JSON body (POST), checked for the legacy owner fields."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST":
        params.update(await json_body(request))
    legacy_owner(params, emu(request).settings)
    return params


def _run_view(run: Run) -> dict[str, Any]:
    view: dict[str, Any] = {
        "run_id": run.run_id,
        "saved_item_id": run.saved_item_id,
        "user_id": run.user_id,
        "state": run.state,
        "outputs": run.outputs,
        "created_ts": iso(run.created_ts),
        "log": run.log,
    }
    if run.finished_ts is not None:  # documented as a date-time string: absent until the run ends
        view["finished_ts"] = iso(run.finished_ts)
    return view


@routes.post(API + "/start_pipeline")
async def start_pipeline(request: web.Request) -> web.Response:
    """Start a saved item; RUNNING then DONE (or FAILED when an input asks to fail); QUEUED first when an
    Enterprise plan's runs are all in use; 429 at a Free/Pro limit."""
    params = await _params(request)
    e = emu(request)
    sid = required(params, "saved_item_id")
    item = e.store.saved_items.get(sid)
    if item is None:
        raise not_found("saved item", sid)
    raw = params.get("pipeline_inputs") or {}
    if isinstance(raw, list):
        inputs = {str(i.get("input_name")): i.get("value") for i in raw if isinstance(i, dict)}
    elif isinstance(raw, dict):
        inputs = dict(raw)
    else:
        raise bad_request(
            "pipeline_inputs must be an object or a list of {input_name, value}", param="pipeline_inputs"
        )
    known = {i["name"] for i in item["_inputs"]}
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise bad_request(
            f"unknown pipeline inputs {unknown}; this flow takes {sorted(known)}", param="pipeline_inputs"
        )
    now = e.now()
    admitted = e.store.admit("run", now)
    run = Run(new_id("run_"), sid, e.settings.user_id, "RUNNING", now, inputs)
    run.log = [f"Run {run.run_id} started for flow {item['name']}", "Node 'Input' completed"]
    if any(isinstance(v, str) and "[fail]" in v for v in inputs.values()):
        run.fail_reason = "Node 'Process' failed: input requested a failure ([fail])"
    e.store.runs[run.run_id] = run
    e.store.start("run", run, now, admitted=admitted)
    url = f"https://www.gumloop.com/pipeline?run_id={run.run_id}&flow_id={sid}"
    return web.json_response(
        {
            "run_id": run.run_id,
            "saved_item_id": sid,
            "workbook_id": _workbook_of(e.store.workbooks, sid),
            "url": url,
        }
    )


def _workbook_of(workbooks: dict[str, dict[str, Any]], sid: str) -> str | None:
    return next((w["workbook_id"] for w in workbooks.values() if sid in w["saved_items"]), None)


@routes.get(API + "/get_pl_run")
async def get_pl_run(request: web.Request) -> web.Response:
    """A run's state, outputs and log."""
    params = await _params(request)
    run = emu(request).store.runs.get(required(params, "run_id"))
    if run is None:
        raise not_found("run", params["run_id"])
    return web.json_response(_run_view(run))


@routes.post(API + "/kill_pipeline")
async def kill_pipeline(request: web.Request) -> web.Response:
    """RUNNING -> TERMINATING -> TERMINATED; a QUEUED run never started, so it is TERMINATED at once (and
    leaves the queue); already-terminal or terminating runs answer success false."""
    params = await _params(request)
    e = emu(request)
    run = e.store.runs.get(required(params, "run_id"))
    if run is None:
        raise not_found("run", params["run_id"])
    now = e.now()
    if run.state == "QUEUED" and e.store.dequeue("run", run.run_id):
        run.state = "TERMINATED"
        run.finished_ts = now
        run.log.append("Run terminated by user request before it left the queue")
        return web.json_response({"success": True, "run_id": run.run_id})
    if run.state != "RUNNING":
        return web.json_response({"success": False, "run_id": run.run_id})
    run.state = "TERMINATING"
    run.due = now + e.store.delay(KILL_SECONDS)
    return web.json_response({"success": True, "run_id": run.run_id})


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


@routes.get(API + "/list_saved_items")
async def list_saved_items(request: web.Request) -> web.Response:
    """Every saved item."""
    await _params(request)
    return web.json_response(
        {"saved_items": [_item_view(i) for i in emu(request).store.saved_items.values()]}
    )


@routes.get(API + "/list_workbooks")
async def list_workbooks(request: web.Request) -> web.Response:
    """Workbooks with their saved items."""
    await _params(request)
    store = emu(request).store
    out = [
        {**w, "saved_items": [_item_view(store.saved_items[s]) for s in w["saved_items"]]}
        for w in store.workbooks.values()
    ]
    return web.json_response({"workbooks": out})


@routes.get(API + "/get_inputs")
async def get_inputs(request: web.Request) -> web.Response:
    """The Input nodes of a saved item."""
    params = await _params(request)
    item = emu(request).store.saved_items.get(required(params, "saved_item_id"))
    if item is None:
        raise not_found("saved item", params["saved_item_id"])
    return web.json_response({"inputs": item["_inputs"]})


@routes.get(API + "/get_plrun_saved_item_map")
async def run_map(request: web.Request) -> web.Response:
    """saved_item_id -> its 10 most recent runs."""
    params = await _params(request)
    store = emu(request).store
    if params.get("saved_item_id"):
        ids = [params["saved_item_id"]]
        if ids[0] not in store.saved_items:
            raise not_found("saved item", ids[0])
    elif params.get("workbook_id"):
        wb = store.workbooks.get(params["workbook_id"])
        if wb is None:
            raise not_found("workbook", params["workbook_id"])
        ids = list(wb["saved_items"])
    else:
        ids = list(store.saved_items)
    out: dict[str, list[dict[str, Any]]] = {}
    for sid in ids:
        # newest first; runs started in the same instant: the later one first
        mine = enumerate(r for r in store.runs.values() if r.saved_item_id == sid)
        runs = [r for _, r in sorted(mine, key=lambda pair: (pair[1].created_ts, pair[0]), reverse=True)]
        out[sid] = [
            {"run_id": r.run_id, "created_ts": iso(r.created_ts), "state": r.state} for r in runs[:10]
        ]
    return web.json_response(out)


def _decode(file_name: Any, content: Any) -> bytes:
    if not isinstance(file_name, str) or not file_name:
        raise bad_request("file_name is required", param="file_name")
    if not isinstance(content, str):
        raise bad_request("file_content is required (base64)", param="file_content")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(f"file_content of {file_name!r} is not valid base64", param="file_content") from exc


@routes.post(API + "/upload_file")
async def upload_file(request: web.Request) -> web.Response:
    """Store one base64 file: ``{success, file_name}``."""
    params = await _params(request)
    data = _decode(params.get("file_name"), params.get("file_content"))
    emu(request).store.uploads[params["file_name"]] = data
    return web.json_response({"success": True, "file_name": params["file_name"]})


@routes.post(API + "/upload_files")
async def upload_files(request: web.Request) -> web.Response:
    """Store several files: 200 ``{success, uploaded_files}`` when all succeed, 207 ``{partial_success,
    uploaded_files, failed_files}`` (file names) when some fail, 500 when all fail. A file whose content is
    not valid base64 fails; a missing files list or an entry without file_name/file_content is a 400."""
    params = await _params(request)
    items = params.get("files")
    if not isinstance(items, list) or not items:
        raise bad_request("files must be a non-empty list of {file_name, file_content}", param="files")
    for index, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("file_name"), str) and item["file_name"]):
            raise bad_request(f"files[{index}].file_name is required", param="files")
        if not isinstance(item.get("file_content"), str):
            raise bad_request(f"files[{index}].file_content is required (base64)", param="files")
    uploaded: list[str] = []
    failed: list[str] = []
    for item in items:
        try:
            data = _decode(item["file_name"], item["file_content"])
        except ApiError:
            failed.append(item["file_name"])
            continue
        emu(request).store.uploads[item["file_name"]] = data
        uploaded.append(item["file_name"])
    if not failed:
        return web.json_response({"success": True, "uploaded_files": uploaded})
    if uploaded:
        body = {"partial_success": True, "uploaded_files": uploaded, "failed_files": failed}
        return web.json_response(body, status=207)
    raise ApiError(
        500,
        "upload_failed",
        f"All file uploads failed: {failed}",
        type_="api_error",
        details={"failed_files": failed},
    )


def _run_file(request: web.Request, params: dict[str, Any], name: str) -> tuple[str, bytes]:
    e = emu(request)
    run = e.store.runs.get(required(params, "run_id"))
    if run is None:
        raise not_found("run", params["run_id"])
    if name in e.store.uploads:
        return name, e.store.uploads[name]
    if run.state != "DONE":
        raise not_found("file", name)
    return name, f"Output {name} of run {run.run_id}\n{run.outputs}\n".encode()


@routes.post(API + "/download_file")
async def download_file(request: web.Request) -> web.Response:
    """Raw bytes of a run's output file (or an uploaded file)."""
    params = await _params(request)
    name, data = _run_file(request, params, required(params, "file_name"))
    return web.Response(body=data, content_type="application/octet-stream")


@routes.post(API + "/download_files")
async def download_files(request: web.Request) -> web.Response:
    """A zip of several output files."""
    params = await _params(request)
    names = params.get("file_names")
    if not isinstance(names, list) or not names:
        raise bad_request("file_names must be a non-empty list", param="file_names")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(*_run_file(request, params, str(name)))
    return web.Response(body=out.getvalue(), content_type="application/zip")


@routes.post(API + "/start_agent")
async def start_agent(request: web.Request) -> web.Response:
    """Legacy agent run: 202 processing, COMPLETED later (FAILED when the message asks to fail; queued on
    Enterprise at the limit, still reported as ASYNC_PROCESSING: the legacy API has no queued state).

    ``interaction_id`` continues a COMPLETED or FAILED interaction of the same agent: the message is
    appended to its history and the same id is reused. Errors as Gumloop documents them: 404
    gummie_not_found / interaction_not_found, 400 interaction_gummie_mismatch, 409
    interaction_not_in_terminal_state."""
    params = await _params(request)
    e = emu(request)
    gid = required(params, "gummie_id")
    message = required(params, "message")
    if gid not in e.store.agents:
        raise ApiError(404, "gummie_not_found", f"No agent found with gummie_id {gid!r}", param="gummie_id")
    iid = params.get("interaction_id")
    job = None
    if iid:
        job = e.store.jobs.get(iid)
        if job is None or job.kind != "interaction":
            raise ApiError(
                404, "interaction_not_found", f"No interaction {iid!r} found", param="interaction_id"
            )
        if job.payload["gummie_id"] != gid:
            raise bad_request(
                f"interaction {iid!r} belongs to agent {job.payload['gummie_id']!r}, not {gid!r}",
                param="interaction_id",
                code="interaction_gummie_mismatch",
            )
        if job.state not in {"COMPLETED", "FAILED"}:
            raise ApiError(
                409,
                "interaction_not_in_terminal_state",
                f"interaction {iid!r} is {job.state}; continue it once COMPLETED or FAILED",
                param="interaction_id",
            )
    now = e.now()
    admitted = e.store.admit("interaction", now)
    if job is None:
        job = Job(new_id("int_"), "interaction", "ASYNC_PROCESSING", now, None, {"gummie_id": gid})
        e.store.jobs[job.id] = job
    job.state = "ASYNC_PROCESSING"
    for key in ("response", "error_message"):
        job.payload.pop(key, None)
    job.payload["message"] = message
    job.payload.setdefault("messages", []).append(legacy_message("user", message, now))
    e.store.start("interaction", job, now, admitted=admitted)
    return web.json_response({"interaction_id": job.id, "status": "processing"}, status=202)


@routes.get(API + "/agent_status/{interaction_id}")
async def agent_status(request: web.Request) -> web.Response:
    """A legacy agent interaction: ``{interaction_id, gummie_id, state, created_ts}``, plus ``messages`` and
    ``response`` (the last assistant text) when COMPLETED, ``error_message`` when FAILED; 404
    interaction_not_found."""
    await _params(request)
    e = emu(request)
    iid = request.match_info["interaction_id"]
    job = e.store.jobs.get(iid)
    if job is None or job.kind != "interaction":
        raise ApiError(404, "interaction_not_found", f"No interaction {iid!r} found", param="interaction_id")
    view: dict[str, Any] = {
        "interaction_id": job.id,
        "gummie_id": job.payload["gummie_id"],
        "state": job.state,
        "created_ts": legacy_timestamp(job.created_ts) + "+00:00",
    }
    if job.state == "COMPLETED":
        view["messages"] = job.payload.get("messages", [])
        view["response"] = job.payload.get("response", "")
    elif job.state == "FAILED":
        view["error_message"] = str(job.payload.get("error_message", ""))[:4096]
    return web.json_response(view)
