"""HMAC-signed, expiring download links served by the emulator itself (``/__files/...``)."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote


def signature(key: str, path: str, expires: int) -> str:
    """The hex HMAC-SHA256 of ``path`` and ``expires`` under ``key``."""
    msg = f"{path}\n{expires}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def file_path(blob_id: str, filename: str) -> str:
    """The URL path of a stored blob."""
    return f"/__files/{blob_id}/{quote(filename)}"


def sign_url(base_url: str, key: str, blob_id: str, filename: str, *, now: float, ttl_s: int) -> str:
    """A download URL valid for ``ttl_s`` seconds from ``now``."""
    path = file_path(blob_id, filename)
    expires = int(now) + ttl_s
    return f"{base_url.rstrip('/')}{path}?expires={expires}&sig={signature(key, path, expires)}"


def verify(key: str, path: str, expires: str | None, sig: str | None, *, now: float) -> str | None:
    """None when the link is valid, else why it is not (expired, malformed or tampered)."""
    if not expires or not sig:
        return "missing expires or sig"
    try:
        when = int(expires)
    except ValueError:
        return "malformed expires"
    # Bytes: compare_digest raises TypeError on a non-ASCII str, which would be a 500.
    if not hmac.compare_digest(signature(key, path, when).encode(), sig.encode("utf-8", "surrogateescape")):
        return "signature mismatch"
    if now > when:
        return "link expired"
    return None
