"""The management route over the audit trail: query parsing, the JSON page and the CSV export.

`GET /integrated-account/{account_id}/mcp/{mcp_id}/activity` (the route and its ownership check
are in management.py): `limit` (1-100, default 50) and `next_cursor` page the JSON listing, newest
first; `tool`, `outcome`, `client` (the MCP client's name), `since` and `until` (RFC 3339; since
inclusive, until exclusive) filter.
`format=csv`, or `Accept: text/csv` without `format`, exports every matching record as CSV
(`limit` does not apply; the retention period bounds it).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Final, Literal, get_args

from aiohttp import web
from pydantic import BaseModel, Field

from .export import CSV_CONTENT_TYPE, csv_header, csv_rows
from .recorder import MAX_CLIENT_NAME_CHARS
from .records import AuditQuery, InvalidCursor, decode_cursor
from .store import AuditStore

__all__ = [
    "OUTCOMES",
    "ActivityOut",
    "InvalidActivityQuery",
    "activity_response",
    "query_parameters",
]

Outcome = Literal[
    "ok",
    "tool_error",
    "credentials_rejected",
    "unknown_tool",
    "cancelled",
    "revoked",
    "budget",
    "input_required",
    "task",
    "error",
]
OUTCOMES: Final[tuple[str, ...]] = get_args(Outcome)
MAX_TOOL_CHARS: Final = 256
_OPT_IN: Final = "null unless the server's config sets audit_payloads"
# Records read per store call while exporting.
_EXPORT_CHUNK: Final = 1000


class ActivityOut(BaseModel):
    """One tool call through the façade (never its arguments or result unless the server opted in)."""

    id: str
    time: datetime
    server_id: str
    tool: str
    outcome: Outcome = Field(
        description="ok; tool_error (the tool answered isError); credentials_rejected (a tool error because "
        "Gumloop refused the account's credential: the account needs reconnecting); unknown_tool; "
        "cancelled (by the client); "
        "revoked (the URL was revoked mid-call); budget (calls_per_minute exceeded); input_required; "
        "task (started as a task); error (a protocol or backend error)"
    )
    latency_ms: float
    client_name: str = Field(description="the MCP client's clientInfo.name ('' when it sent none)")
    protocol_version: str
    subject: str = Field(description="the person, once OAuth identifies one ('' otherwise)")
    arguments: str | None = Field(description=f"JSON text; {_OPT_IN}")
    result: str | None = Field(description=f"JSON text; {_OPT_IN}")


class InvalidActivityQuery(ValueError):
    """A bad query parameter: (field, description) pairs."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {d}" for f, d in fields))
        self.fields = fields


def query_parameters() -> list[dict[str, object]]:
    """The route's query parameters beyond limit/next_cursor, for the OpenAPI document."""
    return [
        {"name": "tool", "in": "query", "description": "only calls of this tool (exact name)",
         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TOOL_CHARS}},
        {"name": "outcome", "in": "query", "description": "only calls with this outcome",
         "schema": {"type": "string", "enum": list(OUTCOMES)}},
        {"name": "client", "in": "query", "description": "only calls from this MCP client (clientInfo.name)",
         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CLIENT_NAME_CHARS}},
        {"name": "since", "in": "query", "description": "only calls at or after this time (RFC 3339)",
         "schema": {"type": "string", "format": "date-time"}},
        {"name": "until", "in": "query", "description": "only calls before this time (RFC 3339)",
         "schema": {"type": "string", "format": "date-time"}},
        {"name": "format", "in": "query",
         "description": "csv: every matching record as text/csv (also chosen by Accept: text/csv)",
         "schema": {"type": "string", "enum": ["json", "csv"]}},
    ]  # fmt: skip


def _time_ms(raw: str | None, name: str, fields: list[tuple[str, str]]) -> int | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        fields.append((name, "must be an RFC 3339 date-time, e.g. 2026-07-28T12:00:00Z"))
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return int(value.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        fields.append((name, "is out of range"))
        return None


def _limit(raw: str | None, fields: list[tuple[str, str]]) -> int:
    if raw is None:
        return 50
    try:
        limit = int(raw)
    except ValueError:
        fields.append(("limit", "must be an integer"))
        return 50
    if not 1 <= limit <= 100:
        fields.append(("limit", "must be between 1 and 100"))
    return limit


def parse_query(server_id: str, params: dict[str, str]) -> tuple[AuditQuery, bool]:
    """The store query and whether CSV was asked for by `format`; InvalidActivityQuery on bad input."""
    fields: list[tuple[str, str]] = []
    limit = _limit(params.get("limit"), fields)
    after = None
    if cursor := params.get("next_cursor"):
        try:
            after = decode_cursor(cursor)
        except InvalidCursor:
            fields.append(("next_cursor", "pass back the next_cursor of the previous page, unchanged"))
    tool = params.get("tool")
    if tool is not None and not 1 <= len(tool) <= MAX_TOOL_CHARS:
        fields.append(("tool", f"must have 1 to {MAX_TOOL_CHARS} characters"))
    outcome = params.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        fields.append(("outcome", f"must be one of: {', '.join(OUTCOMES)}"))
    client = params.get("client")
    if client is not None and not 1 <= len(client) <= MAX_CLIENT_NAME_CHARS:
        fields.append(("client", f"must have 1 to {MAX_CLIENT_NAME_CHARS} characters"))
    since = _time_ms(params.get("since"), "since", fields)
    until = _time_ms(params.get("until"), "until", fields)
    fmt = params.get("format")
    if fmt is not None and fmt not in ("json", "csv"):
        fields.append(("format", "must be json or csv"))
    if fields:
        raise InvalidActivityQuery(fields)
    query = AuditQuery(server_id, limit, after, tool, outcome, since, until, client)
    return query, fmt == "csv"


def _wants_csv(request: web.Request, by_format: bool) -> bool:
    if "format" in request.query:
        return by_format
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip().lower() == CSV_CONTENT_TYPE for part in accept.split(","))


async def activity_response(request: web.Request, store: AuditStore, server_id: str) -> web.StreamResponse:
    """The JSON page or the CSV export of `server_id`'s trail for this request's query."""
    query, by_format = parse_query(server_id, dict(request.query))
    if not _wants_csv(request, by_format):
        page = await store.query(query)
        items = [ActivityOut.model_validate(r.public()).model_dump(mode="json") for r in page.records]
        return web.json_response({"result": items, "next_cursor": page.next_cursor or None})
    # Read the first chunk before answering, so a store failure is still a clean error response.
    chunk_query = replace(query, limit=_EXPORT_CHUNK)
    page = await store.query(chunk_query)
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{CSV_CONTENT_TYPE}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="activity-{server_id}.csv"',
        }
    )
    await response.prepare(request)
    await response.write(csv_header().encode())
    while True:
        await response.write(csv_rows(page.records).encode())
        if not page.next_cursor:
            break
        chunk_query = replace(chunk_query, after=decode_cursor(page.next_cursor))
        page = await store.query(chunk_query)
    await response.write_eof()
    return response
