"""The server-side pepper: the HMAC key of every stored token hash.

From settings when set (every replica must share it); otherwise generated once into
`<data_dir>/tokens.pepper` with mode 0600, which suits the single-replica SQLite default.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Final

from .settings import TokenSettings

__all__ = ["load_pepper"]

logger = logging.getLogger(__name__)

_PEPPER_BYTES: Final = 32
_FILE_NAME: Final = "tokens.pepper"


def load_pepper(settings: TokenSettings) -> bytes:
    """The pepper from settings, or from (a newly created) pepper file in data_dir."""
    if settings.pepper is not None:
        value = settings.pepper.get_secret_value().encode()
        if len(value) < 16:
            raise ValueError("GMCP_TOKENS_PEPPER must be at least 16 characters")
        return value
    path = Path(settings.data_dir) / _FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it meanwhile; read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(_PEPPER_BYTES))
            logger.info("generated a new token pepper at %s", path)
        if settings.store == "redis":
            logger.warning("no GMCP_TOKENS_PEPPER set with the redis store: replicas must share one pepper")
    return path.read_text().strip().encode()
