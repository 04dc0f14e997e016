"""Ids and timestamps of emulated records: a leaf module every emulator module may import."""

from __future__ import annotations

import datetime
import secrets

__all__ = ["iso", "new_id"]


def new_id(prefix: str) -> str:
    """A random id with a readable prefix."""
    return f"{prefix}{secrets.token_hex(6)}"


def iso(ts: float) -> str:
    """An ISO-8601 UTC timestamp."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).isoformat().replace("+00:00", "Z")
