"""The audit trail: every tools/call through the façade, recorded per MCP server (issue 17).

- `records`: what one call leaves behind (`AuditRecord`) and how the trail is queried.
- `store`: the `AuditStore` contract and the in-memory backend; `store_sqlite` and `store_redis`
  keep it across restarts. `factory.open_audit_store()` picks one from the settings (server.py).
- `recorder`: the bounded queue between the call path and the store, its batching writer and the
  retention sweep (a full queue drops and counts; a call never waits on the store).
- `export`: CSV rendering (formula-safe); `api`: the management route's query parsing and reply.

Never stored by default: a call's arguments and result (customer data). A server whose config sets
`audit_payloads` opts in (see SECURITY.md).
"""

from __future__ import annotations

from .recorder import AuditRecorder
from .records import AuditPage, AuditQuery, AuditRecord
from .store import AuditStore, MemoryAuditStore

__all__ = [
    "AuditPage",
    "AuditQuery",
    "AuditRecord",
    "AuditRecorder",
    "AuditStore",
    "MemoryAuditStore",
]
