"""One audited tool call, a query over a server's trail, and the opaque paging cursor."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["AuditPage", "AuditQuery", "AuditRecord", "InvalidCursor", "decode_cursor", "encode_cursor"]

# The fields of a record in their export order (CSV columns, JSON keys).
FIELDS: Final = (
    "id",
    "time",
    "server_id",
    "tool",
    "outcome",
    "latency_ms",
    "client_name",
    "protocol_version",
    "subject",
    "arguments",
    "result",
)


def new_record_id() -> str:
    """A random id: orders records of the same millisecond and names one in a cursor."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One tools/call: when (epoch ms), which server and tool, how it ended, how long it took, who asked.

    `outcome` is the metric's label (ok, tool_error, unknown_tool, cancelled, revoked, budget,
    input_required, task, error), except credentials_rejected for a tool error because Gumloop refused
    the account's credential (recorder.audit_outcome). `subject` names the person once OAuth
    identifies one ("" until then). `arguments` / `result` are JSON text, None unless the server opted in.
    """

    time_ms: int
    server_id: str
    tool: str
    outcome: str
    latency_ms: float
    client_name: str = ""
    protocol_version: str = ""
    subject: str = ""
    arguments: str | None = None
    result: str | None = None
    id: str = field(default_factory=new_record_id)

    def to_json(self) -> str:
        """The record as stored by the Redis backend (compact JSON)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditRecord:
        """The inverse of `to_json`."""
        return cls(**json.loads(text))

    def public(self) -> dict[str, Any]:
        """The record as the management API shows it (`time` as RFC 3339 UTC)."""
        when = datetime.fromtimestamp(self.time_ms / 1000, tz=UTC)
        return {
            "id": self.id,
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "server_id": self.server_id,
            "tool": self.tool,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 3),
            "client_name": self.client_name,
            "protocol_version": self.protocol_version,
            "subject": self.subject,
            "arguments": self.arguments,
            "result": self.result,
        }


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Newest first, one server; optional exact `tool` / `outcome` / `client_name`; a [since, until) in ms."""

    server_id: str
    limit: int = 50
    # The position after the last record of the previous page: (time_ms, id), exclusive.
    after: tuple[int, str] | None = None
    tool: str | None = None
    outcome: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    client_name: str | None = None

    def matches(self, record: AuditRecord) -> bool:
        """Whether `record` passes the filters and lies past the cursor (used by the key-value backends)."""
        if record.server_id != self.server_id:
            return False
        if self.tool is not None and record.tool != self.tool:
            return False
        if self.outcome is not None and record.outcome != self.outcome:
            return False
        if self.client_name is not None and record.client_name != self.client_name:
            return False
        if self.since_ms is not None and record.time_ms < self.since_ms:
            return False
        if self.until_ms is not None and record.time_ms >= self.until_ms:
            return False
        return self.after is None or (record.time_ms, record.id) < self.after


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of records (newest first) and the cursor of the next one ("" when none)."""

    records: list[AuditRecord]
    next_cursor: str = ""


def sort_key(record: AuditRecord) -> tuple[int, str]:
    """The order of a trail (newest first when reversed)."""
    return record.time_ms, record.id


def page_of(records: list[AuditRecord], limit: int) -> AuditPage:
    """A page from `limit + 1` candidates, newest first: the extra one says whether more follow."""
    if len(records) <= limit:
        return AuditPage(records)
    shown = records[:limit]
    return AuditPage(shown, encode_cursor(sort_key(shown[-1])))


class InvalidCursor(ValueError):
    """A cursor this API did not hand out."""


def encode_cursor(position: tuple[int, str]) -> str:
    """Opaque text naming a position in a trail."""
    raw = json.dumps([position[0], position[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(text: str) -> tuple[int, str]:
    """The position `encode_cursor` named; InvalidCursor for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor("not a cursor of this listing") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or isinstance(value[0], bool)
        or not isinstance(value[1], str)
    ):
        raise InvalidCursor("not a cursor of this listing")
    return value[0], value[1]
