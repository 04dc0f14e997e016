"""The choice of audit backend from the settings (called by the composition root, server.py).

Its own module so the backends (store_sqlite.py, store_redis.py), which import the contract in
store.py, are imported by nothing the contract imports: no import cycle.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from ..settings import FacadeSettings
from .store import AuditStore, MemoryAuditStore
from .store_sqlite import SqliteAuditStore

__all__ = ["SQLITE_FILE", "open_audit_store"]

logger = logging.getLogger(__name__)

SQLITE_FILE: Final = "facade-audit.sqlite3"


def open_audit_store(settings: FacadeSettings) -> AuditStore:
    """The backend settings.audit_store names (not yet started).

    "auto": Redis when the façade's shared state is on Redis (GMCP_FACADE_STORE=redis), else SQLite
    when a data directory is set (`gumloop-mcp up` sets one), else memory.
    """
    kind = settings.audit_store
    if kind == "auto":
        if settings.store == "redis":
            kind = "redis"
        elif settings.data_dir is not None:
            kind = "sqlite"
        else:
            kind = "memory"
            logger.warning("no GMCP_FACADE_DATA_DIR: the audit trail is kept in memory and lost on restart")
    if kind == "redis":
        if settings.redis_url is None:
            raise ValueError("GMCP_FACADE_REDIS_URL is required when the audit store is redis")
        from .store_redis import RedisAuditStore  # redis-py only where Redis is used

        return RedisAuditStore(settings.redis_url.get_secret_value(), settings.redis_key_prefix)
    if kind == "sqlite":
        if settings.audit_sqlite_path is not None:
            path = settings.audit_sqlite_path
        elif settings.data_dir is not None:
            path = Path(settings.data_dir) / SQLITE_FILE
        else:
            raise ValueError(
                "GMCP_FACADE_AUDIT_STORE=sqlite needs GMCP_FACADE_DATA_DIR or GMCP_FACADE_AUDIT_SQLITE_PATH"
            )
        return SqliteAuditStore(path)
    return MemoryAuditStore()
